"""The pywebpush-compatible facade: ``webpush``, ``webpush_async``, ``WebPusher``.

Thin on purpose: checks and encryption live in the sans-IO builder
(``_request``), the wire in ``_wire``. As in pywebpush, ``webpush()`` checks
and signs, then sends with ``WebPusher(...).send(...)`` (``webpush_async``
with ``send_async``), so a test that replaces ``WebPusher.send`` stubs the
network for both. What differs from pywebpush is listed in the README's
"Migrating from pywebpush".
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ClassVar,
    Literal,
    Optional,
    TypeVar,
    Union,
    overload,
)

if TYPE_CHECKING:
    import urllib3

from . import ece
from ._b64 import b64url_encode
from ._classify import error_for_response
from ._curl import as_curl
from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._facade_vapid import vapid_headers
from ._request.build import build_request, prepare_message
from ._request.headers import check_header
from ._request.keys import VapidKeyLike
from ._request.options import CONTENT_ENCODINGS, check_content_encoding, payload_bytes
from ._request.value import PushRequest
from ._response import CaseInsensitiveDict, PushResponse
from ._sessions import adopt_response, check_aiohttp_session, post_aiohttp, post_requests
from ._subscription import Subscription
from ._wire.proxy import ProxyArg, check_proxy_arg
from ._wire.urllib3_transport import DEFAULT_TIMEOUT, send_request
from .errors import InvalidInput, NoData

__all__ = ["CaseInsensitiveDict", "WebPusher", "as_curl", "webpush", "webpush_async"]

log = logging.getLogger("webpush_core")

_T = TypeVar("_T")


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
    return post_requests(request, requests_session, timeout=timeout, policy=endpoint_policy)


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

    As pywebpush's, it checks every argument, signs (a ``vapid_claims``
    dict gets its missing or stale ``exp`` written into it; see the README),
    then sends with ``WebPusher(...).send(...)``. ``data`` needs the
    subscription's ``keys``; without data (RFC 8030 §5) they may be absent.

    ``timeout`` defaults to 10 seconds. ``endpoint_policy`` defaults to
    refusing non-public endpoints (see :class:`EndpointPolicy`). ``proxy``:
    None (default) follows ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` as
    ``requests`` does, ``"http://user:pass@host:port"`` sends through that
    proxy, False connects directly.
    """
    proxy = check_proxy_arg(proxy)
    sub, send_headers = _prepare(
        subscription_info,
        data,
        vapid_private_key,
        vapid_claims,
        content_encoding,
        ttl,
        urgency,
        topic,
        headers,
        pad_to,
        max_payload,
        endpoint_policy,
    )
    # pywebpush's call, word for word, and ours only when given: a test that
    # replaced WebPusher.send sees what it saw with pywebpush.
    pusher = WebPusher(
        sub, requests_session=requests_session, verbose=verbose, **_given(pool_manager=pool_manager)
    )
    response = pusher.send(
        data,
        send_headers,
        **_send_options(
            ttl=ttl,
            content_encoding=content_encoding,
            curl=curl,
            timeout=timeout,
            urgency=urgency,
            topic=topic,
            endpoint_policy=endpoint_policy,
            proxy=proxy,
            pad_to=pad_to,
            max_payload=max_payload,
        ),
    )
    return _answer(response, curl, sub.endpoint, verbose)


def _given(**options: Any) -> dict[str, Any]:
    """The options that are not None."""
    return {name: value for name, value in options.items() if value is not None}


def _send_options(
    *,
    ttl: int,
    content_encoding: str,
    curl: bool,
    timeout: Optional[float],
    urgency: Optional[str],
    topic: Optional[str],
    endpoint_policy: Optional[EndpointPolicy],
    proxy: ProxyArg,
    pad_to: Optional[int],
    max_payload: Optional[int],
) -> dict[str, Any]:
    """The keyword arguments ``webpush`` and ``webpush_async`` pass to
    ``WebPusher.send``/``send_async``: pywebpush's, word for word, and ours only
    when given, so a test that replaced ``send`` sees what it saw with pywebpush."""
    return {
        "ttl": ttl,
        "content_encoding": content_encoding,
        "curl": curl,
        "timeout": timeout,
        **_given(
            urgency=urgency,
            topic=topic,
            endpoint_policy=endpoint_policy,
            proxy=proxy,
            pad_to=pad_to,
            max_payload=max_payload,
        ),
    }


