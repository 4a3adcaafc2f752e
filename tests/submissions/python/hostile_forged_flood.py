"""Hostile: forges the runner's answers. It finds the result channel among its open
descriptors and writes, for every part it may be asked about, an error result whose type,
message and traceback are megabytes long, then a fake "loaded"/"done"; then it exits.
What must happen: the forgeries are ignored (a line counts only as the answer to the part
that is running), nothing it wrote inflates results.json past about 1 MiB, and it scores 0."""
import json
import os
import stat

BIG = "forged " * 150_000  # ~1 MB per field
IDS = ["api", "forward_linear", "forward_relu", "forward_sigmoid", "forward_tanh", "mse_0",
       "mse_1", "mse_derivative_0", "mse_derivative_1", "backward_linear", "backward_relu",
       "backward_sigmoid", "backward_tanh", "network", "rounds_mlp", "rounds_layer"]
ERROR = {"type": "T" * 300_000, "message": BIG, "traceback": BIG}
lines = [{"event": "load_error", "error": ERROR}] + [
    {"id": i, "ok": False, "error": ERROR} for i in IDS] + [{"event": "done"}]
payload = "".join("\n" + json.dumps(m) + "\n" for m in lines).encode()
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and fd not in (0, 1, 2):
            os.write(fd, payload[:6 << 20])
    except OSError:
        pass
os._exit(0)
