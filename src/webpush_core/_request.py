"""The sans-IO request builder: subscription + message -> what to POST.

``build_request`` checks every input, encrypts (RFC 8291), signs VAPID
(RFC 8292) and returns a frozen :class:`PushRequest`. It does no network I/O;
the transport sends the result, or you send it with your own HTTP stack.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from . import ece
from ._b64 import b64url_decode, b64url_encode
from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._subscription import Subscription
from .ece._message import seal_aes128gcm_message
from .errors import InvalidRequest, PayloadTooLarge, VapidError
from .vapid import Vapid, validate_claims
from .vapid._token import split_authorization

__all__ = [
    "CONTENT_ENCODINGS",
    "URGENCIES",
    "MessagePlan",
    "PushRequest",
    "RefusedSignature",
    "VapidKeyLike",
    "build_request",
    "check_aud_for",
    "check_header",
    "check_options",
    "load_vapid_key",
    "payload_bytes",
    "prepare_message",
    "refuse_vapid_conflicts",
    "sign_foreign",
    "vapid_signer",
]

CONTENT_ENCODINGS = ("aes128gcm", "aesgcm")
_MAX_PLAINTEXT = {coding: ece.max_plaintext(coding) for coding in CONTENT_ENCODINGS}
# RFC 8030 §5.3.
URGENCIES = ("very-low", "low", "normal", "high")
# RFC 8030 §5.4: at most 32 characters from the URL-safe base64 alphabet.
_TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# RFC 8030 §5.2: TTL is delta-seconds (RFC 9111 §1.2.2), which a recipient
# reads as at most 2**31; more is refused rather than sent as a number no
# push service keeps a message for (and str() of a huge int raises).
MAX_TTL = 2**31 - 1
_TTL_TEXT = re.compile(r"\s*([0-9]{1,10})\s*")
# Header names the builder computes; a caller's header may not replace them.
# Transfer-Encoding too: http.client then drops Content-Length and sends the
# body unframed, which the push service reads as a malformed request.
_COMPUTED = frozenset(
    {
        "content-encoding",
        "content-type",
        "content-length",
        "encryption",
        "host",
        "transfer-encoding",
    }
)
# What to do instead of setting a computed header.
_COMPUTED_FIX = {
    "content-encoding": "choose the coding with content_encoding= ('aes128gcm' or 'aesgcm')",
    "content-type": "the encrypted body is always sent as application/octet-stream; "
    "drop the header",
    "content-length": "it is the encrypted body's length; drop the header",
    "encryption": "it carries the aesgcm salt, fresh for every message; drop the header",
    "host": "it comes from the endpoint URL; drop the header",
    "transfer-encoding": "the body is sent with a Content-Length; drop the header",
}


def _harmless(lower: str, value: str, content_encoding: str) -> bool:
    """A computed header whose value is what we send anyway: accepted and dropped."""
    if lower == "content-type":
        return value.split(";", 1)[0].strip().lower() == _CONTENT_TYPE
    if lower == "content-encoding":
        return value.strip().lower() == content_encoding
    return False


# A caller may pass these as headers instead of arguments (pywebpush habit).
_FROM_HEADERS = ("ttl", "urgency", "topic")
# What another signer (py_vapid's Vapid01/Vapid02) may return: RFC 8292 §3,
# draft-ietf-webpush-vapid-01 §4.
_SIGNER_HEADERS = frozenset({"authorization", "crypto-key"})

VapidKeyLike = Union[Vapid, str, "os.PathLike[str]", Any]


@dataclass(frozen=True)
class PushRequest:
    """An encrypted push message ready to POST (RFC 8030 §5).

    ``repr`` omits the headers: they carry the VAPID token.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    method: str = "POST"

    def __repr__(self) -> str:
        return f"PushRequest(url={self.url!r}, body=<{len(self.body)} bytes>)"


# --------------------------------------------------------------------------
# VAPID keys: parsed once, reused (a key string passed on every call costs one
# dict lookup and no file-system call, and the Vapid object's token cache keeps
# working). Key text is cached under (text, 0), a key file under (path, mtime).

