"""What a test push service keeps and answers, whatever carries its requests.

:class:`ServiceCore` holds the subscriptions it handed out (each with the
browser's secrets, so pushes decrypt), their inboxes, and the scripted
answers (:mod:`._script`). :class:`~._server.LocalPushService` puts an HTTP
server on loopback in front of it; :class:`~._mock.MockPushService` takes
requests straight from the senders, with no network at all.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional, Union
from urllib.parse import urlsplit

from .. import _p256
from .._b64 import b64url_decode, b64url_encode
from .._reasons import clip
from ..errors import InvalidInput, VapidError
from ._receiver import (
    E_BAD_METHOD,
    E_NOT_FOUND,
    ReceivedMessage,
    Refusal,
    SubscriptionState,
    accept_push,
)
from ._script import Answer, Script, make_answer

__all__ = ["MAX_MESSAGES", "Reply", "ServiceCore", "SubscriptionRef", "refusal"]

log = logging.getLogger("webpush_core.testing")

MAX_MESSAGES = 1000  # per subscription; the oldest are dropped beyond it

SubscriptionRef = Union[Mapping[str, Any], str]


class Reply(NamedTuple):
    """What to send back for one request: an answer, or a drop, after ``delay`` s.

    A tuple whose first three items are (status, headers, body): what
    :meth:`ServiceCore._handle` returned before it grew the others, and what
    an override of it may still return.
    """

    status: int  # 0 when dropped
    headers: dict[str, str]
    body: bytes
    delay: float = 0.0
    drop: bool = False
    message: Optional[ReceivedMessage] = None  # the push it accepted, decrypted


@dataclass
class _Inbox:
    state: SubscriptionState
    messages: deque[ReceivedMessage] = field(default_factory=lambda: deque(maxlen=MAX_MESSAGES))
    received: int = 0  # total ever accepted; messages[0] is number received - len(messages)
    handed_out: int = 0  # wait_for_message's cursor, in the same numbering


class ServiceCore:
    """Subscriptions, inboxes and scripted answers of a test push service.

    Subclasses give :attr:`url`, the service's ``scheme://host[:port]``: the
    origin of the endpoints it hands out and the only VAPID ``aud`` it accepts.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._inboxes: dict[str, _Inbox] = {}  # subscription id -> inbox
        self._script = Script()

    @property
    def url(self) -> str:
        raise NotImplementedError

    # -- the browser's side ------------------------------------------------

    def subscribe(
        self, application_server_key: Optional[Union[str, bytes]] = None
    ) -> dict[str, Any]:
        """A new subscription, shaped like ``PushSubscription.toJSON()`` (Push API).

        ``application_server_key`` (base64url text, or the raw 65-byte point)
        restricts the subscription to pushes carrying a VAPID token signed by
        that key (RFC 8292 §4); raises :class:`VapidError` if it is not a
        P-256 public key. Each call returns a fresh dict.
        """
        asks = _application_server_key(application_server_key)
        sub_id = secrets.token_urlsafe(24)
        private_key = _p256.generate_private_key()
        auth_secret = secrets.token_bytes(16)
        endpoint = f"{self.url}/push/{sub_id}"
        state = SubscriptionState(
            endpoint=endpoint,
            private_key=private_key,
            auth_secret=auth_secret,
            application_server_key=asks,
        )
        with self._lock:
            self._inboxes[sub_id] = _Inbox(state)
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {
                "p256dh": b64url_encode(_p256.uncompressed_point(private_key.public_key())),
                "auth": b64url_encode(auth_secret),
            },
        }

    def messages(self, subscription: SubscriptionRef) -> list[ReceivedMessage]:
        """Messages accepted for ``subscription`` (its dict or endpoint), oldest first."""
        with self._lock:
            return list(self._inbox(subscription).messages)

    def expire(self, subscription: SubscriptionRef) -> None:
        """Make later pushes to ``subscription`` answer 410 Gone (RFC 8030 §7.3)."""
        with self._lock:
            self._inbox(subscription).state.expired = True

    def wait_for_message(
        self, subscription: SubscriptionRef, timeout: float = 5.0
    ) -> ReceivedMessage:
        """The next message not yet returned by this method, waiting up to ``timeout`` s.

        Raises TimeoutError if none arrives in time.
        """
        with self._lock:
            inbox = self._inbox(subscription)

            def ready() -> bool:
                return inbox.received > inbox.handed_out

            if not self._lock.wait_for(ready, timeout=timeout):
                raise TimeoutError(f"no push arrived for {inbox.state.endpoint} in {timeout} s")
            first = inbox.received - len(inbox.messages)
            # Messages dropped by the cap are skipped, not waited for.
            index = max(inbox.handed_out, first)
            inbox.handed_out = index + 1
            return inbox.messages[index - first]

    # -- scripted answers --------------------------------------------------

    def answer(
        self,
        status: Optional[int] = None,
        *,
        headers: Optional[Mapping[str, Any]] = None,
        body: Union[bytes, str] = b"",
        delay: float = 0.0,
        drop: bool = False,
        times: Optional[int] = 1,
        to: Optional[SubscriptionRef] = None,
    ) -> None:
        """Answer the next ``times`` requests (None: every request from now on)
        with ``status``, ``headers`` and ``body`` instead of the service's own
        answer, after ``delay`` seconds; ``to`` (a subscription or an endpoint)
        limits it to requests to that subscription.

        ``status=None`` keeps the service's own answer (the push is checked,
        decrypted and kept) and only delays it; a scripted status replaces it
        (nothing is kept). ``drop=True`` closes the connection before a complete
        answer: the sender sees a broken connection. Answers are used in the
        order given, each by the first request it applies to::

            service.answer(429, headers={"Retry-After": "2"})  # then the usual 201
            service.answer(503, times=3)
            service.answer(delay=5)                            # slower than a timeout
            service.answer(drop=True, to=subscription)
        """
        endpoint: Optional[str] = None
        if to is not None:
            endpoint = to if isinstance(to, str) else to.get("endpoint")
            if not isinstance(endpoint, str):
                raise InvalidInput(
                    "to= takes a subscription dict with an 'endpoint', or an endpoint URL",
                    field="to",
                )
        self._script.add(make_answer(status, headers, body, delay, drop), times=times, to=endpoint)

    def clear_answers(self) -> None:
        """Drop every scripted answer not used yet: the service answers as usual again."""
        self._script.clear()

    # -- internals ---------------------------------------------------------

    def _inbox(self, subscription: SubscriptionRef) -> _Inbox:
        endpoint = subscription if isinstance(subscription, str) else subscription.get("endpoint")
        if not isinstance(endpoint, str):
            raise KeyError("expected a subscription dict with an 'endpoint' or an endpoint URL")
        sub_id = _subscription_id(endpoint)
        inbox = self._inboxes.get(sub_id) if sub_id is not None else None
        if inbox is None or inbox.state.endpoint != endpoint:
            raise KeyError(f"not a subscription of this service: {endpoint}")
        return inbox

    def _reply(
        self, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """The reply to one request to ``endpoint``: scripted, or the service's own."""
        scripted: Optional[Answer] = self._script.take(endpoint)
        if scripted is not None and (scripted.status is not None or scripted.drop):
            return Reply(
                scripted.status or 0,
                dict(scripted.headers),
                scripted.body,
                scripted.delay,
                scripted.drop,
            )
        delay = scripted.delay if scripted is not None else 0.0
        try:
            reply = self._own_reply(endpoint, method, path, headers, body)
        except Exception:
            # The path is the client's: clipped, without control characters.
            log.exception("test push service: error handling %s %s", method, clip(path, 300))
            reply = Reply(500, {"Content-Type": "application/json"}, b"{}")
        return reply._replace(delay=delay) if delay else reply

    def _own_reply(
        self, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        """The service's own answer to a request to ``endpoint``: :meth:`_handle`'s."""
        reply = self._handle(method, path, headers, body)
        return reply if isinstance(reply, Reply) else Reply(*reply)

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """The service's own answer to one request (``path``: its target, query included)."""
        route = urlsplit(path).path
        if route == "/status":
            return Reply(200, {"Content-Type": "application/json"}, b'{"status": "OK"}')
        sub_id = _subscription_id(route)
        if sub_id is None:
            return refusal_reply(Refusal(404, E_NOT_FOUND, "no such resource"))
        if method != "POST":
            reply = refusal_reply(Refusal(405, E_BAD_METHOD, "push with POST (RFC 8030 section 5)"))
            reply.headers["Allow"] = "POST"
            return reply
        with self._lock:
            inbox = self._inboxes.get(sub_id)
        if inbox is None:
            return refusal_reply(Refusal(404, E_NOT_FOUND, "no such subscription"))
        try:
            message = accept_push(inbox.state, headers, body, origin=self.url)
        except Refusal as refused:
            return refusal_reply(refused)
        with self._lock:
            inbox.messages.append(message)
            inbox.received += 1
            self._lock.notify_all()
        location = f"{self.url}/message/{secrets.token_urlsafe(16)}"
        return Reply(201, {"Location": location, "TTL": str(message.ttl)}, b"", message=message)


def _subscription_id(url_or_path: str) -> Optional[str]:
    path = urlsplit(url_or_path).path
    prefix = "/push/"
    if not path.startswith(prefix) or "/" in path[len(prefix) :] or len(path) == len(prefix):
        return None
    return path[len(prefix) :]


def _application_server_key(value: Optional[Union[str, bytes]]) -> Optional[bytes]:
    if value is None:
        return None
    try:
        raw = bytes(value) if isinstance(value, (bytes, bytearray)) else b64url_decode(value)
        _p256.public_key_from_point(raw)
    except (ValueError, TypeError) as exc:
        raise VapidError(
            f"application_server_key must be a P-256 public key (65-byte point, base64url): {exc}",
            field="application_server_key",
        ) from None
    return raw


def refusal(refused: Refusal) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(refused.as_json()).encode("utf-8")
    return refused.status, {"Content-Type": "application/json"}, body


def refusal_reply(refused: Refusal) -> Reply:
    return Reply(*refusal(refused))
