"""The Python runner child: loads one student's .py file and answers the grading protocol.

Runs inside the sandbox as ``python -I -S -B python_runner.py SUBMISSION`` (see PROTOCOL.md):
request JSON on stdin, the response on the result channel (fd ``$VERIFY_RESULT_FD``), the
student's prints on stdout/stderr. Standalone on purpose: it imports only the standard library
and numpy (from ``$VERIFY_PYLIB``), never the grader. Everything it needs from numpy and json is
bound before the submission is loaded, so a submission that monkeypatches them can only spoil
its own numbers - and the expected values are never here to be read.

One file on purpose, over the project's ~500 lines per module: the sandbox runs this script by
path and mounts only it (with numpy) into the child's view, so it can import no module of its
own; a split would put grader code on the child's path, which the sandbox avoids by design.
"""

import os
import sys

# Take the result channel over before anything else can write to it.
_RESULT_FD = os.dup(int(os.environ.get("VERIFY_RESULT_FD", "3")))  # non-inheritable
try:
    os.close(int(os.environ.get("VERIFY_RESULT_FD", "3")))
except OSError:
    pass

import importlib.abc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import traceback  # noqa: E402

# Past the output-size limit a write fails with EFBIG instead of killing the process.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

_PYLIB = os.environ.get("VERIFY_PYLIB")
if _PYLIB:
    sys.path.insert(0, _PYLIB)

RUNTIME_BROKEN = 86
"""Exit status when this runner's own runtime fails (numpy cannot be imported) before any
student code runs: a fault of the grading machine, which the grader reports as such
(verify/grade/sandbox.py), never a score of 0 for the student."""
try:
    import numpy as np  # noqa: E402
except BaseException as _exc:  # noqa: BLE001 - any failure of the runtime, before the student
    sys.stderr.write(f"verify-grade runner: numpy cannot be imported in the sandbox: "
                     f"{type(_exc).__name__}: {_exc}\n")
    sys.stderr.flush()
    os._exit(RUNTIME_BROKEN)

_asarray = np.asarray
_array_equal = np.array_equal
_ndarray = np.ndarray
_float64 = np.float64
_tolist = np.ndarray.tolist
_isfinite = math.isfinite
_dumps = json.dumps
_loads = json.loads
_format_exception = traceback.format_exception
_write = os.write
_exit = os._exit
_THIS_FILE = os.path.abspath(__file__)
_NUMPY_DIR = os.path.dirname(os.path.abspath(getattr(np, "__file__", "") or "")) + os.sep
_MAX_ELEMENTS = 1_000_000
_MAX_TRACEBACK = 8192

_BLOCKED = ("reference_mlp", "verify")


class _BlockGrader(importlib.abc.MetaPathFinder):
    """Submissions may not import the grader or its reference (they are not mounted either)."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001
        if fullname.split(".")[0] in _BLOCKED:
            raise ImportError(
                f"{fullname!r} is not available to submissions: write your own implementation"
            )
        return None


sys.meta_path.insert(0, _BlockGrader())


class BadResult(Exception):
    """The submission returned something that is not the numeric matrix expected."""


class MissingAPI(Exception):
    """A name the contract requires is not defined."""


class UnknownOp(Exception):
    pass


# ---------------------------------------------------------------- numbers in and out


def _num_in(x):
    if isinstance(x, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[x]
    return x


def _matrix_in(m):
    arr = _asarray([[_num_in(v) for v in row] for row in m], dtype=_float64)
    if arr.ndim != 2:
        arr = arr.reshape(len(m), -1)
    return arr


def _num_out(v):
    v = float(v)
    if _isfinite(v):
        return v
    return "nan" if v != v else ("inf" if v > 0 else "-inf")


def _describe(value):
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        return f"{type(value).__name__} of shape {shape}"
    return type(value).__name__


def _matrix_out(value, field, expected, allow_none=False):
    """The student's ``value`` as a JSON matrix, or BadResult naming ``field``."""
    if value is None:
        if allow_none:
            return None
        raise BadResult(f"{field}: expected a numeric matrix of shape {expected}, got None")
    try:
        raw = _asarray(value)
    except BaseException as exc:  # noqa: BLE001 - student objects can raise anything
        raise BadResult(
            f"{field}: expected a numeric matrix of shape {expected}, got {_describe(value)} "
            f"that cannot be converted ({type(exc).__name__}: {exc})"
        ) from None
    if raw.dtype.kind not in "biuf":
        raise BadResult(
            f"{field}: expected a numeric matrix of shape {expected}, got {_describe(value)} "
            f"with {'non-numeric' if raw.dtype.kind in 'OSUV' else raw.dtype.name} entries "
            f"(dtype {raw.dtype})"
        )
    if raw.size > _MAX_ELEMENTS:
        raise BadResult(f"{field}: {raw.size} entries is far too many (expected {expected})")
    arr = raw.astype(_float64)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    elif arr.ndim > 2:
        raise BadResult(
            f"{field}: expected a 2-D matrix of shape {expected}, got {arr.ndim}-D shape "
            f"{tuple(arr.shape)}"
        )
    return [[_num_out(v) for v in row] for row in _tolist(arr)]


