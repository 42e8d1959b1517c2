"""Name lookups for PushClient's event loop: off the loop, one at a time per name, cached.

``getaddrinfo`` blocks, for as long as the name's DNS servers take to
answer (a zone whose servers never answer: ~5 s per try, then EAI_AGAIN).
Every endpoint's host is chosen by whoever subscribed, so a lookup must
never run on the event loop, where it would stall every origin. Here:

* lookups run on a small pool of threads (at most :data:`WORKERS` at once);
* a name is looked up once at a time: callers asking while a lookup is
  under way share its future, so a slow name holds one thread however many
  subscriptions point at it;
* at most :data:`ZONE_LOOKUPS` lookups run at once for names in one zone
  (the last two labels), the rest wait their turn outside the pool: a zone
  whose servers never answer cannot take every thread with names of its
  own (``s1.evil.example``, ``s2.evil.example``, ...);
* answers are cached for :data:`TTL` seconds, failures for
  :data:`NEGATIVE_TTL` (a name that does not answer is not asked again for
  every subscription); an expired answer is still used for up to
  :data:`STALE_FOR` seconds while a fresh one is looked up (and kept if
  that lookup fails), so a push service already resolved never waits
  behind anyone's slow lookups;
* the caller bounds its own wait (the request's deadline): a lookup that
  outlives it finishes in the background and fills the cache.

IP literals never reach the pool. The addresses come back in
``getaddrinfo``'s order; the caller checks them (EndpointPolicy) and
connects to one of those very addresses, so what was checked is what is
contacted (no second lookup to rebind).
"""

from __future__ import annotations

import collections
import concurrent.futures
import ipaddress
import os
import socket
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

__all__ = ["NEGATIVE_TTL", "STALE_FOR", "TTL", "WORKERS", "ZONE_LOOKUPS", "Resolver"]

TTL = 60.0
NEGATIVE_TTL = 10.0
STALE_FOR = 600.0
WORKERS = 16
ZONE_LOOKUPS = 2
_MAX_ENTRIES = 1024

# (host, port): the addresses to connect to, as (family, IP string) pairs.
Addresses = list[tuple[int, str]]
_Key = tuple[str, int]
GetAddrInfo = Callable[..., list[Any]]


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
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._lock = threading.Lock()
        # Finished lookups (until they expire) and those under way.
        self._cache: OrderedDict[_Key, tuple[float, concurrent.futures.Future[Addresses]]] = (
            OrderedDict()
        )
        self._pending: dict[_Key, concurrent.futures.Future[Addresses]] = {}
        # Lookups under way per zone, and those waiting for their zone's turn.
        self._running: dict[str, int] = {}
        self._queued: dict[str, collections.deque[_Key]] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    def resolve(self, host: str, port: int) -> concurrent.futures.Future[Addresses]:
        """The addresses of ``host``; the future fails with OSError (or
        UnicodeError) if it does not resolve. Done at once for an IP literal
        or a cached answer."""
        literal = _literal(host)
        if literal is not None:
            done: concurrent.futures.Future[Addresses] = concurrent.futures.Future()
            done.set_result([literal])
            return done
        key = (host.lower().rstrip("."), port)
        now = self._clock()
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            cached = self._cache.get(key)
            stale: concurrent.futures.Future[Addresses] | None = None
            if cached is not None:
                expires, answer = cached
                if expires > now:
                    self._cache.move_to_end(key)
                    return answer
                if answer.exception() is None and expires + STALE_FOR > now:
                    stale = answer  # used while a fresh one is looked up
                else:
                    del self._cache[key]
            future = self._pending.get(key)
            if future is not None:
                return stale or future  # under way: share it
            future = concurrent.futures.Future()
            self._pending[key] = future
            start = self._take_turn(key)
        if start:
            self._submit(key, future)
        return stale or future

    def _take_turn(self, key: _Key) -> bool:
        """(Under the lock.) True if ``key``'s lookup may start now; else it waits in line."""
        zone = _zone(key[0])
        if self._running.get(zone, 0) < ZONE_LOOKUPS:
            self._running[zone] = self._running.get(zone, 0) + 1
            return True
        self._queued.setdefault(zone, collections.deque()).append(key)
        return False

    def _submit(self, key: _Key, future: concurrent.futures.Future[Addresses]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.workers, thread_name_prefix="webpush_core-dns"
                )
            pool = self._pool
        try:
            pool.submit(self._lookup, key, future)
        except RuntimeError as exc:  # shut down (interpreter exit)
            self._settle(key, future, exc)

    def _lookup(self, key: _Key, future: concurrent.futures.Future[Addresses]) -> None:
        try:
            infos = self._getaddrinfo(key[0], key[1], type=socket.SOCK_STREAM)
            addresses: Addresses = []
            for info in infos:
                address = (info[0], str(info[4][0]))
                if address not in addresses:
                    addresses.append(address)
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "no addresses")
        except (OSError, UnicodeError) as exc:
            self._settle(key, future, exc)
            return
        except Exception as exc:  # a broken resolver must not leave waiters hanging
            self._settle(key, future, OSError(f"lookup failed: {type(exc).__name__}"))
            return
        self._settle(key, future, addresses)

    def _settle(
        self,
        key: _Key,
        future: concurrent.futures.Future[Addresses],
        outcome: Addresses | BaseException,
    ) -> None:
        failed = isinstance(outcome, BaseException)
        ttl = self.negative_ttl if failed else self.ttl
        following: tuple[_Key, concurrent.futures.Future[Addresses]] | None = None
        with self._lock:
            self._pending.pop(key, None)
            kept = self._cache.get(key)
            if not (failed and kept is not None and kept[1].exception() is None):
                # (A failed refresh keeps the answer it was to replace, stale.)
                self._cache[key] = (self._clock() + ttl, future)
                self._cache.move_to_end(key)
            while len(self._cache) > _MAX_ENTRIES:
                self._cache.popitem(last=False)
            zone = _zone(key[0])
            queue = self._queued.get(zone)
            while queue:  # the zone's turn passes to the next name still wanted
                waiting = queue.popleft()
                waiting_future = self._pending.get(waiting)
                if waiting_future is not None:
                    following = (waiting, waiting_future)
                    break
            if not queue:
                self._queued.pop(zone, None)
            if following is None:
                self._running[zone] -= 1
                if not self._running[zone]:
                    del self._running[zone]
        if failed:
            future.set_exception(outcome)  # type: ignore[arg-type]
        else:
            future.set_result(outcome)  # type: ignore[arg-type]
        if following is not None:
            self._submit(*following)

    def _after_fork(self) -> None:
        """In a forked child: the parent's pool threads and lookups under way are not here."""
        self._lock = threading.Lock()
        self._pool = None
        self._pending = {}
        self._running = {}
        self._queued = {}
        self._cache = OrderedDict(
            (key, entry) for key, entry in self._cache.items() if entry[1].done()
        )
        self._pid = os.getpid()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


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
