"""What a ``PushClient`` is made of: its arguments checked, its settings, the
engine and resources its calls share, and their lifecycle.

:class:`.client.PushClient` (the sending methods) builds on :class:`_ClientBase`:
every argument is checked here, in the constructor, before anything is
started (each rule raises the error naming its field); what the sends of
all calls share is made here too: the retry policy and the origins' pause
and breaker state (:mod:`.engine`), the event loop, workers, helper and
senders (:mod:`.resources`), and what each sender process makes its own
client with (:mod:`.sender_channel`). :meth:`_ClientBase.close` waits for
the sends under way and stops what runs; in a forked child it starts afresh.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

if TYPE_CHECKING:
    import urllib3

from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._request.keys import VapidKeyLike, load_vapid_key
from .._request.options import check_content_encoding, check_options
from .._request.value import PushRequest
from .._wire.exchange import Outcome
from .._wire.proxy import ProxyArg, check_proxy_arg
from ..errors import InvalidInput, InvalidRequest
from .engine import Engine
from .origins import Origins, OriginStats
from .resources import _Resources
from .retry import RetryPolicy
from .sender_channel import SenderConfig
from .shard import check_processes, sender_key
from .spawn import cores

__all__ = ["DEFAULT_TTL"]

DEFAULT_TTL = 2419200  # 28 days: the longest FCM keeps a message


class _ClientBase:
    """A client's settings, engine and resources, and their lifecycle; the
    arguments are documented on :class:`.client.PushClient`."""

    def __init__(
        self,
        vapid_private_key: Optional[VapidKeyLike] = None,
        vapid_claims: Optional[Mapping[str, Any]] = None,
        *,
        ttl: int = DEFAULT_TTL,
        urgency: Optional[str] = "normal",
        content_encoding: str = "aes128gcm",
        timeout: float = 10.0,
        max_retries: int = 3,
        concurrency: int = 32,
        endpoint_policy: Optional[EndpointPolicy] = None,
        pool_manager: Optional[urllib3.PoolManager] = None,
        ca_certs: Optional[str] = None,
        helper_process: bool = True,
        proxy: ProxyArg = None,
        breaker_threshold: Optional[int] = 5,
        breaker_cooldown: float = 30.0,
        processes: Union[int, str] = 1,
    ) -> None:
        # None: the proxy environment variables, read per origin; False: none.
        self.proxy = check_proxy_arg(proxy)
        check_content_encoding(content_encoding)
        for name, value, low in (("max_retries", max_retries, 0), ("concurrency", concurrency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidRequest(
                    f"{name} must be an integer >= {low}, got {value!r}", field=name
                )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidRequest(f"timeout must be a number > 0, got {timeout!r}", field="timeout")
        if breaker_threshold is not None and (
            isinstance(breaker_threshold, bool)
            or not isinstance(breaker_threshold, int)
            or breaker_threshold < 1
        ):
            raise InvalidRequest(
                f"breaker_threshold must be an integer >= 1 or None (no breaker), "
                f"got {breaker_threshold!r}",
                field="breaker_threshold",
            )
        if (
            isinstance(breaker_cooldown, bool)
            or not isinstance(breaker_cooldown, (int, float))
            or not 0 < breaker_cooldown < float("inf")
        ):
            raise InvalidRequest(
                f"breaker_cooldown must be a number of seconds > 0, got {breaker_cooldown!r}",
                field="breaker_cooldown",
            )
        check_options(ttl=ttl, urgency=urgency, topic=None)
        if (vapid_private_key is None) != (not vapid_claims):
            raise InvalidInput(
                "pass vapid_private_key and vapid_claims together (or neither)",
                field="vapid_private_key" if vapid_private_key is None else "vapid_claims",
            )
        self.processes = check_processes(processes)
        if self.processes > 1 and pool_manager is not None:
            raise InvalidRequest(
                "processes > 1 sends from processes of its own, each with its own "
                "connections: pass processes=1 to send with a pool_manager",
                field="processes",
            )
        key_for_senders = sender_key(vapid_private_key) if self.processes > 1 else None
        self._key = load_vapid_key(vapid_private_key) if vapid_private_key is not None else None
        self._claims: Optional[dict[str, Any]] = dict(vapid_claims) if vapid_claims else None
        self.ttl = ttl
        self.urgency = urgency
        self.content_encoding = content_encoding
        self.timeout = float(timeout)
        # When a failed attempt is made again (max_retries, backoff, Retry-After cap).
        retry = RetryPolicy(max_retries=max_retries)
        self.concurrency = concurrency
        self.endpoint_policy = endpoint_policy or DEFAULT_POLICY
        # A urllib3 pool manager of the caller's: sent with from worker threads.
        self._pool: Optional[urllib3.PoolManager] = pool_manager
        # send_many encrypts aes128gcm in a helper process once a fan-out is
        # long enough, where there is another core to run it (sealer.py).
        self._helper_process = bool(helper_process) and cores() > 1
        self._res = _Resources(concurrency, ca_certs)
        self._finalizer = weakref.finalize(self, self._res.stop)
        # Deliveries started and not finished: close() waits for them.
        self._busy = 0
        self._idle = threading.Condition()
        # Slots, parked deliveries, per-origin pauses (429, Retry-After) and the
        # breaker, the retry policy, the timer: what the deliveries share (engine.py).
        self._breaker = (breaker_threshold, float(breaker_cooldown))
        self._engine = self._new_engine(retry)
        # What each sender process makes its own client with (processes > 1).
        self._sender_config: SenderConfig = {
            "key": key_for_senders,
            "claims": self._claims,
            "options": {
                "ttl": ttl,
                "urgency": urgency,
                "content_encoding": content_encoding,
                "timeout": self.timeout,
                "concurrency": concurrency,
                "ca_certs": ca_certs,
                "breaker_threshold": breaker_threshold,
                "breaker_cooldown": float(breaker_cooldown),
            },
        }

    def _new_engine(self, retry: RetryPolicy) -> Engine:
        threshold, cooldown = self._breaker
        origins = Origins(
            threshold=threshold,
            cooldown=cooldown,
            # A probe not heard of by then is replaced: its own deadline plus
            # a second for the loop to report it.
            probe_timeout=self.timeout + 1.0,
            pause_cap=retry.retry_after_cap,
        )
        res = self._res  # not the client: the engine must not keep it alive

        def later(delay: float, fn: Callable[[], object]) -> None:
            res.connections.call_later(delay, fn)

        def submit(request: PushRequest, done: Callable[[Outcome], object], **kw: Any) -> None:
            res.connections.submit(request, done, **kw)

        return Engine(self.concurrency, origins, retry, later=later, submit=submit)

    @property
    def max_retries(self) -> int:
        """Attempts after the first for a retryable failure (429, 5xx, no answer)."""
        return self._engine.retry.max_retries

    @max_retries.setter
    def max_retries(self, value: int) -> None:
        self._engine.retry = replace(self._engine.retry, max_retries=value)

    def origin_stats(self) -> list[OriginStats]:
        """Each push-service origin's pause and breaker state, and how often it
        paused or tripped (origins only: never a subscription's path)."""
        return self._engine.origins.stats()

    def __repr__(self) -> str:
        return (
            f"PushClient(content_encoding={self.content_encoding!r}, ttl={self.ttl}, "
            f"concurrency={self.concurrency}, vapid={'yes' if self._key else 'no'})"
        )

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        """Wait for the sends under way (retries included), then close the connections
        and stop the threads and the helper process.

        The client can still be used afterwards: it starts them again.
        """
        # In a forked child the threads, loop and helper are the parent's: not ours to stop.
        self._fresh_after_fork()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0)
        self._res.stop()
        # A pool manager the caller passed is the caller's to close.

    def _fresh_after_fork(self) -> None:
        """In a child forked from the process that started the client's threads and
        helper: start afresh (those belong to the parent, which goes on using them)."""
        if self._res.pid == os.getpid():
            return
        self._finalizer.detach()
        self._res = _Resources(self.concurrency, self._res.ca_certs)
        self._finalizer = weakref.finalize(self, self._res.stop)
        self._idle = threading.Condition()
        self._busy = 0
        self._engine = self._new_engine(self._engine.retry)

    def _started(self) -> None:
        with self._idle:
            self._busy += 1

    def _ended(self) -> None:
        with self._idle:
            self._busy -= 1
            if not self._busy:
                self._idle.notify_all()
