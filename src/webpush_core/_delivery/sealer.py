"""A helper process that encrypts for ``PushClient.send_many`` on another core.

Measured on 2 cores (benchmarks/README.md): the encryption (one key pair,
one ECDH, the HKDF, one seal: ~100 µs) holds the GIL, and every I/O thread
that wakes up in the same process has to take it back, which costs the
encrypting thread more than the encryption itself. In a process of its own
the encryption runs undisturbed while this process only sends.

This module is the parent's end. The helper itself (:mod:`.helper`, run as
``__main__``) is a pure function over pipes: up to :data:`BATCH` (p256dh,
auth) pairs in a frame, their bodies in order in the answer. How it is
started and ended: :mod:`.spawn`.

The parent never waits on the helper, and gives it no threads: its pipes are
non-blocking and run by the client's event loop. A batch's frame is written
straight into the pipe by :meth:`Sealer.submit` when nothing waits before it;
what the pipe does not take waits in a bounded buffer that the loop writes out
when the pipe has room, and :meth:`Sealer.submit` refuses a batch (the caller
encrypts it) when that buffer is full. Answers are read by the loop, which
hands each batch's bodies on. A helper that stops reading (stopped, swapped
out, stuck) thus fills its pipe and the buffer, and nothing more: the
caller's stall timer still runs, and :meth:`Sealer.fail` hands the batches back.

If the helper cannot start, dies, or stalls, the batches it held are
encrypted in the parent and the client goes on without it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import subprocess
import threading
from typing import Callable, Optional

from .helper import _HEAD, _LENGTH, _OK, _READY
from .spawn import _BOOT, _close, _python_executable, _reap, _reap_in_thread

__all__ = ["BATCH", "Sealer"]

BATCH = 32  # subscriptions per frame: enough to make the pipe's cost small
# Octets of frames waiting for the pipe (the pipe itself holds 64 KiB on
# Linux): a concurrency-256 window of 4 KiB messages fits (18 batches, ~120 KiB),
# and past it the caller encrypts a batch itself instead of waiting.
_BUFFERED = 256 * 1024
# What a batch's callback gets: a body (or None: the point did not load) per
# pair, or None for the whole batch when the helper is gone.
Bodies = Optional[list[Optional[bytes]]]


class Sealer:
    """The parent's end: start the helper, hand it batches, get bodies back by callback.

    Thread-safe, and no method waits on the helper. Its pipes are
    non-blocking and run by an event loop (the client's own: no thread of
    their own, no hand-over between threads per batch): :meth:`submit` writes
    a frame straight into the pipe when nothing is queued before it, and what
    the pipe does not take waits in a bounded buffer that the loop writes out
    when the pipe has room. Answers are read by the loop and their callbacks
    run there, in the order the batches were submitted, or (None: the helper
    is gone) in the thread that calls :meth:`fail`.

    ``loop``: where the pipes are run (called once, at :meth:`start`);
    without it the sealer runs a loop of its own, in a thread it stops with
    the helper.
    """

    def __init__(self, loop: Optional[Callable[[], asyncio.AbstractEventLoop]] = None) -> None:
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._lock = threading.Lock()
        self._pending: collections.deque[Callable[[Bodies], None]] = collections.deque()
        self._outgoing: collections.deque[bytes] = collections.deque()
        self._buffered = 0  # octets in _outgoing
        self._ready = threading.Event()
        self._failed = False
        self._loop_source = loop
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._own_loop = False  # the loop is ours to stop
        self._writing = False  # (loop) a writer is registered for stdin
        self._attached = False  # (loop) the reader is registered for stdout
        self._inbox = bytearray()  # (loop) answers read, not yet whole

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
                loop = self._event_loop()
                proc = subprocess.Popen(  # noqa: S603 -- our own module, no shell
                    [exe, "-c", _BOOT, here, str(os.getpid())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    close_fds=True,
                )
                if proc.stdin is None or proc.stdout is None:  # pragma: no cover - PIPE given
                    raise ValueError("no pipes to the helper")
                os.set_blocking(proc.stdin.fileno(), False)
                os.set_blocking(proc.stdout.fileno(), False)
            except (OSError, ValueError, RuntimeError, subprocess.SubprocessError):
                self._failed = True
                return
            self._proc = proc
            self._loop = loop
        try:
            loop.call_soon_threadsafe(self._attach, proc)
        except RuntimeError:  # the loop closed meanwhile
            self.fail()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop_source is not None:
            return self._loop_source()
        loop = asyncio.new_event_loop()
        threading.Thread(
            target=_run_loop, args=(loop,), name="webpush_core-sealer-loop", daemon=True
        ).start()
        self._own_loop = True
        return loop

    def submit(
        self,
        plaintext: bytes,
        padding: int,
        keys: list[tuple[bytes, bytes]],
        done: Callable[[Bodies], None],
    ) -> bool:
        """Hand a batch to the helper; ``done`` gets its bodies later.

        Never waits: False (not taken, the caller encrypts it) when the helper
        is not ready or gone, or when the frames the pipe has not taken yet
        fill :data:`_BUFFERED` octets.
        """
        payload = _HEAD.pack(len(plaintext), padding) + plaintext + b"".join(p + a for p, a in keys)
        frame = _LENGTH.pack(len(payload)) + payload
        broken = wake = False
        with self._lock:
            proc = self._proc
            if self._failed or not self._ready.is_set() or proc is None or proc.stdin is None:
                return False
            if self._buffered + len(frame) > _BUFFERED:
                return False
            # Queued and written under the lock: frames reach the pipe in this
            # order, answers come back in it, and a failure from now on calls done.
            self._pending.append(done)
            if self._outgoing:  # frames wait before it: after them, from the loop
                self._outgoing.append(frame)
                self._buffered += len(frame)
            else:
                try:
                    written = os.write(proc.stdin.fileno(), frame)  # non-blocking
                except BlockingIOError:
                    written = 0
                except (OSError, ValueError):
                    broken = True
                    written = len(frame)
                if written < len(frame):
                    rest = frame[written:]
                    self._outgoing.append(rest)
                    self._buffered += len(rest)
                    wake = True
            loop = self._loop
        if broken:
            self.fail(grace=1.0)  # the helper is gone: this batch comes back as None
        elif wake and loop is not None:
            try:
                loop.call_soon_threadsafe(self._watch_writes)
            except RuntimeError:
                self.fail()
        return True

    # -- on the loop -------------------------------------------------------

    def _attach(self, proc: subprocess.Popen[bytes]) -> None:
        loop = self._loop
        if self._failed or loop is None or proc.stdout is None:
            return
        loop.add_reader(proc.stdout.fileno(), self._readable, proc)
        self._attached = True

    def _watch_writes(self) -> None:
        loop, proc = self._loop, self._proc
        if self._writing or self._failed or loop is None or proc is None or proc.stdin is None:
            return
        loop.add_writer(proc.stdin.fileno(), self._writable, proc)
        self._writing = True

    def _writable(self, proc: subprocess.Popen[bytes]) -> None:
        """The pipe has room: what waits goes into it, in order."""
        broken = False
        with self._lock:
            outgoing = self._outgoing
            stdin = proc.stdin
            while outgoing and stdin is not None and not self._failed:
                frame = outgoing[0]
                try:
                    written = os.write(stdin.fileno(), frame)
                except BlockingIOError:
                    break
                except (OSError, ValueError):
                    broken = True
                    break
                self._buffered -= written
                if written < len(frame):
                    outgoing[0] = frame[written:]
                    break
                outgoing.popleft()
            if (not outgoing or self._failed or broken) and self._writing:
                self._stop_writing(proc)
        if broken:
            self.fail(grace=1.0)

    def _stop_writing(self, proc: subprocess.Popen[bytes]) -> None:
        loop = self._loop
        if self._writing and loop is not None and proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                loop.remove_writer(proc.stdin.fileno())
        self._writing = False

    def _readable(self, proc: subprocess.Popen[bytes]) -> None:
        """Answers from the helper: each whole frame to its batch's callback."""
        stdout = proc.stdout
        try:
            if stdout is None:
                raise ValueError("no pipe from the helper")
            data = os.read(stdout.fileno(), 1 << 18)
        except BlockingIOError:
            return
        except (OSError, ValueError):
            data = b""
        if not data:  # the helper ended (or closed its end)
            self.fail(grace=1.0)
            return
        inbox = self._inbox
        inbox += data
        at = 0
        try:
            while len(inbox) - at >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(inbox, at)
                end = at + _LENGTH.size + size
                if size > _LARGEST_FRAME:
                    raise ValueError("a frame larger than any batch's answer")
                if len(inbox) < end:
                    break
                start, at = at + _LENGTH.size, end
                if not self._ready.is_set():
                    if inbox[start:end] != _READY:
                        raise ValueError("the helper did not say it is ready")
                    self._ready.set()
                    continue
                bodies = _bodies(inbox, start, end)
                # Taken under the lock, as fail() takes them all: each callback
                # is called once, with its bodies here or with None there.
                with self._lock:
                    if not self._pending:
                        return  # given up meanwhile: the batch went back as None
                    done = self._pending.popleft()
                done(bodies)
        except Exception:  # any failure: the batches go back to the parent
            self.fail(grace=1.0)
            return
        finally:
            del inbox[:at]

    def _detach(self, proc: subprocess.Popen[bytes]) -> None:
        """Off the loop, then closed: stdin (the helper ends on its EOF) and stdout."""
        loop = self._loop
        with self._lock:
            self._stop_writing(proc)
            if self._attached and loop is not None and proc.stdout is not None:
                with contextlib.suppress(OSError, ValueError):
                    loop.remove_reader(proc.stdout.fileno())
            self._attached = False
            _close(proc)
        if self._own_loop and loop is not None:
            loop.stop()

    # -- from any thread ---------------------------------------------------

    def fail(self, grace: float = 0.0) -> None:
        """Stop using the helper: pending batches get None (the parent encrypts them).

        The helper is told to exit (its stdin closes) and killed if it has
        not after ``grace`` seconds (0: a stuck helper is killed at once).
        """
        with self._lock:
            already = self._failed
            self._failed = True
            pending = list(self._pending)
            self._pending.clear()
            self._outgoing.clear()
            self._buffered = 0
            proc, loop = self._proc, self._loop
        for done in pending:
            done(None)
        if proc is None or already:
            return
        on_loop = loop is not None and _running_loop() is loop
        if on_loop and loop is not None:
            self._detach(proc)
            # Never wait on the loop (which _detach may have stopped): a thread
            # gives the helper its grace, then kills it.
            _reap_in_thread(proc, grace)
            return
        try:
            if loop is None:
                raise RuntimeError("no loop")
            loop.call_soon_threadsafe(self._detach, proc)
        except RuntimeError:  # the loop is closed: nothing of ours is on it
            with self._lock:
                _close(proc)
        _reap(proc, grace)

    def close(self) -> None:
        """End the helper: it exits when its stdin closes (killed after 5 s)."""
        self.fail(grace=5.0)


_LARGEST_FRAME = 64 * 1024 * 1024  # no batch's answer comes near it


def _bodies(frame: bytearray, start: int, end: int) -> list[Optional[bytes]]:
    """A batch's answer: per pair, its body (status _OK) or None (_BAD)."""
    bodies: list[Optional[bytes]] = []
    view = memoryview(frame)
    try:
        offset = start
        while offset < end:
            status = frame[offset]
            (size,) = _LENGTH.unpack_from(frame, offset + 1)
            offset += 1 + _LENGTH.size
            if offset + size > end:
                raise ValueError("a body past its frame")
            bodies.append(bytes(view[offset : offset + size]) if status == _OK else None)
            offset += size
    finally:
        view.release()  # the inbox is resized after this
    return bodies


def _running_loop() -> Optional[asyncio.AbstractEventLoop]:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()
