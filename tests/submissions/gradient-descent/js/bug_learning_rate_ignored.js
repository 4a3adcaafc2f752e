// Buggy: the learning rate is never used.
// EXPECT: gd_learning_rate_ignored
const math = require('mathjs');

function gradientDescentStep(x, gradient, learningRate) {
  return math.subtract(x, gradient);
}

function gradientDescent(gradient, x0, learningRate, nSteps) {
  let x = x0;
  for (let i = 0; i < nSteps; i++) {
    x = gradientDescentStep(x, gradient(x), learningRate);
  }
  return x;
}

module.exports = { gradientDescentStep, gradientDescent };
