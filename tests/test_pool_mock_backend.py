"""PushClient over a backend of scripted bytes: no socket anywhere.

The pool (webpush_core._wire.pool) opens every stream through a Backend; here
it is :class:`MockBackend`, whose streams hand each complete request to the
test's script and feed back the raw bytes the script answers (or close, or
reset, or say nothing). The exchange's state machine, the HTTP/1.1 parser,
the pool's keep-alive reuse, the stale-connection resend, the client's slots,
retries and breaker then run exactly as over TCP, deterministically.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pytest

from webpush_core._b64 import b64url_encode
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._delivery.retry import RetryPolicy
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._wire.pool import Connections
from webpush_core.errors import OriginUnavailable, PushTimeout, ServerError, TransportError

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
HOST = "192.0.2.1"  # TEST-NET-1: never contacted, nothing here opens a socket
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def sub(port: int, name: str) -> dict[str, Any]:
    return {"endpoint": f"http://{HOST}:{port}/push/{name}", "keys": KEYS}


def name_of(result: SendResult) -> str:
    assert result.endpoint is not None
    return result.endpoint.rsplit("/", 1)[-1]


@dataclass
class Request:
    """One complete request as it arrived on a stream."""

    port: int
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    stream: int  # which stream (1, 2, ... in the order they were opened)
    on_stream: int  # its number on that stream (1: the stream's first)

    @property
    def name(self) -> str:
        return self.target.rsplit("/", 1)[-1]


class Stream(asyncio.Transport):
    """A stream in memory: what the client writes is parsed into requests for the
    script; what the script answers is fed to the client's protocol on the loop."""

    def __init__(
        self,
        backend: MockBackend,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        port: int,
        number: int,
    ) -> None:
        super().__init__()
        self.backend, self.loop, self.protocol = backend, loop, protocol
        self.port, self.number = port, number
        self.buffer = b""
        self.requests = 0
        self.closed = False
        self.waiting = 0  # requests read and not answered yet

    # -- the client's side (asyncio.Transport) --
    def write(self, data: bytes | bytearray | memoryview) -> None:  # type: ignore[override]
        if self.closed:
            return
        self.buffer += bytes(data)
        while not self.closed:
            request = self._take_request()
            if request is None:
                return
            self.backend.arrived(self, request)

    def abort(self) -> None:
        self.hang_up(None)

    def close(self) -> None:
        self.hang_up(None)

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    # -- the script's side --
    def reply(self, data: bytes, *, then_close: bool = False) -> None:
        """Send ``data`` (raw response octets) to the client."""
        self.backend.answered(self)

        def feed() -> None:
            if not self.closed:
                self.protocol.data_received(data)
                if then_close:
                    self.hang_up(None)

        self.loop.call_soon(feed)

    def hang_up(self, exc: Optional[Exception]) -> None:
        """Close the stream (``exc``: a reset, say), as the server or the client."""
        if self.closed:
            return
        self.closed = True
        self.backend.answered(self, all_of_them=True)
        self.loop.call_soon(self.protocol.connection_lost, exc)

    def _take_request(self) -> Optional[Request]:
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(rest) < length:
            return None
        self.buffer = rest[length:]
        self.requests += 1
        return Request(
            self.port, method, target, headers, rest[:length], self.number, self.requests
        )


Script = Callable[[Stream, Request], None]


@dataclass
class MockBackend:
    """Opens :class:`Stream` s; ``script(stream, request)`` answers each request.

    ``refuse``: ports whose streams cannot be opened (ConnectionRefusedError).
    Records every request, how many streams were opened or refused, and the
    most requests ever waiting for an answer at once, per port.
    """

    script: Script
    refuse: set[int] = field(default_factory=set)
    requests: list[Request] = field(default_factory=list)
    opened: Counter[int] = field(default_factory=Counter)
    refused: Counter[int] = field(default_factory=Counter)
    in_flight: Counter[int] = field(default_factory=Counter)
    most_in_flight: Counter[int] = field(default_factory=Counter)
    most_in_flight_total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def open(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: Callable[[], asyncio.Protocol],
        address: str,
        port: int,
    ) -> asyncio.Transport:
        assert address == HOST  # the address the policy checked, no other
        if port in self.refuse:
            self.refused[port] += 1
            raise ConnectionRefusedError(111, "Connection refused")
        self.opened[port] += 1
        proto = protocol()
        stream = Stream(self, loop, proto, port, sum(self.opened.values()))
        proto.connection_made(stream)
        return stream

    def arrived(self, stream: Stream, request: Request) -> None:
        with self.lock:
            self.requests.append(request)
            stream.waiting += 1
            self.in_flight[stream.port] += 1
            port_now = self.in_flight[stream.port]
            self.most_in_flight[stream.port] = max(self.most_in_flight[stream.port], port_now)
            total = sum(self.in_flight.values())
            self.most_in_flight_total = max(self.most_in_flight_total, total)
        self.script(stream, request)

    def answered(self, stream: Stream, *, all_of_them: bool = False) -> None:
        with self.lock:
            done = stream.waiting if all_of_them else min(stream.waiting, 1)
            stream.waiting -= done
            self.in_flight[stream.port] -= done

    def seen(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.name == name]


