// The worker started by node_runner.js: loads the student's submission and runs the tasks.
//
//   node [limits, permissions] node_worker.js SUBMISSION
//   stdin: {"tasks": [...]} (read whole before the submission loads); fd 3: a private pipe back
//   to the supervisor, one JSON message per line. Never the grader's result channel.
//
// Everything this file needs (JSON, fs.writeSync, the math.js constructors) is bound before the
// submission loads, so a submission that monkeypatches them can only spoil its own numbers; and
// the expected values are never here to be read.
'use strict';

const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');

const CHANNEL = 3;
const SHIM = path.join(__dirname, 'mathjs_shim', 'index.cjs'); // see gen_mathjs_shim.js
const THIS_FILE = __filename;
const MAX_ELEMENTS = 250000; // per matrix; the graded ones are tiny
const MAX_TRACEBACK = 8192;
const stringify = JSON.stringify;
const parse = JSON.parse;
const writeSync = fs.writeSync;
const bufferFrom = Buffer.from.bind(Buffer);
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const isFiniteNumber = Number.isFinite;
const realExit = process.reallyExit ? process.reallyExit.bind(process) : process.exit.bind(process);
const originalExit = process.exit;

// Past the output-size limit a write fails (console.log drops it) instead of killing us.
process.on('SIGXFSZ', () => {});
// Blocking writes to the stdout/stderr pipes: otherwise Node queues what does not fit in the
// pipe in memory and the exit below drops it (measured: 0.2 of 19.4 MB arrived). The grader
// reads the pipe without pause, keeps the first part and drops the rest, so nothing waits long.
for (const stream of [process.stdout, process.stderr]) {
  if (stream && stream._handle && typeof stream._handle.setBlocking === 'function') {
    stream._handle.setBlocking(true);
  }
}

function send(msg) {
  // Framed by newlines on both sides, so stray bytes the submission writes to this fd stay on
  // lines of their own (which the supervisor ignores) instead of spoiling ours.
  const data = bufferFrom('\n' + stringify(msg) + '\n', 'utf8');
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(CHANNEL, data, offset);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err; // a full pipe: the supervisor is reading
    }
  }
}

class BadResult extends Error {}
BadResult.prototype.name = 'BadResult';
class MissingAPI extends Error {}
MissingAPI.prototype.name = 'MissingAPI';
class UnknownOp extends Error {}
UnknownOp.prototype.name = 'UnknownOp';

// ------------------------------------------------------------- errors

function errorRecord(err, prefix = '') {
  let type = 'Error';
  let message;
  let traceback = '';
  try {
    if (err instanceof Error || (err && typeof err === 'object' && typeof err.stack === 'string')) {
      type = String(err.name || (err.constructor && err.constructor.name) || 'Error');
      message = String(err.message);
      traceback = trimStack(String(err.stack || ''));
    } else {
      message = `a non-Error value was thrown: ${describeThrown(err)}`;
    }
  } catch (e) {
    message = '<the exception could not be read>';
  }
  if (message.length > 4000) message = message.slice(0, 4000) + '...';
  return { type, message: prefix + message, traceback };
}

function describeThrown(value) {
  try {
    return typeof value === 'string' ? stringify(value) : String(value);
  } catch (e) {
    return typeof value;
  }
}

const MATHJS_FRAME = /[\\/](node_modules[\\/]mathjs|mathjs_shim)[\\/]/;

