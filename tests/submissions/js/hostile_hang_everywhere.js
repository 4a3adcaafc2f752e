// HOSTILE: every function of the contract loops forever (the worst case for the time limits).
// With the default limits the whole grading must end well inside 25 s.
const math = require('mathjs');

function hang() {
  for (;;) { /* spin */ }
}

class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'relu') {
    this.weights = math.zeros(nInputs, nNeurons);
    this.biases = math.zeros(1, nNeurons);
    this.activation = activation;
  }

  forward(inputs) { return hang(inputs); }

  backward(dOutputs) { return hang(dOutputs); }
}

class MLP {
  constructor() { this.layers = []; }

  addLayer(layer) { this.layers.push(layer); }

  forward(x) { return hang(x); }

  backward(d) { return hang(d); }
}

function mse(yTrue, yPred) { return hang(yTrue, yPred); }

function mseDerivative(yTrue, yPred) { return hang(yTrue, yPred); }

module.exports = { DenseLayer, MLP, mse, mseDerivative };
