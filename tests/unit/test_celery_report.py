"""The Celery fan-out's report (webpush_core.celery._report), without Redis or a worker.

What the report says of each result (its reason and action, one line of
detail cleaned of keys and paths), and how a handle reads the counts Redis
keeps: the endpoints to delete read once each and handed on in batches, the
wait's end. Redis itself (the Lua script that records each entry once) is
exercised by tests/test_celery.py and tests/adversarial/test_celery_forged_batches.py;
here a stand-in holds the hashes and lists the script would have written.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest

from webpush_core._delivery.result import SendResult
from webpush_core.celery import _report
from webpush_core.celery._report import (
    FanOutHandle,
    FanOutReport,
    Keys,
    clean_detail,
    count_refused,
    describe,
    outcome,
    record,
)
from webpush_core.errors import (
    EndpointNotAllowed,
    ExpiredSubscription,
    InvalidInput,
    PushRejected,
    PushTimeout,
    RateLimited,
    ServerError,
    TooLarge,
    TransportError,
    Unauthorized,
    WebPushException,
)

# --------------------------------------------------------------------------
# outcome: every error class of the vocabulary, for a result without its own reason


class Old:
    """A SendResult of an older webpush_core: no reason or action of its own."""

    ok = False

    def __init__(self, error: Optional[WebPushException], expired: bool = False) -> None:
        self.error = error
        self.expired = expired


def bare(cls: type[WebPushException]) -> WebPushException:
    """An error of ``cls`` that carries no reason or action (as older versions' did)."""
    error = cls("x")
    error.reason = None
    error.action = None
    return error


# class -> (reason, action) from the class alone; most specific first in the code.
BY_CLASS = [
    (ExpiredSubscription, ("unsubscribed", "delete")),
    (PushTimeout, ("timeout", "retry")),
    (TransportError, ("connection-failed", "retry")),
    (RateLimited, ("rate-limited", "retry")),
    (ServerError, ("service-error", "retry")),
    (Unauthorized, ("unauthorized", "fix-credentials")),
    (TooLarge, ("payload-too-large", "fix-request")),
    (PushRejected, ("rejected", "fix-request")),
    (InvalidInput, ("invalid-input", "fix-request")),
    (EndpointNotAllowed, ("invalid-input", "fix-request")),
    (WebPushException, ("unknown", "fix-request")),
]


@pytest.mark.parametrize(("cls", "expected"), BY_CLASS, ids=[c.__name__ for c, _ in BY_CLASS])
def test_outcome_from_the_class_alone(cls: type[WebPushException], expected: Any) -> None:
    assert outcome(Old(bare(cls))) == expected  # type: ignore[arg-type]


def test_an_expired_result_is_deleted_whatever_its_error() -> None:
    assert outcome(Old(bare(ServerError), expired=True)) == ("unsubscribed", "delete")  # type: ignore[arg-type]
    assert outcome(Old(None, expired=True)) == ("unsubscribed", "delete")  # type: ignore[arg-type]


def test_an_errors_own_reason_and_action_come_first() -> None:
    error = ServerError("x")
    error.reason, error.action = "service-unavailable", None  # an action left to the class
    assert outcome(Old(error)) == ("service-unavailable", "retry")  # type: ignore[arg-type]
    assert outcome(Old(None)) == ("unknown", "fix-request")  # type: ignore[arg-type]


def test_a_delivered_result_has_no_outcome() -> None:
    assert outcome(SendResult(None, ok=True)) == (None, None)


# --------------------------------------------------------------------------
# describe and clean_detail


def test_describe_each_case() -> None:
    assert describe(SendResult(None, ok=False, detail="words", reason="unknown")) == "words"
    assert describe(SendResult(None, ok=False, reason="unknown")) == ""
    error = RateLimited("Push failed: 429")
    assert describe(SendResult(None, ok=False, error=error)) == "Push failed: 429"
    late = SendResult(None, ok=False, error=error, reason="ttl-expired", action=None)
    assert describe(late) == "last attempt: Push failed: 429"
    plain = WebPushException("its text")
    plain.reason = None  # no reason of its own: the result's is not another one
    assert describe(SendResult(None, ok=False, error=plain, reason="x")) == "its text"
    blank = WebPushException("")
    assert describe(SendResult(None, ok=False, error=blank)) == "WebPushException: "


ENDPOINT = "https://push.example/p/SECRETPATH"
ITEMS = [[0, ENDPOINT, "P256DH-KEY-TEXT", "AUTH-TEXT"], [1, "no-scheme/PATH", "", ""]]


def test_clean_detail_hides_each_items_keys_and_path() -> None:
    text = f"{ENDPOINT} P256DH-KEY-TEXT AUTH-TEXT no-scheme/PATH"
    assert clean_detail(text, ITEMS) == "https://push.example/... [key] [key] [endpoint]"
    assert clean_detail("no items", []) == "no items"


@pytest.mark.parametrize(
    ("run", "hidden"),
    [
        ("aB3" * 6 + "cD", True),  # 20 characters of upper, lower and digits
        ("aB3" * 6 + "c", False),  # 19 (within a 40-long run)
        ("aBc" * 7, False),  # no digit
        ("ab3" * 7, False),  # no upper case
        ("AB3" * 7, False),  # no lower case
    ],
)
def test_a_run_is_key_material_only_with_20_mixed_characters_between_slashes(
    run: str, hidden: bool
) -> None:
    text = (run + "/" + "x" * 40)[:80]  # a run of 40 or more with a slash in it
    assert (clean_detail(text) == "[key]") is hidden


def test_the_run_must_be_40_long() -> None:
    assert clean_detail("aB3" * 13) == "aB3" * 13  # 39
    assert clean_detail("aB3" * 13 + "x") == "[key]"


# --------------------------------------------------------------------------
# The report and its keys


def test_keys_share_the_fan_outs_hash_tag() -> None:
    keys = Keys("abc")
    assert keys.all == [
        "webpush_core:{abc}:done",
        "webpush_core:{abc}:counts",
        "webpush_core:{abc}:delete",
        "webpush_core:{abc}:details",
    ]
    assert (keys.done, keys.counts, keys.delete, keys.details) == tuple(keys.all)


def _report_of(total: int, ok: int, failed: int, dispatched: bool) -> FanOutReport:
    return FanOutReport("id", total, ok, failed, 0, dispatched, (), {})


@pytest.mark.parametrize(
    ("total", "ok", "failed", "dispatched", "pending", "complete"),
    [
        (3, 2, 1, True, 0, True),
        (3, 2, 0, True, 1, False),
        (3, 2, 1, False, 0, False),  # the input is still being read
    ],
)
def test_pending_and_complete(
    total: int, ok: int, failed: int, dispatched: bool, pending: int, complete: bool
) -> None:
    report = _report_of(total, ok, failed, dispatched)
    assert (report.pending, report.complete) == (pending, complete)


class Pipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.calls: list[Any] = []

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def hgetall(self, key: str) -> None:
        self.calls.append(dict(self.redis.hashes.get(key, {})))

    def lrange(self, key: str, start: int, end: int) -> None:
        assert end == -1
        self.redis.lranges.append(start)
        self.calls.append(list(self.redis.lists.get(key, []))[start:])

    def execute(self) -> list[Any]:
        return self.calls


class FakeRedis:
    """What the Lua scripts leave in Redis, as redis-py returns it (bytes)."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.lists: dict[str, list[bytes]] = {}
        self.lranges: list[int] = []
        self.evals: list[tuple[Any, ...]] = []

    def pipeline(self, transaction: bool) -> Pipeline:
        assert transaction is True
        return Pipeline(self)

    def eval(self, *args: Any) -> int:
        self.evals.append(args)
        return 7


def test_progress_reads_the_counts_and_each_endpoint_once() -> None:
    redis = FakeRedis()
    keys = Keys("f1")
    redis.hashes[keys.counts] = {
        b"total": b"5",
        b"dispatched": b"1",
        b"ok": b"2",
        b"failed": b"2",
        b"sent": b"6",
        b"r:unsubscribed": b"1",
        b"r:rate-limited": b"1",
        b"refused": b"1",
    }
    redis.hashes[keys.details] = {b"unsubscribed": b"gone", b"rate-limited": b"slow \xff"}
    redis.lists[keys.delete] = [b"https://a.example/1"]
    handed: list[list[str]] = []
    handle = FanOutHandle(lambda: redis, "f1", on_expired=handed.append, callback_batch=2)  # type: ignore[arg-type,return-value]
    assert repr(handle) == "FanOutHandle('f1')"
    report = handle.progress()
    assert report == FanOutReport(
        fan_out_id="f1",
        total=5,
        ok=2,
        failed=2,
        sent=6,
        dispatched=True,
        to_delete=("https://a.example/1",),
        failures={"rate-limited": 1, "unsubscribed": 1},
        details={"rate-limited": "slow \ufffd", "unsubscribed": "gone"},
        refused_batches=1,
    )
    assert list(report.failures) == ["rate-limited", "unsubscribed"]  # sorted
    redis.lists[keys.delete] += [b"https://a.example/%d" % i for i in range(2, 7)]
    again = handle.progress()
    assert redis.lranges == [0, 1]  # the second poll read only what was new
    assert again.to_delete == tuple(f"https://a.example/{i}" for i in range(1, 7))
    # each endpoint handed on once, in batches of callback_batch
    assert handed == [
        ["https://a.example/1"],
        ["https://a.example/2", "https://a.example/3"],
        ["https://a.example/4", "https://a.example/5"],
        ["https://a.example/6"],
    ]


def test_an_empty_report_is_all_zero() -> None:
    report = FanOutHandle(FakeRedis, "none").progress()  # type: ignore[arg-type]
    assert report == FanOutReport("none", 0, 0, 0, 0, False, (), {}, {}, 0)


def test_wait_returns_the_complete_report() -> None:
    redis = FakeRedis()
    redis.hashes[Keys("f").counts] = {b"total": b"1", b"dispatched": b"1", b"ok": b"1"}
    assert FanOutHandle(lambda: redis, "f").wait(timeout=5).complete  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize(
    ("refused", "tail"), [(b"0", ""), (b"2", "; 2 batches refused by workers (batch_key)")]
)
def test_wait_says_how_far_it_got_when_it_times_out(refused: bytes, tail: str) -> None:
    redis = FakeRedis()
    counts = {b"total": b"4", b"dispatched": b"1", b"ok": b"1", b"failed": b"1"}
    redis.hashes[Keys("f").counts] = {**counts, b"refused": refused}
    handle = FanOutHandle(lambda: redis, "f")  # type: ignore[arg-type,return-value]
    with pytest.raises(TimeoutError) as caught:
        handle.wait(timeout=0.0, interval=0.0)
    assert str(caught.value) == "fan-out f: 2 of 4 subscriptions finished after 0.0 s" + tail


def test_record_hands_the_script_its_arguments_in_order() -> None:
    redis = FakeRedis()
    keys = Keys("f")
    entries = ["0", "ok", "", "1", "unsubscribed", "https://a.example/1"]
    details = {"unsubscribed": "gone", "rate-limited": "slow"}
    assert record(redis, keys, entries, 3, 600, details) == 7  # type: ignore[arg-type]
    assert redis.evals == [
        (
            _report._RECORD,
            4,
            *keys.all,
            600,
            3,
            2,
            "unsubscribed",
            "gone",
            "rate-limited",
            "slow",
            *entries,
        )
    ]
    record(redis, keys, [], 0, 60)  # type: ignore[arg-type]
    assert redis.evals[-1] == (_report._RECORD, 4, *keys.all, 60, 0, 0)
    assert count_refused(redis, keys) == 7  # type: ignore[arg-type]
    assert redis.evals[-1] == (_report._COUNT_REFUSED, 1, keys.counts)


# --------------------------------------------------------------------------
# Results and errors of other shapes (an older webpush_core's, a caller's)


class Bare:
    """A result with neither detail, reason nor action: only ok and error."""

    ok = False

    def __init__(self, error: Any) -> None:
        self.error = error
        self.expired = False


def test_describe_reads_only_what_a_result_and_its_error_have() -> None:
    assert describe(Bare(None)) == ""  # type: ignore[arg-type]
    assert describe(Bare(ValueError("not ours"))) == "not ours"  # type: ignore[arg-type]


def test_outcome_of_a_result_with_a_reason_and_no_action() -> None:
    class Reasoned(Bare):
        reason = "service-error"

    assert outcome(Reasoned(None)) == ("service-error", None)  # type: ignore[arg-type]


def test_an_errors_own_action_is_kept_without_its_reason() -> None:
    error = RateLimited("x")
    error.reason, error.action = None, "fix-request"
    assert outcome(Old(error)) == ("rate-limited", "fix-request")  # type: ignore[arg-type]


def test_clean_detail_takes_each_items_first_four_fields() -> None:
    items = [[0, ENDPOINT, "P256DH-KEY-TEXT", "AUTH-TEXT", "more fields"], [1, "", "", ""]]
    text = f"{ENDPOINT} and AUTH-TEXT"
    assert clean_detail(text, items) == "https://push.example/... and [key]"


def test_an_endpoint_is_cut_at_its_first_path() -> None:
    endpoint = "https://push.example/p/1?next=https://other.example/x"
    assert clean_detail(f"at {endpoint}", [[0, endpoint, "", ""]]) == "at https://push.example/..."


def test_on_expired_gets_200_endpoints_at_a_time_by_default() -> None:
    redis = FakeRedis()
    keys = Keys("f")
    redis.lists[keys.delete] = [b"https://a.example/%d" % i for i in range(201)]
    handed: list[list[str]] = []
    FanOutHandle(lambda: redis, "f", on_expired=handed.append).progress()  # type: ignore[arg-type,return-value]
    assert [len(chunk) for chunk in handed] == [200, 1]


class Polls:
    """A clock that moves only when wait() sleeps, and the report it reads each poll."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, complete_at: int) -> None:
        self.now = 100.0
        self.slept: list[Any] = []
        self.polls = 0
        self.redis = FakeRedis()
        self.complete_at = complete_at
        monkeypatch.setattr(_report.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(_report.time, "sleep", self.sleep)
        self._update()

    def _update(self) -> None:
        done = self.polls + 1 >= self.complete_at
        self.redis.hashes[Keys("f").counts] = {
            b"total": b"2",
            b"dispatched": b"1",
            b"ok": b"2" if done else b"1",
        }

    def sleep(self, seconds: Any) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.polls += 1
        self._update()

    def handle(self) -> FanOutHandle:
        return FanOutHandle(lambda: self.redis, "f")  # type: ignore[arg-type,return-value]


def test_wait_polls_every_fifth_of_a_second_until_complete(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = Polls(monkeypatch, complete_at=3)
    assert polls.handle().wait().complete  # no timeout: as long as it takes
    assert polls.slept == [0.2, 0.2]
    polls = Polls(monkeypatch, complete_at=2)
    assert polls.handle().wait(timeout=5).complete
    assert polls.slept == [0.2]


def test_wait_gives_up_at_its_timeout_not_one_poll_later(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = Polls(monkeypatch, complete_at=100)
    with pytest.raises(TimeoutError):
        polls.handle().wait(timeout=0.5, interval=0.25)
    assert polls.slept == [0.25, 0.25]  # polled at 0, 0.25 and 0.5 s: then the timeout


def test_record_counts_the_reasons_as_an_integer() -> None:
    redis = FakeRedis()
    record(redis, Keys("f"), [], 0, 60, {"a": "x", "b": "y"})  # type: ignore[arg-type]
    assert type(redis.evals[0][8]) is int and redis.evals[0][8] == 2
