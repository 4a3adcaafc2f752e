// Buggy (a hostile review, stop 20): relu' written as 2 for z > 0 and mse_derivative without its 2 (they
// cancel where a relu output layer meets the loss); the old feedback blamed MLP.backward.
//
// EXPECT: dz_factor
// ALSO: missing_factor_2
// NOT: likely cause (MLP.backward)
const math = require('mathjs');

const rows = (m) => (m && typeof m.toArray === 'function' ? m.toArray() : m);

function sigmoid(v) {
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

const F = {
  linear: [(v) => v, () => 1],
  relu: [(v) => (v > 0 ? v : 0), (v) => (v > 0 ? 2 : 0)],
  sigmoid: [sigmoid, (v) => sigmoid(v) * (1 - sigmoid(v))],
  tanh: [Math.tanh, (v) => 1 - Math.tanh(v) * Math.tanh(v)],
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation) {
    this.weights = math.zeros(nInputs, nNeurons);
    this.biases = math.zeros(1, nNeurons);
    [this.f, this.df] = F[activation];
  }

  forward(inputs) {
    const x = rows(inputs);
    const w = rows(this.weights);
    const b = rows(this.biases)[0];
    this.x = x;
    this.z = x.map((row) => b.map((bj, j) => row.reduce((s, xi, i) => s + xi * w[i][j], bj)));
    return this.z.map((row) => Float64Array.from(row, this.f));
  }

  backward(dOutputs) {
    const d = rows(dOutputs);
    const w = rows(this.weights);
    const dz = d.map((row, n) => row.map((v, j) => v * this.df(this.z[n][j])));
    this.dWeights = w.map((wi, i) => wi.map((_, j) => dz.reduce((s, r, n) => s + this.x[n][i] * r[j], 0)));
    this.dBiases = [dz[0].map((_, j) => dz.reduce((s, r) => s + r[j], 0))];
    return dz.map((r) => w.map((wi) => wi.reduce((s, wij, j) => s + wij * r[j], 0)));
  }
}

class MLP {
  constructor() { this.layers = []; }

  add_layer(layer) { this.layers.push(layer); }

  forward(x) {
    return this.layers.reduce((out, layer) => layer.forward(out), x);
  }

  backward(dLoss) {
    return this.layers.reduceRight((grad, layer) => layer.backward(grad), dLoss);
  }
}

function mse(yTrue, yPred) {
  const t = rows(yTrue);
  const p = rows(yPred);
  let sum = 0;
  t.forEach((row, i) => row.forEach((v, j) => { sum += (p[i][j] - v) ** 2; }));
  return sum / (t.length * t[0].length);
}

function mse_derivative(yTrue, yPred) {
  const t = rows(yTrue);
  const p = rows(yPred);
  return p.map((row, i) => row.map((v, j) => (v - t[i][j]) / t.length));
}

module.exports = { DenseLayer, MLP, mse, mse_derivative };
