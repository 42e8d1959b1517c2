"""The pywebpush-compatible facade: ``webpush``, ``webpush_async``, ``WebPusher``.

Thin on purpose: checks and encryption live in the sans-IO builder
(``_request``), the wire in ``_transport``. What differs from pywebpush is
listed in the README's "Migrating from pywebpush".
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import os
import shlex
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Optional, Union, overload

if TYPE_CHECKING:
    import urllib3

from . import ece
from ._b64 import b64url_encode
from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._request import (
    CONTENT_ENCODINGS,
    PushRequest,
    VapidKeyLike,
    build_request,
    payload_bytes,
)
from ._response import CaseInsensitiveDict, PushResponse, error_for_response
from ._subscription import Subscription
from ._wire.proxy import Proxy, ProxyArg, check_proxy_arg
from ._wire.urllib3_transport import DEFAULT_TIMEOUT, send_request
from .errors import InvalidInput, InvalidRequest, NoData, TransportError

__all__ = ["CaseInsensitiveDict", "WebPusher", "as_curl", "webpush", "webpush_async"]

log = logging.getLogger("webpush_core")


def as_curl(
    request: PushRequest, *, timeout: Optional[float] = None, proxy: ProxyArg = None
) -> str:
    """A shell command that sends ``request`` with curl: paste it and it runs.

    The body travels inside the command as base64 (no side file is written).
    Note that it carries the VAPID token: treat it as a credential.
    An explicit ``proxy`` URL appears as ``--proxy`` with its password masked
    (``***``: put it back by hand); ``proxy=False`` gives ``--noproxy '*'``;
    with None curl reads the same proxy environment variables itself.
    ``--globoff``: the URL is sent as it is, never expanded by curl's ``[1-50]``
    and ``{a,b}`` globbing (one command, one request, whatever the endpoint holds).
    """
    parts = ["curl", "--globoff", "--silent", "--show-error", "--include", "-X", "POST"]
    if timeout is not None:
        parts += ["--max-time", f"{timeout:g}"]
    if proxy is False:
        parts += ["--noproxy", "*"]
    elif isinstance(proxy, Proxy):
        parts += ["--proxy", proxy.masked]
    for name, value in request.headers.items():
        parts += ["-H", f"{name}: {value}"]
    if request.body:
        parts += ["--data-binary", "@-"]
    else:
        parts += ["-H", "Content-Length: 0"]
    parts.append(request.url)
    command = " ".join(shlex.quote(p) for p in parts)
    if not request.body:
        return command
    encoded = base64.b64encode(request.body).decode("ascii")
    # `base64 -d` reads it back on both GNU coreutils and macOS.
    return f"printf %s {shlex.quote(encoded)} | base64 -d | {command}"


def _post(
    request: PushRequest,
    *,
    timeout: Optional[float],
    endpoint_policy: Optional[EndpointPolicy],
    requests_session: Any,
    pool_manager: Optional[urllib3.PoolManager],
    proxy: ProxyArg = None,
) -> PushResponse:
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if requests_session is None:
        return send_request(
            request,
            pool_manager=pool_manager,
            timeout=timeout,
            policy=endpoint_policy,
            proxy=proxy,
        )
    if proxy is not None:
        raise InvalidInput(
            "proxy= does not apply to a requests_session, which sends with its own proxy "
            "settings: set session.proxies (or session.trust_env = False) instead",
            field="proxy",
        )
    # pywebpush's hook: any object with .post(url, data=, headers=, timeout=).
    # The policy still applies: the session would otherwise reach anything.
    (endpoint_policy or DEFAULT_POLICY).admit(request.url)
    options: dict[str, Any] = {}
    if hasattr(requests_session, "resolve_redirects"):
        # A requests.Session follows redirects by default: a 307 would re-POST
        # the message to a host the policy never checked (an SSRF bypass).
        options["allow_redirects"] = False
    reply = requests_session.post(
        request.url, data=request.body, headers=request.headers, timeout=timeout, **options
    )
    if getattr(reply, "history", None):
        raise TransportError(
            f"the requests_session followed a redirect from {request.url}; redirects from "
            "a push service must not be followed (pass a session that does not follow them)",
            endpoint=request.url,
        )
    return _adopt_response(reply, request.url)


def _adopt_response(reply: Any, url: str) -> PushResponse:
    """Wrap a session's response (requests, or alike) as an always-truthy PushResponse."""
    headers = getattr(reply, "headers", None) or {}
    content = getattr(reply, "content", b"")
    return PushResponse(
        int(getattr(reply, "status_code", getattr(reply, "status", 0))),
        str(getattr(reply, "reason", "") or ""),
        [(str(k), str(v)) for k, v in headers.items()],
        content if isinstance(content, bytes) else str(content).encode("utf-8"),
        url,
    )


