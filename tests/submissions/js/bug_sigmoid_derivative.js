// EXPECT: derivative_missing_factor
// Lesson 4 style, with one bug.
// BUG: the sigmoid derivative is s instead of s * (1 - s).
const math = require('mathjs');

const activations = {
  linear: {
    forward: (z) => z,
    derivative: (z) => math.map(z, () => 1),
  },
  relu: {
    forward: (z) => math.map(z, (v) => Math.max(0, v)),
    derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)),
  },
  sigmoid: {
    forward: (z) => math.map(z, (v) => 1 / (1 + Math.exp(-v))),
    derivative: (z) => math.map(z, (v) => {
      const s = 1 / (1 + Math.exp(-v));
      return s;
    }),
  },
  tanh: {
    forward: (z) => math.map(z, (v) => Math.tanh(v)),
    derivative: (z) => math.map(z, (v) => 1 - Math.tanh(v) ** 2),
  },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'relu') {
    this.weights = math.multiply(math.random([nInputs, nNeurons], -1, 1), 0.1);
    this.weights = math.matrix(this.weights);
    this.biases = math.zeros(1, nNeurons);
    this.activation = activations[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const batchSize = inputs.size()[0];
    const biasMatrix = math.multiply(math.ones(batchSize, 1), this.biases);
    this.z = math.add(math.multiply(inputs, this.weights), biasMatrix);
    this.output = this.activation.forward(this.z);
    return this.output;
  }

  backward(dOutputs) {
    const dZ = math.dotMultiply(dOutputs, this.activation.derivative(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ);
    const batchSize = this.inputs.size()[0];
    this.dBiases = math.multiply(math.ones(1, batchSize), dZ);
    return math.multiply(dZ, math.transpose(this.weights));
  }
}

class MLP {
  constructor() {
    this.layers = [];
  }

  addLayer(layer) {
    this.layers.push(layer);
  }

  forward(x) {
    let output = x;
    for (const layer of this.layers) {
      output = layer.forward(output);
    }
    return output;
  }

  backward(dLossWrtPrediction) {
    let currentDLoss = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      currentDLoss = this.layers[i].backward(currentDLoss);
    }
    return currentDLoss;
  }
}

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  const batchSize = yTrue.size()[0];
  return math.multiply(math.subtract(yPred, yTrue), 2 / batchSize);
}

module.exports = { DenseLayer, MLP, mse, mseDerivative };
