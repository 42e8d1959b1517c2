"""PushClient's fan-out: results, laziness, concurrency, retries, asyncio, lifecycle,
the helper process and the event-loop transport.

``PushService`` is a plain-HTTP push-service stand-in on 127.0.0.1 (an
asyncio server in a thread): each request's answer comes from a per-path
script (status, headers, delay, or a close without answer), and it records
how many requests were in flight at once and how many connections it saw.
``push_service`` (webpush_core.testing) decrypts what it receives, so the
bodies are checked end to end. Time appears only as generous correctness
bounds (overlap happened, nothing hung), never as a performance claim.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional

import pytest
import trustme

from manual_time import use_manual_time
from servers.loopback import free_port, server_context
from servers.push_service import Answer, PushService
from webpush_core._b64 import b64url_encode
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery import spawn as _spawn
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._delivery.retry import RetryPolicy
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._subscription import Subscription
from webpush_core._wire.urllib3_pools import make_pool_manager
from webpush_core.errors import (
    EndpointNotAllowed,
    ExpiredSubscription,
    InvalidInput,
    InvalidRequest,
    InvalidSubscription,
    PushRejected,
    PushTimeout,
    RateLimited,
    ServerError,
    TransportError,
    WebPushException,
)
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
VAPID = Vapid()
CLAIMS = {"sub": "mailto:ops@example.com"}
UA_KEY = generate_private_key()
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(UA_KEY.public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
# 0x04 || X || Y+1: 65 bytes, the right prefix, off the curve.
_point = uncompressed_point(UA_KEY.public_key())
_y = (int.from_bytes(_point[33:], "big") + 1) % 2**256
OFF_CURVE = b64url_encode(_point[:33] + _y.to_bytes(32, "big"))


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService(keys=KEYS) as svc:
        yield svc


@pytest.fixture
def helper_soon(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fan-outs start the helper process after 4 messages instead of 128."""
    if _spawn.cores() < 2:
        pytest.skip("the helper process is only used with 2 or more cores")
    monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many subscriptions each batch handed to the helper process had."""
    batches: list[int] = []
    submit = _sealer.Sealer.submit

    def counting(
        self: _sealer.Sealer, plaintext: bytes, padding: int, keys: Any, done: Any
    ) -> bool:
        taken = submit(self, plaintext, padding, keys, done)
        if taken:
            batches.append(len(keys))
        return taken

    monkeypatch.setattr(_sealer.Sealer, "submit", counting)
    return batches


def after_the_helper_is_ready(
    client: PushClient, first: list[Any], rest: list[Any]
) -> Iterator[Any]:
    """``first``, then (once the helper answers) ``rest``: so ``rest`` goes through it."""
    yield from first
    assert wait_until(lambda: client._res.sealer.ready)
    yield from rest


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def endpoint_name(result: SendResult) -> str:
    assert result.endpoint is not None
    return result.endpoint.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------
# One result per subscription, carrying the object that was passed


class Info(Mapping[str, Any]):
    """A mapping that is not a dict (e.g. a database row)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper-process"])
def test_one_result_per_subscription_carrying_the_original(
    push_service: LocalPushService, helper: bool, monkeypatch: pytest.MonkeyPatch, sealed: list[int]
) -> None:
    if helper:
        if _spawn.cores() < 2:
            pytest.skip("one core")
        monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    subs: list[Any] = []
    for i in range(30):
        sub = push_service.subscribe(VAPID.application_server_key)
        subs.append(sub if i % 3 == 0 else Info(sub) if i % 3 == 1 else Subscription.from_info(sub))
    with PushClient(
        VAPID, CLAIMS, concurrency=4, endpoint_policy=LOCAL, helper_process=helper
    ) as client:
        source = after_the_helper_is_ready(client, subs[:10], subs[10:]) if helper else iter(subs)
        results = list(client.send_many(source, "hello, all"))
        assert (client._res.sealer.pid is not None) == helper
    assert (sum(sealed) >= 20) if helper else not sealed
    assert len(results) == len(subs)
    assert sorted(map(id, (r.subscription for r in results))) == sorted(map(id, subs))
    assert all(r.ok and r.status_code == 201 and r.attempts == 1 for r in results)
    for sub in subs:
        info = sub.to_info() if isinstance(sub, Subscription) else dict(sub)
        messages = push_service.messages(info)
        assert [m.plaintext for m in messages] == [b"hello, all"]  # decrypted by the service


