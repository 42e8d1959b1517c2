"""PushClient's connections: keep-alive HTTP/1.1 on one asyncio event loop thread.

A fan-out spends most of its non-crypto time in the HTTP client. Measured
on 2 cores (benchmarks/README.md): urllib3 per request ~360 µs CPU, a
blocking socket per worker thread ~100 µs plus the cost of 32 threads
taking turns at the GIL; one event loop thread that owns every connection
~45 µs, and it keeps ``concurrency`` requests in flight however slow the
push service is. So PushClient speaks HTTP/1.1 itself (:mod:`._http1`,
sans-IO) over asyncio's TCP and TLS transports, on a loop of its own in a
daemon thread; callers hand it requests from any thread and get each
outcome by callback. It keeps the guarantees of :mod:`._transport`
(urllib3: ``webpush()``, ``send_request`` and a PushClient given its own
``pool_manager``):

* TLS verified: ``ssl.create_default_context`` (the system CA store, or
  ``ca_certs``), host name checked, TLS 1.2 or later;
* no redirects: a 3xx is returned as it is;
* a per-attempt deadline, total: one timer per request covers connecting,
  the TLS handshake, sending and reading the status line, headers and body;
  when it fires the connection is dropped, so a server dripping bytes
  cannot hold a request past it;
* the body is kept up to ``max_response_bytes``; a longer one is cut and
  its connection closed;
* a request that met a closed keep-alive connection (reset, or closed
  before any response byte) is sent once more, on a new connection, within
  the same deadline.

Connections are kept per origin (scheme, host, port), last used first, up
to ``maxsize`` idle ones each, for the :data:`MAX_ORIGINS` used last.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import socket
import ssl
import threading
import time
from typing import Callable, Optional, Union
from urllib.parse import quote, urlsplit

from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._http1 import HTTPProtocolError, ResponseParser, encode_request
from ._request import PushRequest
from ._resolver import DEFAULT_RESOLVER, Addresses, Resolver
from ._response import PushResponse
from .errors import PushTimeout, TransportError, WebPushException

__all__ = ["MAX_ORIGINS", "Connections", "Outcome"]

_MAX_DETAIL = 200
# Everything printable in ASCII stays as it is in the request target; only
# non-ASCII characters are percent-encoded (as UTF-8), as urllib3 does.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Origins whose idle connections are kept (urllib3's PoolManager keeps 32 pools too).
MAX_ORIGINS = 32
# A reused connection that the server had closed fails like this before any
# response byte arrives (plain or TLS); such a request is sent once more.
_STALE = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    HTTPProtocolError,  # "closed before the response": an EOF
)


class _Unsolicited(ConnectionAbortedError):
    """The server sent data before the request: the connection is not trusted."""


_Key = tuple[str, str, int]
# What a request's callback gets: the response (any status), or why there is none.
Outcome = Union[PushResponse, WebPushException]


class _Route:
    """Where an origin's requests go: the pool key, the Host header, the address."""

    __slots__ = ("host", "host_header", "key", "origin", "port", "scheme")

    def __init__(self, scheme: str, netloc: str) -> None:
        parts = urlsplit(f"{scheme}://{netloc}/")
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS.get(scheme, 443)
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        literal = f"[{host}]" if ":" in host else host
        self.scheme = scheme
        self.host = host
        self.port = port
        self.key: _Key = (scheme, host, port)
        self.origin = f"{scheme}://{literal}:{port}"
        self.host_header = literal if port == _DEFAULT_PORTS.get(scheme) else f"{literal}:{port}"


