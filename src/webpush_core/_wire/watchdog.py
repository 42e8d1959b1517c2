"""A watchdog for blocking sockets: it shuts a socket down when its deadline passes.

urllib3's timeouts bound each socket operation, not a request: a server that
drips one octet at a time (in the TLS handshake, the headers or the body)
would hold a blocking send for as long as it likes. The urllib3 transport
arms an alarm per attempt; at the deadline the socket is shut down under the
reader, whose read then fails at once. One daemon thread serves every alarm
(not a timer thread per request) and ends when idle.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Optional

__all__ = ["Alarm", "Watchdog", "watchdog"]


class Alarm:
    """One socket's deadline, armed until it fires or is disarmed."""

    __slots__ = ("fired", "owned", "sock")

    def __init__(self, sock: socket.socket, owned: bool = False) -> None:
        self.sock: Optional[socket.socket] = sock
        self.fired = False
        # A dup() made for the watchdog alone: closed when disarmed.
        self.owned: Optional[socket.socket] = sock if owned else None


class Watchdog:
    """One daemon thread for all sends (not one timer thread per request)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._seq = itertools.count()
        self._thread: Optional[threading.Thread] = None

    def arm(self, deadline: float, sock: socket.socket, *, owned: bool = False) -> Alarm:
        alarm = Alarm(sock, owned)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), alarm))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="webpush-core-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> bool:
        """Cancel; True if the alarm had already fired. Afterwards it never fires."""
        with self._cond:
            alarm.sock = None
            owned, alarm.owned = alarm.owned, None
            fired = alarm.fired
        if owned is not None:
            owned.close()
        return fired

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].sock is None:
                    heapq.heappop(self._heap)  # disarmed
                if not self._heap:
                    # Idle: let the thread end; the next arm() starts another.
                    if not self._cond.wait(30.0) and not self._heap:
                        self._thread = None
                        return
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                alarm = heapq.heappop(self._heap)[2]
                sock, alarm.sock, alarm.fired = alarm.sock, None, True
                # socket.socket's own shutdown, also for an SSLSocket: its
                # override would drop the SSL object under the reader.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # type: ignore[arg-type]


watchdog = Watchdog()