def _try_matrix_out(value, field, expected):
    """As :func:`_matrix_out`, but None for something that is not a matrix (a field the parent
    only uses for diagnosis must not cost the task)."""
    try:
        return _matrix_out(value, field, expected, allow_none=True)
    except BadResult:
        return None


def _same(now, before):
    """Whether an array the runner handed to the submission still holds what it held."""
    try:
        return bool(now.shape == before.shape and _array_equal(now, before, equal_nan=True))
    except BaseException:  # noqa: BLE001 - the submission may have replaced its type
        return False


def _with_mutated(value, pairs):
    """``value`` with ``mutated``: the names of the caller's arrays the submission changed in
    place, when there are any (PROTOCOL.md)."""
    names = [name for name, now, before in pairs if now is not None and not _same(now, before)]
    if names:
        value["mutated"] = names
    return value


def _scalar_out(value, field):
    try:
        raw = _asarray(value)
    except BaseException as exc:  # noqa: BLE001
        raise BadResult(f"{field}: expected a number, got {_describe(value)} ({exc})") from None
    if raw.dtype.kind not in "biuf" or raw.size != 1:
        raise BadResult(
            f"{field}: expected a single number, got {_describe(value)}"
            + (f" with dtype {raw.dtype}" if raw.dtype.kind not in "biuf" else "")
        )
    return _num_out(_tolist(raw.astype(_float64).reshape(-1))[0])


# ---------------------------------------------------------------- the submission's names

# The names to look for come with the request (PROTOCOL.md, "contract"); this default only
# serves requests that carry none.
_CONTRACT = {
    "DenseLayer": ["DenseLayer"],
    "MLP": ["MLP"],
    "mse": ["mse"],
    "mse_derivative": ["mse_derivative", "mseDerivative"],
    "add_layer": ["add_layer", "addLayer"],
    "d_weights": ["d_weights", "dWeights"],
    "d_biases": ["d_biases", "dBiases"],
}
_MODULE_ROLES = ("DenseLayer", "MLP", "mse", "mse_derivative")


def _find(obj, names):
    for name in names:
        try:
            if hasattr(obj, name):
                return name
        except BaseException:  # noqa: BLE001 - a property that raises
            continue
    return None


def _require(module, key):
    name = _find(module, _CONTRACT[key])
    if name is None:
        raise MissingAPI(
            f"the submission defines no {' or '.join(_CONTRACT[key])}"
        )
    return getattr(module, name)


def _grad(layer, key, field, expected):
    name = _find(layer, _CONTRACT[key])
    if name is None:
        return None
    return _matrix_out(getattr(layer, name), field, expected, allow_none=True)


def _new_layer(module, spec):
    cls = _require(module, "DenseLayer")
    layer = cls(int(spec["n_inputs"]), int(spec["n_neurons"]), str(spec["activation"]))
    layer.weights = _matrix_in(spec["weights"])
    layer.biases = _matrix_in(spec["biases"])
    return layer


# ---------------------------------------------------------------- tasks


def _op_api(module, task):
    # Without "roles", lesson 4's names (PROTOCOL.md): DenseLayer, MLP, mse, mse_derivative,
    # MLP.add_layer, and the attributes of a fresh DenseLayer(3, 2, "relu").
    roles = task.get("roles", _MODULE_ROLES)
    methods = task.get("methods", {"add_layer": "MLP"})
    value = {}
    names = {}
    for key in roles:
        found = _find(module, _CONTRACT[key])
        value[key] = found is not None
        names[key] = found
    for method, owner in methods.items():
        cls = getattr(module, names[owner]) if names.get(owner) else None
        names[method] = _find(cls, _CONTRACT[method]) if cls is not None else None
    value["names"] = names
    attributes = {}
    if task.get("layer", True) and names.get("DenseLayer"):
        try:
            layer = getattr(module, names["DenseLayer"])(3, 2, "relu")
            for attr in ("weights", "biases"):
                shape = getattr(_asarray(getattr(layer, attr, None)), "shape", None)
                attributes[attr] = list(shape) if getattr(layer, attr, None) is not None else None
            for attr in ("forward", "backward"):
                attributes[attr] = callable(getattr(layer, attr, None))
        except BaseException as exc:  # noqa: BLE001
            attributes["error"] = f"DenseLayer(3, 2, 'relu') raised {type(exc).__name__}: {exc}"
    value["layer_attributes"] = attributes
    return value


