"""Adversarial review of the hostile-endpoint hardening: what still gets through.

Each test plays a subscriber who points a subscription at a server (and a
DNS zone) they control, on loopback only, bounded in time. Each one names
the review finding it demonstrates; they fail until the finding is fixed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from webpush_core import EndpointPolicy, PushClient, webpush
from webpush_core._b64 import b64url_encode
from webpush_core._classify import error_for_response
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._response import PushResponse
from webpush_core._wire.http1 import HTTPProtocolError, ResponseParser
from webpush_core._wire.resolver import Resolver
from webpush_core.errors import EndpointNotAllowed, WebPushException

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


# -- loopback servers ---------------------------------------------------------


def _read_request(conn: socket.socket, buf: bytearray) -> bool:
    """One request (head + Content-Length body) off ``conn``; False at EOF."""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        rest += chunk
    buf[:] = rest[length:]
    return True


class Server:
    """127.0.0.1, a thread per connection: ``answer`` for each request (None: silence)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        try:
            while _read_request(conn, buf):
                self.requests += 1
                if self.answer is None:
                    continue  # hold the request: never answer
                conn.sendall(self.answer)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            with_suppressed(conn.close)


def with_suppressed(fn: Callable[[], object]) -> None:
    with contextlib.suppress(OSError):
        fn()


@pytest.fixture
def servers() -> Iterator[Callable[[bytes | None], Server]]:
    made: list[Server] = []

    def make(answer: bytes | None) -> Server:
        server = Server(answer)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def sub(host: str, port: int, tag: str) -> dict[str, Any]:
    return {"endpoint": f"http://{host}:{port}/push/{tag}", "keys": KEYS}


def timed_fan_out(client: PushClient, subs: list[dict[str, Any]]) -> dict[str, tuple[float, Any]]:
    """{tag: (seconds since the start, result)} for each subscription."""
    start = time.monotonic()
    out = {}
    for result in client.send_many(subs, b"m" * 100):
        out[result.endpoint.rsplit("/", 1)[1]] = (time.monotonic() - start, result)
    assert len(out) == len(subs)
    return out


# -- Finding 1 (high): error bodies decoded with a server-chosen codec on the I/O loop --
#
# _Delivery.decide() runs on the event-loop thread and calls error_for_response(),
# which decodes a non-JSON error body with the charset the *server* names in
# Content-Type (PushResponse.text). Python's punycode codec accepts
# errors="replace" and is quadratic: 64 KiB of b"9" cost ~1 s of CPU, in one
# callback where no deadline can fire. A hostile origin answering 503 thus
# stalls every origin for ~1 s per response (times its retries).

PUNY_BODY = b"-" + b"9" * 65535
PUNYCODE_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=punycode\r\n"
    b"Content-Length: %d\r\n\r\n" % len(PUNY_BODY)
) + PUNY_BODY


def _cpu_per_octet(fn: Callable[[], object], octets: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, (time.process_time() - start) / rounds)
    return best / octets


def test_finding1_error_detail_work_is_linear_in_the_body() -> None:
    # Finding 1: PushResponse.text / _service_detail decode the whole body with
    # the server's charset (punycode: quadratic) before clipping it.
    def detail(n: int) -> Callable[[], object]:
        response = PushResponse(
            503, "x", [("Content-Type", "text/plain; charset=punycode")], b"-" + b"9" * (n - 1)
        )
        return lambda: error_for_response(response, "http://push.test/x")

    small = _cpu_per_octet(detail(4096), 4096, 20)
    large = _cpu_per_octet(detail(65536), 65536, 1)
    assert large < 3 * small, f"64 KiB costs {large / small:.1f}x the CPU per octet of 4 KiB"


def test_finding1_punycode_error_bodies_stall_other_origins(
    servers: Callable[[bytes | None], Server],
) -> None:
    # Finding 1, end to end: four 503s with a punycode body from one origin
    # delay an honest origin's deliveries by seconds.
    hostile = servers(PUNYCODE_503)
    honest = servers(CREATED)
    subs = [sub("127.0.0.1", hostile.port, f"bad{i}") for i in range(4)]
    subs += [sub("127.0.0.1", honest.port, f"good{i}") for i in range(200)]
    with PushClient(
        timeout=10, max_retries=0, endpoint_policy=LOCAL, helper_process=False
    ) as client:
        out = timed_fan_out(client, subs)
    good = [v for k, v in out.items() if k.startswith("good")]
    assert all(r.ok for _, r in good)
    slowest = max(t for t, _ in good)
    # Alone these 200 take ~0.1-0.2 s here.
    assert slowest < 1.5, f"honest deliveries finished after {slowest:.2f} s"


