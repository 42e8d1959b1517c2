"""What a ``PushClient`` runs, apart from the client itself (:class:`_Resources`)."""

from __future__ import annotations

import os
import queue
import threading
from typing import Optional

from .._wire.pool import Connections
from .result import _Blocking
from .sealer import Sealer
from .shard import Senders

# Seconds close() waits for a sharded fan-out in progress to end before it
# stops its sender processes anyway.
_SENDERS_GRACE = 5.0

__all__ = ["_Resources"]


class _Resources:
    """What a client runs (threads, the event loop, the helper process), apart from
    the client itself: a dropped client's finalizer stops them without keeping it alive."""

    def __init__(self, concurrency: int, ca_certs: Optional[str]) -> None:
        self.pid = os.getpid()  # a forked child must not use its parent's threads and pipes
        self.concurrency = concurrency
        self.ca_certs = ca_certs
        self.connections = Connections(maxsize=concurrency, ca_certs=ca_certs)
        # The helper's pipes run on the connections' loop: no threads of their own.
        self.sealer = Sealer(self.connections.event_loop)
        self.jobs: queue.SimpleQueue[Optional[_Blocking]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.senders: Optional[Senders] = None  # processes > 1: made on first use

    def stop(self) -> None:
        """Stop everything; the next use starts afresh (new loop, workers, helper)."""
        if self.pid != os.getpid():
            return  # a forked child's copy (e.g. its finalizer at exit): the parent's to stop
        with self.lock:
            threads, self.threads = self.threads, []
            for _ in threads:
                self.jobs.put(None)
            connections, self.connections = (
                self.connections,
                Connections(maxsize=self.concurrency, ca_certs=self.ca_certs),
            )
            sealer, self.sealer = self.sealer, Sealer(self.connections.event_loop)
            senders, self.senders = self.senders, None
        sealer.close()
        if senders is not None:
            # After the fan-out using them, if it ends soon; a fan-out whose
            # caller stopped iterating (a suspended generator) never releases
            # the lock: its senders are stopped anyway, and its subscriptions in
            # flight end failed when it is iterated again.
            waited = senders.lock.acquire(timeout=_SENDERS_GRACE)
            try:
                senders.close()
            finally:
                if waited:
                    senders.lock.release()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        connections.close()
