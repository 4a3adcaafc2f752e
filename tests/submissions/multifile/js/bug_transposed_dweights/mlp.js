// The entry file: MLP here, DenseLayer and the losses from helper modules beside it.
const { DenseLayer } = require('./layers');
const { mse, mseDerivative } = require('./losses');

class MLP {
  constructor() { this.layers = []; }

  addLayer(layer) { this.layers.push(layer); }

  forward(x) {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }

  backward(dLossWrtPrediction) {
    let grad = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) grad = this.layers[i].backward(grad);
    return grad;
  }
}

module.exports = { DenseLayer, MLP, mse, mseDerivative };