# -- Finding 2 (high): quadratic regex backtracking in the chunk-size line --------
#
# _CHUNK_SIZE = ([0-9A-Fa-f]{1,15})([\t ]*;[...]*)?[\t ]*  with fullmatch: the
# extension group's class includes SP/HTAB and so does the trailing [\t ]*,
# so a line "1;" + 4090 spaces + one invalid octet backtracks O(n^2):
# ~0.1-0.2 s of the I/O thread for a 4 KiB line, per response.

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def _bad_chunk_line(n: int) -> bytes:
    return CHUNKED_HEAD + b"1;" + b" " * n + b"\x00\r\n"


def test_finding2_chunk_size_line_parse_is_linear() -> None:
    def parse(n: int) -> Callable[[], object]:
        data = _bad_chunk_line(n)

        def run() -> None:
            parser = ResponseParser(65536)
            with pytest.raises(HTTPProtocolError):
                parser.feed(data)

        return run

    small = _cpu_per_octet(parse(256), 256 + 50, 200)
    large = _cpu_per_octet(parse(4080), 4080 + 50, 3)
    assert large < 3 * small, f"a 4 KiB line costs {large / small:.1f}x the CPU per octet"


def test_finding2_chunk_line_backtracking_stalls_other_origins(
    servers: Callable[[bytes | None], Server],
) -> None:
    hostile = servers(_bad_chunk_line(4080))
    honest = servers(CREATED)
    subs = [sub("127.0.0.1", hostile.port, f"bad{i}") for i in range(24)]
    subs += [sub("127.0.0.1", honest.port, f"good{i}") for i in range(200)]
    with PushClient(
        timeout=10, max_retries=0, endpoint_policy=LOCAL, helper_process=False
    ) as client:
        out = timed_fan_out(client, subs)
    good = [v for k, v in out.items() if k.startswith("good")]
    assert all(r.ok for _, r in good)
    slowest = max(t for t, _ in good)
    assert slowest < 1.5, f"honest deliveries finished after {slowest:.2f} s"


# -- Finding 3 (high): resolver pool exhaustion with distinct slow names ------------
#
# Coalescing is per name; a hostile zone has as many names as it likes
# (s1.evil.example, s2.evil.example, ... whose name server never answers).
# WORKERS (16) of them hold every resolver thread for as long as
# getaddrinfo blocks (no timeout on the lookup itself), and any honest host
# whose answer is not cached (new, or expired after TTL, or evicted from the
# 1024-entry LRU by hostile names) queues behind them: its request times out.
# The isolation test uses a single slow name, which coalescing absorbs.

SLOW_LOOKUP = 3.0


