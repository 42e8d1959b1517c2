"""Our own child Python processes: the encryption helper and the sender processes.

Which interpreter starts them (:func:`_python_executable`: not one that
embeds Python, e.g. uwsgi), how many cores there are to give them
(:func:`cores`), the command they boot with (:data:`_BOOT`: this very copy of
webpush_core, the standard library first, nothing from the working
directory), how one ends with its parent (:func:`_watch_parent`, in the
child), how the child reads and writes its pipes' frames (:func:`read_frame`,
:func:`write_frame`: a 4-octet big-endian length, then that many octets), and
how a child takes its pipes off fds 0 and 1 (:func:`take_pipes`), and how
the parent ends one (:func:`_close`, :func:`_reap`, :func:`_reap_in_thread`).
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
import threading
import time
from types import ModuleType
from typing import IO, Optional

_fcntl: Optional[ModuleType]
try:
    import fcntl as _fcntl
except ImportError:  # not POSIX
    _fcntl = None

__all__ = ["LENGTH", "cores", "read_frame", "take_pipes", "write_frame"]

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
    """Wait up to ``grace`` seconds for the child to exit, then kill it. Blocks:
    never on an event loop (there, :func:`_reap_in_thread`)."""
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _reap_in_thread(proc: subprocess.Popen[bytes], grace: float) -> None:
    """:func:`_reap` in a short-lived thread: from an event loop, which must
    never wait for a process (even a killed one may take a while to go)."""
    if proc.poll() is not None:
        return
    threading.Thread(
        target=_reap, args=(proc, grace), name="webpush-core-reap", daemon=True
    ).start()


def take_pipes() -> tuple[IO[bytes], IO[bytes]]:
    """(In a child, first thing.) The frame pipes, taken off fds 0 and 1: fd 0
    then reads nothing (``/dev/null``) and fd 1 writes to stderr (or to
    ``/dev/null`` when the child has no stderr), so no code in the child (a
    ``print``, a C library, a subprocess inheriting them) can read a frame meant
    for us or write into the parent's. The pipes' own descriptors are above 2
    and not inherited."""
    frames_in = os.fdopen(_private_copy(0), "rb")
    frames_out = os.fdopen(_private_copy(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)  # 2 itself when the child has no stderr
    os.dup2(null, 0)
    try:
        os.fstat(2)
    except OSError:
        os.dup2(null, 2)
    os.dup2(2, 1)
    if null > 2:
        os.close(null)
    sys.stdout = sys.stderr
    return frames_in, frames_out


def _private_copy(fd: int) -> int:
    """A copy of ``fd`` numbered 3 or above, closed on exec."""
    if _fcntl is None:  # not POSIX: os.dup's copy is not inherited either
        return os.dup(fd)
    copy: int = _fcntl.fcntl(fd, _fcntl.F_DUPFD_CLOEXEC, 3)
    return copy


def _watch_parent(parent: int) -> None:
    """End the helper once ``parent`` is gone. Its stdin's EOF is not enough: a
    child forked from the parent (multiprocessing, a pre-forking server) holds
    that pipe open for as long as it lives."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
