"""A urllib3 or socket failure as our :class:`TransportError`: its kind (lookup,
connect, TLS, timeout, a broken answer), its root cause, never headers or body."""

from __future__ import annotations

import re
import socket
from typing import Optional

from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError, ProtocolError, SSLError
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
from .._origin import describe
from ..errors import TransportError
from .proxy import Proxy, proxy_refused

__all__ = ["DeadlinePassed", "error_for", "root_cause"]


class DeadlinePassed(Exception):
    """The attempt's deadline passed (the watchdog shut its socket down)."""


def root_cause(exc: BaseException) -> BaseException:
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
    root = root_cause(exc)
    match = _TUNNEL_STATUS.search(str(root))
    if match is not None:  # http.client's tunnel: the proxy answered CONNECT with a non-2xx
        return proxy_refused(proxy, url, int(match.group(1)), match.group(2))
    return proxy_refused(proxy, url, None, failure_detail(root))


def error_for(
    exc: BaseException, url: str, timeout: float, reading: bool, proxy: Optional[Proxy] = None
) -> TransportError:
    """Our error for a urllib3/socket failure (:func:`.._classify.transport_error`'s
    words, with urllib3's kind of failure and its root cause): never headers or body."""
    if proxy is not None and isinstance(exc, Urllib3ProxyError):
        return _proxy_error(exc, url, proxy)
    root = root_cause(exc)
    if isinstance(exc, NewConnectionError):  # subclasses ConnectTimeoutError: test first
        resolving = isinstance(root, socket.gaierror) or type(exc).__name__ == "NameResolutionError"
        kind = RESOLVE if resolving else CONNECT
    elif isinstance(exc, (Urllib3Timeout, socket.timeout, DeadlinePassed)):
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