_KEY_CACHE_SIZE = 64
_key_cache: OrderedDict[tuple[str, int], Vapid] = OrderedDict()
_key_lock = threading.Lock()
_KEY_TEXT = 0  # the "modification time" of a key given as text


def _may_be_key(text: str) -> bool:
    """Whether ``text`` decodes like a key (a 32-byte scalar or DER): never echo it."""
    try:
        raw = b64url_decode(text)
    except ValueError:
        return False
    return len(raw) == 32 or raw[:1] == b"\x30"


def _cached_key(cache_key: tuple[str, int]) -> Optional[Vapid]:
    with _key_lock:
        found = _key_cache.get(cache_key)
        if found is not None:
            _key_cache.move_to_end(cache_key)
        return found


def _cache_key_of(cache_key: tuple[str, int], vapid: Vapid) -> Vapid:
    with _key_lock:
        _key_cache[cache_key] = vapid
        while len(_key_cache) > _KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)
    return vapid


def load_vapid_key(key: VapidKeyLike) -> Any:
    """Turn what callers pass as ``vapid_private_key`` into a signer.

    Accepts a :class:`~webpush_core.vapid.Vapid`, any object with a
    ``sign(claims)`` method (a py_vapid instance), a key string (PEM,
    base64url DER, raw base64url scalar), or a path to a key file: a
    ``PathLike``, or a string that is not a key. A key string is read as a
    key with no file-system call; a key file is read again once it changes.
    """
    if isinstance(key, Vapid) or (not isinstance(key, (str, os.PathLike)) and hasattr(key, "sign")):
        return key
    given_a_path = isinstance(key, os.PathLike)
    if given_a_path:
        key = os.fspath(key)
    if not isinstance(key, str) or not key.strip():
        raise VapidError(
            "vapid_private_key must be a Vapid instance, a key file path or a key string",
            field="vapid_private_key",
        )
    not_a_key: Optional[VapidError] = None
    if not given_a_path:
        found = _cached_key((key, _KEY_TEXT))
        if found is not None:
            return found
        try:
            return _cache_key_of((key, _KEY_TEXT), Vapid.from_string(key))
        except VapidError as exc:
            not_a_key = exc  # raised below unless the string names a key file
    # Not a key: a path. A changed file is re-read (the cache key has its mtime).
    is_file = "\n" not in key and len(key) < 4096 and os.path.isfile(key)
    # No key string (PEM, base64, base64url) contains a ".": with one, or
    # given as a PathLike, it is a path whose file is missing. Saying so beats
    # "not a key". It is named only when it looks like a path: a key with a
    # stray "." (a copy-paste slip) must not end up in an error or a log.
    if not is_file and (given_a_path or ("\n" not in key and "." in key)):
        _, dot, ext = os.path.basename(key).rpartition(".")
        if given_a_path or (
            (key.startswith(("./", "../", "~")) or (dot and ext.isalnum() and len(ext) <= 5))
            and not _may_be_key(key.replace(".", ""))
        ):
            where = f"at {key!r}"
        else:
            where = "at the given path (not shown: it may be a mistyped key string)"
        raise VapidError(f"vapid_private_key: no key file {where}", field="vapid_private_key")
    if not is_file and not_a_key is not None:
        raise not_a_key  # (a PathLike that is no file was refused above)
    cache_key = (key, os.stat(key).st_mtime_ns)
    found = _cached_key(cache_key)
    if found is not None:
        return found
    return _cache_key_of(cache_key, Vapid.from_file(key))


# --------------------------------------------------------------------------
# Argument checks. Each raises InvalidRequest naming the field and the rule.


