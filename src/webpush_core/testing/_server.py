"""LocalPushService: the stdlib HTTP server around :func:`_receiver.accept_push`."""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Optional
from urllib.parse import urlsplit

from .._endpoint import EndpointPolicy
from .._reasons import clip
from ._core import Reply, ServiceCore, refusal
from ._receiver import E_LENGTH_REQUIRED, E_TOO_LARGE, Refusal

__all__ = ["LocalPushService", "RecordedRequest"]

log = logging.getLogger("webpush_core.testing")

# Bounds, so a runaway test cannot eat the machine's memory.
MAX_REQUESTS = 10000  # entries in the raw request log
MAX_READ = 1 << 20  # a Content-Length above this is refused unread
# RFC 9110 §8.6: 1*DIGIT, ASCII digits only (str.isdigit() also takes "²",
# which int() refuses); 19 of them are far above MAX_READ and int() takes them.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")
_LOGGED = 300  # characters of a request line (the client's words) in a log record


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
            f"RecordedRequest({clip(f'{self.method} {self.path}', _LOGGED)} -> {self.status}, "
            f"headers={sorted(self.headers)}, body_length={self.body_length})"
        )


class LocalPushService(ServiceCore):
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
        super().__init__()
        self._host = host
        self._port = port
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
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

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (bounded to the latest 10000), oldest first."""
        with self._lock:
            return list(self._requests)

    # -- internals ---------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)


class _V4Server(ThreadingHTTPServer):
    daemon_threads = True
    # A sender's fan-out opens its connections all at once (PushClient: up to
    # ``concurrency``); socketserver's default listen backlog of 5 would drop
    # or reset some of them before the accept loop gets to them.
    request_queue_size = 1024
    service: LocalPushService

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets its connection (a sender dropping a capped body,
        # a timed-out test) is no error of the service's: logged, not printed
        # to stderr as socketserver does. The exception's type only: its
        # message may quote what the client sent.
        failure = sys.exc_info()[1]
        log.debug(
            "local push service: the connection from %s ended with %s",
            client_address,
            type(failure).__name__,
        )


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
            if not _CONTENT_LENGTH.fullmatch(length_text.strip()):
                self._log_request(headers, 0, 400)
                self._answer_refusal(Refusal(400, E_LENGTH_REQUIRED, "invalid Content-Length"))
                return
            length = int(length_text.strip())
            if length > MAX_READ:
                # Refuse unread, then drop the connection: the body is still coming.
                # Recorded before answering, so a client that has the answer sees the record.
                self._log_request(headers, length, 413)
                self._answer_refusal(
                    Refusal(413, E_TOO_LARGE, f"the body is {length} bytes; at most 4096")
                )
                return
            body = self.rfile.read(length)
        # The endpoint the request is for (origin-form, or absolute-form via a proxy).
        endpoint = service.url + urlsplit(self.path).path
        reply = service._reply(endpoint, self.command, self.path, headers, body)
        self._send_reply(headers, len(body), reply)

    def _log_request(self, headers: dict[str, str], body_length: int, status: int) -> None:
        self.server.service._record(
            RecordedRequest(self.command, self.path, headers, body_length, status)
        )

    def _send_reply(self, headers: dict[str, str], body_length: int, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)  # this request's own thread
        if reply.drop:
            # Half a status line, then the close: a broken answer, which no sender
            # mistakes for an idle keep-alive connection closing (and resends).
            self._log_request(headers, body_length, 0)
            self.close_connection = True
            self.wfile.write(b"HTTP/1.1 ")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._log_request(headers, body_length, reply.status)
        self._answer(reply.status, reply.headers, reply.body)

    def _answer_refusal(self, refused: Refusal) -> None:
        self.close_connection = True
        status, extra, data = refusal(refused)
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
        # Request line and status only: never headers (Authorization) or bodies.
        # The request line is the client's: clipped, without control characters.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("local push service: %s", clip(format % args, _LOGGED))