function trimStack(stack) {
  // The student needs their code's frames, not the runner's, Node's or math.js's internals: a
  // run of minified math.js frames becomes one line naming the math.js function called.
  const kept = [];
  let mathRun = null;
  for (const line of stack.split('\n')) {
    const frame = line.trimStart().startsWith('at ');
    if (frame && MATHJS_FRAME.test(line)) {
      const called = /^\s*at (?:Object\.)?([A-Za-z_$][\w$]*) \(/.exec(line);
      mathRun = { name: called ? called[1] : (mathRun && mathRun.name) };
      continue;
    }
    if (mathRun !== null) {
      kept.push(`    at math.js${mathRun.name && mathRun.name.length > 2 ? ` (math.${mathRun.name})` : ''}`);
      mathRun = null;
    }
    if (frame && (line.includes(THIS_FILE) || line.includes('node:internal') || line.includes('(node:'))) continue;
    kept.push(line);
  }
  if (mathRun !== null) kept.push(`    at math.js${mathRun.name && mathRun.name.length > 2 ? ` (math.${mathRun.name})` : ''}`);
  let text = kept.join('\n');
  if (text.length > MAX_TRACEBACK) {
    text = text.slice(0, MAX_TRACEBACK / 2) + '\n...\n' + text.slice(-MAX_TRACEBACK / 2);
  }
  return text;
}

// ------------------------------------------------------------- numbers in and out

let math = null; // the student's math.js (the CommonJS or the ES module build, as they load it)

function numIn(x) {
  if (typeof x === 'string') {
    const v = { nan: NaN, inf: Infinity, '-inf': -Infinity }[x];
    if (v === undefined) throw new Error(`bad number in the request: ${x}`);
    return v;
  }
  return x;
}

function matrixIn(m) {
  return math.matrix(m.map((row) => row.map(numIn)));
}

function numOut(v) {
  if (isFiniteNumber(v)) return v;
  return v !== v ? 'nan' : (v > 0 ? 'inf' : '-inf');
}

function describe(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value !== 'object') return typeof value;
  try {
    if (typeof value.then === 'function') return 'a Promise (forward/backward must return their result, not a Promise)';
    if (value.isMatrix === true) return `a math.js ${value.type || 'Matrix'} of size [${value.size().join(', ')}]`;
    if (isArray(value)) return `an Array of length ${value.length}`;
    if (isView(value)) return `a ${value.constructor.name} of length ${value.length}`;
    return `an object (${(value.constructor && value.constructor.name) || 'Object'})`;
  } catch (e) {
    return 'an object';
  }
}

function scalar(v) {
  // A number from a number, a math.js BigNumber or Fraction; otherwise undefined.
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object') {
    if (v.isBigNumber === true) return v.toNumber();
    if (v.isFraction === true) return Number(v.valueOf());
  }
  return undefined;
}

function asList(value) {
  // An Array for a matrix, an array or a typed array; otherwise undefined.
  if (isArray(value)) return value;
  if (isView(value) && !(value instanceof DataView)) return Array.from(value);
  if (value && typeof value === 'object' && value.isMatrix === true && typeof value.toArray === 'function') {
    return value.toArray();
  }
  return undefined;
}

/** The student's `value` as a JSON matrix (list of rows), or BadResult naming `field`. */
function matrixOut(value, field, expected, allowNone = false) {
  if (value === null || value === undefined) {
    if (allowNone) return null;
    throw new BadResult(`${field}: expected a numeric matrix of size ${expected}, got ${describe(value)}`);
  }
  let top;
  try {
    const s = scalar(value);
    if (s !== undefined) return [[numOut(s)]];
    top = asList(value);
  } catch (err) {
    throw new BadResult(`${field}: expected a numeric matrix of size ${expected}, got ${describe(value)} ` +
      `that cannot be converted (${err && err.message})`);
  }
  if (top === undefined) {
    throw new BadResult(`${field}: expected a numeric matrix of size ${expected}, got ${describe(value)}`);
  }
  const bad = (what) => new BadResult(`${field}: expected a numeric matrix of size ${expected}, got ${describe(value)} ${what}`);
  const rowsIn = top.length > 0 && asList(top[0]) !== undefined ? top : [top]; // 1-D -> one row
  if (rowsIn.length > MAX_ELEMENTS) throw bad(`with far too many entries (${rowsIn.length} rows)`);
  const rows = [];
  let width = null;
  let count = 0;
  for (let i = 0; i < rowsIn.length; i++) {
    const row = asList(rowsIn[i]);
    if (row === undefined) throw bad(`whose row ${i} is ${describe(rowsIn[i])}, not a list of numbers`);
    if (width === null) width = row.length;
    else if (row.length !== width) throw bad(`with rows of different lengths (${width} and ${row.length}): ragged`);
    count += row.length;
    if (count > MAX_ELEMENTS) throw bad(`with far too many entries (more than ${MAX_ELEMENTS})`);
    const out = new Array(row.length);
    for (let j = 0; j < row.length; j++) {
      const v = scalar(row[j]);
      if (v === undefined) {
        if (asList(row[j]) !== undefined) throw bad(`with a nested list at [${i}, ${j}] (expected 2-D)`);
        throw bad(`with a non-numeric entry at [${i}, ${j}]: ${describe(row[j])}` +
          (typeof row[j] === 'string' ? ` ${stringify(row[j]).slice(0, 40)}` : ''));
      }
      out[j] = numOut(v);
    }
    rows.push(out);
  }
  return rows;
}

