"""Sending a :class:`PushRequest` with urllib3 (with :mod:`.urllib3_pools` and
:mod:`.urllib3_errors`, the only modules that import it).

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
import socket
import time
from http.client import HTTPException
from typing import Any, Optional

import urllib3
from urllib3.exceptions import HTTPError

from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._origin import split
from .._request.value import PushRequest
from .._response import PushResponse
from ..errors import InvalidRequest, TransportError
from . import standin as standins
from .proxy import ProxyArg, admit, proxy_refused, select_proxy
from .resend import resend_on_new_connection
from .urllib3_errors import DeadlinePassed, error_for, root_cause
from .urllib3_pools import (
    DEFAULT_TIMEOUT,
    Attempt,
    checks_addresses,
    current,
    default_pool_manager,
    proxy_manager,
)
from .watchdog import Alarm, watchdog

__all__ = ["send_request"]

_CHUNK = 8192


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
    elif checks_addresses(pool, url):
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
            raise error_for(DeadlinePassed(), url, timeout, reading=False)
        guard = current.attempt = Attempt(deadline, connect_policy)
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
            cause: BaseException = DeadlinePassed() if guard.disarm() else exc
            # urlopen raised: no complete head arrived (counted as no response octet).
            if resend_on_new_connection(
                root_cause(cause),
                sends=attempt,
                response_octets=0,
                time_left=deadline - time.monotonic(),
            ):
                continue
            raise error_for(cause, url, timeout, reading=False, proxy=via) from None
        except BaseException:
            guard.disarm()  # never leave an alarm that could hit a pooled connection later
            raise
        finally:
            current.attempt = None
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
        raise error_for(DeadlinePassed(), url, timeout, reading=False)
    try:
        content, complete = _read_body(response, deadline, limit)
    except (HTTPError, HTTPException, OSError, DeadlinePassed) as exc:
        fired = alarm is not None and watchdog.disarm(alarm)
        _discard(response)
        # A failure caused by the watchdog's shutdown is a timeout.
        cause: BaseException = DeadlinePassed() if fired else exc
        raise error_for(cause, url, timeout, reading=True) from None
    if alarm is not None and watchdog.disarm(alarm):
        # The socket was shut down under the reader: what looked like the
        # end of the body may be a truncation.
        _discard(response)
        raise error_for(DeadlinePassed(), url, timeout, reading=True)
    headers = [(name, response.headers[name]) for name in response.headers]
    result = PushResponse(response.status, response.reason or "", headers, content, url)
    if complete:
        response.release_conn()
    else:
        _discard(response)  # over max_response_bytes: drop the rest with the connection
    return result


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
            raise DeadlinePassed
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
