// Does not parse: every test must say so, with the line.
const math = require('mathjs');

class DenseLayer {
  forward(inputs) {
    return math.multiply(inputs, this.weights;
  }
}

module.exports = { DenseLayer };
