"""The retry policy (webpush_core._delivery.retry): a value, pure, decided without a clock.

Every rule at its limit and one past: the retry count, the backoff's doubling
and cap, the jitter's range, the Retry-After floor and cap, the TTL and the
deadline (RFC 8030 §5.2, RFC 9110 §10.2.3).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from webpush_core._delivery import retry
from webpush_core._delivery.retry import (
    DEADLINE_EXCEEDED,
    GIVE_UP,
    NOT_RETRYABLE,
    RETRIES_EXHAUSTED,
    RETRY,
    TTL_EXPIRED,
    WAIT,
    Attempted,
    Decision,
    RetryPolicy,
)
from webpush_core.errors import InvalidRequest

ALMOST_ONE = math.nextafter(1.0, 0.0)  # the largest draw random.random() can return


def test_the_defaults_are_the_documented_ones() -> None:
    # README: max_retries=3; each wait at most Retry-After capped at 60 s.
    policy = RetryPolicy()
    assert (policy.max_retries, policy.backoff_base, policy.backoff_cap) == (3, 0.5, 30.0)
    assert (policy.retry_after_cap, policy.jitter) == (60.0, 1.0)


def test_a_policy_is_a_frozen_value() -> None:
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 9  # type: ignore[misc]
    assert RetryPolicy(max_retries=2) == RetryPolicy(max_retries=2)
    assert dataclasses.replace(policy, max_retries=1).max_retries == 1
    assert hash(policy) == hash(RetryPolicy())


# --------------------------------------------------------------------------
# Backoff


@pytest.mark.parametrize("attempts", range(1, 12))
def test_backoff_doubles_from_the_base_up_to_the_cap(attempts: int) -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=30.0, jitter=0.0)
    expected = min(30.0, 0.5 * 2 ** (attempts - 1))
    assert policy.backoff(attempts, None, 0.0) == expected
    assert policy.backoff(attempts, None, ALMOST_ONE) == expected  # no jitter: no draw


def test_backoff_reaches_the_cap_exactly_and_stays_there() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, jitter=0.0)
    # 1, 2, 4, 8 (the cap, at the limit), then 16 capped (one past).
    assert [policy.backoff(n, None, 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


@pytest.mark.parametrize("attempts", [64, 65, 1024, 1025, 10**6])
def test_backoff_never_overflows_for_many_attempts(attempts: int) -> None:
    policy = RetryPolicy(max_retries=10**7, backoff_base=0.5, backoff_cap=30.0, jitter=0.0)
    assert policy.backoff(attempts, None, 0.0) == 30.0
    decision = policy.decide(Attempted(attempts=attempts, retryable=True), draw=0.0)
    assert decision == Decision(WAIT, retry.BACKOFF, 30.0)


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [(1.0, 0.0, 4.0), (0.5, 2.0, 4.0), (0.25, 3.0, 4.0), (0.0, 4.0, 4.0)],
)
def test_jitter_is_the_drawn_part_of_the_backoff(jitter: float, low: float, high: float) -> None:
    policy = RetryPolicy(backoff_base=1.0, jitter=jitter)
    attempts = 3  # a backoff of 4 s
    assert policy.backoff(attempts, None, 0.0) == low
    assert policy.backoff(attempts, None, 0.5) == pytest.approx((low + high) / 2)
    top = policy.backoff(attempts, None, ALMOST_ONE)
    assert top <= high and top == pytest.approx(high)


def test_a_zero_base_never_waits_without_retry_after() -> None:
    policy = RetryPolicy(backoff_base=0.0)
    assert policy.backoff(5, None, ALMOST_ONE) == 0.0
    decision = policy.decide(Attempted(attempts=1, retryable=True))
    assert decision == Decision(RETRY, retry.BACKOFF, 0.0)  # retry now


# --------------------------------------------------------------------------
# Retry-After


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (None, 0.0),  # none: the backoff alone (0 with this draw)
        (0.0, 0.0),
        (-5.0, 0.0),  # nonsense: no floor
        (7.0, 7.0),
        (59.0, 59.0),
        (60.0, 60.0),  # at the cap
        (61.0, 60.0),  # one past: capped
        (2.0**31, 60.0),
    ],
)
def test_retry_after_is_a_floor_capped_at_retry_after_cap(retry_after: Any, wait: float) -> None:
    policy = RetryPolicy(retry_after_cap=60.0)
    assert policy.backoff(1, retry_after, 0.0) == wait


def test_a_backoff_above_retry_after_wins() -> None:
    policy = RetryPolicy(backoff_base=10.0, jitter=0.0)
    assert policy.backoff(1, 3.0, 0.0) == 10.0
    decision = policy.decide(Attempted(attempts=1, retryable=True, retry_after=3.0))
    assert decision == Decision(WAIT, retry.BACKOFF, 10.0)


def test_the_decision_says_when_retry_after_set_the_wait() -> None:
    policy = RetryPolicy()
    decision = policy.decide(Attempted(attempts=1, retryable=True, retry_after=9.0), draw=0.0)
    assert decision == Decision(WAIT, retry.RETRY_AFTER, 9.0)
    capped = policy.decide(Attempted(attempts=1, retryable=True, retry_after=3600), draw=0.0)
    assert capped == Decision(WAIT, retry.RETRY_AFTER, 60.0)


# --------------------------------------------------------------------------
# How many retries


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_max_retries_at_the_limit_and_one_past(max_retries: int) -> None:
    policy = RetryPolicy(max_retries=max_retries, backoff_base=0.0)
    for attempts in range(1, max_retries + 1):  # up to the limit: retried
        assert policy.decide(Attempted(attempts=attempts, retryable=True)).retries
    past = policy.decide(Attempted(attempts=max_retries + 1, retryable=True))
    assert past == Decision(GIVE_UP, RETRIES_EXHAUSTED)
    assert not past.retries


@pytest.mark.parametrize("attempts", [1, 2, 99])
def test_a_failure_that_is_not_retryable_is_never_retried(attempts: int) -> None:
    policy = RetryPolicy(max_retries=100)
    decision = policy.decide(Attempted(attempts=attempts, retryable=False, retry_after=1.0))
    assert decision == Decision(GIVE_UP, NOT_RETRYABLE)


# --------------------------------------------------------------------------
# TTL and deadline


def attempted(**kw: Any) -> Attempted:
    return Attempted(attempts=1, retryable=True, retry_after=5.0, **kw)


def test_a_retry_that_would_start_after_the_ttl_is_not_made() -> None:
    policy = RetryPolicy()  # the wait here: Retry-After 5 s (the draw is 0)
    assert policy.decide(attempted(ttl_left=5.001), draw=0.0) == Decision(
        WAIT, retry.RETRY_AFTER, 5.0
    )
    # At the limit: the TTL ends as the retry would start (RFC 8030 §5.2: moot).
    expired = Decision(GIVE_UP, TTL_EXPIRED, 5.0)  # the wait it refused
    assert policy.decide(attempted(ttl_left=5.0), draw=0.0) == expired
    assert policy.decide(attempted(ttl_left=4.999), draw=0.0) == expired
    assert policy.decide(attempted(ttl_left=-1.0), draw=0.0) == expired


def test_a_wait_that_would_reach_the_deadline_ends_now() -> None:
    policy = RetryPolicy()
    assert policy.decide(attempted(deadline_left=5.001), draw=0.0).action == WAIT
    exceeded = Decision(GIVE_UP, DEADLINE_EXCEEDED, 5.0)
    assert policy.decide(attempted(deadline_left=5.0), draw=0.0) == exceeded
    assert policy.decide(attempted(deadline_left=0.0), draw=0.0) == exceeded


def test_the_ttl_is_checked_before_the_deadline() -> None:
    decision = RetryPolicy().decide(attempted(ttl_left=1.0, deadline_left=1.0), draw=0.0)
    assert decision == Decision(GIVE_UP, TTL_EXPIRED, 5.0)


def test_retries_exhausted_is_said_before_the_ttl() -> None:
    policy = RetryPolicy(max_retries=0)
    assert policy.decide(attempted(ttl_left=0.0)) == Decision(GIVE_UP, RETRIES_EXHAUSTED)


@pytest.mark.parametrize(
    ("wait", "ttl_left", "deadline_left", "expected"),
    [
        (0.0, None, None, Decision(RETRY, retry.PAUSE)),
        (3.0, None, None, Decision(WAIT, retry.PAUSE, 3.0)),
        (3.0, 3.5, 3.5, Decision(WAIT, retry.PAUSE, 3.0)),
        (3.0, 3.0, None, Decision(GIVE_UP, TTL_EXPIRED, 3.0)),
        (3.0, None, 3.0, Decision(GIVE_UP, DEADLINE_EXCEEDED, 3.0)),
    ],
)
def test_hold_decides_a_pause_the_same_way(
    wait: float, ttl_left: Any, deadline_left: Any, expected: Decision
) -> None:
    assert RetryPolicy().hold(wait, ttl_left=ttl_left, deadline_left=deadline_left) == expected


def test_decide_draws_its_own_jitter_when_not_given_one() -> None:
    policy = RetryPolicy(backoff_base=1.0)  # a backoff of at most 1 s on the first retry
    waits = {policy.decide(Attempted(attempts=1, retryable=True)).wait for _ in range(200)}
    assert all(0.0 <= w < 1.0 for w in waits)
    assert len(waits) > 150  # drawn, not fixed


# --------------------------------------------------------------------------
# Bad values: refused when the policy is made, naming the field


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("max_retries", True),
        ("max_retries", "3"),
        ("backoff_base", -0.001),
        ("backoff_base", math.inf),
        ("backoff_base", math.nan),
        ("backoff_cap", -1.0),
        ("retry_after_cap", -1.0),
        ("retry_after_cap", math.inf),
        ("jitter", -0.1),
        ("jitter", math.nextafter(1.0, 2.0)),  # one past the limit
        ("jitter", False),
    ],
)
def test_bad_values_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(InvalidRequest, match=field) as caught:
        RetryPolicy(**{field: value})
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_retries", 0), ("backoff_base", 0.0), ("backoff_cap", 0), ("jitter", 0.0), ("jitter", 1)],
)
def test_limits_themselves_are_allowed(field: str, value: Any) -> None:
    assert getattr(RetryPolicy(**{field: value}), field) == value


# The rule each refusal states, in full (the fix is in its words).
RULES = {
    "max_retries": "max_retries must be an integer >= 0, got -1",
    "backoff_base": "backoff_base must be a finite number >= 0, got -1",
    "backoff_cap": "backoff_cap must be a finite number >= 0, got -1",
    "retry_after_cap": "retry_after_cap must be a finite number >= 0, got -1",
    "jitter": "jitter must be a finite number >= 0 <= 1, got -1",
}


@pytest.mark.parametrize("field", sorted(RULES))
def test_each_refusal_states_its_rule(field: str) -> None:
    assert {f.name for f in dataclasses.fields(RetryPolicy)} == set(RULES)
    with pytest.raises(InvalidRequest) as caught:
        RetryPolicy(**{field: -1})
    assert caught.value.message == RULES[field]


def test_a_backoff_between_retry_after_and_a_second_is_the_backoff() -> None:
    # Retry-After 0.5 s, the backoff drawn at 0.8 s: the backoff set the wait.
    policy = RetryPolicy(backoff_base=1.0, jitter=1.0)
    decision = policy.decide(Attempted(attempts=1, retryable=True, retry_after=0.5), draw=0.8)
    assert decision == Decision(WAIT, retry.BACKOFF, 0.8)
    at = policy.decide(Attempted(attempts=1, retryable=True, retry_after=0.8), draw=0.8)
    assert at == Decision(WAIT, retry.RETRY_AFTER, 0.8)  # equal: Retry-After's (the floor)