def _op_layer(module, task):
    n_in, n_out = int(task["n_inputs"]), int(task["n_neurons"])
    layer = _new_layer(module, task)
    out = []
    for i, rnd in enumerate(task["rounds"]):
        x = _matrix_in(rnd["inputs"])
        x0 = x.copy()
        batch = x.shape[0]
        res = {"output": _matrix_out(layer.forward(x), f"round {i}: forward(inputs)",
                                     f"({batch}, {n_out})")}
        res["weights_forward"] = _try_matrix_out(getattr(layer, "weights", None),
                                                 f"round {i}: weights", f"({n_in}, {n_out})")
        res["biases_forward"] = _try_matrix_out(getattr(layer, "biases", None),
                                                f"round {i}: biases", f"(1, {n_out})")
        d = d0 = None
        if rnd.get("d_outputs") is not None:
            d = _matrix_in(rnd["d_outputs"])
            d0 = d.copy()
            d_in = layer.backward(d)
            res["d_inputs"] = _matrix_out(d_in, f"round {i}: backward(d_outputs)'s return value",
                                          f"({batch}, {n_in})")
            res["d_weights"] = _grad(layer, "d_weights", f"round {i}: d_weights",
                                     f"({n_in}, {n_out})")
            res["d_biases"] = _grad(layer, "d_biases", f"round {i}: d_biases", f"(1, {n_out})")
        else:
            res["d_inputs"] = res["d_weights"] = res["d_biases"] = None
        res["weights_after"] = _matrix_out(getattr(layer, "weights", None),
                                           f"round {i}: weights", f"({n_in}, {n_out})")
        res["biases_after"] = _matrix_out(getattr(layer, "biases", None),
                                          f"round {i}: biases", f"(1, {n_out})")
        out.append(_with_mutated(res, (("inputs", x, x0), ("d_outputs", d, d0))))
    return {"rounds": out}


def _new_model(module, specs):
    """The student's MLP with a DenseLayer per spec added (weights assigned): (model, layers)."""
    model = _require(module, "MLP")()
    add_name = _find(model, _CONTRACT["add_layer"])
    if add_name is None:
        raise MissingAPI(f"the MLP defines no {' or '.join(_CONTRACT['add_layer'])} method")
    layers = []
    for spec in specs:
        layer = _new_layer(module, spec)
        getattr(model, add_name)(layer)
        layers.append(layer)
    return model, layers


def _op_mlp(module, task):
    model, layers = _new_model(module, task["layers"])
    student_layers = getattr(model, "layers", None)
    out = []
    n_out = int(task["layers"][-1]["n_neurons"])
    n_in = int(task["layers"][0]["n_inputs"])
    for i, rnd in enumerate(task["rounds"]):
        x = _matrix_in(rnd["x"])
        x0 = x.copy()
        batch = x.shape[0]
        res = {"prediction": _matrix_out(model.forward(x), f"round {i}: forward(x)",
                                         f"({batch}, {n_out})")}
        after_forward = [(_try_matrix_out(getattr(layer, "weights", None), "weights", ""),
                          _try_matrix_out(getattr(layer, "biases", None), "biases", ""))
                         for layer in layers]
        backward = rnd.get("d_loss") is not None
        d = d0 = None
        if backward:
            d = _matrix_in(rnd["d_loss"])
            d0 = d.copy()
            # None is allowed: the lesson's MLP.backward returns nothing (the parent then
            # does not score the input gradient).
            res["d_x"] = _matrix_out(model.backward(d),
                                     f"round {i}: backward(d_loss)'s return value",
                                     f"({batch}, {n_in})", allow_none=True)
        else:
            res["d_x"] = None
        per_layer = []
        for j, layer in enumerate(layers):
            spec = task["layers"][j]
            entry = {"d_weights": None, "d_biases": None}
            if backward:
                source = layer
                if _find(layer, _CONTRACT["d_weights"]) is None and student_layers is not None:
                    try:  # the student's MLP copied the layers it was given
                        source = student_layers[j]
                    except BaseException:  # noqa: BLE001
                        source = layer
                entry["d_weights"] = _grad(source, "d_weights", f"round {i}: layers[{j}].d_weights",
                                           f"({spec['n_inputs']}, {spec['n_neurons']})")
                entry["d_biases"] = _grad(source, "d_biases", f"round {i}: layers[{j}].d_biases",
                                          f"(1, {spec['n_neurons']})")
            entry["weights_forward"], entry["biases_forward"] = after_forward[j]
            entry["weights_after"] = _matrix_out(
                getattr(layer, "weights", None), f"round {i}: layers[{j}].weights",
                f"({spec['n_inputs']}, {spec['n_neurons']})")
            entry["biases_after"] = _matrix_out(
                getattr(layer, "biases", None), f"round {i}: layers[{j}].biases",
                f"(1, {spec['n_neurons']})")
            per_layer.append(entry)
        res["layers"] = per_layer
        out.append(_with_mutated(res, (("x", x, x0), ("d_loss", d, d0))))
    return {"rounds": out}


