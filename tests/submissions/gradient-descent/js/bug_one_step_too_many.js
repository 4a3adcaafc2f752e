// Buggy: the loop runs i <= nSteps: one step too many.
// EXPECT: gd_one_step_too_many
const math = require('mathjs');

function gradientDescentStep(x, gradient, learningRate) {
  return math.subtract(x, math.multiply(gradient, learningRate));
}

function gradientDescent(gradient, x0, learningRate, nSteps) {
  let x = x0;
  for (let i = 0; i <= nSteps; i++) {
    x = gradientDescentStep(x, gradient(x), learningRate);
  }
  return x;
}

module.exports = { gradientDescentStep, gradientDescent };
