"""The urllib3 path's pool managers, and connections that keep a send's promises.

:func:`make_pool_manager` makes pools whose connections open to an address
the endpoint policy checked, from one lookup (no DNS rebinding between the
check and the connect), and put themselves under the watchdog for the
current attempt (its deadline covers the TCP and TLS handshakes too).
:func:`default_pool_manager` is the one every send uses unless given
another; :func:`proxy_manager` the ``ProxyManager`` for a proxy with a
pool's settings. Sending is :mod:`.urllib3_transport`'s.
"""

from __future__ import annotations

import socket
import threading
import weakref
from typing import Any, Optional

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError

from .._endpoint import EndpointPolicy
from .proxy import Proxy
from .watchdog import Alarm, watchdog

__all__ = [
    "DEFAULT_TIMEOUT",
    "Attempt",
    "checks_addresses",
    "current",
    "default_pool_manager",
    "make_pool_manager",
    "proxy_manager",
]

DEFAULT_TIMEOUT = 10.0

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


class Attempt:
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


current = threading.local()  # .attempt: the Attempt this thread is in, if any


def _watch(sock: Optional[socket.socket], *, opening: bool) -> None:
    attempt: Optional[Attempt] = getattr(current, "attempt", None)
    if attempt is not None and sock is not None:
        attempt.watch(sock, opening=opening)


def _attempt_policy() -> Optional[EndpointPolicy]:
    """The policy the current attempt checks addresses with, if any (see Attempt)."""
    attempt: Optional[Attempt] = getattr(current, "attempt", None)
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


def checks_addresses(pool: urllib3.PoolManager, url: str) -> bool:
    """Whether ``pool`` opens its connections with :class:`_Checked` (to ``url`` directly)."""
    if isinstance(pool, urllib3.ProxyManager):
        return False  # the proxy resolves the endpoint's host
    scheme = url.partition(":")[0].lower()
    classes = getattr(pool, "pool_classes_by_scheme", None)  # any object with urlopen() will do
    return isinstance(classes, dict) and classes.get(scheme) in (
        _HTTPConnectionPool,
        _HTTPSConnectionPool,
    )
