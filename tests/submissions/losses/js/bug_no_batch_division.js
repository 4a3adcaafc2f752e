// Buggy: the derivative is not divided by the batch size.
// EXPECT: missing_batch_division
const math = require('mathjs');

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yPred, yTrue), 2);
}

module.exports = { mse, mseDerivative };