def _answer(response: Any, curl: bool, endpoint: str, verbose: bool) -> Union[PushResponse, str]:
    """What ``webpush``/``webpush_async`` return for ``send``'s ``response``: the
    curl command as it is, else the response once :func:`_accepted`."""
    if curl or isinstance(response, str):
        command: Union[PushResponse, str] = response  # a replaced send's, as given
        return command
    accepted: PushResponse = _accepted(response, endpoint, verbose)
    return accepted


def _prepare(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None],
    vapid_private_key: Optional[VapidKeyLike],
    vapid_claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    ttl: int,
    urgency: Optional[str],
    topic: Optional[str],
    headers: Optional[Mapping[str, Any]],
    pad_to: Optional[int],
    max_payload: Optional[int],
    endpoint_policy: Optional[EndpointPolicy],
) -> tuple[Subscription, dict[str, Any]]:
    """``webpush``'s part before ``WebPusher.send``: every check, in
    :func:`build_request`'s order, then the VAPID headers joined to the caller's."""
    sub = Subscription.from_info(subscription_info)
    (DEFAULT_POLICY if endpoint_policy is None else endpoint_policy).check(sub.endpoint)
    plan = prepare_message(
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
    )
    if plan.needs_keys:
        sub.require_keys()
    return sub, vapid_headers(sub.origin, plan.signer, vapid_claims, content_encoding, headers)


def _accepted(response: Any, endpoint: str, verbose: bool) -> Any:
    """``response`` when the push service accepted the message (200-202), else
    raise the error it means. ``response`` is ours, or what a ``send`` a test
    put in place returned (a ``Mock`` with a ``status_code`` or ``status``):
    read leniently, and kept as the error's ``response``, as pywebpush does."""
    ours = response if isinstance(response, PushResponse) else adopt_response(response, endpoint)
    if verbose:
        log.info("webpush: %s answered %d %s", endpoint, ours.status_code, ours.reason)
    error = error_for_response(ours, endpoint)
    if error is None:
        return response
    error.response = response
    raise error


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


async def _in_pool(call: Callable[[], _T]) -> _T:
    """``call()`` on the bounded thread pool: blocking work never runs on the loop."""
    return await asyncio.get_running_loop().run_in_executor(_async_executor(), call)


