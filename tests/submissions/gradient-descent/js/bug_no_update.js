// Buggy: the loop computes the next point but never keeps it.
// EXPECT: gd_no_update
const math = require('mathjs');

function gradientDescentStep(x, gradient, learningRate) {
  return math.subtract(x, math.multiply(gradient, learningRate));
}

function gradientDescent(gradient, x0, learningRate, nSteps) {
  let x = x0;
  for (let i = 0; i < nSteps; i++) {
    const next = gradientDescentStep(x, gradient(x), learningRate);
  }
  return x;
}

module.exports = { gradientDescentStep, gradientDescent };