def test_empty_input_and_empty_data(service: PushService) -> None:
    with PushClient(concurrency=2, endpoint_policy=LOCAL) as client:
        assert list(client.send_many([], b"x")) == []
        results = list(client.send_many([service.sub("a"), service.sub("b")], None))
    assert [r.ok for r in results] == [True, True] and len(service.requests) == 2


# --------------------------------------------------------------------------
# Lazy input, bounded window


class Source:
    """A generator over n subscriptions that records how far it was consumed."""

    def __init__(self, service: PushService, n: int) -> None:
        self.service = service
        self.n = n
        self.consumed = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n):
            self.consumed += 1
            yield self.service.sub(f"lazy{i}")


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper-process"])
def test_input_is_read_lazily_within_the_window(
    service: PushService, helper: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if helper:
        if _spawn.cores() < 2:
            pytest.skip("one core")
        monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    concurrency = 3
    window = 2 * concurrency + (2 * _sealer.BATCH if helper else 0)
    source = Source(service, 400)
    client = PushClient(concurrency=concurrency, endpoint_policy=LOCAL, helper_process=helper)
    with client:
        results = client.send_many(source, b"x")
        assert source.consumed == 0  # nothing read before the first result is asked for
        yielded = 0
        for result in results:
            yielded += 1
            assert result.ok
            assert source.consumed - yielded < window, (source.consumed, yielded)
            if yielded == 50:
                break
        results.close()  # type: ignore[attr-defined]
        assert source.consumed < 50 + window
    assert yielded == 50


def test_bad_shared_arguments_raise_before_reading(service: PushService) -> None:
    source = Source(service, 10)
    with PushClient(endpoint_policy=LOCAL) as client:
        with pytest.raises(InvalidRequest) as info:
            client.send_many(source, 12345)  # type: ignore[arg-type]
        assert info.value.field == "data"
        with pytest.raises(InvalidRequest) as info:
            client.send_many(source, b"x", ttl=-1)
        assert info.value.field == "ttl"
        with pytest.raises(InvalidRequest) as info:
            client.send_many(source, b"x", topic="not a topic!")
        assert info.value.field == "topic"
    assert source.consumed == 0 and len(service.requests) == 0


# --------------------------------------------------------------------------
# Bad subscriptions: the error from_info (or the policy) raises, nothing sent


def _bad_subscriptions(service: PushService) -> list[tuple[Any, str]]:
    good = service.sub("fine")
    return [
        ({"endpoint": good["endpoint"]}, "keys"),
        ({**good, "keys": {**KEYS, "auth": "AAAA"}}, "keys.auth"),
        ({**good, "keys": {**KEYS, "p256dh": OFF_CURVE}}, "keys.p256dh"),
        ({**good, "keys": {"p256dh": OFF_CURVE, "auth": "AAAA"}}, "keys.p256dh"),  # first wins
        ({**good, "keys": {**KEYS, "p256dh": KEYS["auth"]}}, "keys.p256dh"),  # 16 bytes
        ({**good, "endpoint": "ftp://x/y"}, "endpoint"),
        ({**good, "endpoint": 42}, "endpoint"),
        ("not a subscription", "subscription_info"),
    ]


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper-process"])
def test_bad_subscriptions_get_the_parse_error_and_nothing_is_sent(
    service: PushService, helper: bool, monkeypatch: pytest.MonkeyPatch, sealed: list[int]
) -> None:
    if helper:
        if _spawn.cores() < 2:
            pytest.skip("one core")
        monkeypatch.setattr(_fanout, "_HELPER_AFTER", 1)
    bad = _bad_subscriptions(service)
    good = [service.sub(f"ok{i}") for i in range(8)]
    mixed = good[:4] + [b[0] for b in bad] + good[4:]
    with PushClient(concurrency=2, endpoint_policy=LOCAL, helper_process=helper) as client:
        source = after_the_helper_is_ready(client, good[:4], mixed[4:]) if helper else mixed
        results = {id(r.subscription): r for r in client.send_many(source, b"x")}
        assert (client._res.sealer.pid is not None) == helper
    # Through the helper: the 4 good ones after it was ready, and the off-curve point
    # with a good auth (loading the point is the helper's job; the parse reports it).
    assert sum(sealed) == 4 + 1 if helper else not sealed
    assert len(results) == len(mixed)
    for sub, field_name in bad:
        result = results[id(sub)]
        assert not result.ok and isinstance(result.error, InvalidSubscription), (sub, result)
        assert result.error.field == field_name
        assert result.attempts == 0 and result.status_code is None
        with pytest.raises(InvalidSubscription) as info:
            # A parse, and for the one without keys (it parses: pushes without
            # data need none) the refusal of encrypting data for it.
            Subscription.from_info(sub).require_keys()
        assert info.value.message == result.error.message  # exactly what a parse says
    assert all(results[id(s)].ok for s in good)
    assert len(service.requests) == 8  # only the good ones went out


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper-process"])
def test_endpoint_policy_refusals_are_results(
    service: PushService, helper: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if helper:
        if _spawn.cores() < 2:
            pytest.skip("one core")
        monkeypatch.setattr(_fanout, "_HELPER_AFTER", 1)
    subs = [{"endpoint": f"https://10.0.0.{i}/push/x", "keys": KEYS} for i in range(1, 6)]
    with PushClient(concurrency=2, helper_process=helper) as client:  # the default policy
        results = list(client.send_many(subs, b"x"))
    assert len(results) == 5
    assert all(isinstance(r.error, EndpointNotAllowed) and r.attempts == 0 for r in results)


# --------------------------------------------------------------------------
# concurrency: requests in flight


def test_concurrency_caps_requests_in_flight(service: PushService) -> None:
    service.default = Answer(delay=0.1)
    subs = [service.sub(f"c{i}") for i in range(24)]
    with PushClient(concurrency=3, endpoint_policy=LOCAL) as client:
        results = list(client.send_many(subs, b"x"))
    assert all(r.ok for r in results)
    assert service.max_in_flight == 3  # reached, never passed
    assert service.connections <= 2 * 3


def test_slow_service_answers_overlap(service: PushService) -> None:
    # 16 answers of 0.3 s each: one at a time would take 4.8 s.
    service.default = Answer(delay=0.3)
    subs = [service.sub(f"o{i}") for i in range(16)]
    with PushClient(concurrency=16, endpoint_policy=LOCAL) as client:
        start = time.monotonic()
        results = list(client.send_many(subs, b"x"))
        elapsed = time.monotonic() - start
    assert all(r.ok for r in results) and service.max_in_flight == 16
    assert elapsed < 2.4, elapsed  # they overlapped (a correctness bound, not a benchmark)


def test_keep_alive_connections_are_reused(service: PushService) -> None:
    subs = [service.sub(f"k{i}") for i in range(60)]
    with PushClient(concurrency=2, endpoint_policy=LOCAL) as client:
        assert all(r.ok for r in client.send_many(subs, b"x"))
        assert all(r.ok for r in client.send_many(subs, b"y"))
    assert len(service.requests) == 120 and service.connections <= 2 * 2


# --------------------------------------------------------------------------
# Retries


def test_retries_honour_retry_after_with_a_manual_clock(service: PushService) -> None:
    subs = [
        service.script(
            "ra", Answer(503, {"Retry-After": "7"}), Answer(429, {"Retry-After": "9"}), Answer(201)
        ),
        service.script("capped", Answer(429, {"Retry-After": "3600"}), Answer(201)),
        service.script("gone", Answer(410)),
        service.script("nf", Answer(404)),
        service.script("bad", Answer(400, body=b'{"reason": "nope"}')),
        service.script("always", Answer(500)),
        service.script("redirect", Answer(307, {"Location": "https://elsewhere.example/"})),
    ]
    with PushClient(max_retries=2, concurrency=1, endpoint_policy=LOCAL) as client:
        manual = use_manual_time(client)
        results = {endpoint_name(r): r for r in client.send_many(subs, b"x")}
    waits = manual.retries()
    assert results["ra"].ok and results["ra"].attempts == 3
    assert results["capped"].ok and results["capped"].attempts == 2
    gone, nf = results["gone"], results["nf"]
    assert gone.expired and nf.expired and gone.attempts == nf.attempts == 1
    assert isinstance(gone.error, ExpiredSubscription) and gone.status_code == 410
    assert not results["bad"].ok and results["bad"].attempts == 1
    assert results["redirect"].attempts == 1 and isinstance(results["redirect"].error, PushRejected)
    always = results["always"]
    assert isinstance(always.error, ServerError) and always.attempts == 3
    # 7 and 9 as asked, 3600 capped at 60; the 500s wait jitter (<= 0.5, <= 1.0 s).
    assert sorted(w for w in waits if w >= 2) == [7.0, 9.0, RetryPolicy().retry_after_cap]
    jitter = sorted(w for w in waits if w < 2)
    assert len(jitter) == 2 and jitter[0] <= 1.0 and jitter[1] <= 1.0
    assert service.seen["/push/always"] == 3 and service.seen["/push/gone"] == 1


def test_retries_wait_on_the_event_loop(service: PushService) -> None:
    # No hook: the backoff is a timer on the loop; a 429's Retry-After: 1 is honoured.
    sub = service.script("r", Answer(500), Answer(429, {"Retry-After": "1"}), Answer(201))
    with PushClient(endpoint_policy=LOCAL) as client:
        client._engine.retry = RetryPolicy(max_retries=3, backoff_base=0.01)
        start = time.monotonic()
        result = client.send(sub, b"x")
        elapsed = time.monotonic() - start
    assert result.ok and result.attempts == 3
    assert 1.0 <= elapsed < 5.0, elapsed


def test_a_closed_connection_is_resent_once_within_the_attempt(service: PushService) -> None:
    sub = service.script("drop", Answer(close=True), Answer(201))
    twice = service.script("drop2", Answer(close=True), Answer(close=True), Answer(201))
    with PushClient(max_retries=0, endpoint_policy=LOCAL) as client:
        assert client.send(sub, b"x").ok  # resent on a new connection, same attempt
        result = client.send(twice, b"x")
    assert not result.ok and result.attempts == 1 and isinstance(result.error, TransportError)
    assert not isinstance(result.error, PushTimeout)
    assert service.seen["/push/drop"] == 2 and service.seen["/push/drop2"] == 2


def test_timeout_is_a_push_timeout(service: PushService) -> None:
    sub = service.script("slow", Answer(delay=3.0))
    with PushClient(timeout=0.3, max_retries=1, endpoint_policy=LOCAL) as client:
        use_manual_time(client)
        start = time.monotonic()
        result = client.send(sub, b"x")
        elapsed = time.monotonic() - start
    assert isinstance(result.error, PushTimeout) and result.attempts == 2
    assert elapsed < 2.0, elapsed


def test_unreachable_host_is_a_transport_error() -> None:
    with PushClient(max_retries=0, timeout=2, endpoint_policy=LOCAL) as client:
        port = free_port()
        result = client.send({"endpoint": f"http://127.0.0.1:{port}/push/x", "keys": KEYS}, b"x")
    assert isinstance(result.error, TransportError)
    assert result.error.message.startswith(f"cannot connect to http://127.0.0.1:{port}")


def test_the_pool_manager_path_sends_and_retries(service: PushService) -> None:
    subs = [service.script("p1", Answer(503), Answer(201)), service.sub("p2")]
    pool = make_pool_manager(maxsize=2)
    client = PushClient(max_retries=1, concurrency=2, endpoint_policy=LOCAL, pool_manager=pool)
    with client:
        manual = use_manual_time(client)
        results = {endpoint_name(r): r for r in client.send_many(subs, b"x")}
        assert client.send(service.sub("p3"), b"x").ok
    assert results["p1"].ok and results["p1"].attempts == 2 and results["p2"].ok
    assert len(manual.waits) == 1
    pool.clear()


# --------------------------------------------------------------------------
# asyncio


def test_send_async_and_send_many_async(push_service: LocalPushService) -> None:
    subs = [push_service.subscribe() for _ in range(6)]
    bad = {"endpoint": subs[0]["endpoint"], "keys": {"auth": KEYS["auth"]}}

    async def main() -> tuple[SendResult, list[SendResult]]:
        with PushClient(concurrency=3, endpoint_policy=LOCAL) as client:
            one = await client.send_async(subs[0], "one")
            many = [r async for r in client.send_many_async([*subs, bad], "many")]
            assert (await client.send_async(bad, "x")).error is not None
        return one, many

    one, many = asyncio.run(main())
    assert one.ok
    assert len(many) == 7 and sum(r.ok for r in many) == 6
    assert next(r for r in many if not r.ok).subscription is bad
    assert [m.plaintext for m in push_service.messages(subs[1])] == [b"many"]
    assert [m.plaintext for m in push_service.messages(subs[0])] == [b"one", b"many"]


def test_send_async_does_not_block_the_event_loop(service: PushService) -> None:
    service.default = Answer(delay=0.3)

    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        with PushClient(endpoint_policy=LOCAL) as client:
            ticker = asyncio.ensure_future(tick())
            result = await client.send_async(service.sub("a"), b"x")
            ticker.cancel()
        assert result.ok
        return ticks

    assert asyncio.run(main()) >= 5  # the loop kept running while the request waited


# --------------------------------------------------------------------------
# Lifecycle


def _io_thread(client: PushClient) -> Optional[threading.Thread]:
    return client._res.connections._thread


def test_context_manager_closes_connections_threads_and_helper(
    service: PushService, helper_soon: None
) -> None:
    with PushClient(concurrency=4, endpoint_policy=LOCAL) as client:
        assert all(r.ok for r in client.send_many([service.sub(f"x{i}") for i in range(40)], b"x"))
        thread = _io_thread(client)
        sealer = client._res.sealer
        assert thread is not None and thread.is_alive() and sealer.pid is not None
        assert service.open_connections > 0
    assert not thread.is_alive()
    assert sealer._proc is not None and sealer._proc.poll() is not None  # the helper exited
    assert wait_until(lambda: service.open_connections == 0)


def test_client_is_usable_after_close(service: PushService) -> None:
    client = PushClient(endpoint_policy=LOCAL)
    assert client.send(service.sub("a"), b"x").ok
    client.close()
    assert client.send(service.sub("b"), b"x").ok
    assert list(r.ok for r in client.send_many([service.sub("c")], b"x")) == [True]
    client.close()
    client.close()  # twice is fine


def test_close_waits_for_deliveries_under_way(service: PushService) -> None:
    service.default = Answer(delay=0.3)
    client = PushClient(concurrency=8, endpoint_policy=LOCAL)
    results = client.send_many([service.sub(f"w{i}") for i in range(8)], b"x")
    first = next(results)  # the other 7 are in flight
    client.close()
    assert first.ok and len(service.requests) == 8
    rest = list(results)
    assert len(rest) == 7 and all(r.ok for r in rest)


def test_a_dropped_client_stops_its_threads(service: PushService) -> None:
    client = PushClient(endpoint_policy=LOCAL)
    assert client.send(service.sub("a"), b"x").ok
    thread = _io_thread(client)
    assert thread is not None and thread.is_alive()
    del client
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


# --------------------------------------------------------------------------
# The helper process


def test_the_helper_process_is_not_used_when_switched_off(
    service: PushService, helper_soon: None
) -> None:
    with PushClient(endpoint_policy=LOCAL, helper_process=False) as client:
        assert all(r.ok for r in client.send_many([service.sub(f"n{i}") for i in range(20)], b"x"))
        assert client._res.sealer.pid is None


def test_aesgcm_and_empty_messages_stay_in_process(
    push_service: LocalPushService, helper_soon: None
) -> None:
    subs = [push_service.subscribe() for _ in range(10)]
    with PushClient(content_encoding="aesgcm", endpoint_policy=LOCAL) as client:
        assert all(r.ok for r in client.send_many(subs, "legacy"))
        assert client._res.sealer.pid is None
        assert all(r.ok for r in client.send_many(subs, None))
    assert all([m.plaintext for m in push_service.messages(s)] == [b"legacy", b""] for s in subs)


def test_fan_out_goes_on_when_the_helper_dies(
    push_service: LocalPushService, helper_soon: None, sealed: list[int]
) -> None:
    subs = [push_service.subscribe() for _ in range(120)]
    client = PushClient(concurrency=4, endpoint_policy=LOCAL)

    def source() -> Iterator[dict[str, Any]]:
        for i, sub in enumerate(subs):
            if i == 40:
                assert wait_until(lambda: client._res.sealer.ready)
            if i == 80:
                pid = client._res.sealer.pid
                assert pid is not None and sealed  # it was in use
                os.kill(pid, signal.SIGKILL)
            yield sub

    with client:
        results = list(client.send_many(source(), "still here"))
        assert client._res.sealer.failed
    assert len(results) == 120 and all(r.ok for r in results), [r for r in results if not r.ok]
    assert all([m.plaintext for m in push_service.messages(s)] == [b"still here"] for s in subs)


def test_a_stuck_helper_is_given_up(
    service: PushService, helper_soon: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fanout, "_HELPER_STALL", 0.5)
    client = PushClient(concurrency=4, endpoint_policy=LOCAL)

    def source() -> Iterator[dict[str, Any]]:
        for i in range(60):
            if i == 30:
                pid = client._res.sealer.pid
                assert pid is not None and wait_until(lambda: client._res.sealer.ready)
                os.kill(pid, signal.SIGSTOP)  # alive, silent
            yield service.sub(f"s{i}")

    with client:
        start = time.monotonic()
        results = list(client.send_many(source(), b"x"))
        elapsed = time.monotonic() - start
        assert client._res.sealer.failed
    assert len(results) == 60 and all(r.ok for r in results)
    assert elapsed < 15, elapsed  # not hung


def _in_a_thread(run: Callable[[], object], seconds: float) -> bool:
    """Run ``run`` in a daemon thread; whether it returned within ``seconds``
    (a hang fails the test instead of the suite)."""
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_a_stuck_helper_is_given_up_at_the_deadline(
    service: PushService, helper_soon: None
) -> None:
    """Past the call's deadline a silent helper is given up within its grace
    (not after the 30 s stall): the subscriptions it held get deadline results."""
    client = PushClient(concurrency=4, endpoint_policy=LOCAL)
    subs = [service.sub(f"d{i}") for i in range(60)]

    def source() -> Iterator[dict[str, Any]]:
        for i, sub in enumerate(subs):
            if i == 30:
                pid = client._res.sealer.pid
                assert pid is not None and wait_until(lambda: client._res.sealer.ready)
                os.kill(pid, signal.SIGSTOP)  # alive, silent
            yield sub

    results: list[SendResult] = []
    deadline = 1.0
    with client:
        start = time.monotonic()
        ended = _in_a_thread(
            lambda: results.extend(client.send_many(source(), b"x", deadline=deadline)), 20
        )
        elapsed = time.monotonic() - start
        assert ended, "hung with a stuck helper past the deadline"
        assert client._res.sealer.failed
    assert sorted(id(r.subscription) for r in results) == sorted(id(s) for s in subs)
    assert {r.reason for r in results if not r.ok} == {"deadline-exceeded"}
    assert elapsed < deadline + _fanout._HELPER_GRACE + 5, elapsed


def test_a_request_that_cannot_start_ends_with_its_result_and_frees_its_slot(
    helper_soon: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed proxy variable for one origin (its requests cannot even
    start, wherever they are dispatched from): each of its subscriptions gets
    one failed result naming the variable; the others are sent; no slot or
    busy count is left behind (close() returns)."""
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128/path")  # a path: refused
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the first origin goes direct
    with PushService(keys=KEYS) as direct, PushService(keys=KEYS, url_host="localhost") as other:
        subs = [direct.sub(f"a{i}") for i in range(8)] + [other.sub(f"b{i}") for i in range(60)]
        client = PushClient(concurrency=4, endpoint_policy=LOCAL)
        results: list[SendResult] = []
        source = after_the_helper_is_ready(client, subs[:8], subs[8:])
        assert _in_a_thread(lambda: results.extend(client.send_many(source, b"x")), 20)
        assert client._busy == 0
        assert _in_a_thread(client.close, 10), "close() waited for a leaked delivery"
    assert sorted(id(r.subscription) for r in results) == sorted(id(s) for s in subs)
    failed = [r for r in results if not r.ok]
    assert {id(r.subscription) for r in failed} == {id(s) for s in subs[8:]}
    assert all(isinstance(r.error, InvalidInput) and "http_proxy" in str(r.error) for r in failed)


def test_a_helper_that_cannot_start_is_not_needed(
    service: PushService, helper_soon: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_spawn.sys, "executable", "/usr/bin/uwsgi")  # not a Python
    with PushClient(endpoint_policy=LOCAL) as client:
        results = list(client.send_many([service.sub(f"u{i}") for i in range(20)], b"x"))
        assert client._res.sealer.failed and client._res.sealer.pid is None
    assert all(r.ok for r in results)


# --------------------------------------------------------------------------
# TLS through the event loop


@pytest.fixture(scope="module")
def tls_ca() -> trustme.CA:
    return trustme.CA()


def test_tls_verified_and_reused(tls_ca: trustme.CA, tmp_path: Any) -> None:
    ca_path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_path))
    with PushService(keys=KEYS, tls=server_context(tls_ca, "127.0.0.1")) as server:
        subs = [server.sub(f"t{i}") for i in range(30)]
        with PushClient(concurrency=2, endpoint_policy=LOCAL, max_retries=0) as client:
            untrusted = client.send(subs[0], b"x")
        assert isinstance(untrusted.error, TransportError)
        assert "certificate verify failed" in untrusted.error.message
        with PushClient(concurrency=2, endpoint_policy=LOCAL, ca_certs=str(ca_path)) as client:
            assert all(r.ok for r in client.send_many(subs, b"x"))
        handshakes = sum(version is not None for version in server.tls_versions)
        assert handshakes <= 1 + 2 * 2  # the refused one, then a few kept-alive ones


def test_the_helpers_batches_to_https_are_sent_from_the_loop_once_tls_is_loaded(
    tls_ca: trustme.CA, tmp_path: Any, helper_soon: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first requests load the TLS settings off the loop; the helper's
    batches after that are sent from the loop itself, each exactly once."""
    ca_path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_path))
    on_loop: list[int] = []
    send_sealed = _fanout._FanOut._send_sealed

    def counting(self: _fanout._FanOut, batch: Any, bodies: Any) -> Any:
        rest = send_sealed(self, batch, bodies)
        on_loop.append(len(batch) - (len(rest[0]) if rest is not None else 0))
        return rest

    monkeypatch.setattr(_fanout._FanOut, "_send_sealed", counting)
    with PushService(keys=KEYS, tls=server_context(tls_ca, "127.0.0.1")) as server:
        subs = [server.sub(f"h{i}") for i in range(200)]
        with PushClient(concurrency=8, endpoint_policy=LOCAL, ca_certs=str(ca_path)) as client:
            results = list(
                client.send_many(after_the_helper_is_ready(client, subs[:8], subs[8:]), b"x")
            )
        assert sum(on_loop) > 0  # the loop sent some itself
        assert sorted(id(r.subscription) for r in results) == sorted(id(s) for s in subs)
        assert all(r.ok for r in results)
        assert server.seen == {f"/push/h{i}": 1 for i in range(200)}  # each sent once


def test_sni_is_the_endpoint_host_name(tls_ca: trustme.CA, tmp_path: Any) -> None:
    import socket

    try:
        socket.getaddrinfo("localhost", 443, socket.AF_INET)
    except OSError:
        pytest.skip("no localhost")
    ca_path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(ca_path))
    context = server_context(tls_ca, "localhost")
    sni: list[Optional[str]] = []

    def on_sni(sock: Any, name: Optional[str], ctx: Any) -> None:
        sni.append(name)

    context.sni_callback = on_sni
    with (
        PushService(keys=KEYS, tls=context, url_host="localhost") as server,
        PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=str(ca_path)) as client,
    ):
        result = client.send(server.sub("ok"), b"x")
    assert result.ok, result.error
    assert sni and set(sni) == {"localhost"}