function scalarOut(value, field) {
  const s = scalar(value);
  if (s !== undefined) return numOut(s);
  let m;
  try {
    m = matrixOut(value, field, '[1, 1]');
  } catch (err) {
    throw new BadResult(`${field}: expected a single number, got ${describe(value)}`);
  }
  if (m.length !== 1 || m[0].length !== 1) {
    throw new BadResult(`${field}: expected a single number, got ${describe(value)}`);
  }
  return m[0][0];
}

// ------------------------------------------------------------- the submission's names

// The names to look for come with the request (PROTOCOL.md, "contract"); this default only
// serves requests that carry none.
const CONTRACT = {
  DenseLayer: ['DenseLayer'],
  MLP: ['MLP'],
  mse: ['mse'],
  mse_derivative: ['mseDerivative', 'mse_derivative'],
  add_layer: ['addLayer', 'add_layer'],
  d_weights: ['dWeights', 'd_weights'],
  d_biases: ['dBiases', 'd_biases'],
};
const MODULE_ROLES = ['DenseLayer', 'MLP', 'mse', 'mse_derivative'];

function useContract(contract) {
  if (contract === undefined || contract === null) return;
  if (typeof contract !== 'object' || !Object.values(contract).every(
    (v) => isArray(v) && v.every((n) => typeof n === 'string'))) {
    throw new Error("the request's contract must map roles to lists of names");
  }
  Object.assign(CONTRACT, contract);
}

function has(obj, name) {
  try {
    return obj !== null && obj !== undefined && (typeof obj === 'object' || typeof obj === 'function') &&
      name in obj && obj[name] !== undefined;
  } catch (e) {
    return false; // a getter that throws
  }
}

function find(obj, names) {
  for (const name of names) if (has(obj, name)) return name;
  return null;
}

function requireName(mod, key) {
  const name = find(mod, CONTRACT[key]);
  if (name === null) {
    throw new MissingAPI(`the submission exports no ${CONTRACT[key].join(' or ')} ` +
      `(module.exports = { ..., ${CONTRACT[key][0]} }, or a named export in an .mjs file)`);
  }
  return mod[name];
}

function construct(cls, args, what) {
  if (typeof cls !== 'function') throw new MissingAPI(`${what} is not a class or function`);
  return new cls(...args);
}

function gradOut(layer, key, field, expected) {
  const name = find(layer, CONTRACT[key]);
  if (name === null) return null;
  return matrixOut(layer[name], `${field}.${name}`, expected, true);
}

function newLayer(mod, spec) {
  const layer = construct(requireName(mod, 'DenseLayer'), [Number(spec.n_inputs), Number(spec.n_neurons), String(spec.activation)], 'DenseLayer');
  layer.weights = matrixIn(spec.weights);
  layer.biases = matrixIn(spec.biases);
  return layer;
}

function tryMatrixOut(value, field, expected) {
  // As matrixOut, but null for something that is not a matrix: a field the parent only uses
  // for diagnosis must not cost the task.
  try {
    return matrixOut(value, field, expected, true);
  } catch (err) {
    return null;
  }
}

function sameNumbers(rows, original) {
  // Whether a matrix the runner handed to the submission still holds the request's numbers.
  if (rows === null || rows.length !== original.length) return false;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].length !== original[i].length) return false;
    for (let j = 0; j < rows[i].length; j++) {
      const a = rows[i][j];
      const b = numOut(numIn(original[i][j]));
      if (a !== b) return false;
    }
  }
  return true;
}

function withMutated(value, pairs) {
  // `value` with `mutated`: the names of the caller's matrices the submission changed in place,
  // when there are any (PROTOCOL.md).
  const names = [];
  for (const [name, arg, original] of pairs) {
    if (arg === null || arg === undefined) continue;
    if (!sameNumbers(tryMatrixOut(arg, name, ''), original)) names.push(name);
  }
  if (names.length) value.mutated = names;
  return value;
}

function size(rows, cols) {
  return `[${rows}, ${cols}]`;
}

// ------------------------------------------------------------- tasks

