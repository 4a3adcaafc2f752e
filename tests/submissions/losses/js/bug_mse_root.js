// Buggy: mse returns the root of the mean squared error (RMSE).
// EXPECT: mse_root
const math = require('mathjs');

function mse(yTrue, yPred) {
  return math.sqrt(math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v)));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yPred, yTrue), 2 / yTrue.size()[0]);
}

module.exports = { mse, mseDerivative };
