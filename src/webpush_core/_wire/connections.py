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

Through a forward proxy (:mod:`._proxy`: the environment or ``proxy=``), an
https origin is reached through a CONNECT tunnel (the proxy's answer parsed
with the caps of :func:`._proxy.parse_connect_head`), then TLS with the push
service's host name over it; an http origin gets its requests in absolute
form. The endpoint's host is still checked by the policy, when it resolves
here; the proxy's own address is not (it may be private). Tunnels are kept
alive and reused like direct connections, under a key that names the proxy.
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

from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._request import PushRequest
from .._response import PushResponse, _clip
from ..errors import PushTimeout, TransportError, WebPushException
from . import standin as standins
from .http1 import HTTPProtocolError, ResponseParser, encode_request
from .proxy import (
    Proxy,
    ProxyArg,
    connect_request,
    parse_connect_head,
    proxy_refused,
    select_proxy,
)
from .resolver import DEFAULT_RESOLVER, Addresses, Resolver

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

    __slots__ = ("host", "host_header", "key", "origin", "port", "proxy", "scheme")

    def __init__(self, scheme: str, netloc: str, proxy: Optional[Proxy] = None) -> None:
        parts = urlsplit(f"{scheme}://{netloc}/")
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS.get(scheme, 443)
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        literal = f"[{host}]" if ":" in host else host
        self.scheme = scheme
        self.host = host
        self.port = port
        # Through a proxy, connections are the proxy's (and its credentials'):
        # never pooled with direct ones.
        tag = scheme if proxy is None else f"{scheme} via {proxy.authority} {proxy.headers()}"
        self.key: _Key = (tag, host, port)
        self.proxy = proxy
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
        policy: EndpointPolicy,
        ready: asyncio.Future[_Conn],
        context: Optional[ssl.SSLContext] = None,
        server_hostname: Optional[str] = None,
    ) -> None:
        self.connections = connections
        self.key = key
        self.policy = policy  # the policy its address passed: reused only under an equal one
        self.ready = ready
        self.transport: Optional[asyncio.Transport] = None
        self.exchange: Optional[_Exchange] = None
        self.closed = False
        self.tls_in = ssl.MemoryBIO()  # what the peer sent, still encrypted
        self.tls_out = ssl.MemoryBIO()  # what to send, encrypted
        self.tls: Optional[ssl.SSLObject] = None
        if context is not None:
            self.tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=server_hostname)
        # While a CONNECT is under way: the proxy's answer so far, and who waits for it.
        self.tunnel: Optional[asyncio.Future[tuple[int, str]]] = None
        self.tunnel_head = b""

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

    def open_tunnel(self, request: bytes) -> asyncio.Future[tuple[int, str]]:
        """Send a CONNECT; the future gets the proxy's (status, reason)."""
        loop = asyncio.get_running_loop()
        self.tunnel = loop.create_future()
        self.tunnel_head = b""
        self.write(request)
        return self.tunnel

    def _tunnel_data(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is None or tunnel.done():  # pragma: no cover - guarded by the caller
            return
        self.tunnel_head += data
        try:
            head = parse_connect_head(self.tunnel_head)  # linear, capped
        except ValueError as exc:
            self.abort()
            tunnel.set_exception(exc)
            return
        if head is None:
            return
        status, reason, length = head
        if 200 <= status <= 299 and len(self.tunnel_head) > length:
            # Bytes after the answer, before our ClientHello: not a TLS server's.
            self.abort()
            tunnel.set_exception(ValueError("the proxy sent data after its answer to CONNECT"))
            return
        self.tunnel, self.tunnel_head = None, b""
        tunnel.set_result((status, reason))

    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> asyncio.Future[_Conn]:
        """TLS over the open tunnel, with the push service's name; the future when done."""
        self.tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=server_hostname)
        self.ready = asyncio.get_running_loop().create_future()
        self._handshake()
        return self.ready

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self._tunnel_data(data)
            return
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
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None and not tunnel.done():
            tunnel.set_exception(exc or ConnectionResetError("closed before answering CONNECT"))
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
        conn = None if fresh else self.connections._take(self.route.key, self.policy)
        if conn is not None:
            self.use(conn)
            return
        self.connecting = True
        # Off the loop (a lookup blocks); the deadline's timer bounds the wait.
        then = self.resolved if self.route.proxy is None else self.resolved_for_proxy
        self._lookup(self.route.host, self.route.port, then)

    def _lookup(
        self,
        host: str,
        port: int,
        then: Callable[[concurrent.futures.Future[Addresses]], None],
    ) -> None:
        lookup = self.connections.resolver.resolve(host, port)
        if lookup.done():
            then(lookup)
            return
        loop = self.connections._loop_or_fail()

        def wake(lookup: concurrent.futures.Future[Addresses]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: timed out already
                loop.call_soon_threadsafe(then, lookup)

        lookup.add_done_callback(wake)

    def _admitted(self, addresses: Addresses) -> bool:
        """Whether the policy admits every address the host resolved to; if not, the
        exchange ends with its refusal (EndpointNotAllowed)."""
        try:
            self.policy.check_addresses(self.route.host, [ip for _, ip in addresses])
        except WebPushException as refused:
            self.finish(refused)
            return False
        return True

    def resolved_for_proxy(self, lookup: concurrent.futures.Future[Addresses]) -> None:
        """The endpoint's addresses, checked when this machine can resolve the name
        (the proxy resolves it again); then the proxy's own address is looked up."""
        if self.finished:
            return
        if lookup.exception() is None and not self._admitted(lookup.result()):
            return
        proxy = self.route.proxy
        if proxy is not None:
            self._lookup(proxy.host, proxy.port, self.proxy_resolved)

    def proxy_resolved(self, lookup: concurrent.futures.Future[Addresses]) -> None:
        proxy = self.route.proxy
        if self.finished or proxy is None:
            return
        exc = lookup.exception()
        if exc is not None:
            self.finish(proxy_refused(proxy, self.url, None, _detail(exc)))
            return
        task = self.connections._loop_or_fail().create_task(
            self.connections._connect_via(self.route, proxy, lookup.result(), self.url, self.policy)
        )
        self.task = task
        task.add_done_callback(self.connected)

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
        if not self._admitted(addresses):
            return
        task = self.connections._loop_or_fail().create_task(
            self.connections._connect(self.route, addresses, self.policy)
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
        proxy = self.route.proxy
        if proxy is not None and parser.status == 407:
            # Only a proxy answers 407 (RFC 9110 §15.5.8): an http request in
            # absolute form gets the proxy's refusal as an ordinary response.
            if conn is not None:
                conn.exchange = None
                conn.abort()
            self.finish(proxy_refused(proxy, self.url, 407, parser.reason))
            return
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
        proxy = self.route.proxy
        if proxy is not None and self.parser.status == 407:
            # The proxy's refusal, then a reset (it did not read our body).
            self.finish(proxy_refused(proxy, self.url, 407, self.parser.reason))
            return
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
        self._routes: dict[tuple[str, str, Optional[Proxy]], _Route] = {}
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

    async def _open(
        self, addresses: Addresses, port: int, conn: Callable[[asyncio.Future[_Conn]], _Conn]
    ) -> _Conn:
        """A connection to the first of ``addresses`` that accepts one (no second
        lookup that could rebind), once ``conn(ready)``'s protocol says it is
        ready; the exchange's timer bounds it all."""
        loop = self._loop_or_fail()
        failure: Optional[OSError] = None
        for _, ip in addresses:
            ready: asyncio.Future[_Conn] = loop.create_future()
            try:
                transport, _ = await loop.create_connection(
                    functools.partial(conn, ready), ip, port
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

    async def _connect(self, route: _Route, addresses: Addresses, policy: EndpointPolicy) -> _Conn:
        """A new connection to one of ``addresses`` (those the policy checked), TLS
        handshake done with the host's name."""
        context = self._tls() if route.scheme == "https" else None
        make = functools.partial(
            _Conn, self, route.key, policy, context=context, server_hostname=route.host
        )
        return await self._open(addresses, route.port, make)

    async def _connect_via(
        self,
        route: _Route,
        proxy: Proxy,
        addresses: Addresses,
        url: str,
        policy: EndpointPolicy,
    ) -> _Conn:
        """A connection through ``proxy`` (at one of ``addresses``): for https, a
        CONNECT tunnel to the route's host and TLS with that host's name over it."""
        make = functools.partial(_Conn, self, route.key, policy)
        try:
            conn = await self._open(addresses, proxy.port, make)
        except OSError as exc:  # refused, unreachable at every address of the proxy's
            raise proxy_refused(proxy, url, None, _detail(exc)) from None
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
                raise proxy_refused(proxy, url, None, _detail(exc)) from None
            if not 200 <= status <= 299:
                raise proxy_refused(proxy, url, status, reason)
            return await conn.start_tls(self._tls(), route.host)
        except BaseException:
            conn.abort()
            raise

    def _take(self, key: _Key, policy: EndpointPolicy) -> Optional[_Conn]:
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

    def _route(self, scheme: str, netloc: str, proxy: Optional[Proxy] = None) -> _Route:
        route = self._routes.get((scheme, netloc, proxy))
        if route is None:
            route = _Route(scheme, netloc, proxy)
            if len(self._routes) >= 1024:
                self._routes.clear()  # push services are few; this bounds odd fan-outs
            self._routes[scheme, netloc, proxy] = route
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
            scheme, netloc, target = _split(url)
            via = select_proxy(url, proxy)
            route = self._route(scheme, netloc, via)
            headers = request.headers
            if via is not None and scheme == "http":
                # Absolute form to the proxy (RFC 9112 §3.2.2), with its credentials.
                target = f"{scheme}://{route.host_header}{target}"
                headers = {**headers, **via.headers()}
            data = encode_request(request.method, target, route.host_header, headers, request.body)
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
    # A certificate's names, for one, are the server's words.
    return _clip(text, _MAX_DETAIL)


def _error(
    exc: BaseException,
    route: _Route,
    url: str,
    timeout: float,
    parser: ResponseParser,
    connecting: bool,
) -> TransportError:
    """Our error for a socket/TLS/HTTP failure: never includes headers or body."""
    if isinstance(exc, TransportError):
        return exc  # already ours (a ProxyError)
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
