"""A scripted push-service stand-in: HTTP/1.1 keep-alive (optionally TLS) on 127.0.0.1.

Each request gets an :class:`Answer`: a status, headers, a body, a delay
before it, or a close instead of it. Where the answer comes from, first
match wins:

* ``responder(request)``, a function, when given (a fault plan, a clock);
* the script of the request's path (``script("name", Answer(503), Answer(201))``:
  the n-th request to ``/push/name`` gets the n-th answer, the last repeats);
* ``default`` (201 Created, empty body).

Everything is recorded (``requests``, in arrival order; ``seen`` per path),
and so is concurrency: ``in_flight`` counts requests read and not yet
answered, ``max_in_flight`` its peak. A delay is cut short when the server
stops, so a "never answers" stand-in is ``Answer(delay=60, close=True)``.
It decrypts nothing: webpush_core.testing.LocalPushService does that.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from servers.loopback import Conn, Fields, Request, Server


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# A browser's subscription keys for endpoints of the stand-in (nobody decrypts there).
KEYS = {
    "p256dh": _b64url(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    ),
    "auth": _b64url(bytes(range(16))),
}


@dataclass(frozen=True)
class Answer:
    """What one request gets."""

    status: int = 201
    headers: Fields = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the answer (or the close)
    close: bool = False  # read the request, then close without answering
    reason: Optional[str] = None  # the status's own phrase by default

    @property
    def closes_after(self) -> bool:
        """The answer says ``Connection: close``: the connection ends after it."""
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return any(k.lower() == "connection" and v.lower() == "close" for k, v in items)


Responder = Callable[[Request], Answer]


class PushService(Server):
    """A push-service stand-in answering from a script; see the module's docstring."""

    def __init__(
        self,
        default: Optional[Answer] = None,
        *,
        responder: Optional[Responder] = None,
        keys: Optional[Mapping[str, str]] = None,
        tls: Optional[ssl.SSLContext] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        url_host: Optional[str] = None,
        backlog: int = 1024,
    ) -> None:
        self.default = default or Answer()
        self.responder = responder
        self.keys = dict(keys or KEYS)
        self.scripts: dict[str, list[Answer]] = {}
        self.seen: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__(
            self._serve_requests,
            tls=tls,
            host=host,
            port=port,
            url_host=url_host,
            backlog=backlog,
        )

    def script(self, name: str, *answers: Answer) -> dict[str, Any]:
        """Answers for ``/push/<name>`` in turn (the last repeats); its subscription."""
        self.scripts[f"/push/{name}"] = list(answers)
        return self.sub(name)

    def sub(self, name: str) -> dict[str, Any]:
        """A subscription whose endpoint is ``/push/<name>`` here."""
        return {"endpoint": f"{self.url}/push/{name}", "keys": dict(self.keys)}

    def _answer(self, request: Request) -> Answer:
        with self.lock:
            n = self.seen.get(request.path, 0)
            self.seen[request.path] = n + 1
            script = self.scripts.get(request.path)
        if self.responder is not None:
            return self.responder(request)
        if script:
            return script[min(n, len(script) - 1)]
        return self.default

    def _serve_requests(self, conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            with self.lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                answer = self._answer(request)
                if answer.delay and conn.wait(answer.delay):
                    return  # stopping
            finally:
                with self.lock:
                    self.in_flight -= 1
            if answer.close:
                return
            conn.send(answer.status, answer.headers, answer.body, answer.reason)
            if answer.closes_after or _client_closes(request):
                return


def _client_closes(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return "keep-alive" not in connection
    return "close" in connection
