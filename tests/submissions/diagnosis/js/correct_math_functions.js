// EXPECT: correct
// Correct, unusual: math.js functions only (math.sum over axis 0 for the bias gradient, of size
// [nNeurons]; math.dotPow; math.map with math.tanh, and a sigmoid through tanh that never
// overflows), and
// an MLP that returns the input gradient.
const math = require('mathjs');

const act = {
  linear: { f: (z) => z, df: (z) => math.ones(z.size()) },
  relu: { f: (z) => math.map(z, (v) => (v > 0 ? v : 0)), df: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)) },
  sigmoid: {
    f: (z) => math.map(math.multiply(z, 0.5), (v) => 0.5 * (1 + math.tanh(v))),
    df: (z) => { const s = act.sigmoid.f(z); return math.dotMultiply(s, math.subtract(1, s)); },
  },
  tanh: { f: (z) => math.map(z, math.tanh), df: (z) => math.subtract(1, math.dotPow(math.map(z, math.tanh), 2)) },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation) {
    this.weights = math.matrix(math.ones(nInputs, nNeurons));
    this.biases = math.matrix(math.zeros(1, nNeurons));
    this.a = act[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const b = math.squeeze(this.biases);
    this.z = math.map(math.multiply(inputs, this.weights), (v, [, j]) => v + (b.size ? b.get([j]) : b));
    return this.a.f(this.z);
  }

  backward(dOutputs) {
    const dZ = math.dotMultiply(dOutputs, this.a.df(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ);
    this.dBiases = math.sum(dZ, 0);
    return math.multiply(dZ, math.transpose(this.weights));
  }
}

class MLP {
  constructor() { this.layers = []; }

  addLayer(layer) { this.layers.push(layer); }

  forward(x) {
    let out = x;
    this.layers.forEach((layer) => { out = layer.forward(out); });
    return out;
  }

  backward(d) {
    let grad = d;
    [...this.layers].reverse().forEach((layer) => { grad = layer.backward(grad); });
    return grad;
  }
}

const mse = (yTrue, yPred) => math.mean(math.dotPow(math.subtract(yPred, yTrue), 2));
const mseDerivative = (yTrue, yPred) =>
  math.divide(math.multiply(math.subtract(yPred, yTrue), 2), math.prod(yTrue.size()));

module.exports = { DenseLayer, MLP, mse, mseDerivative };
