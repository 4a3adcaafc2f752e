#!/usr/bin/env node
// The Node runner child for `python -m verify grade` (see verify/grade/PROTOCOL.md).
//
//   node node_runner.js [--wall-s=S] [--memory-mb=M] [--task-timeout-s=T] [--] SUBMISSION
//   stdin: the request JSON; fd $VERIFY_RESULT_FD (3): the response; stdout/stderr: the student's.
//
// This process is a small trusted supervisor: it never loads the submission. It starts
// node_worker.js (which does) as a second process with its own heap limit, Node's permission
// model (no child processes, no worker threads, reads only of the runner and the submission's
// folder), and no access to the result channel: the worker's fd 3 is a private pipe back to
// here. Each task gets its own time budget; a task that hangs or crashes the worker costs that
// task only (a fresh worker takes the rest), and the response is written before the parent's
// wall limit, so one infinite loop does not zero the other tasks of the group.
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');

const started = Date.now();
const RESULT_FD = Number.parseInt(process.env.VERIFY_RESULT_FD || '3', 10);
const WORKER = path.join(__dirname, 'node_worker.js');
const MAX_CHANNEL_BYTES = 32 * 1024 * 1024; // what one worker may send back (results are small)
const MAX_RESTARTS = 4; // fresh workers after crashes or timeouts, per child
const RESTART_COST_MS = 500; // a worker's start-up (node + math.js: ~0.15 s) with margin
const RESPONSE_BUDGET = 12 * 1024 * 1024; // the parent reads at most 16 MiB from fd 3

process.on('SIGXFSZ', () => {}); // past the output limit a write fails; it must not kill us
process.on('SIGPIPE', () => {});

function parseArgs(argv) {
  const opts = { wallS: 10, memoryMb: 1024, taskTimeoutS: null, loadTimeoutS: null, submission: null };
  let rest = false;
  for (const arg of argv) {
    if (!rest && arg === '--') { rest = true; continue; }
    const m = !rest && /^--([a-z-]+)=(.*)$/.exec(arg);
    if (m) {
      const value = Number(m[2]);
      if (!Number.isFinite(value) || value <= 0) throw new Error(`bad value for --${m[1]}: ${m[2]}`);
      if (m[1] === 'wall-s') opts.wallS = value;
      else if (m[1] === 'memory-mb') opts.memoryMb = value;
      else if (m[1] === 'task-timeout-s') opts.taskTimeoutS = value;
      else if (m[1] === 'load-timeout-s') opts.loadTimeoutS = value;
      else throw new Error(`unknown option --${m[1]}`);
    } else if (opts.submission === null) {
      opts.submission = arg;
    } else {
      throw new Error(`unexpected argument ${arg}`);
    }
  }
  if (opts.submission === null) throw new Error('usage: node node_runner.js [options] SUBMISSION');
  opts.submission = path.resolve(opts.submission);
  return opts;
}

function applyLimits(opts, limits) {
  // The request's "limits" (PROTOCOL.md) win over the command line: the grader sends the time
  // this child really has left of the submission's budget.
  if (limits && typeof limits === 'object') {
    for (const [key, name] of [['wall_s', 'wallS'], ['task_s', 'taskTimeoutS'], ['load_s', 'loadTimeoutS'],
      ['submission_s', 'submissionS']]) {
      const value = Number(limits[key]);
      if (Number.isFinite(value) && value > 0) opts[name] = value;
    }
  }
  // Leave the parent time to read the response before its own wall limit strikes.
  opts.budgetMs = Math.max(500, opts.wallS * 1000 - Math.min(1000, opts.wallS * 100));
  if (opts.taskTimeoutS === null) opts.taskTimeoutS = Math.max(1, Math.min(2, opts.wallS / 5));
  if (opts.loadTimeoutS === null) opts.loadTimeoutS = opts.wallS;
  if (!opts.submissionS) opts.submissionS = opts.wallS;
}

function respond(results, code) {
  const data = Buffer.from(JSON.stringify({ protocol: 1, results }), 'utf8');
  let offset = 0;
  try {
    while (offset < data.length) offset += fs.writeSync(RESULT_FD, data, offset);
    fs.closeSync(RESULT_FD);
  } catch (err) {
    code = 3; // the channel is gone: the parent reports "no results"
  }
  process.exit(code);
}

function errorResult(id, type, message, traceback = '') {
  return { id, ok: false, error: { type, message, traceback } };
}

// ------------------------------------------------------------- the worker's process tree