def client_over(backend: MockBackend, **options: Any) -> PushClient:
    options.setdefault("endpoint_policy", LOCAL)
    client = PushClient(**options)
    client._res.connections = Connections(maxsize=client.concurrency, backend=backend)
    return client


def answer_all(stream: Stream, request: Request) -> None:
    stream.reply(CREATED)


# --------------------------------------------------------------------------
# The wire


def test_a_request_goes_out_as_http1_and_raw_bytes_come_back_as_its_result() -> None:
    def script(stream: Stream, request: Request) -> None:
        stream.reply(
            b"HTTP/1.1 201 Created\r\nLocation: /m/1\r\nX-A: 1\r\nX-A: 2\r\n"
            b"Content-Length: 2\r\n\r\nok"
        )

    backend = MockBackend(script)
    with client_over(backend, ttl=60) as client:
        result = client.send(sub(8001, "a"), b"hello")
    assert result.ok and result.status_code == 201 and result.attempts == 1
    assert result.response is not None and result.response.content == b"ok"
    assert result.response.headers["x-a"] == "1, 2"  # repeated fields joined (RFC 9110 §5.3)
    (request,) = backend.requests
    assert (request.method, request.target) == ("POST", "/push/a")
    assert request.headers["host"] == f"{HOST}:8001"
    assert request.headers["ttl"] == "60" and request.headers["content-encoding"] == "aes128gcm"
    assert int(request.headers["content-length"]) == len(request.body) > len(b"hello")


def test_keep_alive_streams_are_reused() -> None:
    backend = MockBackend(answer_all)
    with client_over(backend, concurrency=1) as client:
        for i in range(5):
            assert client.send(sub(8001, f"k{i}"), b"x").ok
    assert backend.opened[8001] == 1
    assert [r.on_stream for r in backend.requests] == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------
# The stale-connection resend: once, on a new stream, before any response octet


@pytest.mark.parametrize(
    "hang_up",
    [
        pytest.param(lambda s: s.hang_up(None), id="closed"),
        pytest.param(lambda s: s.hang_up(ConnectionResetError(104, "reset")), id="reset"),
        pytest.param(lambda s: s.hang_up(BrokenPipeError(32, "broken pipe")), id="broken-pipe"),
    ],
)
def test_a_request_that_meets_a_closed_keep_alive_stream_is_resent_once(
    hang_up: Callable[[Stream], None],
) -> None:
    def script(stream: Stream, request: Request) -> None:
        if stream.number == 1 and stream.requests == 2:
            hang_up(stream)  # the server had closed it: no octet of response
        else:
            stream.reply(CREATED)

    backend = MockBackend(script)
    with client_over(backend, concurrency=1, max_retries=0) as client:
        assert client.send(sub(8001, "first"), b"x").ok
        result = client.send(sub(8001, "second"), b"x")
    assert result.ok and result.attempts == 1  # the resend is not an attempt
    assert [(r.stream, r.on_stream) for r in backend.seen("second")] == [(1, 2), (2, 1)]
    assert backend.opened[8001] == 2


def test_the_resend_is_made_once() -> None:
    def script(stream: Stream, request: Request) -> None:
        if request.name == "second":
            stream.hang_up(None)  # on the reused stream, and on the new one
        else:
            stream.reply(CREATED)

    backend = MockBackend(script)
    with client_over(backend, concurrency=1, max_retries=0) as client:
        assert client.send(sub(8001, "first"), b"x").ok
        result = client.send(sub(8001, "second"), b"x")
    assert not result.ok and result.attempts == 1
    assert isinstance(result.error, TransportError) and not isinstance(result.error, PushTimeout)
    assert result.error.message.startswith(f"connection to http://{HOST}:8001 broken")
    assert len(backend.seen("second")) == 2


