"""One fan-out over several sender processes (``PushClient(processes=N)``).

One Python process sends at most what one core can do: its event loop,
its parsing and its encryption share one GIL. With ``processes=N`` a
``send_many`` hands its subscriptions to N sender processes, each a
``PushClient`` of its own (its own event loop, connections, retries,
pauses and breakers, and its own encryption), and merges their results
into the one iterator: exactly one result per subscription, in the order
they finish, each carrying the caller's own subscription object.

The parent reads the input lazily, as the single-process fan-out does, and
sends each subscription to the sender with the fewest in flight, at most
``2 * concurrency + 64`` per sender. It does no encryption and no network
I/O: it frames, writes and reads, from the thread that iterates the results,
with non-blocking pipes and a selector (no thread of its own).

The senders are started once per client and end when it is closed, when
their stdin closes, or when the parent dies; how, and the frames and pipes
between them and the parent: :mod:`.sender_channel` (the sender's own end:
:mod:`.sender`).

A sender that dies takes its subscriptions in flight with it: each gets a
failed result (``action == "retry"``: it may have been sent); the input not
yet read goes to the others, or, with none left, is sent by this process.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Optional

from .._b64 import b64url_encode
from .._response import PushResponse
from .._subscription import Subscription
from ..errors import InvalidRequest
from ..vapid import Vapid, Vapid01
from .result import SendResult, _accepted, _Call, _deadline_result, _unexpected
from .sender_channel import SenderConfig, _frame, _Sender, _start
from .spawn import cores

__all__ = [
    "PROXY_ENVIRONMENT",
    "SHARD_AFTER",
    "Senders",
    "check_processes",
    "portable",
    "sender_key",
    "settings_of",
]

_BATCH = 64  # subscriptions per frame to a sender
# The variables a proxy choice reads (proxy.py), passed with every call.
PROXY_ENVIRONMENT = (
    *(
        name
        for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
        for name in (base, base.upper())
    ),
    "REQUEST_METHOD",
)


# A send_many known to be shorter than this is not worth sharding (starting a
# sender takes ~0.1-0.3 s); a generator's length is not known: it is sharded.
SHARD_AFTER = 128


def check_processes(processes: object) -> int:
    """``processes=``: an integer >= 1, or "auto" (the cores this process may use)."""
    if processes == "auto":
        return cores()
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise InvalidRequest(
            f'processes must be an integer >= 1 or "auto", got {processes!r}',
            field="processes",
        )
    return processes


def sender_key(key: Any) -> Any:
    """The VAPID key as sender processes get it: a key string or file name as
    given, a Vapid as (its class, PEM); another library's signer cannot be."""
    if key is None or isinstance(key, str):
        return key
    if isinstance(key, os.PathLike):
        return os.fspath(key)
    if type(key) in (Vapid, Vapid01):
        return (type(key).__name__, key.private_pem())
    raise InvalidRequest(
        "processes > 1 gives each sender process the VAPID key: pass a key string, "
        "a key file or a webpush_core Vapid, not another library's signer",
        field="processes",
    )


def portable(subscription: Any) -> Optional[dict[str, Any]]:
    """The subscription as a new plain dict a sender parses as this process would,
    or None when it is not one (this process then reports why).

    Always a new dict of the endpoint and the two keys only: never the caller's
    object (pickle sends one object given twice as one, and the sender tells
    subscriptions apart by identity), never an application's other fields (one
    of them unpicklable would fail the whole call)."""
    if isinstance(subscription, Subscription):
        return _plain(subscription)
    if type(subscription) is dict:
        endpoint, keys = subscription.get("endpoint"), subscription.get("keys")
        if type(endpoint) is str:
            if keys is None:
                return {"endpoint": endpoint}
            if type(keys) is dict:
                p256dh, auth = keys.get("p256dh"), keys.get("auth")
                if type(p256dh) in _KEY_TYPES and type(auth) in _KEY_TYPES:
                    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
    if not isinstance(subscription, Mapping):
        return None
    try:  # another shape the parser takes (a Mapping, keys in other types): parsed here
        return _plain(Subscription.from_info(subscription))
    except Exception:  # refused: refuse() parses it again and reports why
        return None


_KEY_TYPES = (str, bytes)


def _plain(subscription: Subscription) -> dict[str, Any]:
    if not subscription.has_keys:
        return {"endpoint": subscription.endpoint}
    return {
        "endpoint": subscription.endpoint,
        "keys": {
            "p256dh": b64url_encode(subscription.p256dh),
            "auth": b64url_encode(subscription.auth),
        },
    }


