"""Sending a :class:`PushRequest` with urllib3 (the only module that imports it).

* One lazily created module-level ``PoolManager``: keep-alive connections,
  TLS verification on (the system CA store), ``block=False``.
* No urllib3 retries and no redirects: retrying is the fan-out layer's
  decision, and a 3xx is returned as is (following it would send the
  message, and its VAPID token, to a host the policy never checked).
* One exception: a request that met a keep-alive connection the server had
  already closed is sent again once, transparently (the rule: :mod:`.resend`).
* A per-attempt deadline, total: connecting (TCP and TLS handshake), sending,
  waiting for and reading the status line, headers and body all end by
  ``timeout`` seconds after the attempt began. urllib3's own timeouts bound
  each socket operation only, so a watchdog shuts the socket down at the
  deadline: a server dripping one byte at a time (in the handshake, the
  headers or the body) cannot hold the caller. The pools of
  :func:`make_pool_manager` watch from the moment a connection is opened or
  reused; with another ``PoolManager`` only the body is watched.
"""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
import weakref
from http.client import HTTPException
from typing import Any, Optional

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import ProxyError as Urllib3ProxyError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from .._classify import (
    BROKEN,
    CONNECT,
    OTHER,
    RESOLVE,
    TIMEOUT,
    TLS,
    failure_detail,
    transport_error,
)
from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._origin import describe, split
from .._request.value import PushRequest
from .._response import PushResponse
from ..errors import InvalidRequest, TransportError
from . import standin as standins
from .proxy import Proxy, ProxyArg, admit, proxy_refused, select_proxy
from .resend import resend_on_new_connection
from .watchdog import Alarm, watchdog

__all__ = ["DEFAULT_TIMEOUT", "default_pool_manager", "make_pool_manager", "send_request"]

DEFAULT_TIMEOUT = 10.0
_CHUNK = 8192

_pool_manager: Optional[urllib3.PoolManager] = None
_pool_lock = threading.Lock()


def make_pool_manager(
    *, maxsize: int = 32, ca_certs: Optional[str] = None, **kw: Any
) -> urllib3.PoolManager:
    """A ``PoolManager`` set up for pushing: keep-alive, verified TLS, non-blocking pool.

    ``maxsize`` connections are kept per push service host (size it to your
    fan-out concurrency); with ``block=False`` extra concurrent requests open
    extra connections instead of waiting. ``ca_certs`` replaces the system
    CA store (e.g. a test CA). Other keywords go to ``PoolManager``.
    """
    kw.setdefault("num_pools", 32)
    kw.setdefault("block", False)
    kw.setdefault("cert_reqs", "CERT_REQUIRED")
    kw.setdefault("retries", False)
    kw.setdefault("timeout", urllib3.Timeout(connect=DEFAULT_TIMEOUT, read=DEFAULT_TIMEOUT))
    if ca_certs is not None:
        kw["ca_certs"] = ca_certs
    pool_manager = urllib3.PoolManager(maxsize=maxsize, **kw)
    # Connections that arm the per-attempt deadline as they open or are reused.
    pool_manager.pool_classes_by_scheme = {
        "http": _HTTPConnectionPool,
        "https": _HTTPSConnectionPool,
    }
    return pool_manager


def default_pool_manager() -> urllib3.PoolManager:
    """The module-level ``PoolManager`` every send uses unless given another one."""
    global _pool_manager  # noqa: PLW0603 -- one shared pool, created on first use
    pool = _pool_manager
    if pool is None:
        with _pool_lock:
            pool = _pool_manager
            if pool is None:
                pool = _pool_manager = make_pool_manager()
    return pool


_proxy_managers: weakref.WeakKeyDictionary[urllib3.PoolManager, dict[Proxy, urllib3.ProxyManager]]
_proxy_managers = weakref.WeakKeyDictionary()


def proxy_manager(base: urllib3.PoolManager, proxy: Proxy) -> urllib3.PoolManager:
    """A ``ProxyManager`` for ``proxy`` with ``base``'s connection settings (TLS, pool sizes).

    One per (base, proxy), kept as long as ``base`` is. A ``base`` that is a
    ``ProxyManager`` already is the caller's choice of proxy: used as it is.
    """
    if isinstance(base, urllib3.ProxyManager):
        return base
    with _pool_lock:
        managers = _proxy_managers.setdefault(base, {})
        manager = managers.get(proxy)
        if manager is None:
            manager = urllib3.ProxyManager(
                proxy.url,
                num_pools=int(getattr(base.pools, "_maxsize", 32)),
                proxy_headers=proxy.headers(),
                **base.connection_pool_kw,
            )
            # The same connection classes (the per-attempt deadline) as the base.
            manager.pool_classes_by_scheme = dict(base.pool_classes_by_scheme)
            managers[proxy] = manager
    return manager