def _no_proxy_with(session: str, proxy: ProxyArg) -> None:
    if proxy is not None:
        raise InvalidInput(
            f"proxy= does not apply to an {session}, which sends with its own proxy "
            "settings: configure the session instead",
            field="proxy",
        )


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
    aiohttp_session: Any = None,
    *,
    requests_session: Any = None,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
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
    aiohttp_session: Any = None,
    *,
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
    aiohttp_session: Any = None,
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
    aiohttp_session: Any = None,
    *,
    requests_session: Any = None,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
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
    aiohttp_session: Any = None,
    *,
    requests_session: Any = None,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
    pool_manager: Optional[urllib3.PoolManager] = None,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    proxy: ProxyArg = None,
) -> Union[PushResponse, str]:
    """``webpush`` for asyncio, with pywebpush 2.x's parameters: awaitable.

    Without ``aiohttp_session`` the message is sent with our own transport on
    a bounded thread pool (urllib3 blocks; the event loop never does). With
    one (any object whose awaitable ``post(url, data=, headers=, timeout=)``
    answers like ``aiohttp.ClientSession``'s), it is sent through it, as
    pywebpush 2.x does; the endpoint policy, the redirect refusal and
    ``timeout`` still apply. Raises as ``webpush`` does; returns a
    :class:`PushResponse` (``.status_code``, ``.status``, ``.text``), not the
    session's response. For many messages use :meth:`PushClient.send_many_async`.
    """
    check_aiohttp_session(aiohttp_session)
    proxy = check_proxy_arg(proxy)
    if aiohttp_session is not None:
        if requests_session is not None:
            raise InvalidInput(
                "pass aiohttp_session or requests_session, not both", field="requests_session"
            )
        _no_proxy_with("aiohttp_session", proxy)
    prepare = functools.partial(
        _prepare,
        subscription_info,
        data,
        vapid_private_key,
        vapid_claims,
        content_encoding,
        ttl,
        urgency,
        topic,
        headers,
        pad_to,
        max_payload,
        endpoint_policy,
    )
    sub, send_headers = await _in_pool(prepare)  # key files, signing: off the loop
    # pywebpush 2.x's call, and ours only when given (see webpush).
    pusher = WebPusher(
        sub,
        aiohttp_session=aiohttp_session,
        verbose=verbose,
        **_given(requests_session=requests_session, pool_manager=pool_manager),
    )
    response = await pusher.send_async(
        data,
        send_headers,
        **_send_options(
            ttl=ttl,
            content_encoding=content_encoding,
            curl=curl,
            timeout=timeout,
            urgency=urgency,
            topic=topic,
            endpoint_policy=endpoint_policy,
            proxy=proxy,
            pad_to=pad_to,
            max_payload=max_payload,
        ),
    )
    return _answer(response, curl, sub.endpoint, verbose)


