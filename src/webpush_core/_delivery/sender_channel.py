"""The parent's end of the sender processes (:mod:`.shard`): start, frames, pipes, stop.

The senders are started as the encryption helper is (:mod:`.spawn`'s
``_BOOT``: this very copy of webpush_core, the standard library first,
nothing from the working directory), once per client, and end when it is
closed, when their stdin closes, or when the parent dies. The VAPID key
reaches them as PEM over the pipe, never on a command line.

Both ends write the same frames (:func:`_frame`: a length, then a pickle;
:mod:`.sender` is the other end). The parent's pipes to a sender are
non-blocking (:class:`_Sender`): what a pipe does not take waits in its
outbox, written out when the pipe has room.
"""

from __future__ import annotations

import os
import pickle
import selectors
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Optional

from .spawn import _BOOT, LENGTH, _close, _python_executable, _reap

__all__ = ["SenderConfig"]

_LENGTH = LENGTH
_READY = b"webpush_core sender 1"
_START_TIMEOUT = 60.0  # seconds for a sender to import and say it is ready
_LARGEST = 256 * 1024 * 1024  # no frame of ours comes near it

# What a sender is made with: PushClient's keyword arguments (picklable
# values only), and the VAPID key as (class name, PEM) or a key string.
SenderConfig = dict[str, Any]


def _frame(obj: object) -> bytes:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def _frames(buffer: bytearray) -> Iterator[Any]:
    """Whole frames at the start of ``buffer`` (consumed), unpickled."""
    at = 0
    try:
        while len(buffer) - at >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(buffer, at)
            if size > _LARGEST:
                raise ValueError("a frame larger than any of ours")
            end = at + _LENGTH.size + size
            if len(buffer) < end:
                return
            payload = bytes(buffer[at + _LENGTH.size : end])
            at = end
            # Our own sender process, over a private pipe: never network input.
            yield pickle.loads(payload)  # noqa: S301
    finally:
        del buffer[:at]


class _Sender:
    """One sender process, as the parent sees it."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - PIPE given
        self.stdin_fd = proc.stdin.fileno()
        self.stdout_fd = proc.stdout.fileno()
        self.inbox = bytearray()
        self.outbox = bytearray()
        self.alive = True
        self.in_flight: dict[int, Any] = {}  # index -> the caller's subscription
        self.batch: list[tuple[int, Any]] = []
        self.done = True  # answered "done" for the call under way
        self.watching = False  # (a call's selector) waits for room in stdin

    def write(self, data: bytes) -> None:
        """Queue ``data`` and write what the pipe takes now (never blocks)."""
        self.outbox += data
        self.flush()

    def flush(self) -> None:
        if not self.alive or not self.outbox:
            return
        try:
            written = os.write(self.stdin_fd, self.outbox)
        except BlockingIOError:
            return
        except OSError:
            self.alive = False
            return
        del self.outbox[:written]

    def read(self) -> Optional[list[Any]]:
        """Frames the pipe holds now; None at its end."""
        try:
            data = os.read(self.stdout_fd, 1 << 18)
        except BlockingIOError:
            return []
        except OSError:
            data = b""
        if not data:
            return None
        self.inbox += data
        return list(_frames(self.inbox))

    def stop(self, grace: float) -> None:
        self.alive = False
        _close(self.proc)
        _reap(self.proc, grace)


def _start(count: int, config: SenderConfig) -> list[_Sender]:
    exe = _python_executable()
    if exe is None:
        return []
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    boot = _BOOT.replace("webpush_core._delivery.helper", "webpush_core._delivery.sender")
    started: list[_Sender] = []
    for _ in range(count):
        try:
            proc = subprocess.Popen(  # noqa: S603 -- our own module, no shell
                [exe, "-c", boot, here, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        except (OSError, ValueError, subprocess.SubprocessError):
            break
        sender = _Sender(proc)
        os.set_blocking(sender.stdin_fd, False)
        os.set_blocking(sender.stdout_fd, False)
        sender.write(_frame(("config", config)))
        started.append(sender)
    # Each says it is ready once it has imported and made its client.
    waiting = {s.stdout_fd: s for s in started}
    ends = time.monotonic() + _START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        for s in started:
            selector.register(s.stdout_fd, selectors.EVENT_READ, s)
        while waiting and time.monotonic() < ends:
            for s in started:
                s.flush()
            for key, _ in selector.select(timeout=0.05):
                s = key.data
                frames = s.read()
                if frames is None or (frames and frames[0] != ("ready", _READY)):
                    s.alive = False
                    waiting.pop(s.stdout_fd, None)
                    selector.unregister(s.stdout_fd)
                elif frames:
                    waiting.pop(s.stdout_fd, None)
                    selector.unregister(s.stdout_fd)
    for s in started:
        if not s.alive or s.stdout_fd in waiting:
            s.stop(grace=0.0)
    return [s for s in started if s.alive and s.stdout_fd not in waiting]
