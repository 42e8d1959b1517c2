"""_delivery/result: one subscription's SendResult and a call's deadline bookkeeping.

Pure: results built from errors and responses, the deadline's checks at the
limit and one past, and "reported exactly once" under the interleaving that
would break it (the deadline's expire() and the last attempt finishing the
same delivery from two threads at once).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import pytest

from webpush_core._delivery import result as r
from webpush_core._delivery.origins import Origins
from webpush_core._delivery.result import SendResult
from webpush_core._origin import origin_of
from webpush_core._request.value import PushRequest
from webpush_core._response import PushResponse
from webpush_core.errors import (
    ExpiredSubscription,
    InvalidRequest,
    OriginUnavailable,
    PushTimeout,
    RateLimited,
    ServerError,
    WebPushException,
)

URL = "https://push.example/p/1"
SUB = {"endpoint": URL, "keys": {}}


def request(ttl: Optional[str] = None) -> PushRequest:
    headers = {} if ttl is None else {"TTL": ttl}
    return PushRequest(URL, headers=headers)


# --------------------------------------------------------------------------
# SendResult


def test_a_success_is_accepted_with_no_action() -> None:
    ok = SendResult(SUB, ok=True, status_code=201)
    assert (ok.reason, ok.action, ok.detail, ok.held) == ("accepted", None, "", 0.0)


def test_a_failure_takes_reason_action_and_detail_from_its_error() -> None:
    error = ServerError("x", endpoint=URL, reason="service-unavailable", action="retry", detail="d")
    failed = SendResult(SUB, ok=False, error=error)
    assert (failed.reason, failed.action, failed.detail) == ("service-unavailable", "retry", "d")


def test_an_error_without_a_reason_is_unknown_with_its_action() -> None:
    error = WebPushException("x")
    error.reason = None
    error.action = "fix-request"
    failed = SendResult(SUB, ok=False, error=error)
    assert (failed.reason, failed.action) == ("unknown", "fix-request")


def test_a_failure_without_an_error_is_unknown_and_retried() -> None:
    failed = SendResult(SUB, ok=False)
    assert (failed.reason, failed.action, failed.detail) == ("unknown", "retry", "")


def test_a_reason_given_is_kept_with_what_was_given() -> None:
    error = ServerError("x", endpoint=URL, reason="service-error", action="retry", detail="d")
    given = SendResult(SUB, ok=False, error=error, reason="ttl-expired")
    assert (given.reason, given.action, given.detail) == ("ttl-expired", None, "")


@dataclass
class WithEndpoint:
    endpoint: str


@pytest.mark.parametrize(
    ("subscription", "endpoint"),
    [
        ({"endpoint": URL}, URL),
        ({"endpoint": 42}, None),  # not a string: no endpoint
        ({}, None),
        (WithEndpoint(URL), URL),
        (object(), None),
    ],
)
def test_the_endpoint_of_any_kind_of_subscription(subscription: Any, endpoint: Any) -> None:
    assert SendResult(subscription, ok=True).endpoint == endpoint


def test_the_subscription_and_detail_stay_out_of_the_repr() -> None:
    error = ServerError("x", endpoint=URL, detail="secretish words")
    text = repr(SendResult({"endpoint": URL, "keys": {"auth": "AUTH"}}, ok=False, error=error))
    assert "AUTH" not in text and "secretish" not in text and "ok=False" in text


# --------------------------------------------------------------------------
# _failed


def test_failed_keeps_the_answer_its_status_and_retry_after() -> None:
    response = PushResponse(503, "", {"Retry-After": "7"}, b"", URL)
    error = ServerError("x", response, endpoint=URL)
    failed = r._failed(SUB, 2, response, error)
    assert (failed.ok, failed.status_code, failed.retry_after, failed.attempts) == (
        False,
        503,
        7.0,
        2,
    )
    assert failed.response is response and failed.error is error and not failed.expired


def test_failed_without_an_answer_has_no_status() -> None:
    error = PushTimeout("t", endpoint=URL)
    failed = r._failed(SUB, 1, None, error)
    assert (failed.status_code, failed.retry_after, failed.response) == (None, None, None)


def test_failed_marks_a_gone_subscription_expired() -> None:
    response = PushResponse(410, "", {}, b"", URL)
    failed = r._failed(SUB, 1, response, ExpiredSubscription("gone", response, endpoint=URL))
    assert failed.expired and failed.status_code == 410


# --------------------------------------------------------------------------
# _check_deadline


@pytest.mark.parametrize("good", [1e-9, 0.5, 1, 86400.0, 1e300])
def test_a_deadline_above_zero_and_finite_is_taken_as_a_float(good: float) -> None:
    checked = r._check_deadline(good)
    assert checked == good and type(checked) is float


def test_no_deadline_is_none() -> None:
    assert r._check_deadline(None) is None


@pytest.mark.parametrize("bad", [0, 0.0, -1e-9, -1, math.inf, math.nan, True, False, "1", [1]])
def test_a_deadline_at_zero_or_past_it_or_not_a_number_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidRequest, match=r"deadline must be a number of seconds > 0") as info:
        r._check_deadline(bad)
    assert info.value.field == "deadline"
    assert repr(bad) in info.value.message


# --------------------------------------------------------------------------
# _Call and _Pending


def test_a_call_without_a_deadline_never_runs_out() -> None:
    call = r._Call(None)
    assert call.expires is None and call.left() == math.inf


def test_a_call_with_a_deadline_counts_down_from_it() -> None:
    before = time.monotonic()
    call = r._Call(30.0)
    after = time.monotonic()
    assert call.expires is not None
    assert before + 30.0 <= call.expires <= after + 30.0
    assert 0 < call.left() <= 30.0


def test_a_pending_delivery_is_live_in_its_call_until_it_finishes() -> None:
    call = r._Call(5.0)
    got: list[SendResult] = []
    pending = r._Pending(SUB, request(), got.append, call)
    assert call.live == {pending}
    assert (pending.attempts, pending.fired, pending.held, pending.last) == (0, False, 0.0, None)
    assert pending.origin == origin_of(URL) and pending.ticket == 0
    ok = SendResult(SUB, ok=True, status_code=201)
    pending.finish(ok)
    assert call.live == set() and pending.fired and pending.result is ok and got == [ok]


@pytest.mark.parametrize("with_call", [True, False])
def test_a_delivery_is_reported_once_whoever_finishes_it(with_call: bool) -> None:
    call = r._Call(5.0) if with_call else None
    got: list[SendResult] = []
    pending = r._Pending(SUB, request(), got.append, call)
    first = SendResult(SUB, ok=True)
    pending.finish(first)
    pending.finish(SendResult(SUB, ok=False))
    assert got == [first] and pending.result is first


def test_the_deadline_and_the_last_attempt_at_once_report_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The interleaving that would break "once": expire() has taken its list of
    # live deliveries, then the last attempt finishes the delivery (from a
    # worker thread), then expire() finishes it too. expire() builds the
    # deadline's result between the two: the attempt finishes there.
    call = r._Call(5.0)
    got: list[SendResult] = []
    pending = r._Pending(SUB, request(), got.append, call)
    ok = SendResult(SUB, ok=True)
    original = r._Pending.deadline_result

    def attempt_finishes_first(self: r._Pending, *args: Any, **kwargs: Any) -> SendResult:
        worker = threading.Thread(target=self.finish, args=(ok,))
        worker.start()
        worker.join(5)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(r._Pending, "deadline_result", attempt_finishes_first)
    call.expire()
    assert got == [ok] and pending.result is ok and call.live == set()


def test_expire_reports_every_live_delivery_as_past_the_deadline() -> None:
    call = r._Call(2.5)
    got: list[SendResult] = []
    subs = [{"endpoint": f"{URL}/{i}"} for i in range(3)]
    pendings = [r._Pending(s, request(), got.append, call) for s in subs]
    answered = r._Pending({"endpoint": URL}, request(), got.append, call)
    answered.finish(SendResult(answered.subscription, ok=True))
    pendings[1].attempts = 2
    call.expire()
    assert call.live == set()
    assert len(got) == 4
    late = {id(res.subscription): res for res in got[1:]}
    assert set(late) == {id(s) for s in subs}
    for res in got[1:]:
        assert res.reason == "deadline-exceeded" and isinstance(res.error, PushTimeout)
        assert "(2.5 s)" in res.error.message
    assert late[id(subs[1])].attempts == 2


def test_a_done_callback_that_raises_does_not_undo_the_result() -> None:
    def done(result: SendResult) -> None:
        raise RuntimeError("the caller's callback")

    pending = r._Pending(SUB, request(), done, None)
    ok = SendResult(SUB, ok=True)
    pending.finish(ok)
    assert pending.result is ok and pending.fired


def test_time_held_by_a_pause_is_reported_rounded() -> None:
    got: list[SendResult] = []
    pending = r._Pending(SUB, request(), got.append, None)
    pending.held = 1.23456
    pending.finish(SendResult(SUB, ok=True))
    assert got[0].held == 1.235


@pytest.mark.parametrize(
    ("ttl", "has_end"), [("0", True), ("60", True), (None, False), ("x", False), ("-1", False)]
)
def test_the_ttl_ends_that_many_seconds_after_the_delivery_starts(
    ttl: Optional[str], has_end: bool
) -> None:
    before = time.monotonic()
    pending = r._Pending(SUB, request(ttl), lambda _: None, None)
    after = time.monotonic()
    if not has_end:
        assert pending.ttl_ends is None
    else:
        assert ttl is not None and pending.ttl_ends is not None
        assert before + int(ttl) <= pending.ttl_ends <= after + int(ttl)


# --------------------------------------------------------------------------
# The results the client decides itself


def test_a_deadline_result_keeps_the_last_answer() -> None:
    response = PushResponse(503, "", {"Retry-After": "4"}, b"", URL)
    last = r._failed(SUB, 1, response, ServerError("x", response, endpoint=URL))
    call = r._Call(0.75)
    res = r._deadline_result(SUB, call, 3, last, URL)
    assert (res.ok, res.status_code, res.retry_after, res.attempts) == (False, 503, 4.0, 3)
    assert res.response is response
    assert res.reason == "deadline-exceeded" and res.action == "retry"
    assert isinstance(res.error, PushTimeout) and res.error.endpoint == URL
    assert res.error.message == (
        "the call's deadline (0.75 s) came before this subscription finished"
    )


def test_a_deadline_result_without_an_answer_or_a_call() -> None:
    res = r._deadline_result(SUB, None)
    assert (res.status_code, res.retry_after, res.attempts, res.response) == (None, None, 0, None)
    assert res.error is not None and "deadline (0 s)" in res.error.message
    assert res.error.endpoint is None


@pytest.mark.parametrize(
    ("last_retry_after", "paused_for", "expected"),
    [
        (None, 0.0, None),  # no pause: nothing to wait for
        (None, 2.0, 2.0),  # the pause left is the earliest a retry could go
        (5.0, 2.0, 5.0),  # the answer's own Retry-After is later
        (1.0, 2.0, 2.0),
        (3.0, 0.0, 3.0),
    ],
)
def test_a_deadline_result_retries_no_sooner_than_the_pause(
    last_retry_after: Optional[float], paused_for: float, expected: Optional[float]
) -> None:
    last = None
    if last_retry_after is not None:
        last = SendResult(SUB, ok=False, retry_after=last_retry_after)
    res = r._deadline_result(SUB, r._Call(1.0), 1, last, URL, paused_for)
    assert res.retry_after == expected


def test_a_pending_deadline_result_is_its_own() -> None:
    call = r._Call(1.5)
    pending = r._Pending(SUB, request(), lambda _: None, call)
    pending.attempts = 2
    res = pending.deadline_result(None, paused_for=3.0)
    assert (res.attempts, res.retry_after, res.subscription) == (2, 3.0, SUB)
    assert res.error is not None and res.error.endpoint == URL and "(1.5 s)" in res.error.message


def test_an_open_breaker_result_says_why_and_when_it_is_probed() -> None:
    origins = Origins(threshold=4, cooldown=20.0, first_cooldown=0.5)
    pending = r._Pending(SUB, request(), lambda _: None, None)
    pending.attempts = 1
    res = r._open_result(pending, origins)
    assert isinstance(res.error, OriginUnavailable)
    assert res.error.endpoint == URL and res.attempts == 1 and not res.ok
    assert res.error.message == (
        "not sent: the breaker for https://push.example is open after 4 connection "
        "failures or timeouts in a row (requests in flight together count once); it is "
        "probed again after a cool-down of 0.5 s, doubled while it stays down (at most 20 s)"
    )
    assert res.reason == "service-unavailable"


def test_a_crowded_result_without_an_attempt_is_rate_limited_for_the_pause() -> None:
    pending = r._Pending(SUB, request(), lambda _: None, None)
    res = r._crowded_result(pending, 2.34567)
    assert isinstance(res.error, RateLimited)
    assert (res.retry_after, res.attempts, res.ok) == (2.346, 0, False)
    assert res.error.endpoint == URL
    assert res.error.message == (
        "not sent: https://push.example asked this client to slow down (paused 2.3 s more) "
        "and as many of its deliveries as are kept are waiting already; send it again "
        "after the pause"
    )


@pytest.mark.parametrize(
    ("last_retry_after", "paused_for", "expected"),
    [(None, 1.23456, 1.235), (9.0, 1.0, 9.0), (0.5, 1.0, 1.0)],
)
def test_a_crowded_result_after_an_attempt_keeps_its_last_answer(
    last_retry_after: Optional[float], paused_for: float, expected: float
) -> None:
    pending = r._Pending(SUB, request(), lambda _: None, None)
    pending.attempts = 2
    response = PushResponse(429, "", {}, b"", URL)
    pending.last = SendResult(
        SUB, ok=False, status_code=429, retry_after=last_retry_after, attempts=1, response=response
    )
    res = r._crowded_result(pending, paused_for)
    assert (res.retry_after, res.attempts, res.status_code) == (expected, 2, 429)
    assert res.response is response


def test_an_unexpected_exception_is_a_result_with_its_cause() -> None:
    cause = KeyError("k")
    res = r._unexpected(SUB, cause)
    assert not res.ok and type(res.error) is WebPushException
    assert res.error.message == "unexpected KeyError while sending: 'k'"
    assert res.error.__cause__ is cause


def test_a_result_is_not_set_on_a_cancelled_future() -> None:
    loop = asyncio.new_event_loop()
    try:
        ok = SendResult(SUB, ok=True)
        future: asyncio.Future[SendResult] = loop.create_future()
        r._set_result(future, ok)
        assert future.result() is ok
        cancelled: asyncio.Future[SendResult] = loop.create_future()
        cancelled.cancel()
        r._set_result(cancelled, ok)  # would raise InvalidStateError if it tried
        assert cancelled.cancelled()
    finally:
        loop.close()


# --------------------------------------------------------------------------
# Whose result it is, and the small numbers: at the limit and one past


def test_every_result_the_client_decides_is_its_subscriptions_and_a_failure() -> None:
    pending = r._Pending(SUB, request(), lambda _: None, None)
    pending.attempts = 3
    response = PushResponse(503, "", {}, b"", URL)
    results = [
        r._failed(SUB, 1, response, ServerError("x", response, endpoint=URL)),
        r._open_result(pending, Origins()),
        r._crowded_result(pending, 1.0),
        r._unexpected(SUB, RuntimeError("x")),
        r._deadline_result(SUB, None),
    ]
    for res in results:
        assert res.subscription is SUB and res.ok is False
    assert results[2].attempts == 3  # not sent again: its attempts so far


def test_a_new_pending_delivery_has_no_result_yet() -> None:
    assert r._Pending(SUB, request(), lambda _: None, None).result is None


def test_expire_keeps_each_deliverys_last_answer() -> None:
    call = r._Call(1.0)
    got: list[SendResult] = []
    pending = r._Pending(SUB, request(), got.append, call)
    response = PushResponse(503, "", {"Retry-After": "9"}, b"", URL)
    pending.last = r._failed(SUB, 1, response, ServerError("x", response, endpoint=URL))
    call.expire()
    assert (got[0].status_code, got[0].retry_after, got[0].response) == (503, 9.0, response)


def test_a_pending_deadline_result_without_a_pause_has_no_retry_after() -> None:
    pending = r._Pending(SUB, request(), lambda _: None, r._Call(1.0))
    assert pending.deadline_result().retry_after is None
    last = SendResult(SUB, ok=False, status_code=429, retry_after=4.0)
    kept = pending.deadline_result(last)
    assert (kept.status_code, kept.retry_after) == (429, 4.0)


@pytest.mark.parametrize(("paused_for", "expected"), [(0.0, None), (0.5, 0.5), (1.0, 1.0)])
def test_a_short_pause_sets_the_deadline_results_retry_after(
    paused_for: float, expected: Optional[float]
) -> None:
    res = r._deadline_result(SUB, r._Call(1.0), 1, None, URL, paused_for)
    assert res.retry_after == expected


def test_a_short_pause_sets_a_crowded_results_retry_after() -> None:
    pending = r._Pending(SUB, request(), lambda _: None, None)
    pending.last = SendResult(SUB, ok=False, status_code=429, retry_after=None)
    assert r._crowded_result(pending, 0.5).retry_after == 0.5


def test_a_call_keeps_what_it_decides_once_per_origin() -> None:
    decided = object()
    assert r._Call(1.0, decided=decided).decided is decided  # type: ignore[arg-type]
    assert r._Call(None).decided is None
