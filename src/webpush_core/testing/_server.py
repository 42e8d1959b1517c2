"""LocalPushService: the stdlib HTTP server around :func:`_receiver.accept_push`."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from .. import _p256
from .._b64 import b64url_decode, b64url_encode
from .._endpoint import EndpointPolicy
from .._text import clean
from ..errors import VapidError
from ._receiver import (
    E_BAD_METHOD,
    E_LENGTH_REQUIRED,
    E_NOT_FOUND,
    E_TOO_LARGE,
    ReceivedMessage,
    Refusal,
    SubscriptionState,
    accept_push,
)

__all__ = ["LocalPushService", "RecordedRequest"]

log = logging.getLogger("webpush_core.testing")

# Bounds, so a runaway test cannot eat the machine's memory.
MAX_MESSAGES = 1000  # per subscription; the oldest are dropped beyond it
MAX_REQUESTS = 10000  # entries in the raw request log
MAX_READ = 1 << 20  # a Content-Length above this is refused unread
_SHOWN = 300  # characters of a request's own text (method, path) in a repr or log line

SubscriptionRef = Union[Mapping[str, Any], str]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived: for header-on-the-wire assertions.

    ``headers`` has lower-case names. The body itself is not kept here (see
    :attr:`ReceivedMessage.body` for accepted pushes), only its length.
    """

    method: str
    path: str
    headers: dict[str, str]
    body_length: int
    status: int

    def __repr__(self) -> str:
        return (
            f"RecordedRequest({clean(f'{self.method} {self.path}', _SHOWN)} -> {self.status}, "
            f"headers={sorted(self.headers)}, body_length={self.body_length})"
        )


@dataclass
class _Inbox:
    state: SubscriptionState
    messages: deque[ReceivedMessage] = field(default_factory=lambda: deque(maxlen=MAX_MESSAGES))
    received: int = 0  # total ever accepted; messages[0] is number received - len(messages)
    handed_out: int = 0  # wait_for_message's cursor, in the same numbering


class LocalPushService:
    """An in-process Web Push service on loopback, for tests and demos.

    It hands out subscriptions the way a browser does (a fresh P-256 key pair
    and 16-byte auth secret each, RFC 8291 §2), receives pushes the way a push
    service does (RFC 8030 §5, RFC 8292 §4), decrypts them with
    ``webpush_core.ece`` and records them:

    >>> from webpush_core import webpush
    >>> from webpush_core.testing import LocalPushService
    >>> from webpush_core.vapid import Vapid
    >>> key = Vapid.generate()
    >>> with LocalPushService() as svc:
    ...     sub = svc.subscribe(application_server_key=key.application_server_key)
    ...     response = webpush(sub, "hello", vapid_private_key=key,
    ...                        vapid_claims={"sub": "mailto:ops@example.com"},
    ...                        endpoint_policy=svc.endpoint_policy)
    ...     svc.messages(sub)[0].text
    'hello'

    Answers: 201 Created (with ``Location``) on success; 400 for a missing or
    invalid TTL, Urgency, Topic, Content-Encoding (missing on a non-empty
    body, or other than aes128gcm/aesgcm: 400 rather than 415, like autopush)
    or a payload that does not decrypt; 401 for a missing or invalid VAPID
    token, 403 for a token signed by another key than the subscription's
    applicationServerKey; 404 unknown subscription; 405 other methods than
    POST; 410 expired subscription; 411 no Content-Length; 413 bodies over
    4096 bytes. Error bodies are JSON:
    ``{"code": 400, "errno": 111, "error": "Bad Request", "message": "..."}``.
    ``/status`` answers 200 (GET or POST).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Condition()
        self._inboxes: dict[str, _Inbox] = {}  # subscription id -> inbox
        self._requests: deque[RecordedRequest] = deque(maxlen=MAX_REQUESTS)
        self._url = ""

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> LocalPushService:
        """Bind and serve on a daemon thread. Returns self."""
        if self._httpd is not None:
            return self
        server_class = _V6Server if ":" in self._host else _V4Server
        httpd = server_class((self._host, self._port), _Handler)
        httpd.service = self
        port = httpd.server_address[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._url = f"http://{host}:{port}"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"LocalPushService:{port}",
            daemon=True,
        )
        self._thread.start()
        log.debug("local push service listening on %s", self._url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Recorded messages stay readable."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalPushService:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self._url if self._httpd is not None else "stopped"
        return f"LocalPushService({state}, subscriptions={len(self._inboxes)})"

    @property
    def endpoint_policy(self) -> EndpointPolicy:
        """The policy that lets a sender reach this service's plain-http loopback endpoints.

        :meth:`EndpointPolicy.for_testing`: pass it as ``endpoint_policy=`` in tests
        (production code keeps the strict default).
        """
        return EndpointPolicy.for_testing()

    @property
    def url(self) -> str:
        """``http://host:port`` of the running service (also the VAPID ``aud``)."""
        if not self._url:
            raise RuntimeError("the LocalPushService is not started; call start() first")
        return self._url

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

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (bounded to the latest 10000), oldest first."""
        with self._lock:
            return list(self._requests)

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

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, extra headers, body)."""
        route = urlsplit(path).path
        if route == "/status":
            return 200, {"Content-Type": "application/json"}, b'{"status": "OK"}'
        sub_id = _subscription_id(route)
        if sub_id is None:
            return _refusal(Refusal(404, E_NOT_FOUND, "no such resource"))
        if method != "POST":
            status, extra, data = _refusal(
                Refusal(405, E_BAD_METHOD, "push with POST (RFC 8030 section 5)")
            )
            extra["Allow"] = "POST"
            return status, extra, data
        with self._lock:
            inbox = self._inboxes.get(sub_id)
        if inbox is None:
            return _refusal(Refusal(404, E_NOT_FOUND, "no such subscription"))
        try:
            message = accept_push(inbox.state, headers, body, origin=self.url)
        except Refusal as refusal:
            return _refusal(refusal)
        with self._lock:
            inbox.messages.append(message)
            inbox.received += 1
            self._lock.notify_all()
        message_id = secrets.token_urlsafe(16)
        return 201, {"Location": f"{self.url}/message/{message_id}", "TTL": str(message.ttl)}, b""

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


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


