// EXPECT: correct
// Plain arrays and loops: converts the math.js inputs with toArray() and returns nested
// arrays (rows as Float64Array for the gradients), no math.js calls in the maths.
const act = {
  linear: [(z) => z, () => 1],
  relu: [(z) => (z > 0 ? z : 0), (z) => (z > 0 ? 1 : 0)],
  sigmoid: [(z) => 1 / (1 + Math.exp(-z)), (z) => { const s = 1 / (1 + Math.exp(-z)); return s * (1 - s); }],
  tanh: [(z) => Math.tanh(z), (z) => 1 - Math.tanh(z) ** 2],
};

const plain = (m) => (m && typeof m.toArray === 'function' ? m.toArray() : m);

function matmul(a, b) {
  const out = [];
  for (let i = 0; i < a.length; i++) {
    const row = new Array(b[0].length).fill(0);
    for (let k = 0; k < b.length; k++) {
      for (let j = 0; j < b[0].length; j++) row[j] += a[i][k] * b[k][j];
    }
    out.push(row);
  }
  return out;
}

function transpose(a) {
  return a[0].map((_, j) => a.map((row) => row[j]));
}

class DenseLayer {
  constructor(nInputs, nNeurons, activation) {
    this.weights = Array.from({ length: nInputs }, () => new Array(nNeurons).fill(0.01));
    this.biases = [new Array(nNeurons).fill(0)];
    [this.f, this.df] = act[activation];
  }

  forward(inputs) {
    this.x = plain(inputs);
    const w = plain(this.weights);
    const b = plain(this.biases)[0];
    this.z = matmul(this.x, w).map((row) => row.map((v, j) => v + b[j]));
    return this.z.map((row) => row.map(this.f));
  }

  backward(dOutputs) {
    const d = plain(dOutputs);
    const dz = d.map((row, i) => row.map((v, j) => v * this.df(this.z[i][j])));
    this.dWeights = matmul(transpose(this.x), dz).map((row) => Float64Array.from(row));
    this.dBiases = Float64Array.from(dz[0].map((_, j) => dz.reduce((s, row) => s + row[j], 0)));
    return matmul(dz, transpose(plain(this.weights)));
  }
}

class MLP {
  constructor() { this.layers = []; }
  addLayer(layer) { this.layers.push(layer); }
  forward(x) { return this.layers.reduce((out, layer) => layer.forward(out), x); }
  backward(dLoss) { return this.layers.reduceRight((d, layer) => layer.backward(d), dLoss); }
}

function mse(yTrue, yPred) {
  const t = plain(yTrue); const p = plain(yPred);
  let s = 0; let n = 0;
  for (let i = 0; i < t.length; i++) for (let j = 0; j < t[i].length; j++) { s += (p[i][j] - t[i][j]) ** 2; n++; }
  return s / n;
}

function mseDerivative(yTrue, yPred) {
  const t = plain(yTrue); const p = plain(yPred);
  return p.map((row, i) => row.map((v, j) => (2 * (v - t[i][j])) / t.length));
}

module.exports = { DenseLayer, MLP, mse, mseDerivative };