class WebPusher:
    """pywebpush's ``WebPusher``: one subscription, encode and send to it.

    As in pywebpush, ``send`` and ``send_async`` return the response whatever
    its status (``webpush()`` is the call that raises on status > 202).
    The parameters are pywebpush 2.x's: ``requests_session`` is used by
    ``send``, ``aiohttp_session`` by ``send_async``; without them both send
    with our own transport (``pool_manager``: a urllib3 pool of yours).

    A subscription without ``keys`` is accepted for pushes without data
    (RFC 8030 §5): ``receiver_key`` and ``auth_key`` are then None, as in
    pywebpush, and ``encode`` or a ``send`` with data raise
    :class:`InvalidSubscription` naming ``keys`` and the fix.
    """

    valid_encodings: ClassVar[list[str]] = list(CONTENT_ENCODINGS)

    def __init__(
        self,
        subscription_info: Union[Mapping[str, Any], Subscription],
        requests_session: Any = None,
        aiohttp_session: Any = None,
        verbose: bool = False,
        *,
        pool_manager: Optional[urllib3.PoolManager] = None,
    ) -> None:
        check_aiohttp_session(aiohttp_session)
        self.subscription = Subscription.from_info(subscription_info)
        self.subscription_info: dict[str, Any] = self.subscription.to_info()
        keys = self.subscription.has_keys
        self.receiver_key: Optional[bytes] = self.subscription.p256dh if keys else None
        self.auth_key: Optional[bytes] = self.subscription.auth if keys else None
        self.requests_session = requests_session
        self.aiohttp_session = aiohttp_session
        self.pool_manager = pool_manager
        self.verbose = verbose

    def __repr__(self) -> str:
        return f"WebPusher(endpoint={self.subscription.endpoint!r})"

    @staticmethod
    def _repad(data: bytes) -> bytes:
        """``data`` with its base64 padding put back (pywebpush's helper, which code
        written against it, its own tests included, calls to decode keys)."""
        return data + b"=" * (-len(data) % 4)

    def encode(
        self, data: Union[bytes, str], content_encoding: str = "aes128gcm"
    ) -> CaseInsensitiveDict[bytes]:
        """Encrypt ``data``: ``{"body": ...}``, plus ``crypto_key`` and ``salt``
        (base64url bytes) for ``aesgcm``. Raises ``NoData`` on empty data,
        ``InvalidSubscription`` for a subscription without keys."""
        # bytes(5) would be five zero octets, bytes([1, 2]) two: only bytes and str.
        plaintext = payload_bytes(data)
        if not plaintext:
            raise NoData("there is no data to encode", field="data")
        check_content_encoding(content_encoding)
        sub = self.subscription
        ua_public_key = sub.require_keys()
        # The key's point as the subscription holds it, not serialized again per message.
        msg = ece.encrypt_message(
            plaintext, ua_public_key, sub.auth, version=content_encoding, ua_point=sub.p256dh
        )
        reply: CaseInsensitiveDict[bytes] = CaseInsensitiveDict({"body": msg.body})
        if content_encoding == "aesgcm":
            reply["crypto_key"] = b64url_encode(msg.as_public).encode("ascii")
            reply["salt"] = b64url_encode(msg.salt).encode("ascii")
        return reply

    def as_curl(self, endpoint: str, encoded_data: bytes, headers: Mapping[str, Any]) -> str:
        """A curl command posting ``encoded_data`` to ``endpoint`` (pastes and runs;
        ``content-length`` is added). Raises for a header that could not be sent."""
        checked = dict(check_header(name, value) for name, value in headers.items())
        return as_curl(PushRequest(url=endpoint, headers=checked, body=bytes(encoded_data or b"")))

    def _build(
        self,
        data: Union[bytes, str, None],
        headers: Optional[Mapping[str, Any]],
        ttl: int,
        content_encoding: str,
        urgency: Optional[str],
        topic: Optional[str],
        endpoint_policy: Optional[EndpointPolicy],
        pad_to: Optional[int],
        max_payload: Optional[int],
    ) -> PushRequest:
        return build_request(
            self.subscription,
            data,
            None,
            None,
            content_encoding,
            ttl,
            urgency,
            topic,
            headers,
            pad_to=pad_to,
            max_payload=max_payload,
            endpoint_policy=endpoint_policy,
        )

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
        *,
        pad_to: Optional[int] = None,
        max_payload: Optional[int] = None,
    ) -> Union[PushResponse, str]:
        """Encrypt and send ``data``; ``headers`` may carry pre-signed VAPID headers.

        ``proxy`` as for :func:`webpush` (None: the proxy environment variables);
        ``pad_to`` and ``max_payload`` as for :func:`build_request`.
        """
        proxy = check_proxy_arg(proxy)
        request = self._build(
            data,
            headers,
            ttl,
            content_encoding,
            urgency,
            topic,
            endpoint_policy,
            pad_to,
            max_payload,
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

    async def send_async(
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
        *,
        pad_to: Optional[int] = None,
        max_payload: Optional[int] = None,
    ) -> Union[PushResponse, str]:
        """:meth:`send` for asyncio (pywebpush 2.x): the same arguments, awaitable;
        the response whatever its status, or with ``curl=True`` the command.

        Through the ``aiohttp_session`` given to the constructor, if any (the
        endpoint policy, the redirect refusal and ``timeout`` still apply);
        otherwise as :meth:`send` does, on a bounded thread pool, so the event
        loop is never blocked.
        """
        if self.aiohttp_session is None:
            call = functools.partial(
                self.send,
                data,
                headers,
                ttl,
                content_encoding,
                curl,
                timeout,
                urgency,
                topic,
                endpoint_policy,
                proxy,
                pad_to=pad_to,
                max_payload=max_payload,
            )
            sent: Union[PushResponse, str] = await _in_pool(call)
            return sent
        _no_proxy_with("aiohttp_session", check_proxy_arg(proxy))
        build = functools.partial(
            self._build,
            data,
            headers,
            ttl,
            content_encoding,
            urgency,
            topic,
            endpoint_policy,
            pad_to,
            max_payload,
        )
        request = await _in_pool(build)
        if curl:
            return as_curl(request, timeout=timeout)
        if self.verbose:
            log.info("WebPusher: POST %s (%d bytes) via aiohttp", request.url, len(request.body))
        return await post_aiohttp(
            request,
            self.aiohttp_session,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            policy=endpoint_policy,
            executor=_async_executor(),
        )