def _op_mse(module, task):
    f = _require(module, "mse")
    yt, yp = _matrix_in(task["y_true"]), _matrix_in(task["y_pred"])
    yt0, yp0 = yt.copy(), yp.copy()
    return _with_mutated({"value": _scalar_out(f(yt, yp), "mse(y_true, y_pred)")},
                         (("y_true", yt, yt0), ("y_pred", yp, yp0)))


def _op_mse_derivative(module, task):
    f = _require(module, "mse_derivative")
    yt, yp = _matrix_in(task["y_true"]), _matrix_in(task["y_pred"])
    yt0, yp0 = yt.copy(), yp.copy()
    value = _matrix_out(f(yt, yp), "mse_derivative(y_true, y_pred)", str(tuple(yt0.shape)))
    return _with_mutated({"value": value}, (("y_true", yt, yt0), ("y_pred", yp, yp0)))


def _number_in(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"bad request: {field} must be a number")
    return value


def _op_gd_step(module, task):
    f = _require(module, "gradient_descent_step")
    x = _matrix_in(task["x"])
    out = f(x, _matrix_in(task["gradient"]), float(_number_in(task["learning_rate"], "lr")))
    return {"value": _matrix_out(out, "gradient_descent_step(x, gradient, learning_rate)",
                                 str(tuple(x.shape)))}


def _op_gd_run(module, task):
    f = _require(module, "gradient_descent")
    fn = task["function"]
    if fn.get("kind") != "quadratic":
        raise ValueError(f"bad request: unknown function {fn.get('kind')!r}")
    a, c = _matrix_in(fn["A"]), _matrix_in(fn["c"])
    calls = [0]

    def gradient(x):
        calls[0] += 1
        return (_asarray(x, dtype=_float64) - c) @ a

    x0 = _matrix_in(task["x0"])
    out = f(gradient, x0.copy(), float(_number_in(task["learning_rate"], "lr")),
            int(task["steps"]))
    return {"value": _matrix_out(out, "gradient_descent(gradient, x0, learning_rate, n_steps)",
                                 str(tuple(x0.shape))),
            "calls": calls[0]}


def _params_out(layer, i, j, spec, suffix):
    shape_w = f"({spec['n_inputs']}, {spec['n_neurons']})"
    return {f"weights{suffix}": _matrix_out(getattr(layer, "weights", None),
                                            f"{i}layers[{j}].weights", shape_w),
            f"biases{suffix}": _matrix_out(getattr(layer, "biases", None),
                                           f"{i}layers[{j}].biases", f"(1, {spec['n_neurons']})")}


def _op_sgd_step(module, task):
    step = _require(module, "sgd_step")
    model, layers = _new_model(module, task["layers"])
    model.forward(_matrix_in(task["x"]))
    model.backward(_matrix_in(task["d_loss"]))
    student_layers = getattr(model, "layers", None)
    out = []
    for j, (layer, spec) in enumerate(zip(layers, task["layers"], strict=True)):
        source = layer
        if _find(layer, _CONTRACT["d_weights"]) is None and student_layers is not None:
            try:  # the student's MLP copied the layers it was given
                source = student_layers[j]
            except BaseException:  # noqa: BLE001
                source = layer
        entry = {"d_weights": _grad(source, "d_weights", f"layers[{j}].d_weights",
                                    f"({spec['n_inputs']}, {spec['n_neurons']})"),
                 "d_biases": _grad(source, "d_biases", f"layers[{j}].d_biases",
                                   f"(1, {spec['n_neurons']})")}
        entry.update(_params_out(layer, "after backward: ", j, spec, "_backward"))
        out.append(entry)
    step(model, float(_number_in(task["learning_rate"], "lr")))
    for j, (layer, spec) in enumerate(zip(layers, task["layers"], strict=True)):
        out[j].update(_params_out(layer, "after sgd_step: ", j, spec, "_after"))
    return {"layers": out}