def test_errors_are_library_errors(service: PushService) -> None:
    subs = [
        service.script("e1", Answer(500)),
        service.script("e2", Answer(close=True)),
        service.script("e3", Answer(429)),
    ]
    with PushClient(max_retries=0, endpoint_policy=LOCAL) as client:
        for result in client.send_many(subs, b"x"):
            assert isinstance(result.error, WebPushException)
            assert type(result.error) is not WebPushException
            assert isinstance(result.error, (ServerError, TransportError, RateLimited))


def test_dns_failures_before_any_request(service: PushService) -> None:
    import socket

    from webpush_core._wire.resolver import Resolver

    looked_up: list[str] = []

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    port = service.url.rsplit(":", 1)[1]
    subs = [
        {"endpoint": f"http://nowhere-{i}.test:{port}/push/d{i}", "keys": dict(KEYS)}
        for i in range(2)
    ]
    with PushClient(max_retries=2, endpoint_policy=LOCAL) as client:
        client._res.connections.resolver = Resolver(getaddrinfo)
        manual = use_manual_time(client)
        results = list(client.send_many(subs, b"x"))
    waits = manual.retries()
    assert len(results) == 2 and len(service.requests) == 0
    for result in results:
        assert isinstance(result.error, TransportError) and "cannot resolve" in result.error.message
        assert result.error.endpoint == result.endpoint  # type: ignore[attr-defined]
        assert result.attempts == 3  # a transport failure: retried like one
    assert len(waits) == 4
    # A failure is cached briefly: each name was looked up once, not once per attempt.
    assert sorted(looked_up) == ["nowhere-0.test", "nowhere-1.test"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_starts_its_own_threads(service: PushService) -> None:
    import warnings

    with PushClient(endpoint_policy=LOCAL) as client:
        assert client.send(service.sub("parent"), b"x").ok
        parent_thread = _io_thread(client)
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: on purpose
            pid = os.fork()
        if pid == 0:  # the child: its own loop thread, the parent's untouched
            signal.alarm(20)  # a hang ends the child: the parent then reads no status
            code = 1
            try:
                ok = client.send(service.sub("child"), b"x").ok
                code = 0 if ok and _io_thread(client) is not parent_thread else 2
            finally:
                os.write(write_end, bytes((code,)))
                os._exit(0)
        os.close(write_end)
        status = os.read(read_end, 1)  # b"" if the child died without a word
        os.close(read_end)
        os.waitpid(pid, 0)
        assert status == b"\x00"
        assert client.send(service.sub("parent-again"), b"x").ok  # the parent's still works
        assert _io_thread(client) is parent_thread


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads: on purpose
def test_close_in_a_forked_child_leaves_the_parents_loop_alone(
    tls_ca: trustme.CA, tmp_path: Any
) -> None:
    # close() in a child stopped the parent's resources: it waited 10 s for
    # a loop thread that does not exist in the child (and for ever when a
    # send was under way in the parent at the fork).
    ca_path = str(tmp_path / "ca.pem")
    tls_ca.cert_pem.write_to_path(ca_path)
    with PushService(keys=KEYS, tls=server_context(tls_ca, "127.0.0.1")) as tls:
        other = PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path)
        assert other.send(tls.sub("ok3"), b"x").ok
        with PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
            assert client.send(tls.sub("ok0"), b"x").ok
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                signal.alarm(30)  # a hang ends the child: the parent then reads no status
                code = 1
                try:
                    start = time.monotonic()
                    other._finalizer()  # what the child's exit runs for a client it never closed
                    client.close()
                    code = 0 if time.monotonic() - start < 3.0 else 2
                    if code == 0:
                        code = 0 if client.send(tls.sub("ok1"), b"x").ok else 3
                        client.close()
                finally:
                    os.write(write_end, bytes((code,)))
                    os._exit(0)
            os.close(write_end)
            status = os.read(read_end, 1)
            os.close(read_end)
            os.waitpid(pid, 0)
            assert status == b"\x00"
            assert client.send(tls.sub("ok2"), b"x").ok  # the parent's still works
        assert other.send(tls.sub("ok4"), b"x").ok
        other.close()


def test_idle_connections_are_kept_for_the_origins_used_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webpush_core._wire import pool as _pool

    monkeypatch.setattr(_pool, "MAX_ORIGINS", 2)
    services = [PushService(keys=KEYS) for _ in range(3)]
    try:
        with PushClient(concurrency=2, endpoint_policy=LOCAL) as client:
            for svc in services:
                assert client.send(svc.sub("a"), b"x").ok
            idle = client._res.connections._idle
            assert list(idle) == [("http", "127.0.0.1", s.port) for s in services[1:]]
            # The first service's connection was closed; the others stay open.
            assert wait_until(lambda: services[0].open_connections == 0)
            assert services[1].open_connections == services[2].open_connections == 1
            assert client.send(services[1].sub("b"), b"x").ok  # reused, now the newest
            assert list(idle)[-1] == ("http", "127.0.0.1", services[1].port)
            assert services[1].connections == 1
    finally:
        for svc in services:
            svc.stop()