@overload
def webpush(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: Literal[False] = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> PushResponse: ...


@overload
def webpush(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None],
    vapid_private_key: Optional[VapidKeyLike],
    vapid_claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    curl: Literal[True],
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> str: ...


@overload
def webpush(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    *,
    curl: Literal[True],
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> str: ...


@overload
def webpush(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: bool = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> Union[PushResponse, str]: ...


def webpush(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: bool = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> Union[PushResponse, str]:
    """Encrypt ``data`` for one subscription and send it (pywebpush's ``webpush``).

    Returns the push service's response (status 200-202), or with
    ``curl=True`` a shell command and sends nothing. Raises a
    :class:`~webpush_core.WebPushException` subclass on bad input (before
    sending), on a transport failure, and on any status above 202 (with
    ``.response``, ``.status_code`` and ``.retry_after`` set).

    ``timeout`` defaults to 10 seconds. ``endpoint_policy`` defaults to
    refusing non-public endpoints (see :class:`EndpointPolicy`). ``proxy``:
    None (default) follows ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` as
    ``requests`` does, ``"http://user:pass@host:port"`` sends through that
    proxy, False connects directly.
    """
    proxy = check_proxy_arg(proxy)
    request = build_request(
        subscription_info,
        data,
        vapid_private_key,
        vapid_claims,
        content_encoding,
        ttl,
        urgency,
        topic,
        headers,
        pad_to=pad_to,
        max_payload=max_payload,
        endpoint_policy=endpoint_policy,
    )
    if curl:
        return as_curl(request, timeout=timeout, proxy=proxy)
    if verbose:
        log.info(
            "webpush: POST %s (%d bytes, TTL %s)",
            request.url,
            len(request.body),
            request.headers["TTL"],
        )
    response = _post(
        request,
        timeout=timeout,
        endpoint_policy=endpoint_policy,
        requests_session=requests_session,
        pool_manager=pool_manager,
        proxy=proxy,
    )
    if verbose:
        log.info("webpush: %s answered %d %s", request.url, response.status_code, response.reason)
    error = error_for_response(response, request.url)
    if error is not None:
        raise error
    return response


_executor: Optional[ThreadPoolExecutor] = None
_executor_lock = threading.Lock()


def _async_executor() -> ThreadPoolExecutor:
    global _executor  # noqa: PLW0603 - one lazily created pool for the process
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=min(32, (os.cpu_count() or 1) + 4),
                thread_name_prefix="webpush_core",
            )
        return _executor


@overload
async def webpush_async(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: Literal[False] = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
    aiohttp_session: None = None,
) -> PushResponse: ...


@overload
async def webpush_async(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None],
    vapid_private_key: Optional[VapidKeyLike],
    vapid_claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    curl: Literal[True],
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
    aiohttp_session: None = None,
) -> str: ...


@overload
async def webpush_async(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    *,
    curl: Literal[True],
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
    aiohttp_session: None = None,
) -> str: ...


@overload
async def webpush_async(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: bool = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
    aiohttp_session: None = None,
) -> Union[PushResponse, str]: ...


async def webpush_async(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    curl: bool = False,
    timeout: Optional[float] = None,
    ttl: int = 0,
    verbose: bool = False,
    headers: Optional[Mapping[str, Any]] = None,
    requests_session: Any = None,
    *,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
    aiohttp_session: None = None,
) -> Union[PushResponse, str]:
    """``webpush`` for asyncio: same arguments, awaitable.

    urllib3 blocks, so the send runs in a bounded thread pool; the event
    loop is never blocked. pywebpush 2.x's ``aiohttp_session`` is refused
    with a message (there is no aiohttp here); for many messages use
    :meth:`PushClient.send_many_async`.
    """
    if aiohttp_session is not None:
        raise InvalidInput(
            "webpush_async() takes no aiohttp_session (pywebpush 2.x's keyword): it sends "
            "with urllib3 on a thread pool and needs no session; drop the argument (for "
            "many messages, PushClient.send_many_async keeps connections open)",
            field="aiohttp_session",
        )
    call = functools.partial(
        webpush,
        subscription_info,
        data,
        vapid_private_key,
        vapid_claims,
        content_encoding,
        curl,
        timeout,
        ttl,
        verbose,
        headers,
        requests_session,
        urgency=urgency,
        topic=topic,
        endpoint_policy=endpoint_policy,
        pool_manager=pool_manager,
        pad_to=pad_to,
        max_payload=max_payload,
        proxy=proxy,
    )
    result: Union[PushResponse, str] = await asyncio.get_running_loop().run_in_executor(
        _async_executor(), call
    )
    return result


class WebPusher:
    """pywebpush's ``WebPusher``: one subscription, encode and send to it.

    As in pywebpush, ``send`` returns the response whatever its status
    (``webpush()`` is the call that raises on status > 202).
    """

    valid_encodings: ClassVar[list[str]] = list(CONTENT_ENCODINGS)

    def __init__(
        self,
        subscription_info: Union[Mapping[str, Any], Subscription],
        requests_session: Any = None,
        verbose: bool = False,
        *,
        pool_manager: Optional[urllib3.PoolManager] = None,
    ) -> None:
        self.subscription = Subscription.from_info(subscription_info)
        self.subscription_info: dict[str, Any] = self.subscription.to_info()
        self.receiver_key: bytes = self.subscription.p256dh
        self.auth_key: bytes = self.subscription.auth
        self.requests_session = requests_session
        self.pool_manager = pool_manager
        self.verbose = verbose

    def __repr__(self) -> str:
        return f"WebPusher(endpoint={self.subscription.endpoint!r})"

    def encode(
        self, data: Union[bytes, str], content_encoding: str = "aes128gcm"
    ) -> CaseInsensitiveDict[bytes]:
        """Encrypt ``data``: ``{"body": ...}``, plus ``crypto_key`` and ``salt``
        (base64url bytes) for ``aesgcm``. Raises ``NoData`` on empty data."""
        # bytes(5) would be five zero octets, bytes([1, 2]) two: only bytes and str.
        plaintext = payload_bytes(data)
        if not plaintext:
            raise NoData("there is no data to encode", field="data")
        if content_encoding not in CONTENT_ENCODINGS:
            raise InvalidRequest(
                f"content_encoding must be one of {', '.join(CONTENT_ENCODINGS)}, "
                f"got {content_encoding!r}",
                field="content_encoding",
            )
        msg = ece.encrypt_message(
            plaintext, self.subscription.ua_public_key, self.auth_key, version=content_encoding
        )
        reply: CaseInsensitiveDict[bytes] = CaseInsensitiveDict({"body": msg.body})
        if content_encoding == "aesgcm":
            reply["crypto_key"] = b64url_encode(msg.as_public).encode("ascii")
            reply["salt"] = b64url_encode(msg.salt).encode("ascii")
        return reply

    def as_curl(self, endpoint: str, encoded_data: bytes, headers: Mapping[str, Any]) -> str:
        """A curl command posting ``encoded_data`` to ``endpoint`` (pastes and runs)."""
        request = PushRequest(
            url=endpoint, headers={str(k): str(v) for k, v in headers.items()}, body=encoded_data
        )
        return as_curl(request)

    def send(
        self,
        data: Union[bytes, str, None] = None,
        headers: Optional[Mapping[str, Any]] = None,
        ttl: int = 0,
        content_encoding: str = "aes128gcm",
        curl: bool = False,
        timeout: Optional[float] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        endpoint_policy: Optional[EndpointPolicy] = None,
        proxy: ProxyArg = None,
    ) -> Union[PushResponse, str]:
        """Encrypt and send ``data``; ``headers`` may carry pre-signed VAPID headers.

        ``proxy`` as for :func:`webpush` (None: the proxy environment variables).
        """
        proxy = check_proxy_arg(proxy)
        request = build_request(
            self.subscription,
            data,
            None,
            None,
            content_encoding,
            ttl,
            urgency,
            topic,
            headers,
            endpoint_policy=endpoint_policy,
        )
        if curl:
            return as_curl(request, timeout=timeout, proxy=proxy)
        if self.verbose:
            log.info("WebPusher: POST %s (%d bytes)", request.url, len(request.body))
        return _post(
            request,
            timeout=timeout,
            endpoint_policy=endpoint_policy,
            requests_session=self.requests_session,
            pool_manager=self.pool_manager,
            proxy=proxy,
        )
