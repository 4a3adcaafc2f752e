// Buggy: mse is halved (0.5 * mean), the textbook convention.
// EXPECT: mse_halved
const math = require('mathjs');

function mse(yTrue, yPred) {
  return 0.5 * math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]);
}

module.exports = { mse, mseDerivative };
