"""Name lookups for PushClient's event loop: off the loop, one at a time per name, cached.

``getaddrinfo`` blocks, for as long as the name's DNS servers take to
answer (a zone whose servers never answer: ~5 s per try, then EAI_AGAIN).
Every endpoint's host is chosen by whoever subscribed, so a lookup must
never run on the event loop, where it would stall every origin. Here:

* lookups run on a small pool of threads (at most :data:`WORKERS` at once);
* a name is looked up once at a time: callers asking while a lookup is
  under way share it, so a slow name holds one thread however many
  subscriptions point at it;
* at most :data:`ZONE_LOOKUPS` lookups run at once for names in one zone
  (the last two labels), the rest wait their turn outside the pool, at most
  :data:`ZONE_QUEUE` of them per zone and :data:`QUEUE` in all (past that a
  lookup fails at once): a zone whose servers never answer cannot take every
  thread with names of its own (``s1.evil.example``, ``s2.evil.example``, ...);
* zones whose servers have not answered (never asked yet, or their last
  lookup got no answer) hold at most half the threads together, and a freed
  thread goes first to a zone whose servers answered: eight zones that never
  answer (``evil1.example`` ... ``evil8.example``) cannot make a push
  service that answered before wait behind them;
* a caller that stops waiting cancels its future: a lookup still waiting
  for its turn that nobody wants any more is dropped, not run;
* answers are cached for :data:`TTL` seconds, failures for
  :data:`NEGATIVE_TTL` (a name that does not answer is not asked again for
  every subscription); an expired answer is still used for up to
  :data:`STALE_FOR` seconds while a fresh one is looked up (and kept if
  that lookup fails), so a push service already resolved never waits
  behind anyone's slow lookups;
* the caller bounds its own wait (the request's deadline): a lookup that
  outlives it finishes in the background and fills the cache (a thread
  blocked in ``getaddrinfo`` cannot be taken back).

IP literals never reach the pool. The addresses come back in
``getaddrinfo``'s order; the caller checks them (EndpointPolicy) and
connects to one of those very addresses, so what was checked is what is
contacted (no second lookup to rebind).
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import ipaddress
import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable, Optional, Union

__all__ = [
    "NEGATIVE_TTL",
    "QUEUE",
    "STALE_FOR",
    "TTL",
    "WORKERS",
    "ZONE_LOOKUPS",
    "ZONE_QUEUE",
    "Resolver",
]

TTL = 60.0
NEGATIVE_TTL = 10.0
STALE_FOR = 600.0
WORKERS = 16
ZONE_LOOKUPS = 2
ZONE_QUEUE = 64
QUEUE = 1024
_MAX_ENTRIES = 1024

# (host, port): the addresses to connect to, as (family, IP string) pairs.
Addresses = list[tuple[int, str]]
_Key = tuple[str, int]
_Future = concurrent.futures.Future[Addresses]
GetAddrInfo = Callable[..., list[Any]]

# getaddrinfo's failures that say whether the name's servers answered: "no
# such name" is their answer; "try again" / "non-recoverable" mean they did not
# (in time). Any other failure (a malformed name, say) says nothing about them.
_ANSWERED = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)
_UNANSWERED = frozenset((socket.EAI_AGAIN, socket.EAI_FAIL))


class _Lookup:
    """One name's lookup, waiting for its turn or under way, and who waits for it."""

    __slots__ = ("key", "started", "untried", "waiters", "zone")

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.zone = _zone(key[0])
        # Callers' futures, until they cancel. A refresh (a stale answer is
        # served meanwhile) has none, so no caller leaving drops it.
        self.waiters: set[_Future] = set()
        self.started = False
        self.untried = False  # started on the share of zones without an answer