function opApi(mod, task) {
  // Without "roles", lesson 4's names (PROTOCOL.md): DenseLayer, MLP, mse, mseDerivative,
  // MLP.addLayer, and the attributes of a fresh DenseLayer(3, 2, 'relu').
  const legacy = !isArray(task.roles);
  const roles = legacy ? MODULE_ROLES : task.roles;
  const methods = legacy || !task.methods || typeof task.methods !== 'object' ? { add_layer: 'MLP' } : task.methods;
  const value = {};
  const names = {};
  for (const key of roles) {
    const found = find(mod, CONTRACT[key]);
    value[key] = found !== null && typeof mod[found] === 'function';
    names[key] = found;
  }
  for (const [method, owner] of Object.entries(methods)) {
    let found = null;
    const cls = names[owner] ? mod[names[owner]] : null;
    if (typeof cls === 'function') {
      found = find(cls.prototype, CONTRACT[method]);
      if (found === null) {
        try { found = find(new cls(), CONTRACT[method]); } catch (e) { /* reported by the tasks that use it */ }
      }
    }
    names[method] = found;
  }
  if (legacy) {
    names.d_weights = null;
    names.d_biases = null;
  }
  value.names = names;
  const attributes = {};
  if (task.layer !== false && value.DenseLayer) {
    try {
      const layer = new mod[names.DenseLayer](3, 2, 'relu');
      for (const attr of ['weights', 'biases']) {
        let shape = null;
        try {
          const m = matrixOut(layer[attr], attr, '', true);
          shape = m === null ? null : [m.length, m.length ? m[0].length : 0];
        } catch (e) { shape = null; }
        attributes[attr] = shape;
      }
      for (const attr of ['forward', 'backward']) attributes[attr] = typeof layer[attr] === 'function';
    } catch (err) {
      const e = errorRecord(err);
      attributes.error = `new DenseLayer(3, 2, 'relu') threw ${e.type}: ${e.message}`;
    }
  }
  value.layer_attributes = attributes;
  return value;
}

function opLayer(mod, task) {
  const nIn = Number(task.n_inputs);
  const nOut = Number(task.n_neurons);
  const layer = newLayer(mod, task);
  const rounds = [];
  for (let i = 0; i < task.rounds.length; i++) {
    const rnd = task.rounds[i];
    const batch = rnd.inputs.length;
    const x = matrixIn(rnd.inputs);
    const res = { output: matrixOut(layer.forward(x), `round ${i}: forward(inputs)`, size(batch, nOut)) };
    res.weights_forward = tryMatrixOut(layer.weights, `round ${i}: weights`, size(nIn, nOut));
    res.biases_forward = tryMatrixOut(layer.biases, `round ${i}: biases`, size(1, nOut));
    let d = null;
    if (rnd.d_outputs !== null && rnd.d_outputs !== undefined) {
      d = matrixIn(rnd.d_outputs);
      const dIn = layer.backward(d);
      res.d_inputs = matrixOut(dIn, `round ${i}: backward(dOutputs)'s return value`, size(batch, nIn));
      res.d_weights = gradOut(layer, 'd_weights', `round ${i}: layer`, size(nIn, nOut));
      res.d_biases = gradOut(layer, 'd_biases', `round ${i}: layer`, size(1, nOut));
    } else {
      res.d_inputs = null;
      res.d_weights = null;
      res.d_biases = null;
    }
    res.weights_after = matrixOut(layer.weights, `round ${i}: weights`, size(nIn, nOut));
    res.biases_after = matrixOut(layer.biases, `round ${i}: biases`, size(1, nOut));
    rounds.push(withMutated(res, [['inputs', x, rnd.inputs], ['d_outputs', d, rnd.d_outputs]]));
  }
  return { rounds };
}

/** The student's MLP with a DenseLayer per spec added (weights assigned): {model, layers}. */
function newModel(mod, specs) {
  const model = construct(requireName(mod, 'MLP'), [], 'MLP');
  const addName = find(model, CONTRACT.add_layer);
  if (addName === null || typeof model[addName] !== 'function') {
    throw new MissingAPI(`the MLP has no ${CONTRACT.add_layer.join(' or ')} method`);
  }
  const layers = [];
  for (const spec of specs) {
    const layer = newLayer(mod, spec);
    model[addName](layer);
    layers.push(layer);
  }
  return { model, layers };
}