function descendants(rootPid) {
  // Every process below rootPid, read from /proc (empty where /proc is not readable).
  const children = new Map();
  let entries;
  try { entries = fs.readdirSync('/proc'); } catch (err) { return []; }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try { stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1'); } catch (err) { continue; }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const found = [];
  const stack = [rootPid];
  while (stack.length) {
    for (const pid of children.get(stack.pop()) || []) { found.push(pid); stack.push(pid); }
  }
  return found;
}

function killTree(pid) {
  // Freeze first so nothing forks while we look, then kill everything found.
  const seen = new Set([pid]);
  try { process.kill(pid, 'SIGSTOP'); } catch (err) { /* already gone */ }
  for (let pass = 0; pass < 5; pass++) {
    const fresh = descendants(pid).filter((p) => !seen.has(p));
    if (!fresh.length) break;
    for (const p of fresh) { seen.add(p); try { process.kill(p, 'SIGSTOP'); } catch (err) { /* gone */ } }
  }
  for (const p of seen) { try { process.kill(p, 'SIGKILL'); } catch (err) { /* gone */ } }
}

// ------------------------------------------------------------- one worker run

function real(p) {
  try { return fs.realpathSync(p); } catch (err) { return p; }
}

function modulesDir() {
  return path.join(real(__dirname), 'node_modules');
}

function linkModules(submission) {
  // Give the submission's private folder node_modules/mathjs -> mathjs_shim (the runner's
  // math.js, with an ES-module face): `require('mathjs')` and `import ... from 'mathjs'` then
  // both resolve to the one CommonJS instance the worker uses too. Where the folder is not
  // writable, NODE_PATH still serves require('mathjs').
  const dir = path.join(path.dirname(submission), 'node_modules');
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.symlinkSync(path.join(real(__dirname), 'mathjs_shim'), path.join(dir, 'mathjs'), 'dir');
  } catch (err) { /* read-only, or already there */ }
  // A .js file written with import/export is loaded as the ES module it is, from this copy
  // (made here: the worker may not write anywhere).
  if (path.extname(submission).toLowerCase() === '.js') {
    try { fs.copyFileSync(submission, esmCopy(submission)); } catch (err) { /* read-only */ }
  }
}

function esmCopy(submission) {
  return path.join(path.dirname(submission), `${path.basename(submission, path.extname(submission))}.as-esm.mjs`);
}

function workerArgs(opts, submission) {
  const major = Number(process.versions.node.split('.')[0]);
  const heapMb = Math.max(64, Math.floor(opts.memoryMb / 2));
  const args = [`--max-old-space-size=${heapMb}`, '--max-semi-space-size=16', '--v8-pool-size=1'];
  if (major >= 20) {
    args.push(major >= 23 ? '--permission' : '--experimental-permission');
    const readable = new Set([real(__dirname), real(path.dirname(submission)), path.dirname(submission)]);
    // A folder grants its whole subtree (and nothing beside it: /sandbox2 is not /sandbox).
    // No write permission at all: Node's checks do not resolve symbolic links, so a writable
    // folder holding node_modules/mathjs -> the runner would let a write reach the runner.
    for (const dir of readable) args.push(`--allow-fs-read=${dir}`);
    const minor = Number(process.versions.node.split('.')[1]);
    args.push(major > 20 || minor >= 11 ? '--disable-warning=ExperimentalWarning' : '--no-warnings');
  }
  return args;
}

function signalMessage(signal, heapMb) {
  switch (signal) {
    case 'SIGABRT': case 'SIGTRAP':
      return `the process aborted (${signal}); this is how V8 stops when the JavaScript heap ` +
        `limit (${heapMb} MB) is exceeded: a memory hog or unbounded recursion/arrays?`;
    case 'SIGKILL': return 'the process was killed (SIGKILL): memory or time limit';
    case 'SIGXCPU': return 'the CPU time limit was exceeded (SIGXCPU)';
    case 'SIGXFSZ': return 'the output size limit was exceeded (SIGXFSZ): too much printed';
    case 'SIGSEGV': return 'the process crashed (SIGSEGV)';
    default: return `the process was killed by ${signal}`;
  }
}

/**
 * Run `tasks` in one worker. Resolves to {results: Map id->result, stop: reason|null,
 * loadError: error|null}: results for the tasks that finished; `stop` describes why the
 * first unfinished task (if any) did not finish.
 */
