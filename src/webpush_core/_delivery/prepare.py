"""One subscription made ready to send: its request, or the result that says why
there is none (:func:`build`); or, for the helper process, all of it but the
encryption (:func:`outline`).

Never raises for the subscription's own fault: a bad subscription or a
refused endpoint becomes a failed :class:`~.result.SendResult` carrying the
error, so the other subscriptions of a call still get their results.
"""

from __future__ import annotations

from typing import Any, Union

from .._endpoint import EndpointPolicy
from .._request.plan import MessagePlan
from .._request.value import PushRequest
from .._subscription import Subscription
from ..errors import WebPushException
from .fanout import _Sealing
from .per_origin import PerOrigin
from .result import SendResult, _unexpected

__all__ = ["build", "outline"]


def build(
    subscription: Any, plan: MessagePlan, policy: EndpointPolicy
) -> Union[PushRequest, SendResult]:
    """The request for one subscription, or the result that says why there is none."""
    try:
        sub = Subscription.from_info(subscription)
        policy.check(sub.endpoint)
        return plan.build(sub)
    except WebPushException as invalid:
        return SendResult(subscription, ok=False, error=invalid)
    except Exception as e:  # a bug must not cost the other subscriptions their results
        return _unexpected(subscription, e)


def outline(
    subscription: Any, plan: MessagePlan, decided: PerOrigin
) -> Union[SendResult, PushRequest, _Sealing]:
    """Everything but the encryption (done by the helper process), checked as build checks.

    On any error the subscription goes through :func:`build` instead, so
    the result carries exactly the error a full parse reports first.
    """
    try:
        endpoint, origin, p256dh, auth = Subscription.fields(subscription)
        decided.policy.check(endpoint)
        headers, crypto_key = decided.headers_for(plan, origin)
    except Exception:
        return build(subscription, plan, decided.policy)
    return (subscription, endpoint, headers, crypto_key, p256dh, auth)