# --------------------------------------------------------------------------
# Connections that put themselves under the watchdog for the current attempt.


class _Attempt:
    """The deadline of the request this thread is making, and its alarm once armed;
    the policy a new connection's addresses are checked with (None: checked before)."""

    __slots__ = ("alarm", "deadline", "policy")

    def __init__(self, deadline: float, policy: Optional[EndpointPolicy] = None) -> None:
        self.deadline = deadline
        self.policy = policy
        self.alarm: Optional[Alarm] = None

    def watch(self, sock: socket.socket, *, opening: bool) -> None:
        if self.alarm is not None:
            return
        if opening:
            # A new socket is about to be wrapped for TLS, which detaches this
            # socket object: watch a duplicate of its descriptor instead
            # (shutting it down ends the handshake just the same).
            try:
                sock = sock.dup()
            except OSError:
                return  # out of descriptors: per-read timeouts still apply
        self.alarm = watchdog.arm(self.deadline, sock, owned=opening)

    def disarm(self) -> bool:
        """True if the deadline passed (the socket was shut down)."""
        alarm, self.alarm = self.alarm, None
        return alarm is not None and watchdog.disarm(alarm)


_current = threading.local()  # .attempt: the _Attempt this thread is in, if any


def _watch(sock: Optional[socket.socket], *, opening: bool) -> None:
    attempt: Optional[_Attempt] = getattr(_current, "attempt", None)
    if attempt is not None and sock is not None:
        attempt.watch(sock, opening=opening)


def _attempt_policy() -> Optional[EndpointPolicy]:
    """The policy the current attempt checks addresses with, if any (see _Attempt)."""
    attempt: Optional[_Attempt] = getattr(_current, "attempt", None)
    return attempt.policy if attempt is not None else None


class _Checked(HTTPConnection):
    """Opens its socket to an address the attempt's policy checked, from one lookup.

    urllib3 would resolve the host itself, after our check: a name that
    answers a public address to the check and a private one to the connect
    (DNS rebinding) would get through. Here the host is resolved once, every
    address is checked (:meth:`EndpointPolicy.check_addresses`), and the
    socket goes to one of those very addresses; TLS still verifies the host
    name (``self.host`` is unchanged, only the address connected to is).
    """

    _checked_with: Optional[EndpointPolicy] = None  # the policy this socket's address passed

    def _new_conn(self) -> socket.socket:
        policy = _attempt_policy()
        self._checked_with = policy
        sock = super()._new_conn() if policy is None else self._new_checked_conn(policy)
        _watch(sock, opening=True)
        return sock

    def _new_checked_conn(self, policy: EndpointPolicy) -> socket.socket:
        host, dns_host = self.host, self._dns_host
        try:
            infos = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise NewConnectionError(self, f"Failed to resolve {host!r} ({exc})") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        policy.check_addresses(host, addresses)  # EndpointNotAllowed: nothing was sent
        failure: Optional[Exception] = None
        for address in addresses:
            self._dns_host = address  # what urllib3 connects to (not the TLS name)
            try:
                return super()._new_conn()
            except NewConnectionError as exc:  # refused, unreachable: the next address
                failure = exc
            finally:
                self._dns_host = dns_host
        raise failure or NewConnectionError(self, f"no address for {host!r}")

    def request(self, *args: Any, **kwargs: Any) -> None:
        policy = _attempt_policy()
        sock = self.sock
        if policy is not None and sock is not None and policy != self._checked_with:
            # A kept-alive connection opened under another policy (the pool is
            # shared): the address it is connected to must pass this one too.
            peer = sock.getpeername()[0]
            policy.check_addresses(self.host, [str(peer)])
            self._checked_with = policy
        _watch(sock, opening=False)  # a reused keep-alive connection
        super().request(*args, **kwargs)


class _HTTPConnection(_Checked):
    pass


