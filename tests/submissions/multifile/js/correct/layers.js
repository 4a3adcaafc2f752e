// DenseLayer (a helper module of mlp.js), built on ./activations.
const math = require('mathjs');
const activations = require('./activations');

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
    const dZ = math.dotMultiply(dOutputs, this.activation.derivative(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ);
    this.dBiases = math.multiply(math.ones(1, dZ.size()[0]), dZ);
    return math.multiply(dZ, math.transpose(this.weights));
  }
}

module.exports = { DenseLayer };