function opMlp(mod, task) {
  const { model, layers } = newModel(mod, task.layers);
  let studentLayers;
  try { studentLayers = model.layers; } catch (e) { studentLayers = undefined; }
  const nIn = Number(task.layers[0].n_inputs);
  const nOut = Number(task.layers[task.layers.length - 1].n_neurons);
  const rounds = [];
  for (let i = 0; i < task.rounds.length; i++) {
    const rnd = task.rounds[i];
    const batch = rnd.x.length;
    const x = matrixIn(rnd.x);
    const res = { prediction: matrixOut(model.forward(x), `round ${i}: forward(x)`, size(batch, nOut)) };
    const afterForward = layers.map((layer) => [tryMatrixOut(layer.weights, 'weights', ''), tryMatrixOut(layer.biases, 'biases', '')]);
    const backward = rnd.d_loss !== null && rnd.d_loss !== undefined;
    const d = backward ? matrixIn(rnd.d_loss) : null;
    res.d_x = backward
      ? matrixOut(model.backward(d), `round ${i}: backward(dLoss)'s return value`, size(batch, nIn))
      : null;
    res.layers = layers.map((layer, j) => {
      const spec = task.layers[j];
      const entry = { d_weights: null, d_biases: null };
      if (backward) {
        let source = layer;
        if (find(layer, CONTRACT.d_weights) === null && studentLayers) {
          try { if (studentLayers[j]) source = studentLayers[j]; } catch (e) { source = layer; } // the MLP copied its layers
        }
        entry.d_weights = gradOut(source, 'd_weights', `round ${i}: layers[${j}]`, size(spec.n_inputs, spec.n_neurons));
        entry.d_biases = gradOut(source, 'd_biases', `round ${i}: layers[${j}]`, size(1, spec.n_neurons));
      }
      [entry.weights_forward, entry.biases_forward] = afterForward[j];
      entry.weights_after = matrixOut(layer.weights, `round ${i}: layers[${j}].weights`, size(spec.n_inputs, spec.n_neurons));
      entry.biases_after = matrixOut(layer.biases, `round ${i}: layers[${j}].biases`, size(1, spec.n_neurons));
      return entry;
    });
    rounds.push(withMutated(res, [['x', x, rnd.x], ['d_loss', d, rnd.d_loss]]));
  }
  return { rounds };
}

function opMse(mod, task) {
  const f = requireName(mod, 'mse');
  const yt = matrixIn(task.y_true);
  const yp = matrixIn(task.y_pred);
  return withMutated({ value: scalarOut(f(yt, yp), 'mse(yTrue, yPred)') }, [['y_true', yt, task.y_true], ['y_pred', yp, task.y_pred]]);
}

function opMseDerivative(mod, task) {
  const f = requireName(mod, 'mse_derivative');
  const rows = task.y_true.length;
  const cols = rows ? task.y_true[0].length : 0;
  const yt = matrixIn(task.y_true);
  const yp = matrixIn(task.y_pred);
  const value = matrixOut(f(yt, yp), 'mseDerivative(yTrue, yPred)', size(rows, cols));
  return withMutated({ value }, [['y_true', yt, task.y_true], ['y_pred', yp, task.y_pred]]);
}

function numberIn(value, field) {
  if (typeof value !== 'number') throw new Error(`bad request: ${field} must be a number`);
  return value;
}

function opGdStep(mod, task) {
  const f = requireName(mod, 'gradient_descent_step');
  const rows = task.x.length;
  const cols = rows ? task.x[0].length : 0;
  const out = f(matrixIn(task.x), matrixIn(task.gradient), numberIn(task.learning_rate, 'learning_rate'));
  return { value: matrixOut(out, 'gradientDescentStep(x, gradient, learningRate)', size(rows, cols)) };
}

