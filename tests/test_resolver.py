"""Name lookups for PushClient (webpush_core._wire.resolver): never on the caller, shared, cached.

The system resolver is replaced by a function that counts its calls and can
be held (an Event) to stand for a name server that does not answer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

from webpush_core._delivery.client import PushClient
from webpush_core._endpoint import EndpointPolicy
from webpush_core._wire.resolver import Resolver
from webpush_core.errors import EndpointNotAllowed, TransportError
from webpush_core.testing import LocalPushService


class FakeDNS:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()

    def __call__(self, host: str, port: int, **kw: Any) -> list[Any]:
        with self.lock:
            self.calls.append(host)
        self.hold.wait(30)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.table[host]
        ]


def test_resolve_returns_at_once_and_shares_a_lookup_under_way() -> None:
    dns = FakeDNS({"push.example.com": ["8.8.8.8", "8.8.8.8", "2001:4860::1"]})
    dns.hold.clear()  # the name server does not answer yet
    resolver = Resolver(dns)
    start = time.monotonic()
    futures = [resolver.resolve("push.example.com", 443) for _ in range(50)]
    futures.append(resolver.resolve("PUSH.example.com.", 443))  # the same name
    assert time.monotonic() - start < 1.0
    assert not any(f.done() for f in futures)
    dns.hold.set()
    results = {tuple(f.result(timeout=5)) for f in futures}
    assert results == {((socket.AF_INET, "8.8.8.8"), (socket.AF_INET6, "2001:4860::1"))}
    assert dns.calls == ["push.example.com"]


def test_answers_cached_for_the_ttl_failures_for_less() -> None:
    now = [100.0]
    dns = FakeDNS({"good.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, negative_ttl=10.0, clock=lambda: now[0])
    for _ in range(3):
        assert resolver.resolve("good.example.com", 443).result(5) == [(socket.AF_INET, "8.8.8.8")]
        with pytest.raises(socket.gaierror):
            resolver.resolve("bad.example.com", 443).result(5)
    assert dns.calls == ["good.example.com", "bad.example.com"]
    now[0] += 10.5  # the failure expired, the answer not
    resolver.resolve("good.example.com", 443).result(5)
    with pytest.raises(socket.gaierror):
        resolver.resolve("bad.example.com", 443).result(5)
    assert dns.calls.count("bad.example.com") == 2 and dns.calls.count("good.example.com") == 1
    resolver.resolve("good.example.com", 8443).result(5)  # per (host, port)
    assert dns.calls.count("good.example.com") == 2


def _wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return bool(predicate())


def test_an_expired_answer_is_used_while_a_fresh_one_is_looked_up() -> None:
    now = [100.0]
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, clock=lambda: now[0])
    resolver.resolve("push.example.com", 443).result(5)
    dns.hold.clear()  # from now on its name server does not answer
    now[0] += 61.0
    stale = resolver.resolve("push.example.com", 443)
    assert stale.done() and stale.result() == [(socket.AF_INET, "8.8.8.8")]  # no wait
    assert _wait_for(lambda: dns.calls.count("push.example.com") == 2)  # refreshing
    dns.table["push.example.com"] = []  # the refresh fails ...
    dns.hold.set()
    assert _wait_for(lambda: not resolver._pending)
    again = resolver.resolve("push.example.com", 443)  # ... and the old answer stays
    assert again.result(0) == [(socket.AF_INET, "8.8.8.8")]
    now[0] += 600.0  # until STALE_FOR has passed too
    with pytest.raises(OSError):
        resolver.resolve("push.example.com", 443).result(5)


def test_a_zone_of_slow_names_cannot_take_every_thread() -> None:
    slow = threading.Event()

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        if host.endswith(".slow.example"):
            slow.wait(30)  # a zone whose name servers never answer
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    resolver = Resolver(getaddrinfo, workers=4)
    try:
        waiting = [resolver.resolve(f"s{i}.slow.example", 443) for i in range(40)]
        honest = resolver.resolve("push.example.com", 443)
        assert honest.result(5) == [(socket.AF_INET, "8.8.8.8")]
        assert len(resolver._running) == 1 and resolver._running["slow.example"] == 2
    finally:
        slow.set()
    for future in waiting:  # every queued name gets its turn, and its answer
        with pytest.raises(socket.gaierror):
            future.result(10)
    assert not resolver._running and not resolver._queued


def test_ip_literals_are_not_looked_up() -> None:
    dns = FakeDNS({})
    resolver = Resolver(dns)
    assert resolver.resolve("127.0.0.1", 80).result(0) == [(socket.AF_INET, "127.0.0.1")]
    assert resolver.resolve("[::1]", 80).result(0) == [(socket.AF_INET6, "::1")]
    assert dns.calls == []


def test_a_broken_resolver_fails_the_lookup_not_the_thread() -> None:
    def broken(host: str, port: int, **kw: Any) -> list[Any]:
        raise RuntimeError("bug")

    with pytest.raises(OSError, match="lookup failed"):
        Resolver(broken).resolve("x.example.com", 443).result(5)


# --------------------------------------------------------------------------
# In PushClient: the policy checks the addresses the lookup gave, and the
# connection goes to one of them.


@pytest.fixture
def service() -> Any:
    with LocalPushService() as svc:
        yield svc


def _sub(service: Any, host: str) -> dict[str, Any]:
    sub = service.subscribe()
    port = sub["endpoint"].split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    sub["endpoint"] = sub["endpoint"].replace(f"127.0.0.1:{port}", f"{host}:{port}")
    return sub


def test_connects_to_the_checked_address_not_a_second_lookup(service: Any) -> None:
    # The name resolves once, to loopback; a second lookup (what an HTTP
    # client resolving by itself would do) would rebind it elsewhere.
    answers = iter([["127.0.0.1"], ["203.0.113.9"]])

    def rebinding(host: str, port: int, **kw: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers)[0], port))]

    policy = EndpointPolicy(allow_http=True, allow_private=True)
    with PushClient(endpoint_policy=policy, max_retries=0) as client:
        client._res.connections.resolver = Resolver(rebinding)
        result = client.send(_sub(service, "rebind.example"), b"hi")
    assert result.ok, result.error
    assert len(service.requests) == 1


def test_the_policy_refuses_a_private_address_from_the_lookup(service: Any) -> None:
    dns = FakeDNS({"sneaky.example.com": ["8.8.8.8", "127.0.0.1"]})
    policy = EndpointPolicy(allow_http=True, allowed_ports=range(1, 65536))
    with PushClient(endpoint_policy=policy, max_retries=2) as client:
        client._res.connections.resolver = Resolver(dns)
        result = client.send(_sub(service, "sneaky.example.com"), b"hi")
    assert isinstance(result.error, EndpointNotAllowed)
    assert "127.0.0.1" in result.error.message and "loopback" in result.error.message
    assert result.attempts == 1  # a refusal is final
    assert service.requests == []


def test_send_async_never_blocks_the_callers_loop_on_a_lookup(service: Any) -> None:
    dns = FakeDNS({"slow.example": ["127.0.0.1"]})
    dns.hold.clear()
    policy = EndpointPolicy(allow_http=True, allow_private=True)

    async def main(client: PushClient) -> tuple[float, Any]:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        tick = asyncio.ensure_future(ticker())
        threading.Timer(1.0, dns.hold.set).start()  # the name server answers after 1 s
        result = await client.send_async(_sub(service, "slow.example"), b"hi")
        tick.cancel()
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        return max(gaps), result

    with PushClient(endpoint_policy=policy, max_retries=0, timeout=5) as client:
        client._res.connections.resolver = Resolver(dns)
        worst_gap, result = asyncio.run(main(client))
    assert result.ok, result.error
    assert worst_gap < 0.5  # the caller's loop kept running while the name resolved


def test_a_lookup_slower_than_the_timeout_is_a_timeout_within_it(service: Any) -> None:
    dns = FakeDNS({"slow.example": ["127.0.0.1"]})
    dns.hold.clear()
    policy = EndpointPolicy(allow_http=True, allow_private=True)
    try:
        with PushClient(endpoint_policy=policy, max_retries=0, timeout=0.5) as client:
            client._res.connections.resolver = Resolver(dns)
            start = time.monotonic()
            result = client.send(_sub(service, "slow.example"), b"hi")
            elapsed = time.monotonic() - start
    finally:
        dns.hold.set()
    assert isinstance(result.error, TransportError) and "timed out" in result.error.message
    assert elapsed < 1.5
