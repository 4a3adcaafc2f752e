// HOSTILE (issue 10, item 6): every function throws an Error whose message is megabytes of
// characters outside the BMP (12 bytes each once JSON-escaped) and whose name is 100,000 of them.
// What must happen: each test fails naming the error, every test's feedback is cut to the
// per-test limit and results.json stays under about 1 MiB, saying where text was cut.
const MESSAGE = '\u{20000}'.repeat(300000);
class Huge extends Error {
  constructor() {
    super(MESSAGE);
    this.name = '\u{20000}'.repeat(100000);
  }
}
const boom = () => { throw new Huge(); };

class DenseLayer {
  constructor() { boom(); }
  forward() { boom(); }
  backward() { boom(); }
}
class MLP {
  constructor() { boom(); }
  addLayer() { boom(); }
  forward() { boom(); }
  backward() { boom(); }
}
module.exports = { DenseLayer, MLP, mse: boom, mseDerivative: boom };
