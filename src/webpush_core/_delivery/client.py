"""Fan-out: ``PushClient`` sends one message to many subscriptions.

One client holds what every message shares: the parsed VAPID key (and its
token cache, so a token is signed once per push-service origin, not per
message), keep-alive connections per origin, the endpoint policy. Each
message then costs one ephemeral key pair, one ECDH, the HKDF steps and one
AES-GCM seal, plus the POST on an already open connection.

How the work is split (measured on 2 cores: benchmarks/README.md):

* ``send_many`` checks the shared arguments once, then reads and checks
  each subscription in the thread that iterates the results;
* the encryption runs there too, or, once a fan-out passes
  ``_HELPER_AFTER`` messages, in a helper process on another core
  (:mod:`.sealer`): in one process the I/O keeps taking the GIL from it
  (:mod:`.fanout` runs one ``send_many``);
* the I/O runs on one event loop thread (:mod:`.._wire.pool`) that keeps
  ``concurrency`` requests in flight however slow the push service is, and
  schedules the retries (:mod:`.attempt`, as :mod:`.retry` decides). A
  client given a urllib3 ``pool_manager`` sends with
  :mod:`.._wire.urllib3_transport` from ``concurrency`` worker threads
  instead. What each subscription gets back: :mod:`.result`;
* with ``processes=N`` a ``send_many`` is sharded over N sender processes,
  each a client of its own (:mod:`.shard`).

What a client is made of (its arguments checked, its settings, the engine
and resources its calls share, close): :mod:`.client_base`; one
subscription's request: :mod:`.prepare`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import operator
import threading
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Optional, Union

from .._request.build import prepare_message
from .._request.plan import MessagePlan
from .._request.value import PushRequest
from .._response import PushResponse
from .._wire.urllib3_transport import send_request
from . import prepare
from .attempt import _Delivery, _work, send_blocking
from .client_base import _ClientBase
from .fanout import _FanOut
from .per_origin import PerOrigin
from .result import (
    SendResult,
    _Blocking,
    _Call,
    _check_deadline,
    _Done,
    _Pending,
    _set_result,
    _unexpected,
)
from .shard import SHARD_AFTER, Senders, settings_of

__all__ = ["PushClient", "SendResult"]


class PushClient(_ClientBase):
    """Send push messages to many subscriptions over pooled connections.

    Thread-safe; use it as a context manager (or call :meth:`close`) to
    close its connections. ``concurrency`` is how many requests are in
    flight at once (and the number of connections kept per push service).
    ``helper_process=False`` keeps the encryption of long fan-outs in this
    process (see the module docstring). ``breaker_threshold`` connection
    failures or timeouts in a row (requests in flight together count once)
    open an origin's breaker for a cool-down of 1 s, doubled while it stays
    down, at most ``breaker_cooldown`` seconds (:mod:`.origins`).
    """

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> PushClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one message -------------------------------------------------------

    def send(
        self,
        subscription: Any,
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        deadline: Optional[float] = None,
    ) -> SendResult:
        """Encrypt and send to one subscription, retrying as the policy allows.

        Never raises for this subscription's failure: the result says what
        happened. Bad shared arguments (ttl, urgency, topic, data, deadline)
        raise. ``deadline``: seconds for the whole call, retries and waits
        included (see :meth:`send_many`).
        """
        call, plan = self._begin(data, ttl, urgency, topic, deadline)
        request = prepare.build(subscription, plan, self.endpoint_policy)
        if isinstance(request, SendResult):
            return request
        if self._pool is not None:
            job = _Blocking(subscription, request, lambda result: None, call)
            send_blocking(self._engine, job, self._send_one, self.timeout)
            return job.result or _unexpected(subscription, RuntimeError("no result"))
        finished = threading.Event()
        box: list[SendResult] = []

        def done(result: SendResult) -> None:
            box.append(result)
            finished.set()

        self._arm(call)
        self._dispatch(subscription, request, done, call)
        finished.wait()
        return box[0]

    def _begin(
        self,
        data: Union[bytes, str, None],
        ttl: Optional[int],
        urgency: Optional[str],
        topic: Optional[str],
        deadline: Optional[float],
    ) -> tuple[_Call, MessagePlan]:
        """What every send starts with: the shared arguments checked (the deadline,
        then the message), before anything else is touched; then, in a forked
        child, the client's threads and helper started afresh."""
        # The policy and proxy as they are now, for the whole call.
        call = _Call(_check_deadline(deadline), PerOrigin(self.endpoint_policy, self.proxy))
        plan = self._plan(data, ttl, urgency, topic)
        self._fresh_after_fork()
        return call, plan

    def _plan(
        self,
        data: Union[bytes, str, None],
        ttl: Optional[int],
        urgency: Optional[str],
        topic: Optional[str],
    ) -> MessagePlan:
        """Check what every subscription shares, once: raises InvalidInput subclasses."""
        return prepare_message(
            data,
            self._key,
            self._claims,
            self.content_encoding,
            self.ttl if ttl is None else ttl,
            self.urgency if urgency is None else urgency,
            topic,
        )

    def _arm(self, call: _Call) -> None:
        """At the call's deadline, report every delivery of it not yet finished."""
        if call.expires is not None:
            self._res.connections.call_later(max(0.0, call.left()), call.expire)

    def _dispatch(
        self, subscription: Any, request: PushRequest, done: _Done, call: Optional[_Call] = None
    ) -> None:
        """Send (retrying as the policy allows); ``done(result)`` once, when finished
        (or at the call's deadline, whichever comes first)."""
        self._started()

        def finished(result: SendResult) -> None:
            self._ended()
            done(result)

        delivery: _Pending
        if self._pool is None:
            delivery = _Delivery(self, self._engine, subscription, request, finished, call)
        else:
            delivery = _Blocking(subscription, request, finished, call)
        if call is not None and call.left() <= 0:
            delivery.finish(delivery.deadline_result())
        elif isinstance(delivery, _Delivery):
            delivery.attempt()
        else:
            self._submit_job(delivery)

    # -- the urllib3 path: blocking sends from worker threads --------------

    def _send_one(self, request: PushRequest, timeout: float) -> PushResponse:
        """One attempt with the caller's urllib3 pool manager (raises for no answer)."""
        return send_request(
            request,
            pool_manager=self._pool,
            timeout=timeout,
            policy=self.endpoint_policy,
            proxy=self.proxy,
        )

    def _send_job(self, job: _Blocking) -> None:
        """A worker thread's turn at ``job`` (see :func:`.attempt._work`)."""
        requeue = functools.partial(self._res.jobs.put, job)
        send_blocking(self._engine, job, self._send_one, self.timeout, requeue)

    def _submit_job(self, job: _Blocking) -> None:
        res = self._res
        if len(res.threads) < self.concurrency:
            with res.lock:
                while len(res.threads) < self.concurrency:
                    thread = threading.Thread(
                        target=_work,
                        args=(res.jobs, weakref.WeakMethod(self._send_job)),
                        name=f"webpush_core-send-{len(res.threads)}",
                        daemon=True,
                    )
                    thread.start()
                    res.threads.append(thread)
        res.jobs.put(job)

    # -- many messages -----------------------------------------------------

    def send_many(
        self,
        subscriptions: Iterable[Any],
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        deadline: Optional[float] = None,
    ) -> Iterator[SendResult]:
        """Send ``data`` to every subscription; yield one result per subscription
        as each completes (not in input order).

        ``deadline`` (seconds, for the whole call: retries and waits included):
        when it is reached, every subscription not yet finished, read or not,
        gets its result at once (``PushTimeout``, reason ``deadline-exceeded``,
        action ``"retry"``); a request in flight then may still reach the push
        service. A retry or a pause that would end after it ends the
        subscription at once the same way. Without it a call lasts as long as
        the retry policy allows (each attempt ``timeout``, each wait at most
        ``Retry-After`` capped at 60 s).

        ``subscriptions`` may be any iterable, e.g. a generator over a database
        cursor: it is consumed lazily, in the thread that iterates the results,
        and never held whole (at most ``2 * concurrency`` subscriptions, plus
        64 in the helper process, are between being read and their result),
        so memory stays flat.
        """
        # Shared arguments are checked now, before the first message is sent.
        call, plan = self._begin(data, ttl, urgency, topic, deadline)
        if self.processes > 1 and operator.length_hint(subscriptions, SHARD_AFTER) >= SHARD_AFTER:
            return self._sharded(subscriptions, call, plan, (data, ttl, urgency, topic))
        return self._fan_out(call, plan).run(subscriptions)

    def _fan_out(self, call: _Call, plan: MessagePlan) -> _FanOut:
        """One send_many in this process."""
        decided = call.decided or PerOrigin(self.endpoint_policy, self.proxy)  # _begin made one
        res, connections = self._res, self._res.connections
        return _FanOut(
            plan,
            call,
            engine=self._engine,
            arm=self._arm,
            sealer=self._res.sealer if self._helper_process else None,
            build=functools.partial(prepare.build, policy=decided.policy),
            outline=functools.partial(prepare.outline, decided=decided),
            dispatch=self._dispatch,
            loop=connections,
            loop_sends=lambda: self._pool is None and res.connections is connections,
        )

    def _sharded(
        self, subscriptions: Iterable[Any], call: _Call, plan: MessagePlan, message: tuple[Any, ...]
    ) -> Iterator[SendResult]:
        """send_many over the sender processes (one such fan-out at a time per
        client: another one meanwhile, or one with no sender that starts, runs here)."""
        res = self._res
        with res.lock:
            senders = res.senders
            if senders is None:
                senders = res.senders = Senders(self.processes, self._sender_config)
        if not senders.lock.acquire(blocking=False):
            yield from self._fan_out(call, plan).run(subscriptions)
            return
        try:
            started = senders.start()
            if not started:
                yield from self._fan_out(call, plan).run(subscriptions)
                return
            self._arm(call)

            def refuse(subscription: Any) -> SendResult:
                built = prepare.build(subscription, plan, self.endpoint_policy)
                if isinstance(built, SendResult):
                    return built
                return _unexpected(subscription, TypeError("not a subscription mapping"))

            yield from senders.run(
                started,
                subscriptions,
                call,
                message,
                settings_of(self),
                2 * self.concurrency + 64,
                lambda rest: self._fan_out(call, plan).run(rest),
                refuse,
            )
        finally:
            senders.lock.release()

    # -- asyncio -----------------------------------------------------------

    async def send_async(
        self,
        subscription: Any,
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        deadline: Optional[float] = None,
    ) -> SendResult:
        """:meth:`send` for asyncio callers: the encryption runs in the loop's
        default executor, the I/O on the client's own threads."""
        call, plan = self._begin(data, ttl, urgency, topic, deadline)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SendResult] = loop.create_future()

        def done(result: SendResult) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                loop.call_soon_threadsafe(_set_result, future, result)

        def build_and_dispatch() -> Optional[SendResult]:
            # In the executor: nothing here may hold the caller's loop (the
            # first send also starts the client's threads).
            request = prepare.build(subscription, plan, self.endpoint_policy)
            if isinstance(request, SendResult):
                return request
            self._arm(call)
            self._dispatch(subscription, request, done, call)
            return None

        refused = await loop.run_in_executor(None, build_and_dispatch)
        if refused is not None:
            return refused
        return await future

    async def send_many_async(
        self,
        subscriptions: Iterable[Any],
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        deadline: Optional[float] = None,
    ) -> AsyncIterator[SendResult]:
        """:meth:`send_many` for asyncio callers: ``async for result in ...``.

        The subscriptions are read and encrypted in a thread of the event
        loop's default executor, the I/O runs on the client's own threads;
        the loop itself only waits for results.
        """
        results = self.send_many(
            subscriptions, data, ttl=ttl, urgency=urgency, topic=topic, deadline=deadline
        )
        loop = asyncio.get_running_loop()
        done = object()
        while True:
            result = await loop.run_in_executor(None, next, results, done)
            if not isinstance(result, SendResult):  # the end marker
                return
            yield result