def _shown(value: Any) -> str:
    """A bounded repr for an error message (repr() of a huge int raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:37]!r}..."
    return repr(value)


def _check_ttl(ttl: Any) -> int:
    if isinstance(ttl, str):
        # delta-seconds is 1*DIGIT, ASCII (str.isdigit() also takes "²" and "٣").
        digits = _TTL_TEXT.fullmatch(ttl)
        if digits is not None:
            ttl = int(digits.group(1))
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= MAX_TTL:
        raise InvalidRequest(
            f"ttl must be a whole number of seconds from 0 to {MAX_TTL} (RFC 8030 §5.2, "
            f"RFC 9111 §1.2.2), got {_shown(ttl)}",
            field="ttl",
        )
    return ttl


def _check_urgency(urgency: Any) -> str:
    if urgency not in URGENCIES:
        raise InvalidRequest(
            f"urgency must be one of {', '.join(URGENCIES)} (RFC 8030 §5.3), got {urgency!r}",
            field="urgency",
        )
    return str(urgency)


def _check_topic(topic: Any) -> str:
    if not isinstance(topic, str) or not _TOPIC_RE.fullmatch(topic):
        raise InvalidRequest(
            "topic must be 1 to 32 characters of the URL-safe base64 alphabet "
            f"(RFC 8030 §5.4), got {topic!r}",
            field="topic",
        )
    return topic


class RefusedSignature:
    """Where a signer's headers should be, the refusal of what it returned.

    ``webpush()`` signs and hands the headers to ``WebPusher.send``, as
    pywebpush does; a signer whose ``sign()`` gave no dict of headers is
    refused by the header check every request goes through, before anything
    is sent (so a test that replaces ``send`` as well keeps working). Not a
    str: every HTTP library refuses it as a header value, so no other sender
    puts it on a wire either.
    """

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def error(self) -> VapidError:
        return VapidError(self.message, field="vapid_private_key")

    def __repr__(self) -> str:
        return f"<RefusedSignature: {self.message}>"


# RFC 9110 §5.6.2 token (a field name); §5.5 what we send in a value (below).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")


def check_content_encoding(content_encoding: Any) -> None:
    """Raise InvalidRequest unless ``content_encoding`` is one we can encrypt with
    (RFC 8188's aes128gcm, or the legacy aesgcm)."""
    if content_encoding not in CONTENT_ENCODINGS:
        raise InvalidRequest(
            f"content_encoding must be one of {', '.join(CONTENT_ENCODINGS)}, "
            f"got {content_encoding!r}",
            field="content_encoding",
        )


def check_header(name: Any, value: Any) -> tuple[str, str]:
    if isinstance(value, RefusedSignature):
        raise value.error()
    if not isinstance(name, str) or not name or _TOKEN.fullmatch(name) is None:
        raise InvalidRequest(f"header name {name!r} is not a valid HTTP token", field="headers")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(
            f"header {name!r} must be a str or a number, got {type(value).__name__}",
            field="headers",
        )
    text = str(value)
    if any(c in text for c in "\r\n\0"):
        raise InvalidRequest(
            f"header {name!r} contains CR, LF or NUL (header injection)", field="headers"
        )
    # RFC 9110 §5.5: visible ASCII, space and tab. http.client would fail on
    # anything past Latin-1 mid-request, and send Latin-1 as obsolete obs-text.
    if _FIELD_VALUE.fullmatch(text) is None:  # (one pass in C: a VAPID token is ~300)
        raise InvalidRequest(
            f"header {name!r} must be visible ASCII, space or tab (RFC 9110 §5.5)",
            field="headers",
        )
    return name, text


def check_options(*, ttl: Any, urgency: Any, topic: Any) -> None:
    """Check TTL, Urgency and Topic once (e.g. for a whole fan-out)."""
    _check_ttl(ttl)
    if urgency is not None:
        _check_urgency(urgency)
    if topic is not None:
        _check_topic(topic)


def payload_bytes(data: Any) -> bytes:
    """``data`` as bytes: str is UTF-8 encoded, None is empty; other types are refused."""
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidRequest(
        f"data must be bytes or str, got {type(data).__name__} "
        "(serialize it first, e.g. with json.dumps)",
        field="data",
    )


def _merge_option(name: str, arg: Any, header: Optional[str], default_is_unset: bool) -> Any:
    """Reconcile e.g. ``urgency=`` with a ``Urgency`` header; refuse a conflict."""
    if header is None:
        return arg
    if default_is_unset:
        return header
    if str(arg) != header:
        raise InvalidRequest(
            f"{name} is given twice with different values: argument {arg!r}, "
            f"header {header!r}; pass it once",
            field=name,
        )
    return arg


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
            _check_size(plaintext, limit, content_encoding)
            return plan, plaintext, _padding(pad_to, plaintext)
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
    return isinstance(key, str) and _cached_key((key, _KEY_TEXT)) is plan._signer


def _check_size(plaintext: bytes, limit: int, content_encoding: str) -> None:
    if len(plaintext) > limit:
        raise PayloadTooLarge(
            f"data is {len(plaintext)} bytes; at most {limit} fit in one {content_encoding} "
            "push message (RFC 8291 §4)",
            field="data",
        )


def _padding(pad_to: Optional[int], plaintext: bytes) -> int:
    return 0 if pad_to is None else max(0, pad_to - len(plaintext))


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
    extra: dict[str, str] = {}
    options: dict[str, str] = {}
    if headers is not None and not isinstance(headers, Mapping):
        raise InvalidRequest(
            f"headers must be a dict of name to value, got {type(headers).__name__}",
            field="headers",
        )
    seen: set[str] = set()
    for raw_name, raw_value in (headers or {}).items():
        name, value = check_header(raw_name, raw_value)
        lower = name.lower()
        if lower in seen:
            # {"TTL": 60, "ttl": 0}: which one was meant? Refuse, don't guess.
            raise InvalidRequest(
                f"header {name!r} is given twice (header names are case-insensitive)",
                field="headers",
            )
        seen.add(lower)
        if lower in _FROM_HEADERS:
            options[lower] = value
        elif lower in _COMPUTED:
            if _harmless(lower, value, content_encoding):
                continue  # the value we compute anyway (pywebpush's WNS example passes it)
            raise InvalidRequest(
                f"header {name!r} is computed by webpush_core and cannot be set by the "
                f"caller: {_COMPUTED_FIX[lower]}",
                field="headers",
            )
        else:
            extra[name] = value

    # The argument first: a conflict with a TTL header is then judged on its value.
    ttl = _check_ttl(ttl)
    ttl = _check_ttl(_merge_option("ttl", ttl, options.get("ttl"), ttl == 0))
    if urgency is not None or "urgency" in options:
        urgency = _check_urgency(
            _merge_option("urgency", urgency, options.get("urgency"), urgency is None)
        )
    if topic is not None or "topic" in options:
        topic = _check_topic(_merge_option("topic", topic, options.get("topic"), topic is None))

    plaintext = payload_bytes(data)
    limit = _MAX_PLAINTEXT[content_encoding]
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
    _check_size(plaintext, limit, content_encoding)
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
        padding=_padding(pad_to, plaintext),
        before=before,
        crypto_key=tuple(crypto_key),
        signer=signer,
        claims=claims,
        caller_authorization=any(name.lower() == "authorization" for name in extra),
    )
    return plan, limit


