"""One request on PushClient's event loop: the per-request state machine.

An :class:`Exchange` goes: look the host up (off the loop, :mod:`.resolver`),
check every address with the endpoint policy, take an idle connection or
open one to a checked address (through the proxy's tunnel, if any), write
the request, parse the response (:mod:`.http1`), give the connection back
or drop it, and report one :data:`Outcome`. One timer per request covers it
all, from the lookup to the last octet of the body: when it fires the
connection is dropped, so a server dripping octets cannot hold a request
past its deadline. A request that met a closed keep-alive connection is sent
once more (:mod:`.resend`). A failure becomes its error in
:mod:`.._classify`'s words.

Through a forward proxy (:mod:`.proxy`), the endpoint's host is still checked
by the policy when it resolves here; the proxy's own address is not (it may
be private). An http origin gets its requests in absolute form.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import TYPE_CHECKING, Callable, Optional, Union
from urllib.parse import quote

from .._classify import RESOLVE, TIMEOUT, failure_detail, failure_kind, transport_error
from .._endpoint import EndpointPolicy
from .._origin import Origin, split
from .._response import PushResponse
from ..errors import TransportError, WebPushException
from .http1.limits import HTTPProtocolError
from .http1.parser import ResponseParser
from .proxy import Proxy, proxy_refused
from .resend import resend_on_new_connection
from .resolver import Addresses
from .tls import Connection, Key

if TYPE_CHECKING:
    from .pool import Connections

__all__ = ["Exchange", "Outcome", "Route", "split_url"]

# What a request's callback gets: the response (any status), or why there is none.
Outcome = Union[PushResponse, WebPushException]
# Everything printable in ASCII stays as it is in the request target; only
# non-ASCII characters are percent-encoded (as UTF-8), as urllib3 does.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


class _Unsolicited(ConnectionAbortedError):
    """The server sent data before the request: the connection is not trusted."""


class Route:
    """Where an origin's requests go: the pool key, the Host header, the address."""

    __slots__ = ("host", "host_header", "key", "origin", "port", "proxy", "scheme")

    def __init__(self, origin: Origin, proxy: Optional[Proxy] = None) -> None:
        # The one origin identity (_origin): every spelling of a host shares a pool.
        self.scheme = origin.scheme
        self.host = origin.host
        self.port = origin.port
        # Through a proxy, connections are the proxy's (and its credentials'):
        # never pooled with direct ones.
        tag = self.scheme
        if proxy is not None:
            tag = f"{self.scheme} via {proxy.authority} {proxy.headers()}"
        self.key: Key = (tag, self.host, self.port)
        self.proxy = proxy
        self.origin = origin.explicit
        self.host_header = origin.authority


def split_url(url: str) -> tuple[Origin, str]:
    """(origin, request target) of an absolute http(s) URL; :class:`OriginError`
    if it names no origin.

    The target is the path and query (``/`` if empty); non-ASCII characters
    in it are percent-encoded. Cheaper than urlsplit for the one thing the
    request line needs, and every subscription's URL is a new one.
    """
    origin, target = split(url)
    target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    if not target.isascii():
        target = quote(target, safe=_TARGET_SAFE)
    return origin, target


class Exchange:
    """One request on the loop: connection, write, parse; a timer for the deadline."""

    __slots__ = (
        "conn",
        "connecting",
        "data",
        "deadline",
        "done",
        "finished",
        "limit",
        "lookup",
        "parser",
        "policy",
        "pool",
        "route",
        "sends",
        "task",
        "timeout",
        "timer",
        "url",
    )

    def __init__(
        self,
        pool: Connections,
        route: Route,
        url: str,
        data: bytes,
        deadline: float,
        timeout: float,
        limit: int,
        policy: EndpointPolicy,
        done: Callable[[Outcome], object],
    ) -> None:
        self.pool = pool
        self.policy = policy
        self.route = route
        self.url = url
        self.data = data
        self.deadline = deadline
        self.timeout = timeout
        self.limit = limit
        self.done = done
        self.sends = 1  # 2 once resent on a new connection (.resend)
        self.parser = ResponseParser(limit)
        self.conn: Optional[Connection] = None
        self.task: Optional[asyncio.Task[Connection]] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.lookup: Optional[concurrent.futures.Future[Addresses]] = None
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
        conn = None if fresh else self.pool.take(self.route.key, self.policy)
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
        lookup = self.pool.resolver.resolve(host, port)
        if lookup.done():
            then(lookup)
            return
        loop = self.pool.loop()
        self.lookup = lookup

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
            self.finish(proxy_refused(proxy, self.url, None, failure_detail(exc)))
            return
        task = self.pool.loop().create_task(
            self.pool.connect_via(self.route, proxy, lookup.result(), self.url, self.policy)
        )
        self.task = task
        task.add_done_callback(self.connected)

    def resolved(self, lookup: concurrent.futures.Future[Addresses]) -> None:
        """The host's addresses: checked with the policy, then connected to (one of these)."""
        if self.finished:
            return
        exc = lookup.exception()
        if exc is not None:
            self.finish(self._error(RESOLVE, exc))
            return
        addresses = lookup.result()
        if not self._admitted(addresses):
            return
        task = self.pool.loop().create_task(self.pool.connect(self.route, addresses, self.policy))
        self.task = task
        task.add_done_callback(self.connected)

    def connected(self, task: asyncio.Task[Connection]) -> None:
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

    def use(self, conn: Connection) -> None:
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
                self.pool.give_back(conn)
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
        loop = self.pool.running
        if resend_on_new_connection(
            exc,
            sends=self.sends,
            response_octets=self.parser.received,
            time_left=self.deadline - loop.time() if loop is not None else 0.0,
        ):
            self.sends = 2
            self.go(fresh=True)
            return
        self.finish(self._error(failure_kind(exc, connecting=self.connecting), exc))

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

    def _timeout_error(self) -> TransportError:
        return self._error(TIMEOUT, None)

    def _error(self, kind: str, cause: Optional[BaseException]) -> TransportError:
        """Our error for a failure of ``kind`` (:mod:`.._classify`): never headers or body."""
        return transport_error(
            kind,
            cause,
            url=self.url,
            origin=self.route.origin,
            timeout=self.timeout,
            reading=bool(self.parser.status),
        )

    def finish(self, outcome: Outcome) -> None:
        if self.finished:
            return
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.lookup is not None:
            # No longer waited for: a lookup still waiting for its turn is dropped.
            self.lookup.cancel()
            self.lookup = None
        self.pool.ended(self)
        self.done(outcome)


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
