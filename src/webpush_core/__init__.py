"""webpush_core: a Web Push sender.

Encrypts a message for a browser's push subscription (RFC 8291, RFC 8188),
signs a VAPID token (RFC 8292) and delivers it to the push service (RFC 8030).
Depends only on ``cryptography`` and ``urllib3``.

What is API is listed in ``__all__``; modules whose names start with ``_``
are not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    ECEError,
    EndpointNotAllowed,
    ExpiredSubscription,
    InvalidInput,
    InvalidRequest,
    InvalidSubscription,
    NoData,
    OriginUnavailable,
    PayloadTooLarge,
    ProxyError,
    PushRejected,
    PushServiceError,
    PushTimeout,
    RateLimited,
    ServerError,
    TooLarge,
    TransportError,
    Unauthorized,
    VapidError,
    WebPushException,
)

# A library prints nothing unless the application configured logging: without a
# handler of ours, Python's last-resort handler would write our warnings (a
# throttled push service, an open breaker) to stderr.
logging.getLogger("webpush_core").addHandler(logging.NullHandler())

# The sending layer (and urllib3 behind it) loads on first use, so that
# ``import webpush_core.ece`` or ``webpush_core.vapid`` stays sans-IO: an
# auditor or a vendoring project can use the crypto alone.
_LAZY = {
    "PushClient": "._delivery.client",
    "SendResult": "._delivery.client",
    "EndpointPolicy": "._endpoint",
    "CaseInsensitiveDict": "._response",
    "WebPusher": "._facade.pusher",
    "webpush": "._facade.webpush",
    "webpush_async": "._facade.webpush_async",
    "PushRequest": "._request.value",
    "build_request": "._request.build",
    "PushResponse": "._response",
    "parse_retry_after": "._response",
    "Subscription": "._subscription",
    "make_pool_manager": "._wire.urllib3_pools",
    "Vapid": ".vapid",
    "Vapid01": ".vapid",
}

if TYPE_CHECKING:
    from ._delivery.client import PushClient, SendResult
    from ._endpoint import EndpointPolicy
    from ._facade.pusher import WebPusher
    from ._facade.webpush import webpush
    from ._facade.webpush_async import webpush_async
    from ._request.build import build_request
    from ._request.value import PushRequest
    from ._response import CaseInsensitiveDict, PushResponse, parse_retry_after
    from ._subscription import Subscription
    from ._wire.urllib3_pools import make_pool_manager
    from .vapid import Vapid, Vapid01


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'webpush_core' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - only on first use of a lazy name

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CaseInsensitiveDict",
    "ECEError",
    "EndpointNotAllowed",
    "EndpointPolicy",
    "ExpiredSubscription",
    "InvalidInput",
    "InvalidRequest",
    "InvalidSubscription",
    "NoData",
    "OriginUnavailable",
    "PayloadTooLarge",
    "ProxyError",
    "PushClient",
    "PushRejected",
    "PushRequest",
    "PushResponse",
    "PushServiceError",
    "PushTimeout",
    "RateLimited",
    "SendResult",
    "ServerError",
    "Subscription",
    "TooLarge",
    "TransportError",
    "Unauthorized",
    "Vapid",
    "Vapid01",
    "VapidError",
    "WebPushException",
    "WebPusher",
    "__version__",
    "build_request",
    "make_pool_manager",
    "parse_retry_after",
    "webpush",
    "webpush_async",
]
