"""Our own child Python processes: the encryption helper and the sender processes.

Which interpreter starts them (:func:`_python_executable`: not one that
embeds Python, e.g. uwsgi), how many cores there are to give them
(:func:`cores`), the command they boot with (:data:`_BOOT`: this very copy of
webpush_core, the standard library first, nothing from the working
directory), how one ends with its parent (:func:`_watch_parent`, in the
child), how the child reads and writes its pipes' frames (:func:`read_frame`,
:func:`write_frame`: a 4-octet big-endian length, then that many octets), and
how the parent ends one (:func:`_close`, :func:`_reap`).
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import time
from typing import IO, Optional

__all__ = ["LENGTH", "cores", "read_frame", "write_frame"]

# Every frame on our children's pipes: this length, then the payload.
LENGTH = struct.Struct(">I")


def write_frame(out: IO[bytes], payload: bytes) -> None:
    """(In a child.) One frame to the parent, flushed."""
    out.write(LENGTH.pack(len(payload)) + payload)
    out.flush()


def read_frame(stream: IO[bytes]) -> Optional[bytes]:
    """(In a child.) The next frame from the parent; None when the pipe ends,
    also in the middle of a frame (the parent is gone)."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (size,) = LENGTH.unpack(head)
    payload = stream.read(size)
    return payload if len(payload) == size else None


# The helper's command (argv: the directory holding this webpush_core, the
# parent's pid). Nothing comes from the working directory (sys.path[0] for
# `-c`, unless -P / PYTHONSAFEPATH left it out), the standard library comes
# first as in any process, and webpush_core is this very copy, taken from its
# own directory by name. That directory goes last, not first: installed it is
# site-packages, vendored an application's own directory, and a module there
# named like a standard one (a `typing` backport, an app's `secrets.py`) must not
# replace it in the process handed every plaintext and auth secret. Last, it
# still provides what is vendored beside webpush_core and not installed.
_BOOT = """\
import sys
here = sys.argv.pop(1)
if not getattr(sys.flags, "safe_path", False):
    del sys.path[0]
import importlib.machinery, importlib.util, runpy
spec = importlib.machinery.PathFinder.find_spec("webpush_core", [here])
if spec is None or spec.loader is None:
    raise SystemExit("webpush_core helper: no webpush_core in " + here)
if here not in sys.path:
    sys.path.append(here)
package = importlib.util.module_from_spec(spec)
sys.modules["webpush_core"] = package
spec.loader.exec_module(package)
runpy.run_module("webpush_core._delivery.helper", run_name="__main__", alter_sys=True)
"""


def cores() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _python_executable() -> Optional[str]:
    """sys.executable if it is a Python interpreter (not e.g. uwsgi embedding one)."""
    exe = sys.executable
    if not exe or not os.path.basename(exe).lower().startswith(("python", "pypy")):
        return None
    return exe


def _close(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError, ValueError):
                pipe.close()


def _reap(proc: subprocess.Popen[bytes], grace: float = 0.0) -> None:
    """Wait up to ``grace`` seconds for the helper to exit, then kill it."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _watch_parent(parent: int) -> None:
    """End the helper once ``parent`` is gone. Its stdin's EOF is not enough: a
    child forked from the parent (multiprocessing, a pre-forking server) holds
    that pipe open for as long as it lives."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
