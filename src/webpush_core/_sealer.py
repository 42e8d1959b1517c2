"""A helper process that encrypts for ``PushClient.send_many`` on another core.

Measured on 2 cores (benchmarks/README.md): the encryption (one key pair,
one ECDH, the HKDF, one seal: ~100 µs) holds the GIL, and every I/O thread
that wakes up in the same process has to take it back, which costs the
encrypting thread more than the encryption itself. In a process of its own
the encryption runs undisturbed while this process only sends.

The helper runs this module as ``__main__`` (``python -c``): a pure function over
pipes, stdin to stdout, in length-prefixed frames. It gets the plaintext
and padding (aes128gcm, one record) and up to :data:`BATCH` (p256dh, auth)
pairs, and answers, in order, each body, or a mark for a point that did not
load (the parent then parses that subscription itself, to report the error
:meth:`Subscription.from_info` raises). It holds no keys of ours, opens no
connection and writes nothing else; it ends when its stdin closes (also
when the parent dies, even if a child it forked holds that pipe).

If the helper cannot start, dies, or stalls, the batches it held are
encrypted in the parent and the client goes on without it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Callable, Optional

from ._p256 import public_key_from_point
from .ece._message import seal_aes128gcm_message

__all__ = ["BATCH", "Sealer", "cores"]

BATCH = 32  # subscriptions per frame: enough to make the pipe's cost small
_HEAD = struct.Struct(">II")  # plaintext length, padding
_LENGTH = struct.Struct(">I")
_KEYS = 65 + 16  # p256dh point + auth secret
_READY = b"webpush_core sealer 1"
_OK, _BAD = 0, 1
# The helper's command: sys.path[0] (the working directory for `-c`) becomes the
# directory holding this webpush_core before anything else is imported.
_BOOT = (
    "import sys; sys.path[0] = sys.argv.pop(1); import runpy; "
    "runpy.run_module('webpush_core._sealer', run_name='__main__', alter_sys=True)"
)

# What a batch's callback gets: a body (or None: the point did not load) per
# pair, or None for the whole batch when the helper is gone.
Bodies = Optional[list[Optional[bytes]]]


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


def _write_frame(out: IO[bytes], payload: bytes) -> None:
    out.write(_LENGTH.pack(len(payload)) + payload)
    out.flush()


def _read_frame(stream: IO[bytes]) -> Optional[bytes]:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    return payload if len(payload) == size else None


class Sealer:
    """The parent's end: start the helper, hand it batches, get bodies back by callback.

    Thread-safe. Callbacks run in the helper's reader thread, in the order
    the batches were submitted.
    """

    def __init__(self) -> None:
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._write_lock = threading.Lock()
        self._pending: collections.deque[Callable[[Bodies], None]] = collections.deque()
        self._ready = threading.Event()
        self._failed = False

    @property
    def ready(self) -> bool:
        """Started and answering: batches submitted now are encrypted by the helper."""
        return self._ready.is_set() and not self._failed

    @property
    def failed(self) -> bool:
        return self._failed

    @property
    def pid(self) -> Optional[int]:
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self) -> None:
        """Start the helper (once; returns at once, it gets ready by itself)."""
        with self._write_lock:
            if self._proc is not None or self._failed:
                return
            exe = _python_executable()
            if exe is None:
                self._failed = True
                return
            # The helper imports this very copy of webpush_core (vendored or not),
            # and nothing from the working directory (which `-m` and `-c` put first).
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            try:
                proc = subprocess.Popen(  # noqa: S603 -- our own module, no shell
                    [exe, "-c", _BOOT, here, str(os.getpid())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    close_fds=True,
                )
            except (OSError, ValueError, subprocess.SubprocessError):
                self._failed = True
                return
            self._proc = proc
        threading.Thread(
            target=self._read, args=(proc,), name="webpush_core-sealer-reader", daemon=True
        ).start()

    def submit(
        self,
        plaintext: bytes,
        padding: int,
        keys: list[tuple[bytes, bytes]],
        done: Callable[[Bodies], None],
    ) -> bool:
        """Hand a batch to the helper; ``done`` gets its bodies later. False: not taken."""
        frame = _HEAD.pack(len(plaintext), padding) + plaintext + b"".join(p + a for p, a in keys)
        with self._write_lock:
            proc = self._proc
            if self._failed or not self._ready.is_set() or proc is None or proc.stdin is None:
                return False
            # Queued before the write, under the write lock: answers come back
            # in this order, and a failure after this point calls it.
            self._pending.append(done)
            try:
                _write_frame(proc.stdin, frame)
            except (OSError, ValueError):
                self._failed = True
                self._pending.pop()
                return False
        return True

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        stream = proc.stdout
        try:
            if stream is None or _read_frame(stream) != _READY:
                return
            self._ready.set()
            while True:
                frame = _read_frame(stream)
                if frame is None:
                    return
                bodies: list[Optional[bytes]] = []
                offset = 0
                while offset < len(frame):
                    status = frame[offset]
                    (size,) = _LENGTH.unpack_from(frame, offset + 1)
                    offset += 1 + _LENGTH.size
                    bodies.append(frame[offset : offset + size] if status == _OK else None)
                    offset += size
                self._pending.popleft()(bodies)
        except Exception:  # noqa: S110 -- any failure: the batches go back to the parent
            pass
        finally:
            self.fail(grace=1.0)

    def fail(self, grace: float = 0.0) -> None:
        """Stop using the helper: pending batches get None (the parent encrypts them).

        The helper is told to exit (its stdin closes) and killed if it has
        not after ``grace`` seconds (0: a stuck helper is killed at once).
        """
        with self._write_lock:
            self._failed = True
            pending = list(self._pending)
            self._pending.clear()
        for done in pending:
            done(None)
        self._stop(grace)

    def close(self) -> None:
        """End the helper: it exits when its stdin closes (killed after 5 s)."""
        self.fail(grace=5.0)

    def _stop(self, grace: float) -> None:
        # Only stdin is closed here: the reader thread owns stdout and ends on its EOF.
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The helper's loop: a frame of keys in, a frame of bodies out, until stdin ends."""
    _write_frame(stdout, _READY)
    while True:
        frame = _read_frame(stdin)
        if frame is None:
            return
        size, padding = _HEAD.unpack_from(frame)
        start = _HEAD.size + size
        plaintext = frame[_HEAD.size : start]
        out = []
        for at in range(start, len(frame) - _KEYS + 1, _KEYS):
            point, auth = frame[at : at + 65], frame[at + 65 : at + _KEYS]
            try:
                body = seal_aes128gcm_message(
                    plaintext, public_key_from_point(point), point, auth, padding
                )
            except Exception:  # the parent parses this one itself and reports why
                out.append(bytes((_BAD,)) + _LENGTH.pack(0))
                continue
            out.append(bytes((_OK,)) + _LENGTH.pack(len(body)) + body)
        _write_frame(stdout, b"".join(out))


def _watch_parent(parent: int) -> None:
    """End the helper once ``parent`` is gone. Its stdin's EOF is not enough: a
    child forked from the parent (multiprocessing, a pre-forking server) holds
    that pipe open for as long as it lives."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) > 1:  # the parent's pid, from Sealer.start
        threading.Thread(
            target=_watch_parent, args=(int(sys.argv[1]),), name="parent-watch", daemon=True
        ).start()
    # Frames go to a duplicate of stdout; anything printed goes to stderr.
    _frames_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        _serve(sys.stdin.buffer, _frames_out)