def vapid_signer(
    key: Optional[VapidKeyLike], claims: Optional[Mapping[str, Any]]
) -> tuple[Any, Optional[dict[str, Any]]]:
    """The loaded signer and a copy of the claims, or (None, None) without VAPID."""
    if key is None and not claims:
        return None, None
    if key is None:
        raise VapidError(
            "vapid_claims were given without vapid_private_key", field="vapid_private_key"
        )
    if not claims:
        raise VapidError(
            "vapid_claims are required with vapid_private_key: at least "
            '{"sub": "mailto:you@example.com"}',
            field="vapid_claims",
        )
    if not isinstance(claims, Mapping):
        raise VapidError("vapid_claims must be a dict", field="vapid_claims")
    # A copy: the caller's dict is reused for the next endpoint (pywebpush
    # writes aud into it, leaking one push service's audience into the next).
    return load_vapid_key(key), dict(claims)


_CONTENT_TYPE = "application/octet-stream"
# A token fetched for an origin is reused by a plan this long; the signer's
# own cache decides when a new one is signed (an hour before exp).
_PLAN_TOKEN_SECONDS = 60.0
_PLAN_TOKEN_ORIGINS = 64


class MessagePlan:
    """One message, checked, ready to be built for any number of subscriptions.

    Made by :func:`prepare_message`; :meth:`build` adds what depends on the
    subscription: the VAPID token for its origin and the encryption for its
    keys. Thread-safe: PushClient's workers share one plan.
    """

    __slots__ = (
        "_aes128gcm",
        "_aud",
        "_before",
        "_caller_authorization",
        "_caller_dh",
        "_caller_p256ecdsa",
        "_claims",
        "_content_encoding",
        "_crypto_key",
        "_padding",
        "_plaintext",
        "_scheme",
        "_signer",
        "_tokens",
    )

    def __init__(
        self,
        *,
        content_encoding: str,
        plaintext: bytes,
        padding: int,
        before: dict[str, str],
        crypto_key: tuple[str, ...],
        signer: Any,
        claims: Optional[dict[str, Any]],
        caller_authorization: bool,
    ) -> None:
        self._content_encoding = content_encoding
        self._aes128gcm = content_encoding == "aes128gcm"
        self._scheme = "vapid" if self._aes128gcm else "webpush"
        self._plaintext = plaintext
        self._padding = padding
        self._before = before  # TTL, Urgency, Topic, the caller's other headers
        self._crypto_key = crypto_key  # the caller's Crypto-Key values
        self._signer = signer
        self._claims: dict[str, Any] = claims or {}  # given whenever signer is
        self._aud = self._claims.get("aud")
        self._caller_authorization = caller_authorization
        self._caller_p256ecdsa = any("p256ecdsa=" in value for value in crypto_key)
        self._caller_dh = any("dh=" in value for value in crypto_key)
        # origin -> (VAPID headers, monotonic time until which they are reused)
        self._tokens: dict[str, tuple[dict[str, str], float]] = {}

    def _with_plaintext(self, plaintext: bytes, padding: int) -> MessagePlan:
        """This plan for another message with the same (checked) options; the VAPID
        headers it reuses are shared with it."""
        plan = object.__new__(MessagePlan)
        plan._content_encoding = self._content_encoding
        plan._aes128gcm = self._aes128gcm
        plan._scheme = self._scheme
        plan._plaintext = plaintext
        plan._padding = padding
        plan._before = self._before
        plan._crypto_key = self._crypto_key
        plan._signer = self._signer
        plan._claims = self._claims
        plan._aud = self._aud
        plan._caller_authorization = self._caller_authorization
        plan._caller_p256ecdsa = self._caller_p256ecdsa
        plan._caller_dh = self._caller_dh
        plan._tokens = self._tokens
        return plan

    @property
    def signer(self) -> Any:
        """The loaded VAPID signer (a :class:`Vapid`, or an object with ``sign``), or None."""
        return self._signer

    @property
    def needs_keys(self) -> bool:
        """Whether there is a body to encrypt (data or padding), so the subscription
        needs its keys (RFC 8291); without, the message is a push without data."""
        return bool(self._plaintext or self._padding)

    @property
    def sealable(self) -> Optional[tuple[bytes, int]]:
        """(plaintext, padding) when the body is one aes128gcm record, else None.

        Such a body is :func:`~webpush_core.ece._message.seal_aes128gcm_message`'s
        output for the subscription's keys, wherever it is computed.
        """
        if self._aes128gcm and (self._plaintext or self._padding):
            return self._plaintext, self._padding
        return None

    def build(self, sub: Subscription) -> PushRequest:
        """The request for one (already parsed) subscription.

        Raises what :func:`build_request` raises for the subscription's part:
        data for a subscription without keys, a ``vapid_claims`` aud that is
        not its origin, a caller header that conflicts with the VAPID headers.
        """
        return self._build(sub, self._plaintext, self._padding)

    def _build(self, sub: Subscription, plaintext: bytes, padding: int) -> PushRequest:
        """:meth:`build` for another message with this plan's options."""
        ua_public_key = sub.require_keys() if plaintext or padding else None
        out, crypto_key = self.headers_for(sub.origin)
        if ua_public_key is None:
            body = b""
        elif self._aes128gcm:
            body = seal_aes128gcm_message(plaintext, ua_public_key, sub.p256dh, sub.auth, padding)
        else:
            msg = ece.encrypt_message(
                plaintext,
                ua_public_key,
                sub.auth,
                version=self._content_encoding,
                padding=padding,
                ua_point=sub.p256dh,
            )
            for name, value in msg.headers().items():
                if name == "Crypto-Key":
                    crypto_key.insert(0, value)  # dh= first, then p256ecdsa=
                else:
                    out[name] = value
            out["Content-Type"] = _CONTENT_TYPE
            body = msg.body
        return self.finish(sub.endpoint, out, crypto_key, body)

    def headers_for(self, origin: str) -> tuple[dict[str, str], list[str]]:
        """The headers that do not depend on the encryption, and the Crypto-Key parts.

        Raises as :meth:`build` does (VAPID aud, conflicting caller headers).
        The dict is new: :meth:`finish` completes it.
        """
        auth: dict[str, str] = {}
        if self._signer is not None:
            refuse_vapid_conflicts(
                authorization=self._caller_authorization, p256ecdsa=self._caller_p256ecdsa
            )
            auth = self._vapid_headers(origin)
        out = self._before.copy()
        crypto_key = list(self._crypto_key)
        for name, value in auth.items():
            if name.lower() == "crypto-key":
                crypto_key.append(value)
            else:
                out[name] = value
        if self._caller_dh or (crypto_key and any("dh=" in value for value in crypto_key)):
            # Legacy scheme: "dh=" is ours; a "p256ecdsa=" from VAPID joins it
            # with ";" (draft-ietf-webpush-vapid-01 §4, what services parse).
            raise InvalidRequest(
                "the Crypto-Key header's dh= is computed by webpush_core", field="headers"
            )
        return out, crypto_key

    def finish(
        self, endpoint: str, out: dict[str, str], crypto_key: list[str], body: bytes
    ) -> PushRequest:
        """The request, from :meth:`headers_for`'s parts and the body (aes128gcm or none)."""
        if body and self._aes128gcm:
            out["Content-Encoding"] = "aes128gcm"
            # web-push-testing and some services refuse a body without it.
            out["Content-Type"] = _CONTENT_TYPE
        if crypto_key:
            out["Crypto-Key"] = ";".join(crypto_key)
        request = object.__new__(PushRequest)  # frozen: fields set as its __init__ would
        request.__dict__.update(url=endpoint, headers=out, body=body, method="POST")
        return request

    def _vapid_headers(self, origin: str) -> dict[str, str]:
        """VAPID headers for this origin (RFC 8292 §2, §3; draft-01 for aesgcm)."""
        check_aud_for(self._aud, origin)
        signer = self._signer
        if not isinstance(signer, Vapid):
            return _foreign_vapid_headers(signer, {**self._claims, "aud": origin}, self._scheme)
        # The signer's cache holds the token for hours; a fan-out reuses it
        # for a minute without re-deriving the cache key per message.
        now = time.monotonic()
        hit = self._tokens.get(origin)
        if hit is not None and now < hit[1]:
            return hit[0]
        headers = signer.sign_headers({**self._claims, "aud": origin}, scheme=self._scheme)
        if len(self._tokens) >= _PLAN_TOKEN_ORIGINS:
            self._tokens.clear()
        self._tokens[origin] = (headers, now + _PLAN_TOKEN_SECONDS)
        return headers


