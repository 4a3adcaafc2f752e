// Buggy: the derivative has the wrong sign.
// EXPECT: wrong_sign
const math = require('mathjs');

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  return math.multiply(math.subtract(yTrue, yPred), 2 / yTrue.size()[0]);
}

module.exports = { mse, mseDerivative };