function runWorker(opts, tasks, deadline) {
  return new Promise((resolve) => {
    const heapMb = Math.max(64, Math.floor(opts.memoryMb / 2));
    const results = new Map();
    let loaded = false;
    let loadError = null;
    let exitCalled = null;
    let asyncErrors = [];
    let garbage = 0;
    let received = 0;
    let pending = '';
    let finished = false;
    let timer = null;
    let stop = null;

    const child = childProcess.spawn(process.execPath,
      [...workerArgs(opts, opts.submission), WORKER, opts.submission], {
        stdio: ['pipe', 'inherit', 'inherit', 'pipe'],
        env: { NODE_PATH: modulesDir(), UV_THREADPOOL_SIZE: '1' }, // nothing of the grader's environment
        cwd: process.cwd(),
        windowsHide: true,
      });
    const current = () => tasks.find((t) => !results.has(String(t.id)));

    const finish = (reason) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (stop === null) stop = reason;
      killTree(child.pid);
      const done = () => resolve({ results, stop, loadError, loaded });
      if (child.exitCode !== null || child.signalCode !== null) done();
      else {
        const guard = setTimeout(done, 1000);
        child.once('exit', () => { clearTimeout(guard); done(); });
      }
    };

    const arm = () => {
      clearTimeout(timer);
      const now = Date.now();
      const task = current();
      const step = loaded ? (task ? opts.taskTimeoutS * 1000 : Infinity) : opts.loadTimeoutS * 1000;
      const until = Math.min(deadline, now + step);
      timer = setTimeout(() => {
        if (!loaded) {
          // Limits, never measured times, in feedback: a regrade must say the same thing.
          const limit = until === deadline
            ? `the ${opts.submissionS} s time limit for the whole submission`
            : `${opts.loadTimeoutS} s (the time limit for loading it)`;
          finish({ type: 'LoadTimeout',
            message: `loading your file did not finish within ${limit}: code at module level ` +
              '(a training loop, a long wait) runs when the file is loaded' });
        } else if (until === deadline) {
          finish({ type: 'NotRun', budget: true,
            message: `not run: the time limit for the whole submission (${opts.submissionS} s) ` +
              'was used up by earlier parts that did not finish' });
        } else {
          finish({ type: 'Timeout',
            message: `your code did not finish this part within ${opts.taskTimeoutS} s (the time ` +
              'limit per part; correct code needs milliseconds): an infinite loop, or very slow ' +
              'code? It was stopped, and the parts after it ran in a fresh process' });
        }
      }, Math.max(0, until - now));
    };

    const onMessage = (msg) => {
      if (msg === null || typeof msg !== 'object') { garbage++; return; }
      if (msg.k === 'loaded' && !loaded) {
        loaded = true;
        if (!current()) finish(null); else arm();
        return;
      }
      if (msg.k === 'load_error' && !loaded) {
        loadError = msg.error; finish(null); return;
      }
      if (msg.k === 'exit_called') { exitCalled = { code: msg.code }; return; }
      if (msg.k === 'async_error') { if (asyncErrors.length < 3) asyncErrors.push(msg.error); return; }
      if (msg.k === 'result' && loaded) {
        const task = current();
        if (!task || String(msg.id) !== String(task.id) || typeof msg.ok !== 'boolean') { garbage++; return; }
        const r = msg.ok ? { id: String(task.id), ok: true, value: msg.value }
          : { id: String(task.id), ok: false, error: msg.error };
        results.set(String(task.id), r);
        if (!current()) finish(null); else arm();
        return;
      }
      garbage++;
    };

    child.stdio[3].on('data', (chunk) => {
      received += chunk.length;
      if (received > MAX_CHANNEL_BYTES) {
        finish({ type: 'BadResult', message: `the worker sent more than ${MAX_CHANNEL_BYTES >> 20} MiB ` +
          'of results: the submission wrote to the runner\'s channel or returned huge values' });
        return;
      }
      pending += chunk.toString('utf8');
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line) continue;
        let msg;
        try { msg = JSON.parse(line); } catch (err) { garbage++; continue; }
        onMessage(msg);
        if (finished) return;
      }
    });
    child.stdio[3].on('error', () => {});
    child.stdin.on('error', () => {}); // a worker that died early: EPIPE is expected
    child.on('error', (err) => finish({ type: 'RunnerError', message: `cannot start the worker: ${err.message}` }));
    const onExit = (code, signal) => {
      if (finished) return;
      let message;
      if (exitCalled !== null) message = `process.exit(${exitCalled.code === null ? '' : exitCalled.code}) was called`;
      else if (signal) message = signalMessage(signal, heapMb);
      else message = `the process exited with code ${code} (process.exit or a fatal error)`;
      let type = 'Crash';
      if (exitCalled !== null || !signal) type = 'ProcessExit';
      else if (signal === 'SIGABRT' || signal === 'SIGTRAP') type = 'MemoryError';
      if (asyncErrors.length) {
        const e = asyncErrors[0];
        message += `; before that an uncaught ${e.type} was thrown asynchronously: ${e.message}`;
      }
      if (garbage) message += `; the submission also wrote ${garbage} stray line(s) to the runner's channel`;
      finish({ type, message });
    };
    // 'exit' can come before the last results are read from the channel: judge once the
    // channel has ended too (or shortly after, if a leftover process still holds it open).
    let channelEnded = false;
    let exited = null;
    child.stdio[3].on('end', () => {
      channelEnded = true;
      if (exited) onExit(...exited);
    });
    child.on('exit', (code, signal) => {
      exited = [code, signal];
      if (channelEnded) onExit(code, signal);
      else setTimeout(() => onExit(code, signal), 250);
    });

    child.stdin.end(JSON.stringify({ tasks, contract: opts.contract }));
    arm();
  });
}