def refuse_vapid_conflicts(*, authorization: bool, p256ecdsa: bool) -> None:
    """InvalidRequest when the caller's headers already carry what VAPID sets."""
    if authorization:
        raise InvalidRequest(
            "an Authorization header conflicts with vapid_private_key; pass one of them",
            field="headers",
        )
    if p256ecdsa:
        # Two p256ecdsa= keys: push services refuse the token, or pick the wrong key.
        raise InvalidRequest(
            "a Crypto-Key header with p256ecdsa= conflicts with vapid_private_key; "
            "pass one of them",
            field="headers",
        )


def check_aud_for(aud: Any, origin: str) -> None:
    """A ``vapid_claims`` aud, when given, is the endpoint's origin (RFC 8292 §2)."""
    if not (aud is None or aud == "") and str(aud).rstrip("/") != origin:
        raise VapidError(
            f"vapid_claims aud {aud!r} is not the endpoint's origin {origin!r} "
            "(RFC 8292 §2); leave aud out and it is derived per endpoint",
            field="vapid_claims.aud",
        )


def _foreign_vapid_headers(signer: Any, claims: dict[str, Any], scheme: str) -> dict[str, str]:
    """Another signer's (a py_vapid instance's) headers, in the coding's scheme."""
    # Our claim rules first, so a bad claim fails here with the field named,
    # as it does with a Vapid.
    signed = sign_foreign(signer, validate_claims(claims), scheme)
    if isinstance(signed, RefusedSignature):
        raise signed.error()
    return signed


