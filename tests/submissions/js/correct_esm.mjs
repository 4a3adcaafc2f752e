// EXPECT: correct
// An ES module with named exports; math.js imported by name; bias gradient via math.sum over
// dimension 0 (size [nNeurons], which the contract accepts); the exact-loss convention
// (dividing by every element), which the grader accepts without deducting.
import { matrix, multiply, add, subtract, transpose, dotMultiply, map, sum, mean, ones, zeros, size } from 'mathjs';

const ACTIVATIONS = {
  linear: { f: (v) => v, df: () => 1 },
  relu: { f: (v) => Math.max(0, v), df: (v) => (v > 0 ? 1 : 0) },
  sigmoid: { f: (v) => 1 / (1 + Math.exp(-v)), df: (v) => { const s = 1 / (1 + Math.exp(-v)); return s * (1 - s); } },
  tanh: { f: Math.tanh, df: (v) => 1 - Math.tanh(v) * Math.tanh(v) },
};

export class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'linear') {
    this.weights = zeros(nInputs, nNeurons);
    this.biases = zeros(1, nNeurons);
    this.act = ACTIVATIONS[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const [batch] = size(inputs);
    this.z = add(multiply(inputs, this.weights), multiply(ones(batch, 1), this.biases));
    return map(this.z, this.act.f);
  }

  backward(dOutputs) {
    const dz = dotMultiply(dOutputs, map(this.z, this.act.df));
    this.dWeights = multiply(transpose(this.inputs), dz);
    this.dBiases = sum(dz, 0);
    return multiply(dz, transpose(this.weights));
  }
}

export class MLP {
  layers = [];

  addLayer(layer) { this.layers.push(layer); }

  forward(x) {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }

  backward(dLossWrtPrediction) {
    let d = dLossWrtPrediction;
    for (const layer of [...this.layers].reverse()) d = layer.backward(d);
    return d;
  }
}

export const mse = (yTrue, yPred) => mean(map(subtract(yPred, yTrue), (v) => v * v));

export function mseDerivative(yTrue, yPred) {
  const [rows, cols] = size(yTrue);
  return multiply(subtract(yPred, yTrue), 2 / (rows * cols));
}
