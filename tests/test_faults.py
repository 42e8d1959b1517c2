"""Fan-out under faults: nothing lost, nothing misreported, time bounded by the retry policy.

``FaultService`` is a push-service stand-in on 127.0.0.1 (the shared
``PushService``, HTTP/1.1 keep-alive). Each subscription gets a
seeded random *plan*: the answers its successive requests receive (201, 429
with Retry-After, 500, 503, a dropped connection, a stall past the client's
timeout), or 410/404 for a fixed set. Independently of the plans, the
service sometimes closes a kept-alive connection on the next request that
arrives on it (the idle close racing the client's reuse): a stale pooled
connection, which the client must absorb without spending an attempt.

The service records every request, and each request carries the number of
the client's attempt it belongs to (``AttemptLog`` adds a header to each
request the client's engine hands to its transport, and keeps what came back
to the client and when). The oracle checks each attempt's requests against
the transport's promise: one request, plus one resend on a new connection
when that request's connection was dropped unanswered; the resend's fate
ends the attempt. Only an attempt that reached its deadline may show less (a
request still queued, or a drop noticed when no time was left), because the
deadline, not the service, ended it. Then it derives the final outcome and
compares with the ``SendResult``.

Time bounds here are correctness bounds of the retry policy (timeouts,
backoff caps), not performance measurements.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import pytest

from manual_time import use_manual_time
from servers.loopback import Request
from servers.push_service import Answer, PushService
from webpush_core._b64 import b64url_encode
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._delivery.retry import RetryPolicy
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._response import PushResponse
from webpush_core.errors import (
    ExpiredSubscription,
    PushTimeout,
    RateLimited,
    ServerError,
    TransportError,
    WebPushException,
)
from webpush_core.vapid import Vapid

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
VAPID = Vapid()
CLAIMS = {"sub": "mailto:ops@example.com"}
DEFAULT_POLICY = RetryPolicy()  # what a PushClient retries with unless told otherwise
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}

# Outcomes of one request, as the service records them.
OK, RATE, E500, E503, DROP, STALL, GONE, NOT_FOUND = (
    "201",
    "429",
    "500",
    "503",
    "drop",
    "stall",
    "410",
    "404",
)
STALE = "stale"  # a kept-alive connection closed on reuse (not part of any plan)
ANSWERED = {OK: 201, RATE: 429, E500: 500, E503: 503, GONE: 410, NOT_FOUND: 404}
UNANSWERED = (DROP, STALE)  # read, then the connection closed: the transport resends once
ATTEMPT = "x-test-attempt"  # the header that numbers a request's attempt (AttemptLog)


@dataclass(frozen=True)
class Step:
    kind: str
    retry_after: Optional[str] = None  # for 429


@dataclass(frozen=True)
class Event:
    """One request as the service saw it, and what it did with it."""

    kind: str
    retry_after: Optional[str]
    arrived: float  # time.monotonic() at arrival
    answered: float  # time.monotonic() just before the answer (or the close) went out
    attempt: int  # the client's attempt it belongs to (its ATTEMPT header)


@dataclass
class _Sub:
    plan: list[Step]
    events: list[Event] = field(default_factory=list)
    consumed: int = 0  # plan steps used so far
    overrun: int = 0  # requests beyond the plan: the client tried too often


class FaultService:
    """A PushService (tests/servers) whose every answer comes from the plans."""

    def __init__(self, *, stale_rate: float = 0.0, stall_for: float = 3.0, seed: int = 0) -> None:
        self.stale_rate = stale_rate
        self.stall_for = stall_for
        self.seed = seed
        self.subs: dict[str, _Sub] = {}
        self.lock = threading.Lock()
        self.server = PushService(responder=self.respond, keys=KEYS)
        self.url = self.server.url

    @property
    def connections(self) -> int:
        return self.server.connections

    def add(self, name: str, plan: list[Step]) -> dict[str, Any]:
        self.subs[name] = _Sub(plan)
        return self.server.sub(name)

    def stop(self) -> None:
        self.server.stop()

    def decide(self, name: str, reused: bool) -> Step:
        """What to do with this request: a stale close, or the plan's next step."""
        with self.lock:
            sub = self.subs[name]
            previous = sub.events[-1].kind if sub.events else None
            # Seeded by the subscription's history, not by thread timing.
            lottery = random.Random(f"{self.seed}:{name}:{len(sub.events)}").random()
            # Never twice in a row (nor right after a dropped request): one
            # resend always suffices, which is what the transport promises.
            if reused and previous not in (DROP, STALE) and lottery < self.stale_rate:
                return Step(STALE)
            if sub.consumed >= len(sub.plan):
                sub.overrun += 1
                return Step(E500)
            step = sub.plan[sub.consumed]
            sub.consumed += 1
            return step

    def record(self, request: Request, step: Step) -> None:
        attempt = int(request.headers.get(ATTEMPT, "0"))
        with self.lock:
            self.subs[request.name].events.append(
                Event(step.kind, step.retry_after, request.arrived, time.monotonic(), attempt)
            )

    def respond(self, request: Request) -> Answer:
        """The answer to one request; recorded before it goes out (the record is never late)."""
        step = self.decide(request.name, reused=request.index > 0)
        self.record(request, step)
        if step.kind in (STALE, DROP):
            return Answer(close=True)  # read, never answered
        if step.kind == STALL:
            return Answer(delay=self.stall_for, close=True)  # far past the client's timeout
        status = ANSWERED[step.kind]
        body = json.dumps({"code": status, "errno": 999, "message": f"fault {step.kind}"}).encode()
        headers = {"Content-Type": "application/json"}
        if step.retry_after is not None:
            headers["Retry-After"] = step.retry_after
        return Answer(status, headers, body)


