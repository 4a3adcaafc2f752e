// EXPECT: derivative_of_other_activation
// Buggy: the linear activation's derivative returns relu's mask (z > 0). Where every z of a small
// linear layer is negative, the mask is 0 everywhere: 'the derivative as 0 everywhere' fitted
// there is misleading (the single linear layer's test refutes it).
// The cause is named from that test.
const math = require('mathjs');

const sigmoid = (v) => 1 / (1 + Math.exp(-v));

const activations = {
  linear: { forward: (z) => z, derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)) },
  relu: {
    forward: (z) => math.map(z, (v) => Math.max(0, v)),
    derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)),
  },
  sigmoid: {
    forward: (z) => math.map(z, sigmoid),
    derivative: (z) => math.map(z, (v) => { const s = sigmoid(v); return s * (1 - s); }),
  },
  tanh: {
    forward: (z) => math.map(z, Math.tanh),
    derivative: (z) => math.map(z, (v) => 1 - Math.tanh(v) ** 2),
  },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation) {
    this.weights = math.matrix(math.random([nInputs, nNeurons], -0.1, 0.1)); // [nInputs, nNeurons]
    this.biases = math.zeros(1, nNeurons); // [1, nNeurons]
    this.activation = activations[activation];
  }

  forward(inputs) { // inputs: [batch, nInputs]
    this.inputs = inputs;
    const ones = math.ones(inputs.size()[0], 1);
    this.z = math.add(math.multiply(inputs, this.weights), math.multiply(ones, this.biases));
    return this.activation.forward(this.z); // [batch, nNeurons]
  }

  backward(dOutputs) { // dOutputs: [batch, nNeurons]
    const dZ = math.dotMultiply(dOutputs, this.activation.derivative(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ); // [nInputs, nNeurons]
    this.dBiases = math.multiply(math.ones(1, dZ.size()[0]), dZ); // [1, nNeurons]
    return math.multiply(dZ, math.transpose(this.weights)); // [batch, nInputs]
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
    let currentDLoss = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      currentDLoss = this.layers[i].backward(currentDLoss);
    }
    return currentDLoss;
  }
}

const mse = (yTrue, yPred) => math.mean(math.map(math.subtract(yPred, yTrue), (v) => v * v));

const mseDerivative = (yTrue, yPred) =>
  math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]); // the lesson's convention

module.exports = { DenseLayer, MLP, mse, mseDerivative };