// ------------------------------------------------------------- main

async function main() {
  let opts;
  let tasks;
  try {
    opts = parseArgs(process.argv.slice(2));
    const request = JSON.parse(fs.readFileSync(0, 'utf8'));
    if (!request || !Array.isArray(request.tasks)) throw new Error('the request has no "tasks" list');
    if (request.protocol !== undefined && request.protocol !== 1) {
      throw new Error(`protocol ${request.protocol} is not supported (this runner speaks 1)`);
    }
    tasks = request.tasks.map((t) => (t && typeof t === 'object' ? t : { id: '?', op: null }));
    applyLimits(opts, request.limits);
    opts.contract = request.contract; // checked by the worker
  } catch (err) {
    respond([errorResult('?', 'BadRequest', `bad request: ${err.message}`)], 2);
    return;
  }
  const deadline = started + opts.budgetMs;
  linkModules(opts.submission);
  const results = new Map();
  let remaining = tasks.slice();
  let restarts = 0;
  const suspect = new Set();
  while (remaining.length) {
    const run = await runWorker(opts, remaining, deadline);
    for (const [id, r] of run.results) results.set(id, r);
    remaining = remaining.filter((t) => !results.has(String(t.id)));
    if (!remaining.length) break;
    if (run.stop && run.stop.budget) {
      // The submission's time is up: what is left was not run (and says so).
      for (const t of remaining) results.set(String(t.id), errorResult(String(t.id), 'NotRun', run.stop.message));
      break;
    }
    if (run.loadError || !run.loaded) {
      // The submission itself could not be loaded: the same error for every task.
      const own = run.stop && run.stop.type === 'LoadTimeout';
      const e = run.loadError || {
        type: run.stop ? run.stop.type : 'Crash',
        message: own ? run.stop.message
          : `while loading the submission: ${run.stop ? run.stop.message : 'the worker stopped'}`,
        traceback: '',
      };
      for (const t of remaining) results.set(String(t.id), { id: String(t.id), ok: false, error: e });
      break;
    }
    const failed = remaining.shift();
    const stop = run.stop || { type: 'Crash', message: 'the worker stopped without an answer' };
    results.set(String(failed.id), errorResult(String(failed.id), stop.type, stop.message));
    if (!remaining.length) break;
    // Tasks of an op that just hung or crashed are likely to do it again: run the others
    // first, so that (say) a forward that never returns does not cost the loss tests too.
    suspect.add(failed.op);
    remaining = [...remaining.filter((t) => !suspect.has(t.op)), ...remaining.filter((t) => suspect.has(t.op))];
    restarts++;
    const left = deadline - Date.now();
    if (restarts > MAX_RESTARTS || left < RESTART_COST_MS + 200) {
      const why = restarts > MAX_RESTARTS
        ? `not run: the submission's process stopped ${restarts} times in this child process (see the tests before)`
        : `not run: the time limit for the whole submission (${opts.submissionS} s) was used up by ` +
          'earlier parts that did not finish';
      for (const t of remaining) {
        // NotRun, whatever stopped the worker: the task itself did not fail, and a grader may
        // run it again in a fresh child (PROTOCOL.md).
        results.set(String(t.id), errorResult(String(t.id), 'NotRun', why));
      }
      break;
    }
  }
  let size = 0;
  respond(tasks.map((t) => {
    const id = String(t.id);
    const r = results.get(id) || errorResult(id, 'RunnerError', 'no result (internal error in the runner)');
    const bytes = Buffer.byteLength(JSON.stringify(r));
    size += bytes;
    if (size <= RESPONSE_BUDGET) return r;
    size -= bytes;
    return errorResult(id, 'BadResult', `the result is far too large (${bytes >> 10} KiB of JSON): ` +
      'return matrices of the shapes the contract asks for');
  }), 0);
}

main().catch((err) => {
  try { respond([errorResult('?', 'RunnerError', `the Node runner failed: ${err && err.stack}`)], 4); } catch (e) {
    process.exit(4);
  }
});
