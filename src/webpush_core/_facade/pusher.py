"""pywebpush's ``WebPusher``: one subscription, encode and send to it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Union

if TYPE_CHECKING:
    import urllib3

from .. import ece
from .._b64 import b64url_encode
from .._curl import as_curl
from .._endpoint import EndpointPolicy
from .._request.build import build_request
from .._request.headers import check_header
from .._request.options import CONTENT_ENCODINGS, check_content_encoding, payload_bytes
from .._request.value import PushRequest
from .._response import CaseInsensitiveDict, PushResponse
from .._sessions import check_aiohttp_session, post_aiohttp, post_requests
from .._subscription import Subscription
from .._wire.proxy import ProxyArg, check_proxy_arg
from .._wire.urllib3_pools import DEFAULT_TIMEOUT
from .._wire.urllib3_transport import send_request
from ..errors import InvalidInput, NoData
from .executor import async_executor, in_pool

__all__ = ["WebPusher", "no_proxy_with"]

log = logging.getLogger("webpush_core")


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


def no_proxy_with(session: str, proxy: ProxyArg) -> None:
    """InvalidInput for a ``proxy=`` given with a session, which sends with its own."""
    if proxy is not None:
        raise InvalidInput(
            f"proxy= does not apply to an {session}, which sends with its own proxy "
            "settings: configure the session instead",
            field="proxy",
        )


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
            sent: Union[PushResponse, str] = await in_pool(call)
            return sent
        no_proxy_with("aiohttp_session", check_proxy_arg(proxy))
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
        request = await in_pool(build)
        if curl:
            return as_curl(request, timeout=timeout)
        if self.verbose:
            log.info("WebPusher: POST %s (%d bytes) via aiohttp", request.url, len(request.body))
        return await post_aiohttp(
            request,
            self.aiohttp_session,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            policy=endpoint_policy,
            executor=async_executor(),
        )
