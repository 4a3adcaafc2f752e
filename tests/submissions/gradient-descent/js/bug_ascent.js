// Buggy: the step adds the gradient (gradient ascent).
// EXPECT: gd_ascent
const math = require('mathjs');

function gradientDescentStep(x, gradient, learningRate) {
  return math.add(x, math.multiply(gradient, learningRate));
}

function gradientDescent(gradient, x0, learningRate, nSteps) {
  let x = x0;
  for (let i = 0; i < nSteps; i++) {
    x = gradientDescentStep(x, gradient(x), learningRate);
  }
  return x;
}

module.exports = { gradientDescentStep, gradientDescent };
