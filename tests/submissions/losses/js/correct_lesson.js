// Correct: the lesson's math.js code (the derivative divides by the batch size).
const math = require('mathjs');

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  const batchSize = yTrue.size()[0];
  return math.multiply(math.subtract(yPred, yTrue), 2 / batchSize);
}

module.exports = { mse, mseDerivative };