def _refusal(refusal: Refusal) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(refusal.as_json()).encode("utf-8")
    return refusal.status, {"Content-Type": "application/json"}, body


class _V4Server(ThreadingHTTPServer):
    daemon_threads = True
    service: LocalPushService


class _V6Server(_V4Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so urllib3 keeps connections alive; every answer has a Content-Length.
    protocol_version = "HTTP/1.1"
    server: _V4Server
    server_version = "webpush-core-local/1"

    def do_POST(self) -> None:
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _serve(self) -> None:
        service = self.server.service
        headers = {name.lower(): value for name, value in self.headers.items()}
        length_text = headers.get("content-length")
        body = b""
        if length_text is None:
            if "transfer-encoding" in headers:
                # http.server does not decode chunked bodies; push senders send a length.
                self._log_request(headers, 0, 411)
                self._answer_refusal(Refusal(411, E_LENGTH_REQUIRED, "send a Content-Length"))
                return
        else:
            if not length_text.strip().isdigit():
                self._log_request(headers, 0, 400)
                self._answer_refusal(Refusal(400, E_LENGTH_REQUIRED, "invalid Content-Length"))
                return
            length = int(length_text)
            if length > MAX_READ:
                # Refuse unread, then drop the connection: the body is still coming.
                # Recorded before answering, so a client that has the answer sees the record.
                self._log_request(headers, length, 413)
                self._answer_refusal(
                    Refusal(413, E_TOO_LARGE, f"the body is {length} bytes; at most 4096")
                )
                return
            body = self.rfile.read(length)
        try:
            status, extra, data = service._handle(self.command, self.path, headers, body)
        except Exception:
            log.exception(
                "local push service: error handling %s",
                clean(f"{self.command} {self.path}", _SHOWN),
            )
            status, extra, data = 500, {"Content-Type": "application/json"}, b"{}"
        self._log_request(headers, len(body), status)
        self._answer(status, extra, data)

    def _log_request(self, headers: dict[str, str], body_length: int, status: int) -> None:
        self.server.service._record(
            RecordedRequest(self.command, self.path, headers, body_length, status)
        )

    def _answer_refusal(self, refusal: Refusal) -> None:
        self.close_connection = True
        status, extra, data = _refusal(refusal)
        extra["Connection"] = "close"
        self._answer(status, extra, data)

    def _answer(self, status: int, extra: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # Request line and status only: never headers (Authorization) or bodies;
        # the request line is the client's text, so cleaned like a server's.
        log.debug("local push service: %s", clean(format % args, _SHOWN))
