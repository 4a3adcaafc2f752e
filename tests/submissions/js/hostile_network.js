// HOSTILE (issue 10, item 2): the network and unix sockets, from the code that loads the
// submission. Otherwise correct. At load it connects to TCP 127.0.0.1:PORT and to the abstract
// unix socket NAME (the tests listen on both, outside the sandbox, and count what arrives),
// sends a UDP datagram to 127.0.0.1:PORT, and serves its own code on an abstract socket, as a
// "publisher" would; mse() prints what happened ("NET: ...").
// What must happen: nothing reaches the tests' listeners (the fallback's seccomp filter refuses
// socket(); bubblewrap gives it a network namespace of its own), and full marks for its code.
const net = require('net');
const dgram = require('dgram');
const fs = require('fs');

const PORT = 47212;
const NAME = '\0verify-js-network-test';
const seen = {};
const note = (key) => (err) => { seen[key] = err ? (err.code || err.message) : 'ok'; };
try {
  const tcp = net.connect({ host: '127.0.0.1', port: PORT }, () => { seen.tcp = 'CONNECTED'; tcp.end(); });
  tcp.on('error', note('tcp'));
} catch (err) { note('tcp')(err); }
try {
  const unix = net.connect({ path: NAME }, () => { seen.unix = 'CONNECTED'; unix.end(); });
  unix.on('error', note('unix'));
} catch (err) { note('unix')(err); }
try {
  const udp = dgram.createSocket('udp4');
  udp.on('error', note('udp'));
  udp.send('hostile', PORT, '127.0.0.1', (err) => { seen.udp = err ? (err.code || err.message) : 'SENT'; udp.close(); });
} catch (err) { note('udp')(err); }
try {
  const code = fs.readFileSync(__filename);
  const server = net.createServer((c) => c.end(code));
  server.on('error', note('serve'));
  server.listen('\0verify-shared-solution-js', () => { seen.serve = 'LISTENING'; });
  server.unref();
} catch (err) { note('serve')(err); }
const math = require('mathjs');

const activations = {
  linear: {
    forward: (z) => z,
    derivative: (z) => math.map(z, () => 1),
  },
  relu: {
    forward: (z) => math.map(z, (v) => Math.max(0, v)),
    derivative: (z) => math.map(z, (v) => (v > 0 ? 1 : 0)),
  },
  sigmoid: {
    forward: (z) => math.map(z, (v) => 1 / (1 + Math.exp(-v))),
    derivative: (z) => math.map(z, (v) => {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 - s);
    }),
  },
  tanh: {
    forward: (z) => math.map(z, (v) => Math.tanh(v)),
    derivative: (z) => math.map(z, (v) => 1 - Math.tanh(v) ** 2),
  },
};

class DenseLayer {
  constructor(nInputs, nNeurons, activation = 'relu') {
    this.weights = math.multiply(math.random([nInputs, nNeurons], -1, 1), 0.1);
    this.weights = math.matrix(this.weights);
    this.biases = math.zeros(1, nNeurons);
    this.activation = activations[activation];
  }

  forward(inputs) {
    this.inputs = inputs;
    const batchSize = inputs.size()[0];
    const biasMatrix = math.multiply(math.ones(batchSize, 1), this.biases);
    this.z = math.add(math.multiply(inputs, this.weights), biasMatrix);
    this.output = this.activation.forward(this.z);
    return this.output;
  }

  backward(dOutputs) {
    const dZ = math.dotMultiply(dOutputs, this.activation.derivative(this.z));
    this.dWeights = math.multiply(math.transpose(this.inputs), dZ);
    const batchSize = this.inputs.size()[0];
    this.dBiases = math.multiply(math.ones(1, batchSize), dZ);
    return math.multiply(dZ, math.transpose(this.weights));
  }
}

class MLP {
  constructor() {
    this.layers = [];
  }

  addLayer(layer) {
    this.layers.push(layer);
  }

  forward(x) {
    let output = x;
    for (const layer of this.layers) {
      output = layer.forward(output);
    }
    return output;
  }

  backward(dLossWrtPrediction) {
    let currentDLoss = dLossWrtPrediction;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      currentDLoss = this.layers[i].backward(currentDLoss);
    }
    return currentDLoss;
  }
}

function mse(yTrue, yPred) {
  return math.mean(math.map(math.subtract(yTrue, yPred), (v) => v * v));
}

function mseDerivative(yTrue, yPred) {
  const batchSize = yTrue.size()[0];
  return math.multiply(math.subtract(yPred, yTrue), 2 / batchSize);
}

let reported = false;
const mseInner = mse;
function mseReporting(yTrue, yPred) {
  if (!reported) { reported = true; console.log('NET: ' + JSON.stringify(seen)); }
  return mseInner(yTrue, yPred);
}

module.exports = { DenseLayer, MLP, mse: mseReporting, mseDerivative };