@pytest.fixture
def fault_service() -> Iterator[Callable[..., FaultService]]:
    services: list[FaultService] = []

    def start(**kw: Any) -> FaultService:
        services.append(FaultService(**kw))
        return services[-1]

    yield start
    for service in services:
        service.stop()


# --------------------------------------------------------------------------
# What the client saw, attempt by attempt


@dataclass(frozen=True)
class Tried:
    """One attempt as the client saw it."""

    outcome: str  # an answered kind ("201", "429", ...), DROP (TransportError) or STALL (timeout)
    elapsed: float  # seconds from handing the request to the transport to its outcome


def outcome_kind(outcome: object) -> str:
    if isinstance(outcome, PushResponse):
        return str(outcome.status)
    if isinstance(outcome, PushTimeout):
        return STALL
    if isinstance(outcome, TransportError):
        return DROP
    return repr(outcome)  # matches no kind: the oracle fails on it, naming it


class AttemptLog:
    """Numbers each attempt's request and keeps what came back to the client.

    It wraps the engine's hand-off to the transport (``submit``): one call per
    attempt, the transport's own resend included. The production code is
    unchanged; only the request gains the ATTEMPT header, which the service
    records.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tried: dict[str, list[Tried]] = defaultdict(list)
        self.started: Counter[str] = Counter()

    def attach(self, client: PushClient) -> None:
        engine = client._engine
        submit = engine.submit

        def numbered(request: Any, done: Callable[[Any], None], **options: Any) -> None:
            name = request.url.rsplit("/", 1)[-1]
            with self.lock:
                self.started[name] += 1
                attempt = self.started[name]
            request = replace(request, headers={**request.headers, ATTEMPT: str(attempt)})
            start = time.monotonic()

            def landed(outcome: Any) -> None:
                tried = Tried(outcome_kind(outcome), time.monotonic() - start)
                with self.lock:
                    self.tried[name].append(tried)
                done(outcome)

            submit(request, landed, **options)

        engine.submit = numbered


# --------------------------------------------------------------------------
# The oracle


@dataclass
class Expected:
    attempts: int
    final: str  # the outcome of the last attempt: what the client saw last
    retried_429s: list[str]  # Retry-After values of 429s the client waited on
    late: int  # attempts that ended at their deadline


def one_attempt(kinds: list[str], tried: Tried, timeout: float) -> Optional[str]:
    """Why an attempt's requests (as the service saw them) break the transport's
    promise, given what the client saw; None when they keep it."""
    late = tried.elapsed >= timeout  # the deadline ended it, whatever the service did
    resent = len(kinds) == 2 and kinds[0] in UNANSWERED
    if tried.outcome in ANSWERED:
        # The answer, once, or after one dropped request on a new connection.
        return (
            None if kinds == [tried.outcome] or (resent and kinds[1] == tried.outcome) else "answer"
        )
    if tried.outcome == DROP:
        if resent and kinds[1] == DROP:
            return None  # dropped, resent, dropped again: the attempt ends
        if late and kinds in ([DROP], [STALE]):
            return None  # the drop came when no time was left for a resend
        return "drop not resent once"
    if tried.outcome == STALL:
        if kinds in ([STALL], [DROP, STALL], [STALE, STALL]):
            return None if late else "a timeout before the deadline"
        if late and (len(kinds) < 2 or kinds[0] in UNANSWERED):
            return None  # still queued, or answered after the deadline
        return "timeout"
    return f"an outcome of no kind: {tried.outcome}"


def replay(events: list[Event], tried: list[Tried], timeout: float) -> Expected:
    """Each attempt checked against the service's record of its requests."""
    attempts = len(tried)
    kinds = [(e.attempt, e.kind) for e in events]
    assert all(1 <= e.attempt <= attempts for e in events), (
        f"a request outside any attempt: {kinds}"
    )
    retried: list[str] = []
    for number, this in enumerate(tried, 1):
        mine = [e for e in events if e.attempt == number]
        broken = one_attempt([e.kind for e in mine], this, timeout)
        assert broken is None, f"attempt {number} ({this}): {broken}: {kinds}"
        if this.outcome == RATE and number < attempts:
            retry_after = mine[-1].retry_after
            assert retry_after is not None
            retried.append(retry_after)
    final = tried[-1].outcome if tried else ""
    late = sum(t.elapsed >= timeout for t in tried)
    return Expected(attempts, final, retried, late)


