"""What a batch message is: its items, the checks made of them, what logs show.

A batch is one task message: ``{"o": origin, "s": items, "a": attempt, "d":
the message (base64), "ttl", "urgency", "topic", "q": queue, "x": the TTL's
end, "mac": its HMAC}``; an item is ``[index, endpoint, p256dh, auth]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from celery import Task

from .._subscription import Subscription, _check_endpoint
from .._text import clean
from ..errors import InvalidSubscription

__all__ = ["FAN_OUT_ID", "BatchTask", "Item", "at_its_origin", "compact", "final", "summary"]

# A subscription on its way: [index, endpoint, p256dh, auth].
Item = list[Any]
FAN_OUT_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: what fan_out() makes


def summary(args: Any) -> str:
    """What logs and monitors show of a batch message: never its contents."""
    try:
        fan_out_id, batch = args
        return (
            f"({clean(str(fan_out_id), 64)!r}, <{len(batch['s'])} subscriptions at "
            f"{clean(str(batch['o']), 200)}, attempt {int(batch['a']) + 1}>)"
        )
    except Exception:  # not the shape fan_out() gives: say so, show nothing of it
        return f"(<{len(args) if isinstance(args, (list, tuple)) else '?'} arguments>)"


class BatchTask(Task):  # type: ignore[misc]  # Celery ships no types
    """send_batch's class: every message it publishes carries the summary.

    Celery's ``Task.retry`` (and so ``autoretry_for``) republishes a task
    through the task's own ``apply_async``, without the ``argsrepr`` the first
    message had; left alone Celery would compute ``saferepr(args)``: the
    base64 message and, with ``task_repr_maxlevels`` raised, the auth secrets.
    """

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        options["argsrepr"] = summary(args)
        options["kwargsrepr"] = "{}" if not kwargs else f"{{<{len(kwargs)} keyword arguments>}}"
        return super().apply_async(args, kwargs, *rest, **options)


def final(items: list[Item], reason: str) -> list[str]:
    """The same final entry for each of ``items``, as ``record()`` takes them."""
    return [field for item in items for field in (str(item[0]), reason, "")]


def at_its_origin(batch: Mapping[str, Any]) -> bool:
    """Every item of ``batch`` is [index, endpoint, p256dh, auth] with its endpoint at
    the origin ``batch["o"]`` names, as :func:`compact` made them."""
    origin, items = batch.get("o"), batch.get("s")
    if not isinstance(origin, str) or not isinstance(items, list):
        return False
    for item in items:
        if not (isinstance(item, list) and len(item) == 4 and type(item[0]) is int):
            return False
        try:
            if _check_endpoint(item[1]) != origin:
                return False
        except InvalidSubscription:
            return False
    return True


def compact(index: int, subscription: Any) -> tuple[str, Item]:
    """(origin, [index, endpoint, p256dh, auth]): the shape checks of the dispatcher.

    The cheap ones only (the endpoint's syntax, the keys are strings): the
    workers parse and check the rest, as :meth:`PushClient.send_many` does.
    """
    if isinstance(subscription, Subscription):
        subscription = subscription.to_info()
    if not isinstance(subscription, Mapping):
        raise InvalidSubscription("not a mapping", field="subscription_info")
    endpoint = subscription.get("endpoint")
    origin = _check_endpoint(endpoint)
    keys = subscription.get("keys")
    if not isinstance(keys, Mapping):
        raise InvalidSubscription("keys is not a mapping", field="keys")
    p256dh, auth = _key_text(keys, "p256dh"), _key_text(keys, "auth")
    return origin, [index, endpoint, p256dh, auth]


def _key_text(keys: Mapping[str, Any], name: str) -> str:
    """A key as the text a task message carries: a str, or ASCII bytes decoded
    (base64.urlsafe_b64encode's result, which the senders accept too)."""
    value = keys.get(name)
    if isinstance(value, (bytes, bytearray)):
        if not value.isascii():
            raise InvalidSubscription(
                f"keys.{name} is not base64url: non-ASCII bytes", field=f"keys.{name}"
            )
        return value.decode("ascii")
    if not isinstance(value, str):
        raise InvalidSubscription(
            f"keys.{name} must be a base64url string (or its ASCII bytes)", field=f"keys.{name}"
        )
    return value