def _split(url: str) -> tuple[str, str, str]:
    """(scheme, netloc, request target) of an absolute http(s) URL, as urlsplit splits it.

    The target is the path and query (``/`` if empty); non-ASCII characters
    in it are percent-encoded. Cheaper than urlsplit for the one thing the
    request line needs, and every subscription's URL is a new one.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise UnicodeError("not an absolute URL")  # build_request never lets one through
    end = len(rest)
    for mark in "/?#":
        at = rest.find(mark, 0, end)
        if at >= 0:
            end = at
    netloc, target = rest[:end], rest[end:]
    target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    if not target.isascii():
        target = quote(target, safe=_TARGET_SAFE)
    return scheme.lower(), netloc, target


class _Conn(asyncio.Protocol):
    """One keep-alive connection; at most one exchange on it at a time.

    For https it runs TLS itself, over memory BIOs (the TLS object checks
    the certificate and the host name as ``ssl.create_default_context``
    says): asyncio's TLS transport would keep a 256 KiB read buffer per
    connection and add a layer of calls to every read and write.
    """

    def __init__(
        self,
        connections: Connections,
        key: _Key,
        ready: asyncio.Future[_Conn],
        context: Optional[ssl.SSLContext] = None,
        server_hostname: Optional[str] = None,
    ) -> None:
        self.connections = connections
        self.key = key
        self.ready = ready
        self.transport: Optional[asyncio.Transport] = None
        self.exchange: Optional[_Exchange] = None
        self.closed = False
        self.tls_in = ssl.MemoryBIO()  # what the peer sent, still encrypted
        self.tls_out = ssl.MemoryBIO()  # what to send, encrypted
        self.tls: Optional[ssl.SSLObject] = None
        if context is not None:
            self.tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=server_hostname)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.tls is None:
            self.ready.set_result(self)
        else:
            self._handshake()

    def _handshake(self) -> None:
        tls = self.tls
        if tls is None:  # pragma: no cover - only called for TLS
            return
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # the alert, if any
            self.abort()
            if not self.ready.done():
                self.ready.set_exception(exc)
            return
        self._flush()
        if not self.ready.done():
            self.ready.set_result(self)

    def _flush(self) -> None:
        data = self.tls_out.read()
        if data and self.transport is not None:
            self.transport.write(data)

    def write(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.write(data)  # into the BIO: never blocks
            self._flush()
        elif self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        if tls is not None:
            self.tls_in.write(data)
            if not self.ready.done():
                self._handshake()
                if not self.ready.done() or self.closed:
                    return
            plain = []
            eof = False
            try:
                while True:
                    chunk = tls.read(65536)
                    if not chunk:
                        eof = True
                        break
                    plain.append(chunk)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:  # close_notify
                eof = True
            except (ssl.SSLError, OSError) as exc:
                self._lost_with(exc)
                return
            self._flush()  # e.g. a TLS 1.3 key update answer
            data = b"".join(plain)
            if eof:
                if data:
                    self._deliver(data)
                self._lost_with(None)
                return
            if not data:
                return
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            # Unasked-for bytes: on an idle connection, or on a new one before
            # the request was written (e.g. with the server's TLS Finished).
            # Whatever the server meant, they answer no request: drop it.
            self.abort()
            return
        exchange.received(data)

    def _lost_with(self, exc: Optional[Exception]) -> None:
        """The peer ended the TLS session (or broke it): as if the connection closed."""
        exchange, self.exchange = self.exchange, None
        self.abort()
        if exchange is not None:
            exchange.lost(exc)

    def eof_received(self) -> bool:
        return False  # close; connection_lost follows

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        self.connections._forget(self)
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionResetError("closed during the TLS handshake"))
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.lost(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class _Exchange:
    """One request on the loop: connection, write, parse; a timer for the deadline."""

    __slots__ = (
        "attempt",
        "conn",
        "connecting",
        "connections",
        "data",
        "deadline",
        "done",
        "finished",
        "limit",
        "parser",
        "policy",
        "route",
        "task",
        "timeout",
        "timer",
        "url",
    )

    def __init__(
        self,
        connections: Connections,
        route: _Route,
        url: str,
        data: bytes,
        deadline: float,
        timeout: float,
        limit: int,
        policy: EndpointPolicy,
        done: Callable[[Outcome], object],
    ) -> None:
        self.connections = connections
        self.policy = policy
        self.route = route
        self.url = url
        self.data = data
        self.deadline = deadline
        self.timeout = timeout
        self.limit = limit
        self.done = done
        self.attempt = 1
        self.parser = ResponseParser(limit)
        self.conn: Optional[_Conn] = None
        self.task: Optional[asyncio.Task[_Conn]] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.connecting = False
        self.finished = False

    def begin(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.time() >= self.deadline:
            self.finish(self._timeout_error())
            return
        self.timer = loop.call_at(self.deadline, self.timed_out)
        self.go(fresh=False)

    def go(self, *, fresh: bool) -> None:
        self.parser = ResponseParser(self.limit)
        # The resend goes on a new connection: another idle one may be stale too.
        conn = None if fresh else self.connections._take(self.route.key)
        if conn is not None:
            self.use(conn)
            return
        self.connecting = True
        # Off the loop (a lookup blocks); the deadline's timer bounds the wait.
        lookup = self.connections.resolver.resolve(self.route.host, self.route.port)
        if lookup.done():
            self.resolved(lookup)
            return
        loop = self.connections._loop_or_fail()

        def wake(lookup: concurrent.futures.Future[Addresses]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: timed out already
                loop.call_soon_threadsafe(self.resolved, lookup)

        lookup.add_done_callback(wake)

    def resolved(self, lookup: concurrent.futures.Future[Addresses]) -> None:
        """The host's addresses: checked with the policy, then connected to (one of these)."""
        if self.finished:
            return
        exc = lookup.exception()
        if exc is not None:
            self.finish(
                TransportError(
                    f"cannot resolve the host of {self.route.origin}: {_detail(exc)}",
                    endpoint=self.url,
                )
            )
            return
        addresses = lookup.result()
        try:
            self.policy.check_addresses(self.route.host, [ip for _, ip in addresses])
        except WebPushException as refused:  # EndpointNotAllowed
            self.finish(refused)
            return
        task = self.connections._loop_or_fail().create_task(
            self.connections._connect(self.route, addresses)
        )
        self.task = task
        task.add_done_callback(self.connected)

    def connected(self, task: asyncio.Task[_Conn]) -> None:
        self.task = None
        if task.cancelled():
            return  # the deadline passed: timed_out() reported it
        exc = task.exception()
        if self.finished:
            if exc is None:
                task.result().abort()
            return
        if exc is not None:
            self.fail(exc)
            return
        self.connecting = False
        self.use(task.result())

    def use(self, conn: _Conn) -> None:
        if conn.closed:  # e.g. dropped for sending data before the request
            self.fail(_Unsolicited(f"{self.route.origin} sent data before the request"))
            return
        self.conn = conn
        conn.exchange = self
        conn.write(self.data)

    def received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
        except HTTPProtocolError as exc:
            self.fail(exc)
            return
        if self.parser.done:
            self.complete()

    def lost(self, exc: Optional[Exception]) -> None:
        """The connection closed under this exchange (conn already detached)."""
        self.conn = None
        if exc is None:
            try:
                self.parser.feed_eof()  # ends a body that runs until the close
            except HTTPProtocolError as eof:
                self.fail(eof)
                return
            self.complete()
            return
        self.fail(exc)

    def complete(self) -> None:
        conn, self.conn = self.conn, None
        parser = self.parser
        if conn is not None:
            conn.exchange = None
            if parser.keep_alive and not conn.closed:
                self.connections._give_back(conn)
            else:
                conn.abort()
        self.finish(
            PushResponse(
                parser.status, parser.reason, _merged(parser.headers), parser.body, self.url
            )
        )

    def fail(self, exc: BaseException) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.exchange = None
            conn.abort()
        loop = self.connections._loop
        if (
            self.attempt == 1
            and self.parser.received == 0
            and isinstance(exc, _STALE)
            and loop is not None
            and loop.time() < self.deadline
        ):
            self.attempt = 2  # closed before any response byte: send it again
            self.go(fresh=True)
            return
        self.finish(_error(exc, self.route, self.url, self.timeout, self.parser, self.connecting))

    def timed_out(self) -> None:
        self.timer = None
        if self.finished:
            return
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.exchange = None
            conn.abort()
        self.finish(self._timeout_error())

    def _timeout_error(self) -> PushTimeout:
        phase = "reading the response from" if self.parser.status else "waiting for"
        return PushTimeout(
            f"timed out after {self.timeout:g} s {phase} {self.route.origin}", endpoint=self.url
        )

    def finish(self, outcome: Outcome) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.connections._pending.discard(self)
        self.done(outcome)


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
    ) -> None:
        self.maxsize = maxsize
        self.ca_certs = ca_certs
        self.resolver = DEFAULT_RESOLVER if resolver is None else resolver
        self._context: Optional[ssl.SSLContext] = None
        self._idle: dict[_Key, list[_Conn]] = {}
        self._routes: dict[tuple[str, str], _Route] = {}
        self._pending: set[_Exchange] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._closed = False
        self._loop_thread_id: Optional[int] = None
        # Exchanges from other threads; one wake-up of the loop drains them all.
        self._inbox: collections.deque[_Exchange] = collections.deque()
        self._drain_due = False

    # -- the loop ----------------------------------------------------------

    def _loop_or_fail(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:  # pragma: no cover - only called on the running loop
            raise RuntimeError("the connection loop is not running")
        return loop

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
                    self._loop_thread_id = threading.get_ident()
                    new_loop.call_soon(ready.set)
                    new_loop.run_forever()

                thread = threading.Thread(target=run, name="webpush_core-io", daemon=True)
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = new_loop
            return self._loop

    def call_later(self, delay: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` in the loop's thread after ``delay`` seconds (thread-safe)."""
        loop = self._running_loop()
        if threading.get_ident() == self._loop_thread_id:
            loop.call_later(delay, fn)
        else:
            loop.call_soon_threadsafe(loop.call_later, delay, fn)

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
            context = ssl.create_default_context(cafile=self.ca_certs)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.set_alpn_protocols(["http/1.1"])
            self._context = context
        return context

    async def _connect(self, route: _Route, addresses: Addresses) -> _Conn:
        """A new connection to one of ``addresses`` (those the policy checked: no
        second lookup that could rebind), TLS handshake done with the host's
        name. Tried in order; the exchange's timer bounds it all."""
        loop = self._loop_or_fail()
        context = self._tls() if route.scheme == "https" else None
        failure: Optional[OSError] = None
        for _, ip in addresses:
            ready: asyncio.Future[_Conn] = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    functools.partial(_Conn, self, route.key, ready, context, route.host),
                    ip,
                    route.port,
                )
            except OSError as exc:  # refused, unreachable: the next address
                failure = exc
                continue
            try:
                return await ready
            except BaseException:
                transport.abort()
                raise
        raise failure or OSError("no address to connect to")

    def _take(self, key: _Key) -> Optional[_Conn]:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def _give_back(self, conn: _Conn) -> None:
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

    def _forget(self, conn: _Conn) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    # -- requests (any thread) ---------------------------------------------

    def _route(self, scheme: str, netloc: str) -> _Route:
        route = self._routes.get((scheme, netloc))
        if route is None:
            route = _Route(scheme, netloc)
            if len(self._routes) >= 1024:
                self._routes.clear()  # push services are few; this bounds odd fan-outs
            self._routes[scheme, netloc] = route
        return route

    def submit(
        self,
        request: PushRequest,
        done: Callable[[Outcome], object],
        *,
        timeout: float,
        policy: EndpointPolicy = DEFAULT_POLICY,
        max_response_bytes: int = 65536,
    ) -> None:
        """POST ``request`` to a host ``policy`` admits; ``done(outcome)`` once: the
        response (any status), or :class:`PushTimeout` when the attempt took
        longer than ``timeout`` seconds (the host's lookup included), or
        :class:`TransportError` when no (readable) answer came, or
        :class:`EndpointNotAllowed` when the host resolves to an address the
        policy refuses. ``done`` runs in the loop's thread, or in this one
        when the request cannot even start.
        """
        url = request.url
        try:
            scheme, netloc, target = _split(url)
            route = self._route(scheme, netloc)
            data = encode_request(
                request.method, target, route.host_header, request.headers, request.body
            )
        except UnicodeError:
            done(
                TransportError(
                    "cannot resolve the host of the endpoint: not a valid host name", endpoint=url
                )
            )
            return
        if route.scheme == "https" and self._context is None:
            self._tls()  # reads the CA store: here, never on the loop
        deadline = time.monotonic() + timeout  # the loop's clock is time.monotonic
        exchange = _Exchange(
            self, route, url, data, deadline, timeout, max_response_bytes, policy, done
        )
        try:
            loop = self._running_loop()
        except RuntimeError:  # closed
            done(TransportError("the client is closed", endpoint=url))
            return
        if threading.get_ident() == self._loop_thread_id:
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

    def _begin(self, exchange: _Exchange) -> None:
        self._pending.add(exchange)
        exchange.begin(self._loop_or_fail())


def _merged(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Repeated fields joined with ", " under the first spelling (RFC 9110 §5.3), as urllib3."""
    seen: dict[str, int] = {}
    out: list[tuple[str, str]] = []
    for name, value in headers:
        lower = name.lower()
        at = seen.get(lower)
        if at is None:
            seen[lower] = len(out)
            out.append((name, value))
        else:
            out[at] = (out[at][0], f"{out[at][1]}, {value}")
    return out


def _detail(exc: BaseException) -> str:
    verify = getattr(exc, "verify_message", None)
    if verify:
        text = f"certificate verify failed: {verify}"
    elif isinstance(exc, ssl.SSLError):
        text = str(exc.reason or exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _error(
    exc: BaseException,
    route: _Route,
    url: str,
    timeout: float,
    parser: ResponseParser,
    connecting: bool,
) -> TransportError:
    """Our error for a socket/TLS/HTTP failure: never includes headers or body."""
    origin = route.origin
    if isinstance(exc, (socket.timeout, asyncio.TimeoutError)):
        phase = "reading the response from" if parser.status else "waiting for"
        return PushTimeout(f"timed out after {timeout:g} s {phase} {origin}", endpoint=url)
    if isinstance(exc, (socket.gaierror, UnicodeError)):
        return TransportError(f"cannot resolve the host of {origin}: {_detail(exc)}", endpoint=url)
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"TLS failure with {origin}: {_detail(exc)}", endpoint=url)
    if connecting:
        return TransportError(f"cannot connect to {origin}: {_detail(exc)}", endpoint=url)
    return TransportError(f"connection to {origin} broken: {_detail(exc)}", endpoint=url)
