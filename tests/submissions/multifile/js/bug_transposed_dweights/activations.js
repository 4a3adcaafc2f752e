// Activation functions and their derivatives (a helper module of mlp.js).
const math = require('mathjs');

const sigmoid = (v) => 1 / (1 + Math.exp(-v));

module.exports = {
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
