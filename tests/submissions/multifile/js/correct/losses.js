// The loss and its derivative (a helper module of mlp.js).
const math = require('mathjs');

const mse = (yTrue, yPred) => math.mean(math.map(math.subtract(yPred, yTrue), (v) => v * v));

const mseDerivative = (yTrue, yPred) =>
  math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]);

module.exports = { mse, mseDerivative };
