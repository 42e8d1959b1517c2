"""PushClient's connection pool and its event loop thread: the one owner of connection lifetime.

A fan-out spends most of its non-crypto time in the HTTP client. Measured
on 2 cores (benchmarks/README.md): urllib3 per request ~360 µs CPU, a
blocking socket per worker thread ~100 µs plus the cost of 32 threads
taking turns at the GIL; one event loop thread that owns every connection
~45 µs, and it keeps ``concurrency`` requests in flight however slow the
push service is. So PushClient speaks HTTP/1.1 itself (:mod:`.http1`,
sans-IO) on a loop of its own in a daemon thread; callers hand it requests
from any thread (:meth:`Connections.submit`) and get each outcome by
callback. Each request is an :class:`.exchange.Exchange`; each connection a
:class:`.tls.Connection`, opened here through a :class:`.backend.Backend`
(TCP, or a test's) to an address the endpoint policy checked, and kept here
between requests. It keeps the guarantees of :mod:`.urllib3_transport`
(``webpush()``, ``send_request`` and a PushClient given its own
``pool_manager``): TLS verified, no redirects (a 3xx is returned as it is),
one deadline per attempt, the body kept up to ``max_response_bytes``.

Connections are kept per origin (scheme, host, port), last used first, up
to ``maxsize`` idle ones each, for the :data:`MAX_ORIGINS` used last.
Tunnels through a proxy are kept alive and reused like direct connections,
under a key that names the proxy.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import ssl
import threading
import time
from typing import Callable, Optional

from .._classify import RESOLVE, failure_detail, transport_error
from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._origin import Origin, OriginError
from .._request.value import PushRequest
from ..errors import TransportError
from . import standin as standins
from .backend import TCP, Backend
from .exchange import Exchange, Outcome, Route, split_url
from .http1.request import encode_request
from .proxy import Proxy, ProxyArg, connect_request, proxy_refused, select_proxy
from .resolver import DEFAULT_RESOLVER, Addresses, Resolver
from .tls import Connection, Key, tls_context

__all__ = ["MAX_ORIGINS", "Connections", "Outcome"]

# Origins whose idle connections are kept (urllib3's PoolManager keeps 32 pools too).
MAX_ORIGINS = 32


class Connections:
    """Keep-alive connections per origin, driven by one event loop thread.

    :meth:`submit` may be called from any thread; outcomes are delivered by
    calling ``done`` in the loop's thread (keep it short).
    """

    def __init__(
        self,
        *,
        maxsize: int = 32,
        ca_certs: Optional[str] = None,
        resolver: Optional[Resolver] = None,
        backend: Optional[Backend] = None,
    ) -> None:
        self.maxsize = maxsize
        self.ca_certs = ca_certs
        self.resolver = DEFAULT_RESOLVER if resolver is None else resolver
        self.backend: Backend = TCP if backend is None else backend
        self._context: Optional[ssl.SSLContext] = None
        self._idle: dict[Key, list[Connection]] = {}
        self._routes: dict[tuple[Origin, Optional[Proxy]], Route] = {}
        self._pending: set[Exchange] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._closed = False
        # Exchanges from other threads; one wake-up of the loop drains them all.
        self._inbox: collections.deque[Exchange] = collections.deque()
        self._drain_due = False

    # -- the loop ----------------------------------------------------------

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (called on it: it runs)."""
        loop = self._loop
        if loop is None:  # pragma: no cover - only called on the running loop
            raise RuntimeError("the connection loop is not running")
        return loop

    @property
    def running(self) -> Optional[asyncio.AbstractEventLoop]:
        """The loop, None before it started."""
        return self._loop

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._loop is None:
                if self._closed:
                    raise RuntimeError("Connections is closed")
                ready = threading.Event()
                new_loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(new_loop)
                    new_loop.call_soon(ready.set)
                    new_loop.run_forever()

                thread = threading.Thread(target=run, name="webpush_core-io", daemon=True)
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = new_loop
            return self._loop

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if it was not (thread-safe): for other I/O this
        process does without a thread of its own (the helper's pipes)."""
        return self._running_loop()

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` in the loop's thread after ``delay`` seconds (thread-safe)."""
        loop = self._running_loop()
        if self.on_loop():
            loop.call_later(delay, fn)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, fn)

    def on_loop(self) -> bool:
        """Whether this thread runs this loop (not another client's, nor a
        later one of this client's on a reused thread id)."""
        loop = self._loop
        return loop is not None and asyncio._get_running_loop() is loop

    def closing(self) -> bool:
        """Whether close() has begun (the loop may not pass again)."""
        return self._closed

    def call_soon(self, fn: Callable[[], object]) -> None:
        """(The loop's thread.) Run ``fn`` in the loop's next pass."""
        self.loop().call_soon(fn)

    def sends_from_here(self, url: str) -> bool:
        """Whether :meth:`submit` of ``url`` reads nothing from disk: the TLS
        settings are loaded (:meth:`_tls` reads the CA store, never on the
        loop), or the URL is plain http."""
        return self._context is not None or url[:5].lower() == "http:"

    def close(self) -> None:
        """Drop every connection and stop the loop; requests in flight end with an error."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread is not threading.current_thread():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                future.result(timeout=10)
            with contextlib.suppress(RuntimeError):  # already closed
                loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not loop.is_running():
                loop.close()

    async def _shutdown(self) -> None:
        for exchange in list(self._pending):
            exchange.timed_out()  # ends it (a PushTimeout) and drops its connection
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.abort()
        await asyncio.sleep(0)  # let the transports close
        await asyncio.get_running_loop().shutdown_default_executor()

    # -- connections (loop thread only) ------------------------------------

    def _tls(self) -> ssl.SSLContext:
        context = self._context
        if context is None:
            context = self._context = tls_context(self.ca_certs)
        return context

    async def _open(
        self,
        addresses: Addresses,
        port: int,
        conn: Callable[[asyncio.Future[Connection]], Connection],
    ) -> Connection:
        """A connection to the first of ``addresses`` that accepts one (no second
        lookup that could rebind), once ``conn(ready)``'s protocol says it is
        ready; the exchange's timer bounds it all."""
        loop = self.loop()
        failure: Optional[OSError] = None
        for _, ip in addresses:
            ready: asyncio.Future[Connection] = loop.create_future()
            try:
                transport = await self.backend.open(loop, functools.partial(conn, ready), ip, port)
            except OSError as exc:  # refused, unreachable: the next address
                failure = exc
                continue
            try:
                return await ready
            except BaseException:
                transport.abort()
                raise
        raise failure or OSError("no address to connect to")

    async def connect(
        self, route: Route, addresses: Addresses, policy: EndpointPolicy
    ) -> Connection:
        """A new connection to one of ``addresses`` (those the policy checked), TLS
        handshake done with the host's name."""
        context = self._tls() if route.scheme == "https" else None
        make = functools.partial(
            Connection, self._forget, route.key, policy, context=context, server_hostname=route.host
        )
        return await self._open(addresses, route.port, make)

    async def connect_via(
        self,
        route: Route,
        proxy: Proxy,
        addresses: Addresses,
        url: str,
        policy: EndpointPolicy,
    ) -> Connection:
        """A connection through ``proxy`` (at one of ``addresses``): for https, a
        CONNECT tunnel to the route's host and TLS with that host's name over it."""
        make = functools.partial(Connection, self._forget, route.key, policy)
        try:
            conn = await self._open(addresses, proxy.port, make)
        except OSError as exc:  # refused, unreachable at every address of the proxy's
            raise proxy_refused(proxy, url, None, failure_detail(exc)) from None
        if route.scheme != "https":
            return conn  # http: requests in absolute form
        try:
            try:
                status, reason = await conn.open_tunnel(
                    connect_request(proxy, route.host, route.port)
                )
            except ValueError as exc:  # malformed or over the caps
                raise proxy_refused(proxy, url, None, str(exc), invalid=True) from None
            except OSError as exc:
                raise proxy_refused(proxy, url, None, failure_detail(exc)) from None
            if not 200 <= status <= 299:
                raise proxy_refused(proxy, url, status, reason)
            return await conn.start_tls(self._tls(), route.host)
        except BaseException:
            conn.abort()
            raise

    def take(self, key: Key, policy: EndpointPolicy) -> Optional[Connection]:
        """An idle connection to ``key`` whose address ``policy`` admitted, last used first."""
        idle = self._idle.get(key)
        if not idle:
            return None
        for at in range(len(idle) - 1, -1, -1):
            conn = idle[at]
            if conn.closed or conn.policy is policy or conn.policy == policy:
                del idle[at]
                if not conn.closed:
                    return conn
        return None

    def give_back(self, conn: Connection) -> None:
        """``conn``'s exchange is over and it may be kept alive: idle, last used last."""
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = []
            if len(self._idle) > MAX_ORIGINS:
                # Push services are few; endpoints spread over many hosts must
                # not hold a socket each: the origin used longest ago goes.
                oldest = next(iter(self._idle))
                for stale in self._idle.pop(oldest):
                    stale.abort()
        else:
            self._idle[conn.key] = self._idle.pop(conn.key)  # most recently used last
        if len(idle) < self.maxsize and not self._closed:
            idle.append(conn)
        else:
            conn.abort()  # more concurrent connections than the pool keeps, or closed

    def _forget(self, conn: Connection) -> None:
        """``conn`` closed: not kept any more."""
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def ended(self, exchange: Exchange) -> None:
        """``exchange`` reported its outcome: nothing to end at shutdown."""
        self._pending.discard(exchange)

    # -- requests (any thread) ---------------------------------------------

    def _route(self, origin: Origin, proxy: Optional[Proxy] = None) -> Route:
        route = self._routes.get((origin, proxy))
        if route is None:
            route = Route(origin, proxy)
            if len(self._routes) >= 1024:
                self._routes.clear()  # push services are few; this bounds odd fan-outs
            self._routes[origin, proxy] = route
        return route

    def submit(
        self,
        request: PushRequest,
        done: Callable[[Outcome], object],
        *,
        timeout: float,
        policy: EndpointPolicy = DEFAULT_POLICY,
        max_response_bytes: int = 65536,
        proxy: ProxyArg = None,
    ) -> None:
        """POST ``request`` to a host ``policy`` admits; ``done(outcome)`` once: the
        response (any status), or :class:`PushTimeout` when the attempt took
        longer than ``timeout`` seconds (the host's lookup included), or
        :class:`TransportError` when no (readable) answer came, or
        :class:`EndpointNotAllowed` when the host resolves to an address the
        policy refuses, or :class:`ProxyError` when the forward proxy
        (``proxy``: None for the environment's, False for none, or a URL)
        refused or could not be reached. ``done`` runs in the loop's thread,
        or in this one when the request cannot even start.
        """
        url = request.url
        standin = standins.current()
        if standin is not None:  # a test's MockPushService: no network
            standins.submit(standin, request, done, timeout, policy, self.call_later)
            return
        try:
            origin, target = split_url(url)
            via = select_proxy(url, proxy)
            route = self._route(origin, via)
            headers = request.headers
            if via is not None and origin.scheme == "http":
                # Absolute form to the proxy (RFC 9112 §3.2.2), with its credentials.
                target = f"{origin.scheme}://{route.host_header}{target}"
                headers = {**headers, **via.headers()}
            data = encode_request(request.method, target, route.host_header, headers, request.body)
        except OriginError as exc:
            done(TransportError(f"cannot send to the endpoint: {exc}", endpoint=url))
            return
        except UnicodeError:
            invalid = UnicodeError("not a valid host name")
            done(transport_error(RESOLVE, invalid, url=url, origin="the endpoint", timeout=timeout))
            return
        if route.scheme == "https" and self._context is None:
            self._tls()  # reads the CA store: here, never on the loop
        deadline = time.monotonic() + timeout  # the loop's clock is time.monotonic
        exchange = Exchange(
            self, route, url, data, deadline, timeout, max_response_bytes, policy, done
        )
        try:
            loop = self._running_loop()
        except RuntimeError:  # closed
            done(TransportError("the client is closed", endpoint=url))
            return
        if self.on_loop():
            loop.call_soon(self._begin, exchange)  # e.g. a retry: no wake-up needed
            return
        self._inbox.append(exchange)
        if not self._drain_due:
            # The loop is woken once for everything queued until it drains.
            self._drain_due = True
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # closed meanwhile
                self._drain_due = False
                self._inbox.remove(exchange)
                done(TransportError("the client is closed", endpoint=url))

    def _drain(self) -> None:
        self._drain_due = False  # before draining: a later append schedules another
        inbox = self._inbox
        while inbox:
            self._begin(inbox.popleft())

    def _begin(self, exchange: Exchange) -> None:
        self._pending.add(exchange)
        exchange.begin(self.loop())