def _pair_out(value, field, n_x, n_y):
    try:
        items = list(value) if isinstance(value, (tuple, list)) else None
    except BaseException:  # noqa: BLE001
        items = None
    if items is None or len(items) != 2:
        raise BadResult(f"{field}: expected a pair (x, y), got {_describe(value)}")
    return {"x": _matrix_out(items[0], f"{field}[0] (x)", f"(rows, {n_x})"),
            "y": _matrix_out(items[1], f"{field}[1] (y)", f"(rows, {n_y})")}


def _op_shuffle(module, task):
    f = _require(module, "shuffle")
    x, y = _matrix_in(task["x"]), _matrix_in(task["y"])
    calls = []
    for seed in task["seeds"]:
        calls.append(_pair_out(f(x.copy(), y.copy(), int(seed)), f"shuffle(x, y, {int(seed)})",
                               x.shape[1], y.shape[1]))
    return {"calls": calls}


_MAX_BATCHES = 10_000


def _op_batches(module, task):
    f = _require(module, "make_batches")
    x, y = _matrix_in(task["x"]), _matrix_in(task["y"])
    size = int(task["batch_size"])
    out = []
    for k, pair in enumerate(f(x.copy(), y.copy(), size)):
        if k >= _MAX_BATCHES:
            raise BadResult(f"make_batches: more than {_MAX_BATCHES} batches")
        out.append(_pair_out(pair, f"make_batches(...)[{k}]", x.shape[1], y.shape[1]))
    return {"batches": out}


_MAX_STEPS = 20_000


def _op_train(module, task):
    train = _require(module, "train")
    x, y = _matrix_in(task["x"]), _matrix_in(task["y"])
    epochs, size = int(task["epochs"]), int(task["batch_size"])
    lr = float(_number_in(task["learning_rate"], "lr"))
    runs = []
    for i, seed in enumerate(task["seeds"]):
        model, layers = _new_model(module, task["layers"])
        log = {"pending": None, "batches": [], "params": [], "backward": 0}
        forward, backward = model.forward, model.backward

        def logged_forward(inputs, *args, _forward=forward, _log=log, **kwargs):
            try:
                _log["pending"] = _matrix_out(inputs, "model.forward's input", "(rows, n_in)")
            except BadResult:
                _log["pending"] = None
            return _forward(inputs, *args, **kwargs)

        def logged_backward(*args, _backward=backward, _log=log, _layers=layers, **kwargs):
            _log["backward"] += 1
            if len(_log["batches"]) < _MAX_STEPS:  # the batch, and the weights it meets
                _log["batches"].append(_log["pending"])
                _log["params"].append(
                    [_params_out(layer, "before backward: ", j, spec, "")
                     for j, (layer, spec) in enumerate(zip(_layers, task["layers"], strict=True))])
            return _backward(*args, **kwargs)

        model.forward, model.backward = logged_forward, logged_backward
        history = train(model, x.copy(), y.copy(), epochs, size, lr, int(seed))
        runs.append({
            "history": _matrix_out(history, f"run {i}: train(...)'s return value",
                                   f"(1, {epochs})", allow_none=True),
            "layers": [_params_out(layer, f"run {i}: ", j, spec, "")
                       for j, (layer, spec) in enumerate(zip(layers, task["layers"], strict=True))],
            "batches": log["batches"],
            "params": log["params"],
            "backward_calls": log["backward"],
        })
    return {"runs": runs}


_OPS = {
    "api": _op_api,
    "layer": _op_layer,
    "mlp": _op_mlp,
    "mse": _op_mse,
    "mse_derivative": _op_mse_derivative,
    "gd_step": _op_gd_step,
    "gd_run": _op_gd_run,
    "sgd_step": _op_sgd_step,
    "shuffle": _op_shuffle,
    "batches": _op_batches,
    "train": _op_train,
}


