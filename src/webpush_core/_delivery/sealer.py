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

The parent never waits on the helper: a batch's frame goes to a bounded
buffer that a writer thread of its own drains into the pipe, and
:meth:`Sealer.submit` refuses a batch (the caller encrypts it) when that
buffer is full. A helper that stops reading (stopped, swapped out, stuck)
thus fills its pipe and the buffer, and nothing more: the caller's stall
timer still runs, and :meth:`Sealer.fail` hands the batches back.

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

from .._p256 import public_key_from_point
from ..ece._message import seal_aes128gcm_message

__all__ = ["BATCH", "Sealer", "cores"]

BATCH = 32  # subscriptions per frame: enough to make the pipe's cost small
_HEAD = struct.Struct(">II")  # plaintext length, padding
_LENGTH = struct.Struct(">I")
_KEYS = 65 + 16  # p256dh point + auth secret
_READY = b"webpush_core sealer 1"
# Octets of frames waiting for the pipe (the pipe itself holds 64 KiB on
# Linux): a concurrency-256 window of 4 KiB messages fits (18 batches, ~120 KiB),
# and past it the caller encrypts a batch itself instead of waiting.
_BUFFERED = 256 * 1024
_OK, _BAD = 0, 1
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
runpy.run_module("webpush_core._delivery.sealer", run_name="__main__", alter_sys=True)
"""

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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(stream: IO[bytes]) -> Optional[bytes]:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    return payload if len(payload) == size else None


class Sealer:
    """The parent's end: start the helper, hand it batches, get bodies back by callback.

    Thread-safe, and no method waits on the helper: the lock is never held
    over a read or a write of its pipes. Frames go out from a writer thread,
    answers come in on a reader thread. Callbacks run in the reader thread,
    in the order the batches were submitted, or (None: the helper is gone)
    in the thread that calls :meth:`fail`.
    """

    def __init__(self) -> None:
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._lock = threading.Lock()
        # The writer thread waits here for frames, or for the failure that ends it.
        self._wake = threading.Condition(self._lock)
        self._pending: collections.deque[Callable[[Bodies], None]] = collections.deque()
        self._outgoing: collections.deque[bytes] = collections.deque()
        self._buffered = 0  # octets in _outgoing
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
        with self._lock:
            if self._proc is not None or self._failed:
                return
            exe = _python_executable()
            if exe is None:
                self._failed = True
                return
            # The helper imports this very copy of webpush_core (vendored or not),
            # nothing from the working directory, the standard library first (_BOOT).
            # __file__ is <dir>/webpush_core/_delivery/sealer.py: <dir> holds webpush_core.
            here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
            target=self._write, args=(proc,), name="webpush_core-sealer-writer", daemon=True
        ).start()
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
        """Hand a batch to the helper; ``done`` gets its bodies later.

        Never waits: False (not taken, the caller encrypts it) when the helper
        is not ready or gone, or when the frames it has not read yet fill
        :data:`_BUFFERED` octets.
        """
        payload = _HEAD.pack(len(plaintext), padding) + plaintext + b"".join(p + a for p, a in keys)
        frame = _LENGTH.pack(len(payload)) + payload
        with self._lock:
            if self._failed or not self._ready.is_set() or self._proc is None:
                return False
            if self._buffered + len(frame) > _BUFFERED:
                return False
            # Both queued under the lock: the writer sends the frames in this
            # order, answers come back in it, and a failure from now on calls done.
            self._pending.append(done)
            self._outgoing.append(frame)
            self._buffered += len(frame)
            self._wake.notify()
        return True

    def _write(self, proc: subprocess.Popen[bytes]) -> None:
        """The writer thread: frames to the helper's stdin, which it alone writes and closes.

        Its writes block while the pipe is full (a helper that does not read):
        only this thread waits, the frames behind it stay in the bounded buffer.
        """
        stdin = proc.stdin
        broken = False
        try:
            if stdin is None:
                raise ValueError("no pipe to the helper")
            fd = stdin.fileno()
            while True:
                with self._wake:
                    while not self._outgoing and not self._failed:
                        self._wake.wait()
                    if self._failed:
                        return
                    frame = self._outgoing.popleft()
                    self._buffered -= len(frame)
                _write_all(fd, frame)
        except (OSError, ValueError):
            broken = True  # the helper is gone: its batches go back to the callers
        finally:
            # The helper ends on this EOF (a killed one broke the write above).
            if stdin is not None:
                with contextlib.suppress(OSError):
                    stdin.close()
            if broken:
                self.fail(grace=1.0)

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
                # Taken under the lock, as fail() takes them all: each callback
                # is called once, with its bodies here or with None there.
                with self._lock:
                    if not self._pending:
                        return  # given up meanwhile: the batch went back as None
                    done = self._pending.popleft()
                done(bodies)
        except Exception:  # noqa: S110 -- any failure: the batches go back to the parent
            pass
        finally:
            self.fail(grace=1.0)

    def fail(self, grace: float = 0.0) -> None:
        """Stop using the helper: pending batches get None (the parent encrypts them).

        The helper is told to exit (its stdin closes) and killed if it has
        not after ``grace`` seconds (0: a stuck helper is killed at once).
        """
        with self._lock:
            self._failed = True
            pending = list(self._pending)
            self._pending.clear()
            self._outgoing.clear()
            self._buffered = 0
            self._wake.notify_all()  # the writer closes stdin and ends
        for done in pending:
            done(None)
        self._stop(grace)

    def close(self) -> None:
        """End the helper: it exits when its stdin closes (killed after 5 s)."""
        self.fail(grace=5.0)

    def _stop(self, grace: float) -> None:
        # No pipe is touched here: the writer thread closes stdin (once its write
        # under way, if any, ends), the reader thread ends on stdout's EOF. A
        # helper that does not read is killed, which ends that write too.
        proc = self._proc
        if proc is None:
            return
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
