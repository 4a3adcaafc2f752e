// EXPECT: correct
// NOTE: d_outputs y_pred
// Correct numbers, with side effects: backward multiplies the matrix it is given in place, and
// mseDerivative turns yPred into the gradient in place. Full marks, with a note for each.
const math = require('mathjs');

const sigmoid = (v) => 1 / (1 + Math.exp(-v));
const activations = {
  linear: { forward: (z) => z, derivative: (z) => math.map(z, () => 1) },
  relu: {
    forward: (z) => math.map(z, (v) => Math.max(0, v)),
    derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)),
  },
  sigmoid: {
    forward: (z) => math.map(z, sigmoid),
    derivative: (z) => math.map(z, (v) => sigmoid(v) * (1 - sigmoid(v))),
  },
  tanh: {
    forward: (z) => math.map(z, Math.tanh),
    derivative: (z) => math.map(z, (v) => 1 - Math.tanh(v) ** 2),
  },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation) {
    this.weights = math.matrix(math.random([nInputs, nNeurons], -0.1, 0.1));
    this.biases = math.zeros(1, nNeurons);
    this.activation = activations[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const ones = math.ones(inputs.size()[0], 1);
    this.z = math.add(math.multiply(inputs, this.weights), math.multiply(ones, this.biases));
    return this.activation.forward(this.z);
  }

  backward(dOutputs) {
    const fPrime = this.activation.derivative(this.z);
    dOutputs.forEach((v, index) => dOutputs.set(index, v * fPrime.get(index))); // in place
    this.dWeights = math.multiply(math.transpose(this.inputs), dOutputs);
    this.dBiases = math.multiply(math.ones(1, dOutputs.size()[0]), dOutputs);
    return math.multiply(dOutputs, math.transpose(this.weights));
  }
}

class MLP {
  constructor() { this.layers = []; }

  addLayer(layer) { this.layers.push(layer); }

  forward(x) {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }

  backward(dLossWrtPrediction) {
    let grad = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) grad = this.layers[i].backward(grad);
    return grad;
  }
}

const mse = (yTrue, yPred) => math.mean(math.map(math.subtract(yPred, yTrue), (v) => v * v));

function mseDerivative(yTrue, yPred) {
  const batch = yTrue.size()[0];
  yPred.forEach((v, index) => yPred.set(index, (2 * (v - yTrue.get(index))) / batch)); // in place
  return yPred;
}

module.exports = { DenseLayer, MLP, mse, mseDerivative };