class Senders:
    """A client's sender processes: started once, used by one fan-out at a time."""

    def __init__(self, count: int, config: SenderConfig) -> None:
        self.count = count
        self.config = config
        self.lock = threading.Lock()  # held by the fan-out using them
        self._senders: list[_Sender] = []
        self._started = False

    def start(self) -> list[_Sender]:
        """The live senders: started on the first call, and those that ended
        replaced on the next (none where they cannot start)."""
        alive = [s for s in self._senders if s.alive]
        if not self._started or len(alive) < self.count:
            self._started = True
            alive += _start(self.count - len(alive), self.config)
        self._senders = alive
        return alive

    def close(self) -> None:
        senders, self._senders = self._senders, []
        for sender in senders:
            sender.stop(grace=5.0)

    def run(
        self,
        senders: list[_Sender],
        subscriptions: Iterable[Any],
        call: _Call,
        message: tuple[Any, ...],
        settings: dict[str, Any],
        window: int,
        local: Callable[[Iterator[Any]], Iterator[SendResult]],
        refuse: Callable[[Any], SendResult],
    ) -> Iterator[SendResult]:
        """The results of ``subscriptions`` sent by ``senders`` (``message``: data,
        ttl, urgency, topic; ``settings``: the client's settings and proxy
        environment as they are for this call). ``local(rest)``: this process sends what
        is left when no sender is; ``refuse(subscription)``: the result of one
        that cannot be handed to a sender."""
        source = iter(subscriptions)
        selector = selectors.DefaultSelector()
        clean = False
        for s in senders:
            s.watching = False
        try:
            deadline = None if call.expires is None else max(0.001, call.left())
            for s in senders:
                s.write(_frame(("call", (*message, deadline), settings)))
                s.done = False
                selector.register(s.stdout_fd, selectors.EVENT_READ, s)
            index = 0
            exhausted = False
            while True:
                live = [s for s in senders if s.alive]
                if not exhausted and call.left() <= 0:
                    for subscription in source:  # the deadline: reported, never sent
                        yield _deadline_result(subscription, call)
                    exhausted = True
                    for s in live:
                        _end(s)
                # Read on while a sender has room.
                while not exhausted and live:
                    target = min(live, key=lambda s: len(s.in_flight))
                    if len(target.in_flight) >= window:
                        break
                    try:
                        subscription = next(source)
                    except StopIteration:
                        exhausted = True
                        for s in live:
                            _end(s)
                        break
                    plain = portable(subscription)
                    if plain is None:
                        yield refuse(subscription)
                        continue
                    index += 1
                    target.in_flight[index] = subscription
                    target.batch.append((index, plain))
                    if len(target.batch) >= _BATCH:
                        _send_batch(target)
                for s in live:
                    if s.batch:
                        _send_batch(s)
                    if s.outbox and not s.watching:
                        selector.register(s.stdin_fd, selectors.EVENT_WRITE, s)
                        s.watching = True
                if not live:
                    clean = True
                    if not exhausted:
                        yield from local(source)  # no sender left: sent from here
                    return
                if exhausted and all(s.done for s in live):
                    clean = True
                    return
                for key, events in selector.select(timeout=_poll(call)):
                    s = key.data
                    if events & selectors.EVENT_WRITE:
                        s.flush()
                        if (not s.outbox or not s.alive) and s.watching:
                            selector.unregister(s.stdin_fd)
                            s.watching = False
                    if events & selectors.EVENT_READ:
                        yield from _answers(s, selector)
                for s in senders:
                    if not s.alive and s.in_flight:
                        yield from _lost(s, selector)
        finally:
            selector.close()
            if not clean:
                # Left before its end (the caller stopped iterating, or an
                # error): the senders are mid-call, and their late answers must
                # never be read as the next call's. They are stopped; the next
                # call starts new ones.
                for s in senders:
                    s.stop(grace=0.0)


def _end(sender: _Sender) -> None:
    if sender.batch:
        _send_batch(sender)
    sender.write(_frame(("end",)))


def _send_batch(sender: _Sender) -> None:
    batch, sender.batch = sender.batch, []
    sender.write(_frame(("subs", batch)))


def _poll(call: _Call) -> float:
    left = call.left()
    return 1.0 if left == float("inf") else max(0.0, min(1.0, left + 0.01))


def _answers(sender: _Sender, selector: selectors.BaseSelector) -> Iterator[SendResult]:
    frames = sender.read()
    if frames is None:  # the sender ended
        yield from _lost(sender, selector)
        return
    for frame in frames:
        kind = frame[0]
        if kind == "r":
            for index, fields in frame[1]:
                subscription = sender.in_flight.pop(index, None)
                result = object.__new__(SendResult)
                result.__dict__.update(subscription=subscription, **fields)
                yield result
        elif kind == "a":  # accepted: (index, status, attempts, the response's parts)
            _, index, status, attempts, answer = frame
            subscription = sender.in_flight.pop(index, None)
            yield _accepted(subscription, status, attempts, PushResponse(*answer))
        elif kind == "done":
            sender.done = True
            if sender.in_flight:
                # It ended its call with subscriptions unanswered (never expected):
                # they fail now, and it is stopped (replaced on the next call).
                yield from _lost(sender, selector)
                sender.stop(0.5)
                return


def _lost(sender: _Sender, selector: selectors.BaseSelector) -> Iterator[SendResult]:
    """The sender is gone: its subscriptions in flight fail (they may have been sent)."""
    sender.alive = False
    sender.done = True
    for fd in (sender.stdout_fd, sender.stdin_fd):
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(fd)
    sender.watching = False
    in_flight, sender.in_flight = sender.in_flight, {}
    for subscription in in_flight.values():
        yield _unexpected(subscription, RuntimeError("its sender process ended"))


def settings_of(client: Any) -> dict[str, Any]:
    """What a call's senders take from the client and the environment now."""
    return {
        "endpoint_policy": client.endpoint_policy,
        "proxy": client.proxy,
        "max_retries": client.max_retries,
        "environment": {n: os.environ[n] for n in PROXY_ENVIRONMENT if n in os.environ},
    }