class Resolver:
    """Thread-safe; ``resolve`` never blocks (it returns a future)."""

    def __init__(
        self,
        getaddrinfo: GetAddrInfo = socket.getaddrinfo,
        *,
        workers: int = WORKERS,
        ttl: float = TTL,
        negative_ttl: float = NEGATIVE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._getaddrinfo = getaddrinfo
        self.workers = workers
        # Threads that zones without an answer may hold together: the rest
        # are kept for push services that answered before.
        self.untried_workers = max(1, workers // 2)
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._lock = threading.Lock()
        # Finished lookups (until they expire), as done futures shared by callers.
        self._cache: OrderedDict[_Key, tuple[float, _Future]] = OrderedDict()
        # Zones whose last lookup got an answer from their servers (LRU).
        self._answering: OrderedDict[str, None] = OrderedDict()
        self._reset_lookups()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    def _reset_lookups(self) -> None:
        # Lookups waiting or under way, by name; per zone those under way and
        # those waiting (zones in turn order); totals across zones.
        self._pending: dict[_Key, _Lookup] = {}
        self._running: dict[str, int] = {}
        self._queued: dict[str, collections.deque[_Lookup]] = {}
        # Those of the queued zones whose servers answered (in _answering), so
        # that picking one costs nothing however many zones without an answer
        # wait.
        self._queued_answering: dict[str, None] = {}
        self._busy = 0
        self._busy_untried = 0
        self._waiting = 0

    def resolve(self, host: str, port: int) -> _Future:
        """The addresses of ``host``; the future fails with OSError (or
        UnicodeError) if it does not resolve. Done at once for an IP literal,
        a cached answer, or a lookup refused because too many wait.

        A caller that no longer waits should ``cancel()`` the future: a
        lookup not yet started that nobody waits for is then dropped.
        """
        literal = _literal(host)
        if literal is not None:
            return _done([literal])
        key = (host.lower().rstrip("."), port)
        now = self._clock()
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            cached = self._cache.get(key)
            stale: Optional[_Future] = None
            if cached is not None:
                expires, answer = cached
                if expires > now:
                    self._cache.move_to_end(key)
                    return answer
                if answer.exception() is None and expires + STALE_FOR > now:
                    stale = answer  # used while a fresh one is looked up
                else:
                    del self._cache[key]
            lookup = self._pending.get(key)
            starts: list[_Lookup] = []
            if lookup is None:
                lookup = _Lookup(key)
                if not self._line_up(lookup, starts):
                    # Too many wait: no refresh now (the stale answer serves), or a
                    # failure at once, not cached (it says nothing about the name).
                    return stale or _done(
                        socket.gaierror(socket.EAI_AGAIN, "too many lookups waiting")
                    )
            if stale is not None:
                result = stale
            else:
                result = concurrent.futures.Future()
                result.add_done_callback(functools.partial(self._left, lookup))
                lookup.waiters.add(result)
        self._run(starts)
        return result

    def _line_up(self, lookup: _Lookup, starts: list[_Lookup]) -> bool:
        """(Under the lock.) Queue a new lookup; add to ``starts`` those that start
        now (this one among them if its turn has come). False, and nothing
        queued, if it would wait past :data:`ZONE_QUEUE` or :data:`QUEUE`."""
        queue = self._queued.get(lookup.zone)
        if queue is None:
            queue = self._queued[lookup.zone] = collections.deque()
            if lookup.zone in self._answering:
                self._queued_answering[lookup.zone] = None
        queue.append(lookup)
        self._waiting += 1
        self._pending[lookup.key] = lookup
        starts.extend(self._starts())
        if not lookup.started and (len(queue) > ZONE_QUEUE or self._waiting > QUEUE):
            self._unqueue(lookup)
            return False
        return True

    def _unqueue(self, lookup: _Lookup) -> None:
        """(Under the lock.) Drop a lookup that has not started."""
        del self._pending[lookup.key]
        queue = self._queued[lookup.zone]
        queue.remove(lookup)
        self._waiting -= 1
        if not queue:
            del self._queued[lookup.zone]
            self._queued_answering.pop(lookup.zone, None)

    def _starts(self) -> list[_Lookup]:
        """(Under the lock.) Take the lookups whose turn has come off the queues.

        Zones whose servers answered go first; zones without an answer share
        at most ``untried_workers`` threads. Then a zone with fewer lookups
        under way goes first, then the one that waited longest for a turn
        (a zone that started one goes to the back of the line): a zone's
        first lookup never waits behind another zone's second.
        """
        starts: list[_Lookup] = []
        while self._busy < self.workers and self._queued:
            chosen = self._turn(self._queued_answering, untried=False)
            if chosen is None and self._busy_untried < self.untried_workers:
                chosen = self._turn(self._queued, untried=True)
            if chosen is None:
                break
            answering = chosen in self._queued_answering
            queue = self._queued.pop(chosen)
            self._queued_answering.pop(chosen, None)
            lookup = queue.popleft()
            if queue:  # back of the line
                self._queued[chosen] = queue
                if answering:
                    self._queued_answering[chosen] = None
            self._waiting -= 1
            lookup.started = True
            lookup.untried = not answering
            self._running[chosen] = self._running.get(chosen, 0) + 1
            self._busy += 1
            self._busy_untried += lookup.untried
            starts.append(lookup)
        return starts

    def _turn(self, zones: Iterable[str], *, untried: bool) -> Optional[str]:
        """(Under the lock.) The zone among ``zones`` (those without an answer
        only, if ``untried``) whose turn it is, if any may start one."""
        chosen, fewest = None, ZONE_LOOKUPS
        for zone in zones:
            if untried and zone in self._queued_answering:
                continue
            running = self._running.get(zone, 0)
            if running < fewest:
                chosen, fewest = zone, running
                if not running:
                    break
        return chosen

    def _left(self, lookup: _Lookup, waiter: _Future) -> None:
        """A caller's future is done: if cancelled, it no longer holds a place."""
        if not waiter.cancelled():
            return
        with self._lock:
            lookup.waiters.discard(waiter)
            if not (lookup.started or lookup.waiters) and self._pending.get(lookup.key) is lookup:
                self._unqueue(lookup)

    def _run(self, starts: list[_Lookup]) -> None:
        """Hand lookups to the pool (outside the lock); a refused one settles at once."""
        while starts:
            lookup = starts.pop()
            with self._lock:
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        self.workers, thread_name_prefix="webpush_core-dns"
                    )
                pool = self._pool
            try:
                pool.submit(self._lookup, lookup)
            except RuntimeError as exc:  # shut down (interpreter exit)
                starts.extend(self._settle(lookup, exc))

    def _lookup(self, lookup: _Lookup) -> None:
        outcome: Union[Addresses, BaseException]
        try:
            infos = self._getaddrinfo(lookup.key[0], lookup.key[1], type=socket.SOCK_STREAM)
            addresses: Addresses = []
            for info in infos:
                address = (info[0], str(info[4][0]))
                if address not in addresses:
                    addresses.append(address)
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "no addresses")
            outcome = addresses
        except (OSError, UnicodeError) as exc:
            outcome = exc
        except Exception as exc:  # a broken resolver must not leave waiters hanging
            outcome = OSError(f"lookup failed: {type(exc).__name__}")
        self._run(self._settle(lookup, outcome))

    def _settle(self, lookup: _Lookup, outcome: Union[Addresses, BaseException]) -> list[_Lookup]:
        """Cache a finished lookup's outcome, hand it to its waiters, free its
        turn; returns the lookups whose turn has come."""
        failed = isinstance(outcome, BaseException)
        answer: _Future = _done(outcome)
        key, zone = lookup.key, lookup.zone
        with self._lock:
            if self._pending.get(key) is lookup:
                del self._pending[key]
            kept = self._cache.get(key)
            if not (failed and kept is not None and kept[1].exception() is None):
                # (A failed refresh keeps the answer it was to replace, stale.)
                ttl = self.negative_ttl if failed else self.ttl
                self._cache[key] = (self._clock() + ttl, answer)
                self._cache.move_to_end(key)
            while len(self._cache) > _MAX_ENTRIES:
                self._cache.popitem(last=False)
            heard = _heard(outcome)
            if heard:
                self._answering[zone] = None
                self._answering.move_to_end(zone)
                if zone in self._queued:
                    self._queued_answering[zone] = None
                while len(self._answering) > _MAX_ENTRIES:
                    forgotten, _ = self._answering.popitem(last=False)
                    self._queued_answering.pop(forgotten, None)
            elif heard is not None:  # no precedence until its servers answer again
                self._answering.pop(zone, None)
                self._queued_answering.pop(zone, None)
            self._running[zone] -= 1
            if not self._running[zone]:
                del self._running[zone]
            self._busy -= 1
            self._busy_untried -= lookup.untried
            waiters, lookup.waiters = lookup.waiters, set()
            starts = self._starts()
        for waiter in waiters:
            _deliver(waiter, outcome)
        return starts

    def _after_fork(self) -> None:
        """In a forked child: the parent's pool threads and lookups under way are not here."""
        self._lock = threading.Lock()
        self._pool = None
        self._reset_lookups()
        self._cache = OrderedDict(
            (key, entry) for key, entry in self._cache.items() if entry[1].done()
        )
        self._pid = os.getpid()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _done(outcome: Union[Addresses, BaseException]) -> _Future:
    future: _Future = concurrent.futures.Future()
    _deliver(future, outcome)
    return future


def _deliver(future: _Future, outcome: Union[Addresses, BaseException]) -> None:
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled by its caller meanwhile


def _heard(outcome: Union[Addresses, BaseException]) -> Optional[bool]:
    """Whether a lookup heard from the name's servers; None if it cannot tell.

    Only their silence takes a zone's precedence away: a name that fails at
    once (``a..googleapis.com``, too long a label) must not let a subscriber
    push a push service's zone behind slow ones.
    """
    if not isinstance(outcome, BaseException):
        return True
    if isinstance(outcome, socket.gaierror):
        if outcome.errno in _ANSWERED:
            return True
        if outcome.errno in _UNANSWERED:
            return False
    return None


def _zone(host: str) -> str:
    """The zone a name's lookups are counted in: its last two labels."""
    return ".".join(host.rsplit(".", 2)[-2:])


def _literal(host: str) -> tuple[int, str] | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, host.strip("[]")


DEFAULT_RESOLVER = Resolver()
"""Shared by every PushClient: the cache is per process, like the system resolver's."""
