// Only the losses: DenseLayer and MLP are missing (MissingAPI for every layer/network test).
const math = require('mathjs');

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]);
}

module.exports = { mse, mseDerivative };