def test_finding3_distinct_slow_names_starve_an_honest_lookup(
    servers: Callable[[bytes | None], Server],
) -> None:
    honest = servers(CREATED)

    def getaddrinfo(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        if host.endswith(".slow.test"):
            time.sleep(SLOW_LOOKUP)  # a name server that does not answer
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    subs = [sub(f"s{i}.slow.test", honest.port, f"bad{i}") for i in range(16)]
    subs.append(sub("honest.test", honest.port, "good"))
    with PushClient(timeout=1.5, max_retries=0, endpoint_policy=LOCAL, helper_process=False) as c:
        c._res.connections.resolver = Resolver(getaddrinfo)
        out = timed_fan_out(c, subs)
    elapsed, result = out["good"]
    assert result.ok, f"honest origin: {result.error} after {elapsed:.2f} s"


# -- Finding 4 (medium): slots held by an origin that never answers -----------------
#
# PushClient has one pool of `concurrency` in-flight slots for every origin.
# A hostile origin that reads each request and never answers holds a slot
# for the full timeout (and again on each retry); `concurrency` such
# subscriptions (one origin is enough) delay every honest delivery queued
# behind them by a whole timeout.


def test_finding4_one_silent_origin_holds_every_slot(
    servers: Callable[[bytes | None], Server],
) -> None:
    silent = servers(None)
    honest = servers(CREATED)
    subs = [sub("127.0.0.1", silent.port, f"bad{i}") for i in range(4)]
    subs.append(sub("127.0.0.1", honest.port, "good"))
    with PushClient(
        timeout=2.0, max_retries=0, concurrency=4, endpoint_policy=LOCAL, helper_process=False
    ) as client:
        out = timed_fan_out(client, subs)
    elapsed, result = out["good"]
    assert result.ok
    assert elapsed < 1.0, f"the honest delivery waited {elapsed:.2f} s for a slot"


# -- Finding 5 (medium, regression): urllib3 path skips the address check on reuse --
#
# send_request() used to run policy.admit(url) (resolve + check) on every
# send. With the default pool it now runs only policy.check(url) and checks
# addresses when a *new* connection opens. The default pool manager is
# module-level and shared by every policy, so a keep-alive connection opened
# under a permissive policy (allow_private: e.g. the app's own internal
# UnifiedPush server on split-horizon DNS) is reused under the strict
# default-like policy: the strict caller POSTs to an internal address it
# would refuse (SSRF), without any check.


def test_finding5_strict_policy_reuses_a_connection_checked_by_a_permissive_one(
    servers: Callable[[bytes | None], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    internal = servers(CREATED)  # keep-alive
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "ups.corp-example.com":  # split horizon: an internal address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    subscription = sub("ups.corp-example.com", internal.port, "x")
    permissive = EndpointPolicy(allow_http=True, allow_private=True)
    strict = EndpointPolicy(allow_http=True, allowed_ports=(internal.port,))
    response = webpush(subscription, "hi", endpoint_policy=permissive, timeout=5)
    assert response.status_code == 201
    # The strict policy refuses this host (it resolves to loopback) ...
    with pytest.raises(EndpointNotAllowed):
        webpush(subscription, "hi", endpoint_policy=strict, timeout=5)
    # ... and nothing was sent to it under that policy.
    assert internal.requests == 1


# -- Finding 6 (medium): server control characters in urllib3-path errors ----------
#
# _transport._detail() uses str(root cause); for http.client.BadStatusLine that
# is the server's status line as received. It is clipped to 200 characters
# and whitespace is collapsed, but ESC/BEL/other C0 controls are kept, so a
# hostile server writes terminal escapes into errors and logs.


def test_finding6_status_line_controls_do_not_reach_urllib3_errors(
    servers: Callable[[bytes | None], Server],
) -> None:
    server = servers(b"HTTP/1.1 2\x1b]0;owned\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(WebPushException) as caught:
        webpush(sub("127.0.0.1", server.port, "x"), "hi", endpoint_policy=LOCAL, timeout=5)
    text = str(caught.value)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text), repr(text)


# -- Finding 7 (low): the trailer section has no field-count cap ----------------------
#
# Heads are capped at MAX_HEADERS fields; trailers only by max_head octets,
# so 64 KiB of "a:\n" is ~21,800 field lines parsed one by one: ~40 ms of the
# I/O thread per response (MAX_CHUNKS's comment budgets "a few ms"). Its
# error also reads "trailer section longer than 0 octets" (the remaining
# budget, not the cap).


def test_finding7_trailer_fields_are_capped_like_header_fields() -> None:
    parser = ResponseParser(65536)
    with pytest.raises(HTTPProtocolError):
        parser.feed(CHUNKED_HEAD + b"0\r\n" + b"a:\r\n" * 1000 + b"\r\n")


# -- Finding 8 (medium, needs allow_private): a chain of synchronous failures
# recurses through PushClient._landed and loses every delivery in it ------------
#
# _landed() hands the freed slot to the next waiting attempt by calling it;
# when that attempt fails at once inside Connections.submit (a host that is
# not valid IDNA, accepted by an allow_private policy; or "the client is
# closed"), done() -> _Delivery.answered() -> _landed() calls the next one,
# 4 frames per waiting attempt. About 250 such attempts waiting (concurrency
# 256 is a supported setting) raise RecursionError out of answered() before
# decide() ran: those deliveries never report, and send_many waits forever.

BAD_IDNA = "\u00e4" + "a" * 70 + ".test"  # one label longer than 63 octets once encoded


def test_finding8_waiting_attempts_that_fail_at_once_do_not_hang_the_fan_out(
    servers: Callable[[bytes | None], Server],
) -> None:
    silent = servers(None)
    concurrency = 256
    subs = [sub("127.0.0.1", silent.port, f"slow{i}") for i in range(concurrency)]
    subs += [sub(BAD_IDNA, 1, f"bad{i}") for i in range(concurrency)]
    results: list[Any] = []
    client = PushClient(
        timeout=1.0,
        max_retries=0,
        concurrency=concurrency,
        endpoint_policy=LOCAL,
        helper_process=False,
    )

    def run() -> None:
        results.extend(client.send_many(subs, b"m"))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=15)
    hung = worker.is_alive()
    if not hung:
        client.close()
    assert not hung, f"send_many still waiting after 15 s with {len(results)} of {len(subs)}"
    assert len(results) == len(subs)