function opGdRun(mod, task) {
  const f = requireName(mod, 'gradient_descent');
  const fn = task.function;
  if (!fn || fn.kind !== 'quadratic') throw new Error(`bad request: unknown function ${stringify(fn && fn.kind)}`);
  const A = fn.A.map((row) => row.map(numIn));
  const c = fn.c[0].map(numIn);
  let calls = 0;
  // The gradient (x - c) A of the quadratic, in plain arithmetic (a math.js matrix in, a math.js
  // matrix out; a nested Array in, a nested Array out).
  const gradient = (x) => {
    calls += 1;
    const rows = matrixOut(x, 'the point given to gradient', size(1, c.length));
    const out = rows.map((row) => c.map((_, j) => {
      let sum = 0;
      for (let k = 0; k < c.length; k++) sum += (numIn(row[k]) - c[k]) * A[k][j];
      return sum;
    }));
    return x && x.isMatrix === true ? math.matrix(out) : out;
  };
  const out = f(gradient, matrixIn(task.x0), numberIn(task.learning_rate, 'learning_rate'), Number(task.steps));
  return { value: matrixOut(out, 'gradientDescent(gradient, x0, learningRate, nSteps)', size(1, c.length)), calls };
}

function paramsOut(layer, where, j, spec, suffix) {
  return {
    [`weights${suffix}`]: matrixOut(layer.weights, `${where}layers[${j}].weights`, size(spec.n_inputs, spec.n_neurons)),
    [`biases${suffix}`]: matrixOut(layer.biases, `${where}layers[${j}].biases`, size(1, spec.n_neurons)),
  };
}

function opSgdStep(mod, task) {
  const step = requireName(mod, 'sgd_step');
  const { model, layers } = newModel(mod, task.layers);
  model.forward(matrixIn(task.x));
  model.backward(matrixIn(task.d_loss));
  let studentLayers;
  try { studentLayers = model.layers; } catch (e) { studentLayers = undefined; }
  const out = layers.map((layer, j) => {
    const spec = task.layers[j];
    let source = layer;
    if (find(layer, CONTRACT.d_weights) === null && studentLayers) {
      try { if (studentLayers[j]) source = studentLayers[j]; } catch (e) { source = layer; } // the MLP copied its layers
    }
    return {
      d_weights: gradOut(source, 'd_weights', `layers[${j}]`, size(spec.n_inputs, spec.n_neurons)),
      d_biases: gradOut(source, 'd_biases', `layers[${j}]`, size(1, spec.n_neurons)),
      ...paramsOut(layer, 'after backward: ', j, spec, '_backward'),
    };
  });
  step(model, numberIn(task.learning_rate, 'learning_rate'));
  layers.forEach((layer, j) => Object.assign(out[j], paramsOut(layer, 'after sgdStep: ', j, task.layers[j], '_after')));
  return { layers: out };
}

function pairOut(value, field, nX, nY) {
  const items = isArray(value) ? value : undefined;
  if (items === undefined || items.length !== 2) {
    throw new BadResult(`${field}: expected an array of two, [x, y], got ${describe(value)}`);
  }
  return { x: matrixOut(items[0], `${field}[0] (x)`, size('rows', nX)), y: matrixOut(items[1], `${field}[1] (y)`, size('rows', nY)) };
}

function opShuffle(mod, task) {
  const f = requireName(mod, 'shuffle');
  const nX = task.x[0].length;
  const nY = task.y[0].length;
  return {
    calls: task.seeds.map((seed) => pairOut(f(matrixIn(task.x), matrixIn(task.y), Number(seed)),
      `shuffle(x, y, ${Number(seed)})`, nX, nY)),
  };
}

const MAX_BATCHES = 10000;

function opBatches(mod, task) {
  const f = requireName(mod, 'make_batches');
  const nX = task.x[0].length;
  const nY = task.y[0].length;
  const result = f(matrixIn(task.x), matrixIn(task.y), Number(task.batch_size));
  if (result === null || result === undefined || typeof result[Symbol.iterator] !== 'function') {
    throw new BadResult(`makeBatches(x, y, batchSize): expected an array of [x, y] pairs, got ${describe(result)}`);
  }
  const out = [];
  for (const pair of result) {
    if (out.length >= MAX_BATCHES) throw new BadResult(`makeBatches: more than ${MAX_BATCHES} batches`);
    out.push(pairOut(pair, `makeBatches(...)[${out.length}]`, nX, nY));
  }
  return { batches: out };
}

const MAX_STEPS = 20000;

