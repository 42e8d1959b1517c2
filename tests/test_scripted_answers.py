"""Scripted answers of the test push services: 429 with Retry-After, 5xx, 410, slow,
a dropped connection; the same script on the loopback LocalPushService (real
sockets, both transports) and on MockPushService (no network).

Also: a call's deadline that ends a subscription waiting out its origin's pause
reports the pause left as ``retry_after``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any, Union

import pytest

from webpush_core import (
    EndpointPolicy,
    ExpiredSubscription,
    InvalidInput,
    PushClient,
    PushTimeout,
    RateLimited,
    ServerError,
    TransportError,
    WebPushException,
    make_pool_manager,
    webpush,
)
from webpush_core.testing import LocalPushService, MockPushService

Service = Union[LocalPushService, MockPushService]


@pytest.fixture(params=["local", "mock"])
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    svc: Service = LocalPushService() if request.param == "local" else MockPushService()
    with svc:
        yield svc


def policy(service: Service) -> EndpointPolicy:
    return service.endpoint_policy if isinstance(service, LocalPushService) else EndpointPolicy()


def statuses(service: Service) -> list[int]:
    return [r.status for r in service.requests]


def send(service: Service, sub: Any, text: str = "x", **kw: Any) -> Any:
    return webpush(sub, text, endpoint_policy=policy(service), **kw)


def test_a_429_with_retry_after_then_the_usual_answer(service: Service) -> None:
    sub = service.subscribe()
    service.answer(429, headers={"Retry-After": "2"}, body='{"reason": "TooManyRequests"}')
    with pytest.raises(RateLimited) as caught:
        send(service, sub, "first")
    assert caught.value.retry_after == 2.0
    assert caught.value.reason == "rate-limited" and "TooManyRequests" in caught.value.detail
    send(service, sub, "second")
    assert [m.text for m in service.messages(sub)] == ["second"]  # a scripted answer keeps nothing
    assert statuses(service) == [429, 201]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(service: Service, status: int) -> None:
    sub = service.subscribe()
    service.answer(status, body="<html>upstream down</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ServerError) as caught:
        send(service, sub)
    assert caught.value.status_code == status and "upstream down" in caught.value.detail


def test_410_and_expire(service: Service) -> None:
    sub = service.subscribe()
    service.answer(410)
    with pytest.raises(ExpiredSubscription) as caught:
        send(service, sub)
    assert caught.value.action == "delete"
    send(service, sub)  # scripted once: the subscription itself is fine
    service.expire(sub)  # the service's own 410 from now on
    with pytest.raises(ExpiredSubscription):
        send(service, sub)
    assert statuses(service) == [410, 201, 410]


def test_slow_answers_and_timeouts(service: Service) -> None:
    sub = service.subscribe()
    service.answer(delay=0.3)  # the usual answer, late
    start = time.monotonic()
    send(service, sub, "late", timeout=5)
    assert time.monotonic() - start >= 0.3
    assert [m.text for m in service.messages(sub)] == ["late"]
    service.answer(201, delay=3)
    start = time.monotonic()
    with pytest.raises(PushTimeout):
        send(service, sub, timeout=0.3)
    assert time.monotonic() - start < 2.5


def test_a_dropped_connection(service: Service) -> None:
    sub = service.subscribe()
    send(service, sub, "warm")  # the next request reuses the connection (LocalPushService)
    service.answer(drop=True)
    with pytest.raises(TransportError) as caught:
        send(service, sub, "dropped")
    assert caught.value.reason == "connection-failed"
    send(service, sub, "after")
    # One request per send: a broken answer is not mistaken for an idle keep-alive
    # connection's close (which a sender resends).
    assert statuses(service) == [201, 0, 201]
    assert [m.text for m in service.messages(sub)] == ["warm", "after"]


def status_of(service: Service, sub: Any) -> int:
    try:
        return int(send(service, sub).status_code)
    except WebPushException as e:
        assert e.status_code is not None
        return e.status_code


def test_times_to_order_and_clearing(service: Service) -> None:
    a, b = service.subscribe(), service.subscribe()
    service.answer(503, times=2, to=b)
    service.answer(429)  # any subscription's request that b's answers leave
    service.answer(500)
    # Each request takes the first answer queued for it.
    assert [status_of(service, sub) for sub in (b, a, b, a, b)] == [503, 429, 503, 500, 201]
    service.answer(502, times=None, to=a["endpoint"])  # every request to a, until cleared
    assert [status_of(service, sub) for sub in (a, a, b, a)] == [502, 502, 201, 502]
    service.clear_answers()
    assert status_of(service, a) == 201
    assert statuses(service) == [503, 429, 503, 500, 201, 502, 502, 201, 502, 201]


BAD = [
    ({"status": 99}, "status"),
    ({"status": 600}, "status"),
    ({"status": True}, "status"),
    ({"status": "429"}, "status"),
    ({"status": 200, "drop": True}, "drop"),
    ({"delay": -1}, "delay"),
    ({"delay": math.inf}, "delay"),
    ({"delay": math.nan}, "delay"),
    ({"times": 0}, "times"),
    ({"times": 1.5}, "times"),
    ({"body": 5}, "body"),
    ({"headers": {"X-A": "a\r\nX-B: b"}}, "headers"),
    ({"to": {"keys": {}}}, "to"),
]


@pytest.mark.parametrize(("kwargs", "field"), BAD, ids=[f for _, f in BAD])
def test_bad_script_arguments_name_the_field(
    service: Service, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.answer(**kwargs)
    assert caught.value.field == field
    sub = service.subscribe()
    send(service, sub)  # nothing was queued
    assert statuses(service) == [201]


@pytest.mark.parametrize("transport", ["own", "urllib3"])
def test_push_client_retries_through_scripted_failures(service: Service, transport: str) -> None:
    sub = service.subscribe()
    service.answer(503, times=2)
    service.answer(429, headers={"Retry-After": "0"})
    pool = make_pool_manager() if transport == "urllib3" else None
    with PushClient(
        endpoint_policy=policy(service), helper_process=False, pool_manager=pool
    ) as client:
        client._sleep = lambda s: None  # type: ignore[method-assign]  # the backoff, not waited
        result = client.send(sub, "finally")
    assert result.ok and result.attempts == 4
    assert statuses(service) == [503, 503, 429, 201]
    assert [m.text for m in service.messages(sub)] == ["finally"]


@pytest.mark.parametrize("transport", ["own", "urllib3"])
def test_a_deadline_during_the_origins_pause_reports_the_pause_left(
    service: Service, transport: str
) -> None:
    """send(..., deadline=0.5) to an origin a 429 paused for 5 s: retry_after is the pause left."""
    throttled, waiting = service.subscribe(), service.subscribe()
    service.answer(429, headers={"Retry-After": "5"}, to=throttled)
    pool = make_pool_manager() if transport == "urllib3" else None
    with PushClient(
        endpoint_policy=policy(service), helper_process=False, max_retries=0, pool_manager=pool
    ) as client:
        first = client.send(throttled, "x")
        assert first.reason == "rate-limited" and first.retry_after == 5.0
        start = time.monotonic()
        result = client.send(waiting, "x", deadline=0.5)
        paused_for = client.origin_stats()[0].paused_for
    # It could not go before the deadline: ended at once, neither sent nor parked.
    assert time.monotonic() - start < 2.0
    assert result.reason == "deadline-exceeded" and result.attempts == 0 and result.held == 0
    assert result.status_code is None  # never sent
    assert result.retry_after is not None
    assert paused_for <= result.retry_after <= 5.0
    assert result.retry_after > 3.5
    assert statuses(service) == [429]