def sign_foreign(
    signer: Any, claims: Mapping[str, Any], scheme: str
) -> Union[dict[str, str], RefusedSignature]:
    """``signer.sign(claims)`` (checked claims) in the coding's scheme, or the refusal
    of what it returned when that is no dict of headers. Raises VapidError when
    ``sign()`` raises."""
    try:
        signed = signer.sign(claims)
    except Exception as exc:
        # e.g. py_vapid's "No private key": a bad key is an input error. Its
        # message stays in the chained exception: foreign text is not ours
        # to vouch for (it might quote the key).
        raise VapidError(
            f"vapid_private_key.sign() failed with {type(exc).__name__} "
            "(see the chained exception)",
            field="vapid_private_key",
        ) from exc
    if not isinstance(signed, Mapping):
        return RefusedSignature(
            f"vapid_private_key.sign() must return a dict of headers, got {type(signed).__name__}"
        )
    headers = _in_scheme({str(k): str(v) for k, v in signed.items()}, scheme == "webpush")
    for name, value in headers.items():
        # They go on the wire as they are: a CR or LF would inject a header (our
        # own client writes what it is given), a Content-Length or TTL would be
        # sent twice. A VAPID signer answers Authorization and Crypto-Key only.
        if name.lower() not in _SIGNER_HEADERS:
            raise VapidError(
                f"vapid_private_key.sign() returned a {name[:40]!r} header; a VAPID "
                "signer returns Authorization (and Crypto-Key) only",
                field="vapid_private_key",
            )
        try:
            check_header(name, value)
        except InvalidRequest as bad:
            # check_header's words name the header and the rule, never the value.
            raise VapidError(
                f"vapid_private_key.sign() returned a bad header: {bad.message}",
                field="vapid_private_key",
            ) from None
    return headers


def _in_scheme(headers: dict[str, str], aesgcm: bool) -> dict[str, str]:
    """Another signer's VAPID headers, re-wrapped in the scheme the coding needs.

    py_vapid's ``Vapid01`` always signs with ``WebPush`` and ``Vapid02`` with
    ``vapid``; push services expect ``vapid t=, k=`` (RFC 8292 §3) with
    aes128gcm and ``WebPush <JWT>`` + ``Crypto-Key: p256ecdsa=`` (draft-01)
    with aesgcm (web-push-testing refuses the other pairings). The JWT is the
    same in both: only the wrapping changes. Headers that are not a VAPID
    token pass through as they are.
    """
    by_name = {name.lower(): value for name, value in headers.items()}
    authorization = by_name.get("authorization")
    if authorization is None:
        return headers
    try:
        _, token, point = split_authorization(authorization, by_name.get("crypto-key"))
    except VapidError:
        return headers
    out = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "crypto-key")}
    k = b64url_encode(point)
    if aesgcm:
        out["Authorization"] = f"WebPush {token}"
        out["Crypto-Key"] = f"p256ecdsa={k}"
    else:
        out["Authorization"] = f"vapid t={token}, k={k}"
    return out