ERROR_FOR = {
    RATE: RateLimited,
    E500: ServerError,
    E503: ServerError,
    DROP: TransportError,
    STALL: PushTimeout,
    GONE: ExpiredSubscription,
    NOT_FOUND: ExpiredSubscription,
}


def check_results(
    service: FaultService,
    log: AttemptLog,
    results: list[tuple[SendResult, float]],
    max_retries: int,
    timeout: float,
) -> dict[str, Expected]:
    """Every assertion that needs only the records and the results."""
    names = [r.endpoint.rsplit("/", 1)[-1] for r, _ in results if r.endpoint]
    assert len(results) == len(service.subs)
    assert Counter(names) == Counter(list(service.subs)), "exactly one result per subscription"
    expected: dict[str, Expected] = {}
    for result, _ in results:
        name = result.endpoint.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        sub = service.subs[name]
        assert sub.overrun == 0, f"{name}: more requests than the plan: {sub.events}"
        exp = expected[name] = replay(sub.events, log.tried[name], timeout)
        assert result.attempts == exp.attempts, (name, [e.kind for e in sub.events], result)
        assert result.ok == (exp.final == OK), (name, [e.kind for e in sub.events], result)
        if result.ok:
            assert result.error is None and result.status_code == 201
            assert not result.expired
            continue
        cls = ERROR_FOR[exp.final]
        assert isinstance(result.error, cls), (name, exp.final, result.error)
        if cls is TransportError:
            assert not isinstance(result.error, PushTimeout)
        assert result.status_code == ANSWERED.get(exp.final)
        assert result.expired == (exp.final in (GONE, NOT_FOUND))
        if result.expired:
            # Gone is final: tried once, never retried.
            assert result.attempts == 1
            assert [e.kind for e in sub.events if e.kind != STALE] == [exp.final]
        else:
            # Every retryable failure was retried to the limit.
            assert result.attempts == max_retries + 1
        if exp.final == RATE:
            assert result.retry_after == float(sub.events[-1].retry_after)  # type: ignore[arg-type]
        if exp.final in ANSWERED:
            assert f"fault {exp.final}" in str(result.error)  # the service's own words
    return expected