# ---------------------------------------------------------------- errors and the main loop


def _error(exc, prefix=""):
    try:
        lines = _format_exception(type(exc), exc, exc.__traceback__)
        # Drop the runner's own frames: the student needs their code's lines. A run of numpy's
        # internal frames becomes one line.
        kept, skip, in_numpy = [], False, False
        for line in lines:
            if line.lstrip().startswith("File ") and _THIS_FILE in line:
                skip = True
                continue
            if line.lstrip().startswith("File ") and _NUMPY_DIR and _NUMPY_DIR in line:
                if not in_numpy:
                    kept.append("  (numpy's internal frames)\n")
                in_numpy = True
                continue
            in_numpy = False
            if skip and line.startswith("    ") and not line.lstrip().startswith("File "):
                skip = False
                continue
            skip = False
            kept.append(line)
        text = "".join(kept)
    except BaseException:  # noqa: BLE001
        text = ""
    if len(text) > _MAX_TRACEBACK:
        text = text[:_MAX_TRACEBACK // 2] + "\n...\n" + text[-_MAX_TRACEBACK // 2:]
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001
        message = "<the exception's message could not be read>"
    if isinstance(exc, SystemExit):
        message = f"SystemExit({exc.code!r}) raised"
    return {"type": type(exc).__name__, "message": prefix + message[:4000], "traceback": text}


def _load(path):
    # The submission's own folder first, as `python mlp.py` would have it: its helper modules
    # (copied beside it, and nothing else) are importable.
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {os.path.basename(path)} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _write_all(data):
    view = memoryview(data)
    while view:
        n = _write(_RESULT_FD, view)
        view = view[n:]


def _respond(results):
    _write_all(_dumps({"protocol": 1, "results": results}, allow_nan=False).encode("utf-8"))
    os.close(_RESULT_FD)


def _emit(message):
    """One line of a streaming response (PROTOCOL.md). Framed by newlines on both sides, so
    bytes the submission may have written to this descriptor stay on lines of their own."""
    _write_all(b"\n" + _dumps(message, allow_nan=False).encode("utf-8") + b"\n")


def _flush_student_output():
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass


def _run_task(module, task):
    tid = str(task.get("id"))
    try:
        op = _OPS.get(task.get("op"))
        if op is None:
            raise UnknownOp(f"unknown op {task.get('op')!r}; expected one of {list(_OPS)}")
        return {"id": tid, "ok": True, "value": op(module, task)}
    except BaseException as exc:  # noqa: BLE001
        return {"id": tid, "ok": False, "error": _error(exc)}


def main():
    try:
        request = _loads(sys.stdin.buffer.read())
        tasks = request["tasks"]
        stream = bool(request.get("stream"))
        contract = request.get("contract")
        if contract is not None:
            if not isinstance(contract, dict) or not all(
                    isinstance(v, list) and all(isinstance(n, str) for n in v)
                    for v in contract.values()):
                raise ValueError("the request's contract must map roles to lists of names")
            _CONTRACT.update(contract)
    except BaseException as exc:  # noqa: BLE001
        _respond([{"id": "?", "ok": False, "error": _error(exc, "bad request: ")}])
        _exit(2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # input() in the submission sees EOF, not the request
    try:
        # numpy's floating-point warnings are not the student's output: a correct sigmoid
        # 1 / (1 + np.exp(-z)) warns of an overflow at z = -800 and still gives 0. The grader
        # judges the numbers (NaN and inf included) and explains overflows from them.
        np.seterr(all="ignore")
        module = _load(sys.argv[1])
        load_error = None
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt at import too
        module, load_error = None, _error(exc, "while loading the submission: ")
    if stream:
        # The parent times each task from the line before it, and stops the child when one
        # takes too long; it restarts a fresh child for the tasks after it.
        _flush_student_output()
        if load_error is not None:
            _emit({"event": "load_error", "error": load_error})
        else:
            _emit({"event": "loaded"})
            for task in tasks:
                result = _run_task(module, task)
                _flush_student_output()
                _emit(result)
            _emit({"event": "done"})
        os.close(_RESULT_FD)
        _exit(0)
    results = []
    for task in tasks:
        if load_error is not None:
            results.append({"id": str(task.get("id")), "ok": False, "error": load_error})
        else:
            results.append(_run_task(module, task))
    _flush_student_output()
    _respond(results)
    _exit(0)  # no atexit handlers, no waiting for the submission's threads


if __name__ == "__main__":
    main()
