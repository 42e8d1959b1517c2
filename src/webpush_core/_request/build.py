"""``build_request`` and ``prepare_message``: every check, in its order, then the plan.

``build_request`` checks every input, encrypts (RFC 8291), signs VAPID
(RFC 8292) and returns a frozen :class:`~.value.PushRequest`. It does no
network I/O; the transport sends the result, or you send it with your own HTTP
stack. ``prepare_message`` does the checks that do not depend on the
subscription once, for a fan-out; the checked options of the last few distinct
calls are kept, so a loop of ``webpush()`` calls checks them once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional, Union

from .._endpoint import DEFAULT_POLICY, EndpointPolicy
from .._subscription import Subscription
from ..errors import InvalidRequest
from .headers import caller_headers
from .keys import VapidKeyLike, loaded_from_text, vapid_signer
from .options import (
    MAX_PLAINTEXT,
    check_content_encoding,
    check_size,
    check_topic,
    check_ttl,
    check_urgency,
    merge_option,
    padding_for,
    payload_bytes,
)
from .plan import MessagePlan
from .value import PushRequest

__all__ = ["build_request", "prepare_message"]


def build_request(
    subscription_info: Union[Mapping[str, Any], Subscription],
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    ttl: int = 0,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    headers: Optional[Mapping[str, Any]] = None,
    *,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
    endpoint_policy: Optional[EndpointPolicy] = None,
) -> PushRequest:
    """Build the POST for one push message (RFC 8030 §5, RFC 8291, RFC 8292).

    Every check runs before any cryptography: a bad subscription, payload,
    option, header, claim or key raises a specific
    :class:`~webpush_core.WebPushException` subclass naming the field.

    ``pad_to`` pads the plaintext up to that many octets (hiding its length
    from the push service); ``max_payload`` lowers the size limit (e.g. 3070
    for Firefox on Android's bridge). The caller's dicts are never mutated.

    ``endpoint_policy`` (default: the strict :class:`EndpointPolicy`) checks
    the endpoint URL here, so a request built for your own HTTP client is
    SSRF-checked too; the address the host resolves to is checked by
    :meth:`EndpointPolicy.admit` (I/O), which our senders call before
    connecting and yours should too.
    """
    sub = Subscription.from_info(subscription_info)
    (DEFAULT_POLICY if endpoint_policy is None else endpoint_policy).check(sub.endpoint)
    plan, plaintext, padding = _checked(
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
    return plan._build(sub, plaintext, padding)


def prepare_message(
    data: Union[bytes, str, None] = None,
    vapid_private_key: Optional[VapidKeyLike] = None,
    vapid_claims: Optional[Mapping[str, Any]] = None,
    content_encoding: str = "aes128gcm",
    ttl: int = 0,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
    headers: Optional[Mapping[str, Any]] = None,
    *,
    pad_to: Optional[int] = None,
    max_payload: Optional[int] = None,
) -> MessagePlan:
    """:func:`build_request`'s checks of everything but the subscription, done once.

    A fan-out sends one message to many subscriptions: it prepares the
    message once (raising what :func:`build_request` raises for these
    arguments) and calls :meth:`MessagePlan.build` per subscription.

    A caller that passes the same options on every call (``webpush()`` in a
    loop, with a key string) has them checked once: the checked options are
    kept (``_plans``: the last few distinct ones, without the data), and
    a call with the same ones checks only ``data`` (its type and size), so
    it raises what the full checks would.
    """
    plan, plaintext, padding = _checked(
        data, vapid_private_key, vapid_claims, content_encoding, ttl, urgency, topic, headers,
        pad_to=pad_to, max_payload=max_payload,
    )  # fmt: skip
    return plan._with_plaintext(plaintext, padding)


def _checked(
    data: Union[bytes, str, None],
    vapid_private_key: Optional[VapidKeyLike],
    vapid_claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    ttl: int,
    urgency: Optional[str],
    topic: Optional[str],
    headers: Optional[Mapping[str, Any]],
    *,
    pad_to: Optional[int],
    max_payload: Optional[int],
) -> tuple[MessagePlan, bytes, int]:
    """prepare_message's checks: (a plan with these options, plaintext, padding).

    The plan's own data may be another call's: build with the two returned.
    """
    key = _options_key(
        vapid_private_key, vapid_claims, content_encoding, ttl, urgency, topic, headers, pad_to,
        max_payload,
    )  # fmt: skip
    if key is not None:
        with _plans_lock:
            kept = _plans.get(key)
            if kept is not None:
                _plans.move_to_end(key)
        if kept is not None:
            plan, limit = kept
            # Everything else was found valid: data's checks are the only ones left.
            plaintext = payload_bytes(data)
            check_size(plaintext, limit, content_encoding)
            return plan, plaintext, padding_for(pad_to, plaintext)
    plan, limit = _prepare(
        data, vapid_private_key, vapid_claims, content_encoding, ttl, urgency, topic, headers,
        pad_to=pad_to, max_payload=max_payload,
    )  # fmt: skip
    # Kept only for a key given as text (or none): a key file may change, and a
    # Vapid or another signer is the caller's object, which may change too.
    if key is not None and (vapid_private_key is None or _text_key(vapid_private_key, plan)):
        with _plans_lock:
            _plans[key] = (plan._with_plaintext(b"", 0), limit)  # no data kept
            while len(_plans) > _PLANS_SIZE:
                _plans.popitem(last=False)
    return plan, plan._plaintext, plan._padding


# The options of the last few distinct prepare_message calls, checked (their
# MessagePlan without data) with their size limit; keyed by _options_key.
_PLANS_SIZE = 32
_plans: OrderedDict[tuple[object, ...], tuple[MessagePlan, int]] = OrderedDict()
_plans_lock = threading.Lock()
# Values a key may hold: compared with their exact type (True == 1 == 1.0 and
# hash alike, but are checked differently), and equal only when they would be
# checked alike (-0.0 == 0.0 for one, whose str() differs: floats are left out).
_PLAIN = frozenset({str, int, bool, type(None)})
_NO_KEY: tuple[object, ...] = (object(),)  # "these cannot be a key" (compared by identity)


def _items_key(items: Any, *, headers: bool = False) -> Optional[tuple[object, ...]]:
    """A dict's items (name, type, value) for _options_key; _NO_KEY when they cannot be
    one. Caller headers with an Authorization (a credential) are never kept."""
    if items is None:
        return None
    if type(items) is not dict:
        return _NO_KEY
    out: list[object] = []
    for name, value in items.items():
        if type(name) is not str or type(value) not in _PLAIN:
            return _NO_KEY
        if headers and name.lower() == "authorization":
            return _NO_KEY
        out += (name, type(value), value)
    return tuple(out)


def _options_key(
    vapid_private_key: Any,
    vapid_claims: Any,
    content_encoding: Any,
    ttl: Any,
    urgency: Any,
    topic: Any,
    headers: Any,
    pad_to: Any,
    max_payload: Any,
) -> Optional[tuple[object, ...]]:
    """prepare_message's arguments but data as a cache key, or None where they
    cannot be one (a Vapid, a signer or a path object as the key, a float, a
    Mapping that is not a dict, caller headers with an Authorization)."""
    scalars = (vapid_private_key, content_encoding, ttl, urgency, topic, pad_to, max_payload)
    if not _PLAIN.issuperset(map(type, scalars)):
        return None
    claims = _items_key(vapid_claims)
    extra = _items_key(headers, headers=True)
    if claims is _NO_KEY or extra is _NO_KEY:
        return None
    return (*scalars, *map(type, scalars), claims, extra)


def _text_key(key: Any, plan: MessagePlan) -> bool:
    """Whether the plan signs with ``key`` read as key text (not as a file)."""
    return loaded_from_text(key, plan._signer)


def _prepare(
    data: Union[bytes, str, None],
    vapid_private_key: Optional[VapidKeyLike],
    vapid_claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    ttl: int,
    urgency: Optional[str],
    topic: Optional[str],
    headers: Optional[Mapping[str, Any]],
    *,
    pad_to: Optional[int],
    max_payload: Optional[int],
) -> tuple[MessagePlan, int]:
    """prepare_message's checks, all of them, in their order: the plan and the
    plaintext's size limit."""
    check_content_encoding(content_encoding)

    # Caller headers: validated, and never allowed to replace computed ones.
    extra, options = caller_headers(headers, content_encoding)

    # The argument first: a conflict with a TTL header is then judged on its value.
    ttl = check_ttl(ttl)
    ttl = check_ttl(merge_option("ttl", ttl, options.get("ttl"), ttl == 0))
    if urgency is not None or "urgency" in options:
        urgency = check_urgency(
            merge_option("urgency", urgency, options.get("urgency"), urgency is None)
        )
    if topic is not None or "topic" in options:
        topic = check_topic(merge_option("topic", topic, options.get("topic"), topic is None))

    plaintext = payload_bytes(data)
    limit = MAX_PLAINTEXT[content_encoding]
    if max_payload is not None:
        if (
            isinstance(max_payload, bool)
            or not isinstance(max_payload, int)
            or not 0 < max_payload <= limit
        ):
            raise InvalidRequest(
                f"max_payload must be between 1 and {limit} for {content_encoding}, "
                f"got {max_payload!r}",
                field="max_payload",
            )
        limit = max_payload
    check_size(plaintext, limit, content_encoding)
    if pad_to is not None and (
        isinstance(pad_to, bool) or not isinstance(pad_to, int) or not 0 <= pad_to <= limit
    ):
        raise InvalidRequest(
            f"pad_to must be between 0 and {limit} for {content_encoding}, got {pad_to!r}",
            field="pad_to",
        )

    before: dict[str, str] = {"TTL": str(ttl)}
    if urgency is not None:
        before["Urgency"] = urgency
    if topic is not None:
        before["Topic"] = topic
    crypto_key: list[str] = []
    for name, value in extra.items():
        if name.lower() == "crypto-key":
            crypto_key.append(value)
        else:
            before[name] = value

    signer, claims = vapid_signer(vapid_private_key, vapid_claims)
    plan = MessagePlan(
        content_encoding=content_encoding,
        plaintext=plaintext,
        padding=padding_for(pad_to, plaintext),
        before=before,
        crypto_key=tuple(crypto_key),
        signer=signer,
        claims=claims,
        caller_authorization=any(name.lower() == "authorization" for name in extra),
    )
    return plan, limit
