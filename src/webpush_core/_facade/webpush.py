"""pywebpush's ``webpush()``: check and sign, then ``WebPusher(...).send(...)``.

Also what ``webpush_async`` shares with it: the part before ``send`` (every
check, the VAPID headers) and the answer after it (the response, or the error
its status means).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Optional, Union, overload

if TYPE_CHECKING:
    import urllib3

from .._classify import error_for_response
from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._request.build import prepare_message
from .._request.keys import VapidKeyLike
from .._response import PushResponse
from .._sessions import adopt_response
from .._subscription import Subscription
from .._wire.proxy import ProxyArg, check_proxy_arg
from .pusher import WebPusher
from .signing import vapid_headers

__all__ = ["answer", "given", "prepare_send", "send_options", "webpush"]

log = logging.getLogger("webpush_core")


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
    sub, send_headers = prepare_send(
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
        sub, requests_session=requests_session, verbose=verbose, **given(pool_manager=pool_manager)
    )
    response = pusher.send(
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


def given(**options: Any) -> dict[str, Any]:
    """The options that are not None."""
    return {name: value for name, value in options.items() if value is not None}


def send_options(
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
        **given(
            urgency=urgency,
            topic=topic,
            endpoint_policy=endpoint_policy,
            proxy=proxy,
            pad_to=pad_to,
            max_payload=max_payload,
        ),
    }


def answer(response: Any, curl: bool, endpoint: str, verbose: bool) -> Union[PushResponse, str]:
    """What ``webpush``/``webpush_async`` return for ``send``'s ``response``: the
    curl command as it is, else the response once :func:`_accepted`."""
    if curl or isinstance(response, str):
        command: Union[PushResponse, str] = response  # a replaced send's, as given
        return command
    accepted: PushResponse = _accepted(response, endpoint, verbose)
    return accepted


def prepare_send(
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
