"""The message's options: each argument's rule (RFC 8030 §5.2-§5.4, RFC 8291 §4).

Argument checks. Each raises InvalidRequest (PayloadTooLarge for the data's
size) naming the field and the rule.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from .. import ece
from ..errors import InvalidRequest, PayloadTooLarge

__all__ = [
    "CONTENT_ENCODINGS",
    "MAX_PLAINTEXT",
    "MAX_TTL",
    "URGENCIES",
    "check_content_encoding",
    "check_options",
    "check_size",
    "check_topic",
    "check_ttl",
    "check_urgency",
    "merge_option",
    "padding_for",
    "payload_bytes",
]

CONTENT_ENCODINGS = ("aes128gcm", "aesgcm")
MAX_PLAINTEXT = {coding: ece.max_plaintext(coding) for coding in CONTENT_ENCODINGS}
# RFC 8030 §5.3.
URGENCIES = ("very-low", "low", "normal", "high")
# RFC 8030 §5.4: at most 32 characters from the URL-safe base64 alphabet.
_TOPIC_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# RFC 8030 §5.2: TTL is delta-seconds (RFC 9111 §1.2.2), which a recipient
# reads as at most 2**31; more is refused rather than sent as a number no
# push service keeps a message for (and str() of a huge int raises).
MAX_TTL = 2**31 - 1
_TTL_TEXT = re.compile(r"\s*([0-9]{1,10})\s*")


def _shown(value: Any) -> str:
    """A bounded repr for an error message (repr() of a huge int raises)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:37]!r}..."
    return repr(value)


def check_ttl(ttl: Any) -> int:
    """The TTL argument or header as a number of seconds (RFC 8030 §5.2)."""
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


def check_urgency(urgency: Any) -> str:
    """An Urgency (RFC 8030 §5.3), checked."""
    if urgency not in URGENCIES:
        raise InvalidRequest(
            f"urgency must be one of {', '.join(URGENCIES)} (RFC 8030 §5.3), got {urgency!r}",
            field="urgency",
        )
    return str(urgency)


def check_topic(topic: Any) -> str:
    """A Topic (RFC 8030 §5.4), checked."""
    if not isinstance(topic, str) or not _TOPIC_RE.fullmatch(topic):
        raise InvalidRequest(
            "topic must be 1 to 32 characters of the URL-safe base64 alphabet "
            f"(RFC 8030 §5.4), got {topic!r}",
            field="topic",
        )
    return topic


def check_content_encoding(content_encoding: Any) -> None:
    """Raise InvalidRequest unless ``content_encoding`` is one we can encrypt with
    (RFC 8188's aes128gcm, or the legacy aesgcm)."""
    if content_encoding not in CONTENT_ENCODINGS:
        raise InvalidRequest(
            f"content_encoding must be one of {', '.join(CONTENT_ENCODINGS)}, "
            f"got {content_encoding!r}",
            field="content_encoding",
        )


def check_options(*, ttl: Any, urgency: Any, topic: Any) -> None:
    """Check TTL, Urgency and Topic once (e.g. for a whole fan-out)."""
    check_ttl(ttl)
    if urgency is not None:
        check_urgency(urgency)
    if topic is not None:
        check_topic(topic)


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


def merge_option(name: str, arg: Any, header: Optional[str], default_is_unset: bool) -> Any:
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


def check_size(plaintext: bytes, limit: int, content_encoding: str) -> None:
    """PayloadTooLarge unless the plaintext fits the limit (RFC 8291 §4)."""
    if len(plaintext) > limit:
        raise PayloadTooLarge(
            f"data is {len(plaintext)} bytes; at most {limit} fit in one {content_encoding} "
            "push message (RFC 8291 §4)",
            field="data",
        )


def padding_for(pad_to: Optional[int], plaintext: bytes) -> int:
    """The padding octets that bring the plaintext up to ``pad_to``."""
    return 0 if pad_to is None else max(0, pad_to - len(plaintext))