function opTrain(mod, task) {
  const train = requireName(mod, 'train');
  const epochs = Number(task.epochs);
  const runs = task.seeds.map((seed, i) => {
    const { model, layers } = newModel(mod, task.layers);
    const log = { pending: null, batches: [], params: [], backward: 0 };
    const forward = model.forward;
    const backward = model.backward;
    model.forward = function loggedForward(inputs, ...rest) {
      try { log.pending = matrixOut(inputs, "model.forward's input", '[rows, nIn]'); } catch (e) { log.pending = null; }
      return forward.call(this, inputs, ...rest);
    };
    model.backward = function loggedBackward(...args) {
      log.backward += 1;
      if (log.batches.length < MAX_STEPS) { // the batch, and the weights it meets
        log.batches.push(log.pending);
        log.params.push(layers.map((layer, j) => paramsOut(layer, 'before backward: ', j, task.layers[j], '')));
      }
      return backward.apply(this, args);
    };
    const history = train(model, matrixIn(task.x), matrixIn(task.y), epochs, Number(task.batch_size),
      numberIn(task.learning_rate, 'learning_rate'), Number(seed));
    return {
      history: matrixOut(history, `run ${i}: train(...)'s return value`, size(1, epochs), true),
      layers: layers.map((layer, j) => paramsOut(layer, `run ${i}: `, j, task.layers[j], '')),
      batches: log.batches,
      params: log.params,
      backward_calls: log.backward,
    };
  });
  return { runs };
}

const OPS = {
  api: opApi, layer: opLayer, mlp: opMlp, mse: opMse, mse_derivative: opMseDerivative,
  gd_step: opGdStep, gd_run: opGdRun, sgd_step: opSgdStep, shuffle: opShuffle, batches: opBatches,
  train: opTrain,
};

// ------------------------------------------------------------- loading

function isEsmSyntaxError(err) {
  return err instanceof SyntaxError && /\b(import statement outside a module|Unexpected token 'export'|Cannot use 'import\.meta' outside a module|await is only valid)/.test(err.message);
}

async function loadEsm(file) {
  const ns = await import(pathToFileURL(file).href);
  math = require(SHIM); // the instance the submission imported
  if (find(ns, CONTRACT.DenseLayer) === null && ns.default && typeof ns.default === 'object') return ns.default;
  return ns;
}

async function load(file) {
  if (path.extname(file).toLowerCase() === '.mjs') return loadEsm(file);
  let mod;
  try {
    mod = require(file);
  } catch (err) {
    if (!isEsmSyntaxError(err)) throw err;
    // ES module syntax in a .js file: load it as the .mjs it is (a copy the supervisor made).
    const copy = path.join(path.dirname(file), `${path.basename(file, path.extname(file))}.as-esm.mjs`);
    if (!fs.existsSync(copy)) throw err;
    return loadEsm(copy);
  }
  math = require(SHIM); // the instance the submission required (node_modules/mathjs -> the shim)
  if (mod && typeof mod === 'object' && find(mod, CONTRACT.DenseLayer) === null && mod.default && typeof mod.default === 'object') {
    return mod.default; // transpiled `export default { ... }`
  }
  return mod;
}

// ------------------------------------------------------------- main

async function main() {
  let tasks;
  try {
    const request = parse(fs.readFileSync(0, 'utf8')); // all of stdin, before the submission runs
    tasks = request.tasks;
    useContract(request.contract);
  } catch (err) {
    send({ k: 'load_error', error: errorRecord(err, 'bad request from the supervisor: ') });
    realExit(2);
  }
  process.exit = function exit(code) {
    try { send({ k: 'exit_called', code: code === undefined ? null : code }); } catch (e) { /* channel gone */ }
    return originalExit.call(process, code);
  };
  process.on('uncaughtException', (err) => {
    try { send({ k: 'async_error', error: errorRecord(err) }); } catch (e) { /* channel gone */ }
  });
  let mod;
  try {
    mod = await load(path.resolve(process.argv[2]));
    if (math === null) throw new Error('math.js could not be loaded');
  } catch (err) {
    send({ k: 'load_error', error: errorRecord(err, 'while loading the submission: ') });
    realExit(0);
  }
  send({ k: 'loaded' });
  for (const task of tasks) {
    const id = String(task.id);
    try {
      const op = OPS[task.op];
      if (op === undefined) throw new UnknownOp(`unknown op ${stringify(task.op)}; expected one of ${Object.keys(OPS).join(', ')}`);
      send({ k: 'result', id, ok: true, value: op(mod, task) });
    } catch (err) {
      send({ k: 'result', id, ok: false, error: errorRecord(err) });
    }
  }
  send({ k: 'done' });
  realExit(0); // no 'exit' handlers, no waiting for the submission's timers
}

main();