class _HTTPSConnection(_Checked, HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# --------------------------------------------------------------------------


class _DeadlinePassed(Exception):
    pass


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost non-urllib3 exception behind ``exc`` (the OSError, SSL error, ...)."""
    seen = 0
    current: BaseException = exc
    while seen < 8:
        seen += 1
        if isinstance(current, MaxRetryError) and current.reason is not None:
            current = current.reason
            continue
        inner = current.__cause__ or current.__context__
        if inner is None and current.args and isinstance(current.args[-1], BaseException):
            inner = current.args[-1]
        if inner is None or not isinstance(current, HTTPError):
            break
        current = inner
    return current


_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})\s*(.*)")


def _proxy_error(exc: BaseException, url: str, proxy: Proxy) -> TransportError:
    """The error for a proxy that refused or could not be reached (no credentials in it)."""
    root = _root_cause(exc)
    match = _TUNNEL_STATUS.search(str(root))
    if match is not None:  # http.client's tunnel: the proxy answered CONNECT with a non-2xx
        return proxy_refused(proxy, url, int(match.group(1)), match.group(2))
    return proxy_refused(proxy, url, None, failure_detail(root))


def _transport_error(
    exc: BaseException, url: str, timeout: float, reading: bool, proxy: Optional[Proxy] = None
) -> TransportError:
    """Our error for a urllib3/socket failure (:func:`.._classify.transport_error`'s
    words, with urllib3's kind of failure and its root cause): never headers or body."""
    if proxy is not None and isinstance(exc, Urllib3ProxyError):
        return _proxy_error(exc, url, proxy)
    root = _root_cause(exc)
    if isinstance(exc, NewConnectionError):  # subclasses ConnectTimeoutError: test first
        resolving = isinstance(root, socket.gaierror) or type(exc).__name__ == "NameResolutionError"
        kind = RESOLVE if resolving else CONNECT
    elif isinstance(exc, (Urllib3Timeout, socket.timeout, _DeadlinePassed)):
        kind = TIMEOUT
    elif isinstance(exc, SSLError):
        kind = TLS
    elif isinstance(exc, ProtocolError):
        kind = BROKEN
    else:
        kind = OTHER
    return transport_error(
        kind, root, url=url, origin=describe(url), timeout=timeout, reading=reading
    )


def _discard(response: Any) -> None:
    """Close the response's connection (it may hold unread bytes) and free its slot."""
    try:
        response.close()
    finally:
        # Best effort: the connection is already closed.
        with contextlib.suppress(Exception):
            response.release_conn()


def _read_body(response: Any, deadline: float, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes before ``deadline``; (body, complete?)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() >= deadline:
            raise _DeadlinePassed
        chunk = response.read(min(_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False


def _response_socket(response: Any) -> Optional[socket.socket]:
    """The socket the body is read from, for the watchdog; None if not found."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if not isinstance(sock, socket.socket):
        # With "Connection: close" http.client hands the socket over to the
        # response and clears ``connection.sock``; it is still reachable
        # through the response's file (http.client.HTTPResponse.fp -> SocketIO).
        raw = getattr(getattr(getattr(response, "_fp", None), "fp", None), "raw", None)
        sock = getattr(raw, "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def send_request(
    request: PushRequest,
    *,
    pool_manager: Optional[urllib3.PoolManager] = None,
    timeout: Optional[float] = None,
    policy: Optional[EndpointPolicy] = None,
    max_response_bytes: int = 65536,
    proxy: ProxyArg = None,
) -> PushResponse:
    """POST ``request`` and return the push service's answer (RFC 8030 §5).

    Checks the endpoint with ``policy`` (default :data:`DEFAULT_POLICY`) first.
    ``proxy``: None follows the proxy environment variables (as ``requests``
    does), False connects directly, a URL ``http://[user:pw@]host:port``
    sends through that proxy (see :mod:`._proxy`); a proxy's refusal raises
    :class:`ProxyError`.
    Does not raise for HTTP statuses (see ``error_for_response``); raises
    :class:`PushTimeout` when an attempt takes longer than ``timeout``
    seconds (default :data:`DEFAULT_TIMEOUT`), :class:`TransportError` when
    no answer came (refused, reset, TLS, DNS). The body is kept up to
    ``max_response_bytes``; the rest is dropped with the connection.
    """
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidRequest(
            f"timeout must be a positive number of seconds, got {timeout!r}", field="timeout"
        )
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        raise InvalidRequest("max_response_bytes must be an int", field="max_response_bytes")
    if max_response_bytes < 0:
        raise InvalidRequest("max_response_bytes must be >= 0", field="max_response_bytes")
    timeout = float(timeout)
    url = request.url

    policy = DEFAULT_POLICY if policy is None else policy
    standin = standins.current()
    if standin is not None:  # a test's MockPushService: no network
        return standins.send_blocking(standin, request, timeout, policy)
    via = select_proxy(url, proxy)
    pool = default_pool_manager() if pool_manager is None else pool_manager
    connect_policy: Optional[EndpointPolicy] = None
    if via is not None:
        # The socket goes to the proxy (it may be on a private address); the
        # proxy resolves the endpoint's host: check-then-connect.
        admit(policy, url, via)
        pool = proxy_manager(pool, via)
    elif _checks_addresses(pool, url):
        policy.check(url)  # the addresses: as a connection opens, to the one it opens to
        connect_policy = policy
    else:
        policy.admit(url)  # another pool resolves again when it connects
    # urllib3 keys its pools (and writes Host and the TLS server name) by the
    # URL it is given: the origin's one spelling, as PushClient's own pool does.
    origin, rest = split(url)
    target = f"{origin.scheme}://{origin.authority}{rest}"
    # One deadline for the whole call, the stale-connection resend included.
    deadline = time.monotonic() + timeout
    for attempt in (1, 2):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _transport_error(_DeadlinePassed(), url, timeout, reading=False)
        guard = _current.attempt = _Attempt(deadline, connect_policy)
        try:
            response = pool.urlopen(
                request.method,
                target,
                body=request.body,
                headers=request.headers,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=remaining, read=remaining, total=remaining),
                preload_content=False,
            )
        except (HTTPError, HTTPException, OSError) as exc:
            # The watchdog's shutdown surfaces as a reset or a truncation: a timeout.
            cause: BaseException = _DeadlinePassed() if guard.disarm() else exc
            # urlopen raised: no complete head arrived (counted as no response octet).
            if resend_on_new_connection(
                _root_cause(cause),
                sends=attempt,
                response_octets=0,
                time_left=deadline - time.monotonic(),
            ):
                continue
            raise _transport_error(cause, url, timeout, reading=False, proxy=via) from None
        except BaseException:
            guard.disarm()  # never leave an alarm that could hit a pooled connection later
            raise
        finally:
            _current.attempt = None
        alarm, guard.alarm = guard.alarm, None
        if via is not None and response.status == 407:
            # Only a proxy answers 407 (RFC 9110 §15.5.8): for an http endpoint
            # (absolute form) the refusal arrives as an ordinary response, and
            # the proxy may close without reading our body.
            with contextlib.suppress(TransportError):
                _finish(response, url, deadline, timeout, 0, alarm)
            raise proxy_refused(via, url, 407, response.reason or "")
        return _finish(response, url, deadline, timeout, max_response_bytes, alarm)
    raise AssertionError("unreachable")  # pragma: no cover


def _checks_addresses(pool: urllib3.PoolManager, url: str) -> bool:
    """Whether ``pool`` opens its connections with :class:`_Checked` (to ``url`` directly)."""
    if isinstance(pool, urllib3.ProxyManager):
        return False  # the proxy resolves the endpoint's host
    scheme = url.partition(":")[0].lower()
    classes = getattr(pool, "pool_classes_by_scheme", None)  # any object with urlopen() will do
    return isinstance(classes, dict) and classes.get(scheme) in (
        _HTTPConnectionPool,
        _HTTPSConnectionPool,
    )


def _finish(
    response: Any,
    url: str,
    deadline: float,
    timeout: float,
    limit: int,
    alarm: Optional[Alarm] = None,
) -> PushResponse:
    if alarm is None:
        # A PoolManager not made by make_pool_manager: watch the body only.
        sock = _response_socket(response)
        alarm = watchdog.arm(deadline, sock) if sock is not None else None
    elif alarm.fired:
        # Shut down while the headers were read: they may be truncated.
        watchdog.disarm(alarm)
        _discard(response)
        raise _transport_error(_DeadlinePassed(), url, timeout, reading=False)
    try:
        content, complete = _read_body(response, deadline, limit)
    except (HTTPError, HTTPException, OSError, _DeadlinePassed) as exc:
        fired = alarm is not None and watchdog.disarm(alarm)
        _discard(response)
        # A failure caused by the watchdog's shutdown is a timeout.
        cause: BaseException = _DeadlinePassed() if fired else exc
        raise _transport_error(cause, url, timeout, reading=True) from None
    if alarm is not None and watchdog.disarm(alarm):
        # The socket was shut down under the reader: what looked like the
        # end of the body may be a truncation.
        _discard(response)
        raise _transport_error(_DeadlinePassed(), url, timeout, reading=True)
    headers = [(name, response.headers[name]) for name in response.headers]
    result = PushResponse(response.status, response.reason or "", headers, content, url)
    if complete:
        response.release_conn()
    else:
        _discard(response)  # over max_response_bytes: drop the rest with the connection
    return result
