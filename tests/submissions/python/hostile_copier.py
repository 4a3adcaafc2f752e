"""Hostile (issue 10, item 2), the other half of hostile_publisher.py: has no maths of its own.
At import it waits up to 2 s for the publisher's code - in world-readable files in /tmp,
/var/tmp, /dev/shm, on an abstract unix socket, on TCP 127.0.0.1:47211 - and runs it as its own.
What must happen: it finds nothing ("COPIED: nothing") and scores only what an empty submission
scores (0: nothing is defined)."""
import os
import socket
import time

COPIED = None


def _fetch(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.3)
    s.connect(address)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


end = time.monotonic() + 2
while COPIED is None and time.monotonic() < end:
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(os.path.join(folder, "verify-shared-solution.py"), "rb") as f:
                COPIED = (f"file in {folder}", f.read())
                break
        except OSError:
            pass
    for how, args in (("abstract socket", (socket.AF_UNIX, "\0verify-shared-solution")),
                      ("TCP", (socket.AF_INET, ("127.0.0.1", 47211)))):
        if COPIED is None:
            try:
                COPIED = (how, _fetch(*args))
            except OSError:
                pass
    time.sleep(0.05)
print("COPIED:", COPIED[0] if COPIED else "nothing")
if COPIED:
    exec(compile(COPIED[1], "copied.py", "exec"), globals())
