// Buggy: the SGD step divides by the batch size again.
// EXPECT: sgd_averaged_twice
const math = require('mathjs');

function mulberry32(seed) {
  let a = seed;
  return function random() {
    a |= 0;
    a = a + 0x6D2B79F5 | 0;
    let t = Math.imul(a ^ a >>> 15, 1 | a);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

function permutation(n, random) {
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function takeRows(m, rows) {
  const all = m.toArray();
  return math.matrix(rows.map((i) => all[i]));
}

const activations = {
  linear: { forward: (z) => z, derivative: (z) => math.map(z, () => 1) },
  relu: {
    forward: (z) => math.map(z, (v) => Math.max(0, v)),
    derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)),
  },
  sigmoid: {
    forward: (z) => math.map(z, (v) => 1 / (1 + Math.exp(-v))),
    derivative: (z) => math.map(z, (v) => (1 / (1 + Math.exp(-v))) * (1 - 1 / (1 + Math.exp(-v)))),
  },
  tanh: {
    forward: (z) => math.map(z, (v) => Math.tanh(v)),
    derivative: (z) => math.map(z, (v) => 1 - Math.tanh(v) ** 2),
  },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'relu') {
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
    this.dBiases = math.multiply(math.ones(1, this.inputs.size()[0]), dZ);
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
    for (const layer of this.layers) output = layer.forward(output);
    return output;
  }

  backward(dLossWrtPrediction) {
    let current = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) current = this.layers[i].backward(current);
    return current;
  }
}

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]);
}

function sgdStep(model, learningRate) {
  for (const layer of model.layers) {
    const rate = learningRate / layer.inputs.size()[0];
    layer.weights = math.subtract(layer.weights, math.multiply(layer.dWeights, rate));
    layer.biases = math.subtract(layer.biases, math.multiply(layer.dBiases, rate));
  }
}

function shuffle(x, y, seed) {
  const order = permutation(x.size()[0], mulberry32(seed));
  return [takeRows(x, order), takeRows(y, order)];
}

function makeBatches(x, y, batchSize) {
  const n = x.size()[0];
  const batches = [];
  for (let start = 0; start < n; start += batchSize) {
    const rows = [...Array(Math.min(batchSize, n - start)).keys()].map((i) => start + i);
    batches.push([takeRows(x, rows), takeRows(y, rows)]);
  }
  return batches;
}

function train(model, x, y, epochs, batchSize, learningRate, seed) {
  const random = mulberry32(seed);
  const n = x.size()[0];
  const history = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = permutation(n, random);
    let total = 0;
    for (const [xb, yb] of makeBatches(takeRows(x, order), takeRows(y, order), batchSize)) {
      const pred = model.forward(xb);
      total += mse(yb, pred) * xb.size()[0];
      model.backward(mseDerivative(yb, pred));
      sgdStep(model, learningRate);
    }
    history.push(total / n);
  }
  return history;
}

module.exports = { DenseLayer, MLP, mse, mseDerivative, sgdStep, shuffle, makeBatches, train };
