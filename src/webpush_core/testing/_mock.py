"""MockPushService: every send in the process answered without a network.

What replaces ``patch("requests.post")`` in an application's tests. While it
is active (``with MockPushService() as push:``, or the ``push_mock`` pytest
fixture), ``webpush()``, ``WebPusher.send`` / ``send_async``,
``webpush_async`` and ``PushClient`` hand each request to it instead of
connecting (see :mod:`webpush_core._wire.standin`). It records each one
(URL, headers, body, timeout: :class:`CapturedRequest`) and answers it: as a
push service would for the subscriptions it handed out (checked, decrypted,
kept), 201 Created for any other endpoint, or as scripted with
:meth:`~webpush_core.testing.LocalPushService.answer` (status, headers, body,
delay, a dropped connection).
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from .. import vapid
from .._b64 import b64url_decode
from .._request.value import PushRequest
from .._response import CaseInsensitiveDict, PushResponse
from .._wire import standin
from ..errors import ECEError, InvalidInput, TransportError, WebPushException
from ._core import Reply, ServiceCore
from ._receiver import ReceivedMessage, Refusal, SubscriptionState, decrypt_push

__all__ = ["CapturedRequest", "MockPushService"]

MAX_CAPTURED = 10000  # requests kept (the latest); each holds at most a 4 KiB body


@dataclass(frozen=True)
class CapturedRequest:
    """One request a sender made while a :class:`MockPushService` was active.

    ``headers`` is case-insensitive (``headers["ttl"]``, ``headers["TTL"]``);
    ``body`` the encrypted body as sent; ``timeout`` the seconds the sender
    gave the attempt; ``status`` what the mock answered (0: it dropped the
    connection); ``message`` the push decrypted, when it was for a subscription
    the mock handed out and the mock accepted it. The repr shows no header
    values (the VAPID token) and no body.
    """

    url: str
    method: str
    headers: CaseInsensitiveDict[str] = field(repr=False)
    body: bytes = field(repr=False)
    timeout: float
    status: int
    message: Optional[ReceivedMessage] = field(default=None, repr=False)

    @property
    def vapid_claims(self) -> Optional[dict[str, Any]]:
        """The VAPID token's claims (signature verified against the key it names),
        or None when the request carried no ``Authorization``. Raises
        :class:`~webpush_core.vapid.VapidError` for a malformed token."""
        authorization = self.headers.get("Authorization")
        if authorization is None:
            return None
        token = vapid.parse_authorization(authorization, self.headers.get("Crypto-Key"))
        return dict(token.claims)

    def decrypt(
        self, private_key: ec.EllipticCurvePrivateKey, auth_secret: Union[bytes, str]
    ) -> bytes:
        """The plaintext, with the subscriber's private key and auth secret (raw
        or base64url): for subscriptions of your own, which the mock cannot read.
        aes128gcm (RFC 8291) or aesgcm, as the request's headers say. Raises
        :class:`~webpush_core.ECEError` when it does not decrypt."""
        try:
            secret = b64url_decode(auth_secret) if isinstance(auth_secret, str) else auth_secret
        except ValueError as exc:
            raise ECEError(f"auth_secret is {exc}") from None
        state = SubscriptionState(self.url, private_key, bytes(secret))
        lower = {name.lower(): value for name, value in self.headers.items()}
        try:
            return decrypt_push(state, lower, self.body)
        except Refusal as refused:
            raise ECEError(refused.message) from None


class MockPushService(ServiceCore):
    """A push service that stands in for the network: nothing is sent or resolved.

    ::

        with MockPushService() as push:
            subscription = push.subscribe()
            push.answer(429, headers={"Retry-After": "1"})
            notify(subscription, "hello")          # your code: webpush(), PushClient, ...
            [throttled, accepted] = push.requests
            assert push.messages(subscription)[0].text == "hello"

    ``origin`` is where the subscriptions it hands out point (``https://push.example.net``
    by default; ``"https://fcm.googleapis.com"`` passes
    :meth:`EndpointPolicy.known_push_services`). A request to any other endpoint
    is captured and answered 201 Created. The endpoint policy's URL rules still
    apply; no name is looked up. Active from :meth:`start` (or ``with``) to
    :meth:`stop`, for every thread of the process; when several are active, the
    last started answers.
    """

    def __init__(self, origin: str = "https://push.example.net") -> None:
        super().__init__()
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("https", "http")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.username is not None
        ):
            raise InvalidInput(
                f"origin must be scheme://host[:port], e.g. 'https://push.example.net', "
                f"got {origin!r}",
                field="origin",
            )
        self._origin = f"{parts.scheme}://{parts.netloc.lower()}"
        self._captured: deque[CapturedRequest] = deque(maxlen=MAX_CAPTURED)
        self._active = False
        self._state_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> MockPushService:
        """Answer every send of the process from now on. Returns self."""
        with self._state_lock:
            if not self._active:
                standin.install(self)
                self._active = True
        return self

    def stop(self) -> None:
        """Give the senders back their network. What was captured stays readable."""
        with self._state_lock:
            if self._active:
                standin.uninstall(self)
                self._active = False

    def __enter__(self) -> MockPushService:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "active" if self._active else "stopped"
        return (
            f"MockPushService({self._origin}, {state}, subscriptions={len(self._inboxes)}, "
            f"requests={len(self._captured)})"
        )

    @property
    def url(self) -> str:
        """The origin of the endpoints it hands out (also the VAPID ``aud`` it expects)."""
        return self._origin

    @property
    def requests(self) -> list[CapturedRequest]:
        """Every request captured so far (the latest 10000), oldest first."""
        with self._lock:
            return list(self._captured)

    # -- the senders' side -------------------------------------------------

    def _exchange(self, request: PushRequest, timeout: float) -> tuple[float, standin.Outcome]:
        """A sender's request: record it, and the answer with its delay."""
        parts = urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {name.lower(): value for name, value in request.headers.items()}
        reply = self._reply(request.url, request.method, target, headers, request.body)
        captured = CapturedRequest(
            url=request.url,
            method=request.method,
            headers=CaseInsensitiveDict(request.headers),
            body=request.body,
            timeout=timeout,
            status=reply.status,
            message=reply.message,
        )
        with self._lock:
            self._captured.append(captured)
        outcome: Union[PushResponse, WebPushException]
        if reply.drop:
            outcome = TransportError(
                f"connection to {parts.scheme}://{parts.netloc} broken: closed before a "
                "complete answer",
                endpoint=request.url,
            )
        else:
            outcome = PushResponse(
                reply.status, _phrase(reply.status), reply.headers, reply.body, request.url
            )
        return reply.delay, outcome

    def _own_reply(
        self, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        if endpoint.startswith(self._origin + "/"):
            return super()._own_reply(endpoint, method, path, headers, body)
        # Someone else's subscription (the application's own test data): accepted.
        parts = urlsplit(endpoint)
        location = f"{parts.scheme}://{parts.netloc}/message/{secrets.token_urlsafe(16)}"
        ttl = headers.get("ttl", "0")
        return Reply(201, {"Location": location, "TTL": ttl}, b"")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