def test_no_resend_once_a_response_octet_arrived() -> None:
    def script(stream: Stream, request: Request) -> None:
        if request.name == "cut":
            stream.reply(b"H", then_close=True)  # one octet: the limit
        else:
            stream.reply(CREATED)

    backend = MockBackend(script)
    with client_over(backend, concurrency=1, max_retries=0) as client:
        assert client.send(sub(8001, "first"), b"x").ok
        result = client.send(sub(8001, "cut"), b"x")
    assert isinstance(result.error, TransportError) and len(backend.seen("cut")) == 1


def test_a_response_that_stops_midway_times_out_at_the_attempts_deadline() -> None:
    def script(stream: Stream, request: Request) -> None:
        stream.reply(b"HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc")  # then nothing

    backend = MockBackend(script)
    with client_over(backend, timeout=0.3, max_retries=0) as client:
        start = time.monotonic()
        result = client.send(sub(8001, "drip"), b"x")
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout)
    assert result.error.message == (
        f"timed out after 0.3 s reading the response from http://{HOST}:8001"
    )
    assert 0.3 <= elapsed < 5.0


# --------------------------------------------------------------------------
# Retries, slots, breaker


def test_a_retryable_answer_is_retried_as_the_policy_says() -> None:
    def script(stream: Stream, request: Request) -> None:
        if len(backend.seen(request.name)) == 1:
            stream.reply(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
        else:
            stream.reply(CREATED)

    backend = MockBackend(script)
    with client_over(backend, breaker_threshold=None) as client:
        client._engine.retry = RetryPolicy(max_retries=1, backoff_base=0.0)  # retry now
        ok = client.send(sub(8001, "r"), b"x")
        client._engine.retry = RetryPolicy(max_retries=0)
        failed = client.send(sub(8001, "s"), b"x")
    assert ok.ok and ok.attempts == 2 and len(backend.seen("r")) == 2
    assert isinstance(failed.error, ServerError) and failed.attempts == 1
    assert len(backend.seen("s")) == 1


def test_an_origin_that_does_not_answer_holds_its_slots_not_every_origin() -> None:
    # concurrency=2: the silent origin gets its 2 slots; the spare slot (one more,
    # for an origin with none in flight) carries the other origin's requests. The
    # silent origin answers only once the other one's last request has arrived.
    silent, answering = 8001, 8002
    held: list[Stream] = []

    def script(stream: Stream, request: Request) -> None:
        if stream.port == silent and len(backend.seen("a3")) == 0:
            held.append(stream)
            return
        stream.reply(CREATED)
        if request.name == "a3":
            for waiting in held:
                waiting.reply(CREATED)

    backend = MockBackend(script)
    subs = [sub(silent, f"s{i}") for i in range(4)] + [sub(answering, f"a{i}") for i in range(4)]
    with client_over(backend, concurrency=2, max_retries=0) as client:
        results = list(client.send_many(subs, b"x"))
    assert all(r.ok for r in results)
    assert sorted(name_of(r) for r in results[:4]) == ["a0", "a1", "a2", "a3"]
    assert len(held) == 2  # the silent origin's two slots, no more
    assert backend.most_in_flight[silent] == 2  # concurrency
    assert backend.most_in_flight_total == 3  # concurrency + the one spare slot


def test_an_origin_that_refuses_every_connection_trips_its_breaker() -> None:
    down = 8003
    backend = MockBackend(answer_all, refuse={down})
    subs = [sub(down, f"d{i}") for i in range(8)]
    with client_over(
        backend, concurrency=1, max_retries=0, breaker_threshold=2, breaker_cooldown=30
    ) as client:
        start = time.monotonic()
        results = list(client.send_many(subs, b"x"))
        elapsed = time.monotonic() - start
    assert len(results) == 8 and not any(r.ok for r in results)
    refused = [r for r in results if not isinstance(r.error, OriginUnavailable)]
    assert all(
        isinstance(r.error, TransportError)
        and r.error.message == f"cannot connect to http://{HOST}:{down}: Connection refused"
        for r in refused
    )
    # The breaker opened after 2 failures (a probe may follow): not one try per subscription.
    assert 2 <= backend.refused[down] <= 3 and len(refused) == backend.refused[down]
    assert backend.requests == [] and elapsed < 10.0