def per_subscription_bound(
    timeout: float,
    max_retries: int,
    retry_after_max: float,
    *,
    real_sleep: bool,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> float:
    """The retry policy's worst case for one subscription, from its constants.

    Each attempt ends by ``timeout`` (the stale-connection resend shares the
    attempt's deadline); between attempts the client waits at most
    max(jitter cap, capped Retry-After).
    """
    bound = (max_retries + 1) * timeout
    if real_sleep:
        for attempt in range(1, max_retries + 1):
            jitter = min(policy.backoff_cap, policy.backoff_base * 2 ** (attempt - 1))
            bound += max(jitter, min(retry_after_max, policy.retry_after_cap))
    return bound


def run_send_many(
    client: PushClient, subscriptions: list[dict[str, Any]]
) -> tuple[list[tuple[SendResult, float]], float]:
    start = time.monotonic()
    results = [(r, time.monotonic()) for r in client.send_many(iter(subscriptions), b"fault test")]
    return results, time.monotonic() - start


def make_plans(
    rng: random.Random, length: int, weights: dict[str, float], retry_after: Callable[[], str]
) -> list[Step]:
    kinds = list(weights)
    plan = []
    for kind in rng.choices(kinds, [weights[k] for k in kinds], k=length):
        plan.append(Step(kind, retry_after() if kind == RATE else None))
    return plan


# --------------------------------------------------------------------------
# Fan-out over a few hundred subscriptions, sleeping patched


N_SUBS = 300
MAX_RETRIES = 2
TIMEOUT = 0.5
CONCURRENCY = 16


@pytest.mark.slow
def test_send_many_under_faults(fault_service: Callable[..., FaultService]) -> None:
    service = fault_service(stale_rate=0.15, seed=1)
    rng = random.Random(20261127)
    # Retry-After values far above any jitter (<= base * 2**(retries-1)), each
    # sub its own: the waits the client asks for then match them one to one.
    jitter_max = DEFAULT_POLICY.backoff_base * 2 ** (MAX_RETRIES - 1)
    ra_floor = int(jitter_max) + 8
    cap = DEFAULT_POLICY.retry_after_cap
    weights = {OK: 0.45, RATE: 0.12, E500: 0.1, E503: 0.1, DROP: 0.19, STALL: 0.04}
    length = 2 * (MAX_RETRIES + 1)  # enough for a resend in every attempt
    subscriptions = []
    for i in range(N_SUBS):
        if i % 10 == 0:
            plan = [Step(GONE)]
        elif i % 30 == 5:
            plan = [Step(NOT_FOUND)]
        elif i % 50 == 3:
            plan = [Step(E503)] * length  # persistently failing
        elif i % 50 == 13:
            plan = [Step(DROP)] * length  # every attempt: drop, resend, drop
        elif i % 100 == 23:
            plan = [Step(STALL)] * length  # every attempt times out
        elif i % 50 == 33:
            plan = [Step(RATE, str(int(cap) * 2))] * length  # a Retry-After above the cap
        else:
            plan = make_plans(rng, length, weights, lambda: str(rng.randint(ra_floor, int(cap))))
        subscriptions.append(service.add(f"s{i}", plan))

    with PushClient(
        VAPID,
        CLAIMS,
        timeout=TIMEOUT,
        max_retries=MAX_RETRIES,
        concurrency=CONCURRENCY,
        endpoint_policy=LOCAL,
        breaker_threshold=None,  # the per-subscription policy alone (breaker: test_origins)
    ) as client:
        manual = use_manual_time(client)  # waits pass at once, and are recorded
        log = AttemptLog()
        log.attach(client)
        results, wall = run_send_many(client, subscriptions)

    expected = check_results(service, log, results, MAX_RETRIES, TIMEOUT)
    waits = manual.retries()  # each subscription's own backoffs

    # Retry-After honoured: each wait after a 429 is its (capped) Retry-After;
    # every other wait is jitter, far below the smallest Retry-After used.
    assert len(waits) == sum(r.attempts - 1 for r, _ in results)
    honoured = sorted(w for w in waits if w >= ra_floor)
    asked = sorted(min(float(v), cap) for e in expected.values() for v in e.retried_429s)
    assert honoured == asked
    assert all(w <= jitter_max for w in waits if w < ra_floor)
    assert any(float(v) > cap for e in expected.values() for v in e.retried_429s)

    # The stale closes happened, and cost no subscription an attempt.
    events = [e for s in service.subs.values() for e in s.events]
    kinds = Counter(e.kind for e in events)
    assert kinds[STALE] >= 10 and kinds[DROP] >= 10 and kinds[STALL] >= 5, kinds
    stale_but_first_try = [
        name
        for name, sub in service.subs.items()
        if sub.plan[0].kind == OK
        and any(e.kind == STALE for e in sub.events)
        and not expected[name].late  # its deadline, not the service, ended no attempt
    ]
    assert len(stale_but_first_try) >= 5
    by_name = {r.endpoint.rsplit("/", 1)[-1]: r for r, _ in results}  # type: ignore[union-attr]
    for name in stale_but_first_try:
        assert by_name[name].ok and by_name[name].attempts == 1

    # A mix of outcomes, so every branch above was exercised.
    finals = Counter(e.final for e in expected.values())
    assert all(finals[k] > 0 for k in (OK, RATE, E500, E503, DROP, STALL, GONE, NOT_FOUND)), finals

    # Time: no subscription held longer than the policy allows (from its
    # first request to its result), nor the whole run. The slack is for a busy
    # machine; one attempt waited out to the service's stall (3 s) exceeds it.
    per_sub = per_subscription_bound(TIMEOUT, MAX_RETRIES, 0, real_sleep=False)
    first_request = {name: sub.events[0].arrived for name, sub in service.subs.items()}
    for result, done in results:
        name = result.endpoint.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        assert done - first_request[name] <= per_sub + 2.0, (name, done - first_request[name])
    assert wall <= math.ceil(N_SUBS / CONCURRENCY) * per_sub + 5.0


# --------------------------------------------------------------------------
# The same with real sleeping (small numbers)


@pytest.mark.slow
def test_send_many_under_faults_real_time(fault_service: Callable[..., FaultService]) -> None:
    service = fault_service(stale_rate=0.2, seed=2)
    rng = random.Random(7)
    n, retries, concurrency = 48, 2, 16
    weights = {OK: 0.4, RATE: 0.25, E500: 0.1, E503: 0.05, DROP: 0.15, STALL: 0.05}
    subscriptions = []
    for i in range(n):
        if i % 12 == 0:
            plan = [Step(GONE)]
        elif i % 12 == 1:
            plan = [Step(RATE, "1"), Step(RATE, "0"), Step(OK)]
        else:
            plan = make_plans(rng, 2 * (retries + 1), weights, lambda: rng.choice(["0", "1"]))
        subscriptions.append(service.add(f"r{i}", plan))

    with PushClient(
        VAPID,
        CLAIMS,
        timeout=TIMEOUT,
        max_retries=retries,
        concurrency=concurrency,
        endpoint_policy=LOCAL,
        breaker_threshold=None,  # the per-subscription policy alone (breaker: test_origins)
    ) as client:
        client._engine.retry = policy = RetryPolicy(max_retries=retries, backoff_base=0.05)
        log = AttemptLog()
        log.attach(client)
        results, wall = run_send_many(client, subscriptions)

    check_results(service, log, results, retries, TIMEOUT)
    # Retry-After honoured on the wire: the next request came no sooner.
    gaps = 0
    for sub in service.subs.values():
        for this, following in zip(sub.events, sub.events[1:]):
            if this.kind == RATE:
                assert following.arrived - this.answered >= float(this.retry_after or 0)
                gaps += this.retry_after == "1"
    assert gaps >= 4
    # Every attempt may also wait out a pause of the origin (RFC 8030 §8.4: a
    # 429 with Retry-After pauses every request to it) caused by another
    # subscription's 429: at most the largest Retry-After (1 s) each.
    per_sub = per_subscription_bound(TIMEOUT, retries, 1.0, real_sleep=True, policy=policy)
    per_sub += (retries + 1) * 1.0
    first_request = {name: sub.events[0].arrived for name, sub in service.subs.items()}
    for result, done in results:
        name = result.endpoint.rsplit("/", 1)[-1]  # type: ignore[union-attr]
        assert done - first_request[name] <= per_sub + 1.0
    assert wall <= math.ceil(n / concurrency) * per_sub + 3.0


def test_stale_connections_only_never_fail(fault_service: Callable[..., FaultService]) -> None:
    # A service that answers 201 to everything but closes kept-alive
    # connections often: with max_retries=0 any leak would be a failure.
    service = fault_service(stale_rate=0.5, seed=3)
    subscriptions = [service.add(f"k{i}", [Step(OK)]) for i in range(60)]
    with PushClient(
        timeout=2, max_retries=0, concurrency=4, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        results, _ = run_send_many(client, subscriptions)
    assert all(r.ok and r.attempts == 1 for r, _ in results), [r for r, _ in results if not r.ok]
    stale = sum(e.kind == STALE for s in service.subs.values() for e in s.events)
    assert stale >= 10
    assert service.connections > 4  # closed connections were replaced


def test_result_errors_are_library_errors(fault_service: Callable[..., FaultService]) -> None:
    # A small mixed run with max_retries=0: no error of another kind leaks.
    service = fault_service()
    subs = [
        service.add(f"m{i}", [Step(kind, "0" if kind == RATE else None)] * 2)
        for i, kind in enumerate([OK, RATE, E500, E503, DROP, GONE, NOT_FOUND])
    ]
    with PushClient(
        timeout=0.5, max_retries=0, endpoint_policy=LOCAL, breaker_threshold=None
    ) as client:
        log = AttemptLog()
        log.attach(client)
        results, _ = run_send_many(client, subs)
    for result, _ in results:
        assert result.ok or isinstance(result.error, WebPushException)
        assert result.ok or type(result.error) is not WebPushException  # a specific subclass
    check_results(service, log, results, 0, 0.5)


@pytest.mark.parametrize(
    ("kinds", "outcome", "late", "kept"),
    [
        # Within the deadline: exactly the transport's promise.
        ([OK], OK, False, True),
        ([STALE, OK], OK, False, True),
        ([DROP, RATE], RATE, False, True),
        ([DROP, DROP], DROP, False, True),
        ([DROP], DROP, False, False),  # a drop with time left not resent
        ([STALE], DROP, False, False),
        ([DROP, DROP, OK], OK, False, False),  # resent twice
        ([OK, OK], OK, False, False),  # an answered request sent again
        ([], OK, False, False),  # an answer nobody sent
        ([E500], OK, False, False),  # the wrong answer reported
        ([STALL], STALL, False, False),  # a timeout before the deadline
        ([], STALL, False, False),
        # At the deadline: the deadline may cut the attempt short.
        ([DROP], DROP, True, True),
        ([STALE], DROP, True, True),
        ([STALL], STALL, True, True),
        ([STALE, STALL], STALL, True, True),
        ([], STALL, True, True),  # still queued when its time ran out
        ([OK], STALL, True, True),  # answered after the deadline
        ([DROP, OK], STALL, True, True),
        ([OK, OK], STALL, True, False),  # still never sent twice
        ([DROP, DROP, DROP], DROP, True, False),
        ([OK], E500, True, False),
    ],
)
def test_the_oracle_holds_the_transport_to_its_promise(
    kinds: list[str], outcome: str, late: bool, kept: bool
) -> None:
    tried = Tried(outcome, TIMEOUT + 0.01 if late else TIMEOUT / 2)
    assert (one_attempt(kinds, tried, TIMEOUT) is None) == kept
