"""Name lookups for PushClient (webpush_core._wire.resolver): never on the caller, shared, cached.

The system resolver is replaced by a function that counts its calls and can
be held (an Event) to stand for a name server that does not answer.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
from typing import Any

import pytest

from webpush_core._delivery.client import PushClient
from webpush_core._endpoint import EndpointPolicy
from webpush_core._wire import resolver as resolver_module
from webpush_core._wire.resolver import (
    _MAX_ENTRIES,
    QUEUE,
    STALE_FOR,
    WORKERS,
    ZONE_LOOKUPS,
    ZONE_QUEUE,
    Resolver,
)
from webpush_core.errors import EndpointNotAllowed, TransportError
from webpush_core.testing import LocalPushService

# The fake name servers answer at once: a lookup that takes this long has hung.
WAIT = 2.0


class FakeDNS:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []
        self.arguments: list[tuple[str, int, dict[str, Any], str]] = []  # with the thread's name
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()

    def __call__(self, host: str, port: int, **kw: Any) -> list[Any]:
        with self.lock:
            self.calls.append(host)
            self.arguments.append((host, port, kw, threading.current_thread().name))
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
    results = {tuple(f.result(timeout=WAIT)) for f in futures}
    assert results == {((socket.AF_INET, "8.8.8.8"), (socket.AF_INET6, "2001:4860::1"))}
    assert dns.calls == ["push.example.com"]


def test_answers_cached_for_the_ttl_failures_for_less() -> None:
    now = [100.0]
    dns = FakeDNS({"good.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, negative_ttl=10.0, clock=lambda: now[0])
    for _ in range(3):
        assert resolver.resolve("good.example.com", 443).result(WAIT) == [
            (socket.AF_INET, "8.8.8.8")
        ]
        with pytest.raises(socket.gaierror):
            resolver.resolve("bad.example.com", 443).result(WAIT)
    assert dns.calls == ["good.example.com", "bad.example.com"]
    now[0] += 10.5  # the failure expired, the answer not
    resolver.resolve("good.example.com", 443).result(WAIT)
    with pytest.raises(socket.gaierror):
        resolver.resolve("bad.example.com", 443).result(WAIT)
    assert dns.calls.count("bad.example.com") == 2 and dns.calls.count("good.example.com") == 1
    resolver.resolve("good.example.com", 8443).result(WAIT)  # per (host, port)
    assert dns.calls.count("good.example.com") == 2


def _wait_for(predicate: Any, seconds: float = WAIT) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return bool(predicate())


def test_an_expired_answer_is_used_while_a_fresh_one_is_looked_up() -> None:
    now = [100.0]
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, clock=lambda: now[0])
    resolver.resolve("push.example.com", 443).result(WAIT)
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
    assert _wait_for(lambda: not resolver._pending)  # (that call refreshed again, and failed)
    assert not resolver._running  # each failed refresh gave its zone's turn back
    now[0] += 600.0  # until STALE_FOR has passed too
    with pytest.raises(socket.gaierror, match="no addresses"):
        resolver.resolve("push.example.com", 443).result(WAIT)


def test_a_zone_of_slow_names_cannot_take_every_thread() -> None:
    slow = threading.Event()

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        if host.endswith(".slow.example"):
            slow.wait(30)  # a zone whose name servers never answer
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    resolver = Resolver(getaddrinfo, workers=8)  # zones without an answer share 4
    try:
        # The zone is the last two labels, however many come before them.
        names = [f"s{i}.slow.example" for i in range(20)]
        names += [f"s{i}.d{i}.slow.example" for i in range(20)]
        waiting = [resolver.resolve(name, 443) for name in names]
        honest = resolver.resolve("push.example.com", 443)  # never answered either
        assert honest.result(WAIT) == [(socket.AF_INET, "8.8.8.8")]
        assert len(resolver._running) == 1 and resolver._running["slow.example"] == 2
    finally:
        slow.set()
    for future in waiting:  # every queued name gets its turn, and its answer
        with pytest.raises(socket.gaierror):
            future.result(WAIT)
    assert not resolver._running and not resolver._queued


class HeldDNS:
    """Names answer 8.8.8.8 at once, except under a held name (``hold``): those wait
    for its Event, then fail as a zone whose servers never answer (EAI_AGAIN), or
    answer late (``late=True``)."""

    def __init__(self) -> None:
        self.held: dict[str, threading.Event] = {}
        self.late: set[str] = set()
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def hold(self, name: str, *, late: bool = False) -> None:
        self.held[name] = threading.Event()
        if late:
            self.late.add(name)

    def release(self, name: str | None = None) -> None:
        for held, event in self.held.items():
            if name is None or held == name:
                event.set()

    def __call__(self, host: str, port: int, **kw: Any) -> list[Any]:
        with self.lock:
            self.calls.append(host)
        for name, event in list(self.held.items()):
            if host == name or host.endswith("." + name):
                event.wait(30)
                if name in self.late:
                    break
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]


def _settled(resolver: Resolver) -> bool:
    return not (
        resolver._pending
        or resolver._queued
        or resolver._queued_answering
        or resolver._running
        or resolver._busy
        or resolver._busy_untried
    )


def test_zones_without_an_answer_hold_half_the_threads_at_most() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=WORKERS)
    share = resolver.untried_workers
    assert share == WORKERS // 2
    resolver.resolve("fcm.googleapis.com", 443).result(5)  # its zone has answered
    dns.hold("example")
    try:
        # At the limit: one name in each of `share` zones that never answered, all running.
        held = [resolver.resolve(f"s.evil{z}.example", 443) for z in range(share)]
        assert resolver._busy_untried == share
        assert _wait_for(lambda: len(dns.calls) == 1 + share)
        # One past: it waits for its turn, though threads are free ...
        past = resolver.resolve(f"s.evil{share}.example", 443)
        assert resolver._busy == share and list(resolver._queued) == [f"evil{share}.example"]
        # ... and they are free for zones that answered before.
        other = resolver.resolve("android.googleapis.com", 443)
        assert other.result(5) == [(socket.AF_INET, "8.8.8.8")]
        assert f"s.evil{share}.example" not in dns.calls
    finally:
        dns.release()
    for future in [*held, past]:
        with pytest.raises(socket.gaierror):
            future.result(10)
    assert f"s.evil{share}.example" in dns.calls  # it had its turn
    assert _wait_for(lambda: _settled(resolver))


def test_zones_that_answered_may_take_every_thread_and_go_first() -> None:
    dns = HeldDNS()
    workers = 4
    resolver = Resolver(dns, workers=workers)
    for z in range(workers + 1):  # every zone answers once
        resolver.resolve(f"www.a{z}.example", 443).result(5)
    for z in range(workers + 1):
        dns.hold(f"s.a{z}.example")  # then its next name stalls
    dns.hold("s.new.example")
    try:
        # At the limit: zones that answered take every thread, beyond the share.
        held = [resolver.resolve(f"s.a{z}.example", 443) for z in range(workers)]
        assert resolver._busy == workers and resolver._busy_untried == 0
        # One past: a zone without an answer and one more that answered both wait ...
        new = resolver.resolve("s.new.example", 443)
        late = resolver.resolve(f"s.a{workers}.example", 443)
        assert resolver._busy == workers and list(resolver._queued) == [
            "new.example",
            f"a{workers}.example",
        ]
        assert _wait_for(lambda: len(dns.calls) == 2 * workers + 1)
        # ... and the thread freed next goes to the one that answered, though it came later.
        dns.release("s.a0.example")
        with pytest.raises(socket.gaierror):
            held[0].result(10)
        assert _wait_for(lambda: f"s.a{workers}.example" in dns.calls)
        assert list(resolver._queued) == ["new.example"] and "s.new.example" not in dns.calls
    finally:
        dns.release()
    for future in [*held, new, late]:
        with pytest.raises(socket.gaierror):
            future.result(10)
    assert _wait_for(lambda: _settled(resolver))


def test_a_zone_that_answers_while_its_names_wait_goes_first_at_once() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=4)  # zones without an answer share 2 threads
    dns.hold("s1.a.example", late=True)
    for name in ("s2.a.example", "b.example", "c.example"):
        dns.hold(name)
    try:
        first = resolver.resolve("s1.a.example", 443)
        b = resolver.resolve("s.b.example", 443)  # the share is full
        c = resolver.resolve("s.c.example", 443)
        second = resolver.resolve("s2.a.example", 443)
        assert list(resolver._queued) == ["c.example", "a.example"]
        dns.release("s1.a.example")  # a's servers answer: its waiting name goes now,
        assert first.result(10) == [(socket.AF_INET, "8.8.8.8")]  # outside the share
        assert _wait_for(lambda: "s2.a.example" in dns.calls and "s.c.example" in dns.calls)
        assert resolver._busy == 3 and resolver._busy_untried == 2
    finally:
        dns.release()
    for future in (b, c, second):
        with pytest.raises(socket.gaierror):
            future.result(10)
    assert _wait_for(lambda: _settled(resolver))
    assert "a.example" not in resolver._answering  # its second name got no answer


def test_a_zone_that_stops_answering_loses_precedence_for_its_waiting_names() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=4)  # zones without an answer share 2 threads
    resolver.resolve("www.a.example", 443).result(5)  # a's servers answered
    for name in ("s1.a.example", "s2.a.example", "s3.a.example", "b.example", "c.example"):
        dns.hold(name)
    try:
        a = [resolver.resolve(f"s{i}.a.example", 443) for i in (1, 2, 3)]  # 2 run, 1 waits
        others = [resolver.resolve(f"s.{z}.example", 443) for z in "bc"]  # the share
        assert resolver._busy == 4 and resolver._busy_untried == 2
        assert list(resolver._queued_answering) == ["a.example"]
        dns.release("s1.a.example")  # no answer: a's third name now waits for the share
        with pytest.raises(socket.gaierror):
            a[0].result(10)
        assert resolver._busy == 3 and list(resolver._queued) == ["a.example"]
        assert not resolver._queued_answering
    finally:
        dns.release()
    for future in [*a, *others]:
        with pytest.raises(socket.gaierror):
            future.result(10)
    assert _wait_for(lambda: _settled(resolver))


def test_a_zones_first_lookup_goes_before_another_zones_second() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=4)  # zones without an answer share 2 threads
    for name in ("s1.a.example", "s2.a.example", "s3.a.example", "s1.b.example"):
        dns.hold(name)
    try:
        a = [resolver.resolve(f"s{i}.a.example", 443) for i in (1, 2, 3)]
        b = resolver.resolve("s1.b.example", 443)  # queued after a's third
        assert resolver._busy == 2 and list(resolver._queued) == ["a.example", "b.example"]
        dns.release("s1.a.example")
        assert _wait_for(lambda: "s1.b.example" in dns.calls)
        assert "s3.a.example" not in dns.calls and list(resolver._queued) == ["a.example"]
    finally:
        dns.release()
    for future in [*a, b]:
        with pytest.raises(socket.gaierror):
            future.result(10)


def test_a_zone_queues_at_most_zone_queue_lookups() -> None:
    dns = HeldDNS()
    dns.hold("slow.example")
    resolver = Resolver(dns, workers=2)  # its zone runs one at a time (the share)
    try:
        running = resolver.resolve("s0.slow.example", 443)
        # At the limit: ZONE_QUEUE names wait for the zone's turn.
        queued = [resolver.resolve(f"s{i}.slow.example", 443) for i in range(1, ZONE_QUEUE + 1)]
        assert len(resolver._queued["slow.example"]) == ZONE_QUEUE
        assert not any(f.done() for f in queued)
        # One past: refused at once, not queued, not cached.
        past = resolver.resolve("past.slow.example", 443)
        assert past.done()
        with pytest.raises(socket.gaierror, match="too many lookups waiting"):
            past.result(0)
        refused = past.exception()
        assert isinstance(refused, socket.gaierror)
        assert (refused.errno, refused.strerror) == (socket.EAI_AGAIN, "too many lookups waiting")
        assert len(resolver._queued["slow.example"]) == ZONE_QUEUE
        assert ("past.slow.example", 443) not in resolver._pending
        # Another zone has a queue of its own.
        other = resolver.resolve("s.other.example", 443)
        assert list(resolver._queued) == ["slow.example", "other.example"]
    finally:
        dns.release()
    for future in [running, *queued]:
        with pytest.raises(socket.gaierror, match="Temporary failure"):
            future.result(10)
    assert other.result(10) == [(socket.AF_INET, "8.8.8.8")]
    assert "past.slow.example" not in dns.calls
    with pytest.raises(socket.gaierror, match="Temporary failure"):  # looked up now
        resolver.resolve("past.slow.example", 443).result(10)
    assert dns.calls.count("past.slow.example") == 1


def test_at_most_queue_lookups_wait_in_all() -> None:
    dns = HeldDNS()
    dns.hold("example")
    resolver = Resolver(dns, workers=1)
    zones = QUEUE // ZONE_QUEUE
    try:
        running = resolver.resolve("s.first.example", 443)
        # At the limit: QUEUE names wait, ZONE_QUEUE in each of `zones` zones.
        queued = [
            resolver.resolve(f"s{i}.z{z}.example", 443)
            for z in range(zones)
            for i in range(ZONE_QUEUE)
        ]
        assert resolver._waiting == QUEUE and not any(f.done() for f in queued)
        # One past, in a zone with an empty queue: refused at once.
        past = resolver.resolve("s.past.example", 443)
        with pytest.raises(socket.gaierror, match="too many lookups waiting"):
            past.result(0)
        assert resolver._waiting == QUEUE and len(resolver._pending) == QUEUE + 1
    finally:
        dns.release()
    for future in [running, *queued]:
        with pytest.raises(socket.gaierror, match="Temporary failure"):
            future.result(30)
    assert "s.past.example" not in dns.calls
    assert _wait_for(lambda: _settled(resolver)) and resolver._waiting == 0


def test_a_lookup_nobody_waits_for_is_not_run() -> None:
    dns = HeldDNS()
    dns.hold("slow.example")
    resolver = Resolver(dns, workers=2)  # zones without an answer run one at a time
    try:
        running = resolver.resolve("s.slow.example", 443)
        wanted = resolver.resolve("wanted.example.com", 443)
        dropped = resolver.resolve("dropped.example.net", 443)
        first, second = (resolver.resolve("shared.example.org", 443) for _ in range(2))
        assert first is not second  # one future per caller, one lookup
        assert len(resolver._pending) == 4 and resolver._waiting == 3
        assert dropped.cancel() and first.cancel()  # their callers stopped waiting
        assert ("dropped.example.net", 443) not in resolver._pending
        assert "example.net" not in resolver._queued and resolver._waiting == 2
        # A caller leaving a lookup under way: it goes on and fills the cache.
        assert running.cancel() and resolver._busy == 1
    finally:
        dns.release()
    assert wanted.result(10) == [(socket.AF_INET, "8.8.8.8")]
    assert second.result(10) == [(socket.AF_INET, "8.8.8.8")]
    assert _wait_for(lambda: _settled(resolver))
    assert "dropped.example.net" not in dns.calls
    assert dns.calls.count("shared.example.org") == 1
    assert resolver._cache[("s.slow.example", 443)][1].exception() is not None


def test_a_queued_lookup_left_by_its_caller_takes_its_zones_place_with_it() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=4)
    assert resolver.resolve("w.fast.example", 443).result(WAIT)  # answered: precedence
    dns.hold("fast.example", late=True)
    try:
        running = [resolver.resolve(f"r{i}.fast.example", 443) for i in range(2)]  # its turns
        queued = resolver.resolve("q.fast.example", 443)
        assert "fast.example" in resolver._queued_answering
        assert queued.cancel()
        assert "fast.example" not in resolver._queued
        assert "fast.example" not in resolver._queued_answering
    finally:
        dns.release()
    assert [f.result(WAIT) for f in running] == [[(socket.AF_INET, "8.8.8.8")]] * 2
    assert _wait_for(lambda: _settled(resolver))
    assert "q.fast.example" not in dns.calls


def test_a_started_lookup_left_by_its_caller_is_still_shared() -> None:
    dns = HeldDNS()
    dns.hold("slow.example", late=True)
    resolver = Resolver(dns, workers=2)
    try:
        first = resolver.resolve("s.slow.example", 443)
        assert _wait_for(lambda: dns.calls == ["s.slow.example"])  # under way
        assert first.cancel()  # its caller left; the lookup goes on ...
        second = resolver.resolve("s.slow.example", 443)  # ... and a new caller joins it
    finally:
        dns.release()
    assert second.result(WAIT) == [(socket.AF_INET, "8.8.8.8")]
    assert dns.calls == ["s.slow.example"]
    assert _wait_for(lambda: _settled(resolver))


def test_a_zone_forgotten_while_its_names_wait_loses_its_precedence() -> None:
    dns = HeldDNS()
    resolver = Resolver(dns, workers=4)
    assert resolver.resolve("w.first.example", 443).result(WAIT)  # the oldest zone heard
    dns.hold("first.example", late=True)
    try:
        held = [resolver.resolve(f"r{i}.first.example", 443) for i in range(2)]
        waiting = resolver.resolve("q.first.example", 443)
        assert "first.example" in resolver._queued_answering
        # _MAX_ENTRIES more zones answer: the oldest is forgotten, and its waiting name
        # now waits as a zone's without an answer.
        for i in range(_MAX_ENTRIES):
            resolver.resolve(f"n.z{i}.example", 443).result(WAIT)
        assert len(resolver._answering) == _MAX_ENTRIES
        assert "first.example" not in resolver._answering
        assert "first.example" not in resolver._queued_answering
    finally:
        dns.release()
    assert [f.result(WAIT) for f in [*held, waiting]] == [[(socket.AF_INET, "8.8.8.8")]] * 3
    assert _wait_for(lambda: _settled(resolver))


def test_a_queued_refresh_runs_though_no_caller_waits_for_it() -> None:
    now = [100.0]
    dns = HeldDNS()
    resolver = Resolver(dns, workers=1, clock=lambda: now[0])
    resolver.resolve("push.example.com", 443).result(5)
    dns.hold("slow.example")
    try:
        held = resolver.resolve("s.slow.example", 443)  # the only thread
        now[0] += 61.0
        stale = resolver.resolve("push.example.com", 443)
        assert stale.result(0) == [(socket.AF_INET, "8.8.8.8")]  # served at once
        assert resolver._waiting == 1  # its refresh waits for the thread
    finally:
        dns.release()
    with pytest.raises(socket.gaierror):
        held.result(10)
    assert _wait_for(lambda: dns.calls.count("push.example.com") == 2)
    assert _wait_for(lambda: _settled(resolver))
    assert resolver._cache[("push.example.com", 443)][0] == now[0] + 60.0  # fresh again


# Whether a zone keeps its precedence after a failed lookup: only its servers'
# silence takes it away; "no such name" is an answer; a failure that says
# nothing about the servers (a malformed name, a broken resolver) changes nothing.
FAILURES = [
    (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), False, False),
    (socket.gaierror(socket.EAI_FAIL, "Non-recoverable failure"), False, False),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), True, True),
    (UnicodeError("label empty or too long"), True, False),
    (RuntimeError("bug"), True, False),
]


@pytest.mark.parametrize("answered_before", [True, False])
@pytest.mark.parametrize(("failure", "kept", "gained"), FAILURES, ids=lambda v: repr(v)[:20])
def test_only_silence_takes_a_zones_precedence_away(
    failure: BaseException, kept: bool, gained: bool, answered_before: bool
) -> None:
    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        if host.startswith("bad."):
            raise failure
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    resolver = Resolver(getaddrinfo)
    if answered_before:
        resolver.resolve("fcm.googleapis.com", 443).result(5)
    assert ("googleapis.com" in resolver._answering) is answered_before
    with pytest.raises(OSError if isinstance(failure, (OSError, RuntimeError)) else UnicodeError):
        resolver.resolve("bad.googleapis.com", 443).result(5)
    assert _wait_for(lambda: _settled(resolver))
    expected = kept if answered_before else gained
    assert ("googleapis.com" in resolver._answering) is expected


@pytest.mark.parametrize("names", [_MAX_ENTRIES, _MAX_ENTRIES + 1])
def test_the_cache_and_the_zones_remembered_stay_bounded(names: int) -> None:
    resolver = Resolver(HeldDNS())
    for i in range(names):
        resolver.resolve(f"push.z{i}.example", 443).result(5)
    assert _wait_for(lambda: _settled(resolver))
    assert len(resolver._cache) == len(resolver._answering) == _MAX_ENTRIES
    assert ("z0.example" in resolver._answering) is (names == _MAX_ENTRIES)  # least recent
    assert (("push.z0.example", 443) in resolver._cache) is (names == _MAX_ENTRIES)
    assert f"z{names - 1}.example" in resolver._answering


def test_ip_literals_are_not_looked_up() -> None:
    dns = FakeDNS({})
    resolver = Resolver(dns)
    assert resolver.resolve("127.0.0.1", 80).result(0) == [(socket.AF_INET, "127.0.0.1")]
    assert resolver.resolve("[::1]", 80).result(0) == [(socket.AF_INET6, "::1")]
    assert dns.calls == []


def test_a_broken_resolver_fails_the_lookup_not_the_thread() -> None:
    def broken(host: str, port: int, **kw: Any) -> list[Any]:
        raise RuntimeError("bug")

    with pytest.raises(OSError, match=r"^lookup failed: RuntimeError$"):
        Resolver(broken).resolve("x.example.com", 443).result(WAIT)


def test_two_first_callers_at_once_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    # The interleaving that would break "once": the second caller checks the pid (the
    # after-fork check) while the first one's lookup is already under way.
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    dns.hold.clear()
    resolver = Resolver(dns)
    real_getpid = os.getpid

    def getpid() -> int:
        if threading.current_thread().name == "second-caller":
            _wait_for(lambda: bool(resolver._pending))
        return real_getpid()

    monkeypatch.setattr(resolver_module.os, "getpid", getpid)
    second: list[Any] = []
    caller = threading.Thread(
        target=lambda: second.append(resolver.resolve("push.example.com", 443)),
        name="second-caller",
    )
    caller.start()
    try:
        first = resolver.resolve("push.example.com", 443)
        caller.join(WAIT)
        assert len(second) == 1 and len(resolver._pending) == 1
    finally:
        dns.hold.set()
    assert first.result(WAIT) == second[0].result(WAIT) == [(socket.AF_INET, "8.8.8.8")]
    assert dns.calls == ["push.example.com"]  # one lookup for both


def test_a_lookup_asks_for_the_port_and_stream_sockets_on_a_named_thread() -> None:
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    Resolver(dns).resolve("push.example.com", 8443).result(WAIT)
    [(host, port, kw, thread)] = dns.arguments
    assert (host, port, kw) == ("push.example.com", 8443, {"type": socket.SOCK_STREAM})
    assert thread.startswith("webpush_core-dns")  # what a thread dump of the process shows


def test_at_most_workers_lookups_run_at_once() -> None:
    # Zones whose servers answered before may use every thread ...
    zones = [f"zone{i}.example" for i in range(3)]
    dns = FakeDNS({f"{n}.{zone}": ["8.8.8.8"] for zone in zones for n in ("warm", "n")})
    resolver = Resolver(dns, workers=2)
    for zone in zones:
        resolver.resolve(f"warm.{zone}", 443).result(WAIT)
    dns.hold.clear()
    try:
        futures = [resolver.resolve(f"n.{zone}", 443) for zone in zones]
        assert _wait_for(lambda: len(dns.calls) == 5)
        time.sleep(0.2)  # a third thread would have started its lookup by now
        assert len(dns.calls) == 5
    finally:
        dns.hold.set()
    assert [f.result(WAIT) for f in futures] == [[(socket.AF_INET, "8.8.8.8")]] * 3


def test_zones_without_an_answer_share_half_the_workers() -> None:
    # ... zones not heard from yet share half of them (at least one).
    for workers, share in ((4, 2), (2, 1), (1, 1)):
        dns = FakeDNS({f"n.new{i}.example": ["8.8.8.8"] for i in range(4)})
        dns.hold.clear()
        resolver = Resolver(dns, workers=workers)
        try:
            futures = [resolver.resolve(f"n.new{i}.example", 443) for i in range(4)]
            assert _wait_for(lambda: len(dns.calls) == share)  # noqa: B023
            time.sleep(0.2)
            assert len(dns.calls) == share, workers
        finally:
            dns.hold.set()
        assert [f.result(WAIT) for f in futures] == [[(socket.AF_INET, "8.8.8.8")]] * 4


def test_the_zone_limit_holds_whatever_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ZONE_LOOKUPS == 2  # (the zone test above: two run, the rest wait)
    monkeypatch.setattr(resolver_module, "ZONE_LOOKUPS", 1)
    dns = FakeDNS({"a.one.example": ["8.8.8.8"], "b.one.example": ["8.8.4.4"]})
    dns.hold.clear()
    resolver = Resolver(dns)
    try:
        first, second = (resolver.resolve(n, 443) for n in ("a.one.example", "b.one.example"))
        assert _wait_for(lambda: len(dns.calls) == 1)
        time.sleep(0.2)
        assert dns.calls == ["a.one.example"]  # the zone's one turn is taken
    finally:
        dns.hold.set()
    assert first.result(WAIT) == [(socket.AF_INET, "8.8.8.8")]
    assert second.result(WAIT) == [(socket.AF_INET, "8.8.4.4")]
    assert not resolver._running and not resolver._queued


def test_an_empty_answer_is_a_noname_error() -> None:
    dns = FakeDNS({"empty.example.com": []})
    with pytest.raises(socket.gaierror) as caught:
        Resolver(dns).resolve("empty.example.com", 443).result(WAIT)
    assert (caught.value.errno, caught.value.strerror) == (socket.EAI_NONAME, "no addresses")


def test_a_pool_that_is_shut_down_fails_the_lookup_not_the_caller() -> None:
    # At interpreter exit the pool refuses new work: the future fails, nothing is left waiting.
    dns = FakeDNS({"a.example.com": ["8.8.8.8"], "b.example.com": ["8.8.4.4"]})
    resolver = Resolver(dns)
    resolver.resolve("a.example.com", 443).result(WAIT)
    assert resolver._pool is not None
    resolver._pool.shutdown()
    future = resolver.resolve("b.example.com", 443)
    with pytest.raises(RuntimeError, match="shutdown"):
        future.result(0)
    assert not resolver._pending and not resolver._running and not resolver._queued
    cached = resolver.resolve("b.example.com", 443)  # cached like any failure
    assert cached.done() and isinstance(cached.exception(), RuntimeError)
    assert dns.calls == ["a.example.com"]


def test_answers_and_failures_expire_at_their_ttl_exactly() -> None:
    now = [100.0]
    dns = FakeDNS({"good.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, negative_ttl=10.0, clock=lambda: now[0])
    resolver.resolve("good.example.com", 443).result(WAIT)
    with pytest.raises(socket.gaierror):
        resolver.resolve("bad.example.com", 443).result(WAIT)
    now[0] = 109.5  # both still cached
    resolver.resolve("good.example.com", 443).result(WAIT)
    with pytest.raises(socket.gaierror):
        resolver.resolve("bad.example.com", 443).result(WAIT)
    assert dns.calls == ["good.example.com", "bad.example.com"]
    now[0] = 110.0  # the failure's negative TTL is over: asked again
    with pytest.raises(socket.gaierror):
        resolver.resolve("bad.example.com", 443).result(WAIT)
    assert dns.calls.count("bad.example.com") == 2
    now[0] = 159.5
    resolver.resolve("good.example.com", 443).result(WAIT)
    assert dns.calls.count("good.example.com") == 1
    now[0] = 160.0  # the answer's TTL is over: refreshed (the old answer served meanwhile)
    resolver.resolve("good.example.com", 443).result(WAIT)
    assert _wait_for(lambda: dns.calls.count("good.example.com") == 2)


@pytest.mark.parametrize(("late", "served_stale"), [(STALE_FOR - 0.5, True), (STALE_FOR, False)])
def test_an_expired_answer_is_served_for_stale_for_and_no_longer(
    late: float, served_stale: bool
) -> None:
    now = [100.0]
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, clock=lambda: now[0])
    resolver.resolve("push.example.com", 443).result(WAIT)
    dns.hold.clear()
    now[0] = 160.0 + late
    try:
        future = resolver.resolve("push.example.com", 443)
        assert future.done() is served_stale  # past STALE_FOR the caller waits for the lookup
    finally:
        dns.hold.set()
    assert future.result(WAIT) == [(socket.AF_INET, "8.8.8.8")]


def test_every_caller_during_a_refresh_gets_the_stale_answer_at_once() -> None:
    now = [100.0]
    dns = FakeDNS({"push.example.com": ["8.8.8.8"]})
    resolver = Resolver(dns, ttl=60.0, clock=lambda: now[0])
    first_answer = resolver.resolve("push.example.com", 443)
    first_answer.result(WAIT)
    dns.hold.clear()
    now[0] = 161.0
    try:
        # The first caller starts the refresh; the ones after it, while the refresh is
        # under way, must not wait for it either.
        callers = [resolver.resolve("push.example.com", 443) for _ in range(3)]
        assert all(f.done() and f.result() == first_answer.result() for f in callers)
        assert _wait_for(lambda: len(dns.calls) == 2)
        dns.table["push.example.com"] = ["8.8.4.4"]
    finally:
        dns.hold.set()
    assert _wait_for(lambda: not resolver._pending)
    assert resolver.resolve("push.example.com", 443).result(0) == [(socket.AF_INET, "8.8.4.4")]
    assert len(dns.calls) == 2  # one refresh for them all


def test_the_cache_keeps_max_entries_names_dropping_the_least_recently_used() -> None:
    dns = FakeDNS({f"n{i}.example.com": ["8.8.8.8"] for i in range(_MAX_ENTRIES + 1)})
    resolver = Resolver(dns)
    for i in range(_MAX_ENTRIES):
        resolver.resolve(f"n{i}.example.com", 443).result(WAIT)
    resolver.resolve("n0.example.com", 443).result(WAIT)  # now the most recently used
    assert len(dns.calls) == _MAX_ENTRIES  # all of them were kept
    resolver.resolve(f"n{_MAX_ENTRIES}.example.com", 443).result(WAIT)  # one past the cap
    for name in ("n0.example.com", f"n{_MAX_ENTRIES}.example.com", "n2.example.com"):
        resolver.resolve(name, 443).result(WAIT)
    assert len(dns.calls) == _MAX_ENTRIES + 1  # none of those was dropped ...
    resolver.resolve("n1.example.com", 443).result(WAIT)
    assert dns.calls[-1] == "n1.example.com"  # ... the least recently used one was


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.0.2.1", (socket.AF_INET, "192.0.2.1")),
        ("[2001:db8::1]", (socket.AF_INET6, "2001:db8::1")),
        ("2001:db8::1", (socket.AF_INET6, "2001:db8::1")),
        # A zone id is split off before parsing (never sent to DNS) and kept in the answer.
        ("[fe80::1%eth0]", (socket.AF_INET6, "fe80::1%eth0")),
        ("[fe80::1%enX]", (socket.AF_INET6, "fe80::1%enX")),
        ("192.0.2.1%eth0", (socket.AF_INET, "192.0.2.1%eth0")),
        ("192.0.2.1%a%b", (socket.AF_INET, "192.0.2.1%a%b")),
    ],
)
def test_ip_literals_are_answered_as_they_are(host: str, expected: tuple[int, str]) -> None:
    dns = FakeDNS({})
    assert Resolver(dns).resolve(host, 443).result(0) == [expected]
    assert dns.calls == []


@pytest.mark.parametrize("host", ["192.0.2.1 x", "X192.0.2.1X", "192.0.2", "push.example.com"])
def test_anything_else_is_looked_up(host: str) -> None:
    dns = FakeDNS({host.lower(): ["8.8.8.8"]})
    assert Resolver(dns).resolve(host, 443).result(WAIT) == [(socket.AF_INET, "8.8.8.8")]
    assert dns.calls == [host.lower()]


def test_a_changed_pid_drops_the_lookups_under_way_and_keeps_the_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What the resolver sees in a forked child (the real fork is the next test), here
    # in this process: the pid changed, so the pool and the lookups under way are the
    # parent's. Finished answers are kept; a name under way is looked up again, once.
    parents_lookup = threading.Event()
    calls: list[str] = []

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        calls.append(host)
        if calls == ["cached.example.com", "held.example.com"]:
            parents_lookup.wait(30)  # the parent's thread: never returns in the child
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.4.4", port))]

    resolver = Resolver(getaddrinfo)
    resolver.resolve("cached.example.com", 443).result(WAIT)
    parents_pool = resolver._pool
    in_parent = resolver.resolve("held.example.com", 443)
    assert _wait_for(lambda: len(calls) == 2)
    child_pid = os.getpid() + 1
    monkeypatch.setattr(resolver_module.os, "getpid", lambda: child_pid)
    try:
        assert resolver.resolve("cached.example.com", 443).done()  # kept, not asked again
        again = [resolver.resolve("held.example.com", 443) for _ in range(2)]
        answers = [future.result(WAIT) for future in again]  # its own lookup ...
        assert answers == [[(socket.AF_INET, "8.8.4.4")]] * 2 and not in_parent.done()
        assert calls.count("held.example.com") == 2  # ... one for both callers
        assert resolver._pool is not None and resolver._pool is not parents_pool
        assert _wait_for(lambda: not resolver._pending) and not resolver._running
        assert resolver.resolve("other.example.com", 443).result(WAIT)  # and it goes on working
    finally:
        parents_lookup.set()


def test_in_a_forked_child_the_parents_lookups_under_way_are_not_waited_for() -> None:
    # A lookup under way in the parent has a pool thread that the child does not have:
    # the child must look the name up itself, and keep the parent's finished answers.
    parent = os.getpid()
    held = threading.Event()

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        if host == "held.example.com" and os.getpid() == parent:
            held.wait(30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    resolver = Resolver(getaddrinfo)
    resolver.resolve("cached.example.com", 443).result(WAIT)
    in_parent = resolver.resolve("held.example.com", 443)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running anything of the parent's
        try:
            cached = resolver.resolve("cached.example.com", 443)
            outcome = [cached.done()]
            futures = [resolver.resolve("held.example.com", 443) for _ in range(2)]
            answers = [future.result(WAIT) for future in futures]
            outcome += [answers[0] == answers[1], answers[0] == [(socket.AF_INET, "8.8.8.8")]]
            outcome += [not resolver._pending, not resolver._running, resolver._pool is not None]
            os.write(write_end, repr(outcome).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        report = os.read(read_end, 1000).decode() if ready else "no answer within 20 s"
    finally:
        held.set()
        os.close(read_end)
        os.waitpid(pid, 0)
    # cached at once; one shared lookup of its own, answered; nothing left behind.
    assert report == repr([True, True, True, True, True, True])
    assert in_parent.result(WAIT) == [(socket.AF_INET, "8.8.8.8")]


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


def test_a_delivery_that_timed_out_leaves_no_lookup_waiting(service: Any) -> None:
    # The only thread is held by a zone that never answers: the delivery's own
    # lookup waits its turn, the delivery times out, and its lookup is dropped
    # (the pool is not kept busy for a caller who has gone).
    dns = HeldDNS()
    dns.hold("slow.example")
    resolver = Resolver(dns, workers=1)
    policy = EndpointPolicy(allow_http=True, allow_private=True)
    try:
        held = resolver.resolve("s.slow.example", 443)
        with PushClient(endpoint_policy=policy, max_retries=0, timeout=0.5) as client:
            client._res.connections.resolver = resolver
            result = client.send(_sub(service, "gone.example"), b"hi")
        assert isinstance(result.error, TransportError) and "timed out" in result.error.message
        assert not any(host == "gone.example" for host, _ in resolver._pending)
        assert resolver._waiting == 0
    finally:
        dns.release()
    with pytest.raises(socket.gaierror):
        held.result(10)
    assert _wait_for(lambda: _settled(resolver))
    assert "gone.example" not in dns.calls and service.requests == []
