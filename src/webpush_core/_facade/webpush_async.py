"""pywebpush 2.x's ``webpush_async()``: ``webpush`` for asyncio, awaitable."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Optional, Union, overload

if TYPE_CHECKING:
    import urllib3

from .._endpoint import EndpointPolicy
from .._request.keys import VapidKeyLike
from .._response import PushResponse
from .._sessions import check_aiohttp_session
from .._subscription import Subscription
from .._wire.proxy import ProxyArg, check_proxy_arg
from ..errors import InvalidInput
from .executor import in_pool
from .pusher import WebPusher, no_proxy_with
from .webpush import answer, given, prepare_send, send_options

__all__ = ["webpush_async"]


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
        no_proxy_with("aiohttp_session", proxy)
    prepare = functools.partial(
        prepare_send,
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
    sub, send_headers = await in_pool(prepare)  # key files, signing: off the loop
    # pywebpush 2.x's call, and ours only when given (see webpush).
    pusher = WebPusher(
        sub,
        aiohttp_session=aiohttp_session,
        verbose=verbose,
        **given(requests_session=requests_session, pool_manager=pool_manager),
    )
    response = await pusher.send_async(
        data,
        send_headers,
        **send_options(
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
    return answer(response, curl, sub.endpoint, verbose)
