// Buggy: the input gradient is 1% too large.
// EXPECT: input_gradient_scaled
const math = require('mathjs');

class Linear {
  forward(z) { return z; }
  derivative(z) { return math.map(z, () => 1); }
}

class ReLU {
  forward(z) { return math.map(z, (v) => Math.max(0, v)); }
  derivative(z) { return math.map(z, (v) => (v > 0 ? 1 : 0)); }
}

class Sigmoid {
  forward(z) { return math.map(z, (v) => 1 / (1 + Math.exp(-v))); }
  derivative(z) {
    return math.map(z, (v) => {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s);
    });
  }
}

class Tanh {
  forward(z) { return math.map(z, (v) => Math.tanh(v)); }
  derivative(z) { return math.map(z, (v) => 1 - Math.tanh(v) ** 2); }
}

const ACTIVATIONS = { linear: new Linear(), relu: new ReLU(), sigmoid: new Sigmoid(), tanh: new Tanh() };

class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'relu') {
    this.weights = math.matrix(math.multiply(math.random([nInputs, nNeurons], -1, 1), 0.1));
    this.biases = math.zeros(1, nNeurons);
    this.activation = ACTIVATIONS[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const ones = math.ones(inputs.size()[0], 1);
    this.z = math.add(math.multiply(inputs, this.weights), math.multiply(ones, this.biases));
    return this.activation.forward(this.z);
  }

  backward(dOutputs) {
    const dZ = math.dotMultiply(dOutputs, this.activation.derivative(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ);
    this.dBiases = math.multiply(math.ones(1, this.inputs.size()[0]), dZ);
    return math.multiply(math.multiply(dZ, math.transpose(this.weights)), 1.01);
  }
}

module.exports = { DenseLayer };
