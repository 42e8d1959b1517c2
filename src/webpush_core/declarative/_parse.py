"""A declarative push message read back: a document you did not build, by every rule.

:func:`parse` reads UTF-8 only (RFC 8259 §8.1; a leading byte order mark is
ignored, as a browser's UTF-8 decode does) and at most :data:`MAX_DOCUMENT`
octets, refuses what a browser's parser would ignore (unknown members, null
ones), then builds the message as :func:`._build.message` does.
"""

from __future__ import annotations

import json
from typing import Union

from ..errors import InvalidInput
from ._build import LIMITS, build
from ._rules import OPTIONAL, fail
from ._value import WEB_PUSH, DeclarativeMessage

__all__ = ["MAX_DOCUMENT", "is_declarative", "parse"]

# What parse() reads: a message is at most 4078 octets compact; this leaves room
# for indentation, and bounds the work (and the error) whatever arrives.
MAX_DOCUMENT = 16384


def is_declarative(payload: bytes) -> bool:
    """Whether ``payload`` claims to be a declarative push message (``"web_push": 8030``)."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("web_push") == WEB_PUSH


def parse(payload: Union[bytes, str]) -> DeclarativeMessage:
    """Read a declarative push message back, with every rule :func:`._build.message` checks.

    Raises :class:`~webpush_core.InvalidInput` naming the member at fault
    (``web_push`` when the document is not a declarative message at all: not
    UTF-8, over :data:`MAX_DOCUMENT` octets, not a JSON object). Unknown
    members are refused (a typo would be silently ignored by a browser),
    except inside ``data``.
    """
    if isinstance(payload, str):
        try:  # a character is at least one octet: the cut keeps the size check exact
            raw = payload[: MAX_DOCUMENT + 1].encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                "a declarative push message is text without lone surrogates "
                "(U+D800-U+DFFF have no UTF-8 form)",
                field="web_push",
            ) from None
    else:
        raw = bytes(payload[: MAX_DOCUMENT + 1])
    if len(raw) > MAX_DOCUMENT:
        raise InvalidInput(
            f"a declarative push message is at most {MAX_DOCUMENT} octets "
            f"(at most {LIMITS['aesgcm']} once compact); this one is longer",
            field="web_push",
        )
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark is ignored, as browsers do
    except UnicodeDecodeError:
        raise InvalidInput(
            "a declarative push message is UTF-8 (RFC 8259 §8.1); this one is not "
            "(UTF-16 or UTF-32 are not read)",
            field="web_push",
        ) from None
    if "\x00" in text:
        raise InvalidInput(
            "a declarative push message is UTF-8 JSON; this one holds NUL characters "
            "(UTF-16 or UTF-32 are not read)",
            field="web_push",
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput(
            "a declarative push message is a JSON object", field="web_push"
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput("a declarative push message is a JSON object", field="web_push")
    web_push = document.get("web_push")
    if isinstance(web_push, bool) or web_push != WEB_PUSH:
        raise fail("web_push", f"the integer {WEB_PUSH}", web_push)
    unknown = set(document) - {"web_push", "notification", "app_badge", "mutable"}
    if unknown:
        raise fail("web_push", "alongside notification, app_badge, mutable only", sorted(unknown))
    notification = document.get("notification")
    if not isinstance(notification, dict):
        raise fail("notification", "a JSON object", type(notification).__name__)
    members = {member: key for key, member in OPTIONAL}
    unknown = set(notification) - set(members) - {"title", "navigate"}
    if unknown:
        raise fail("notification", "made of NotificationOptions' members", sorted(unknown))
    for required in ("title", "navigate"):
        if required not in notification:
            raise InvalidInput(
                f"notification.{required} is required", field=f"notification.{required}"
            )
    given = {members[m]: v for m, v in notification.items() if m in members}
    if any(v is None for v in given.values()) or any(
        document.get(k, 0) is None for k in ("app_badge", "mutable")
    ):
        raise InvalidInput("a declarative push message has no null members", field="notification")
    encoding = "aes128gcm" if len(raw) <= LIMITS["aes128gcm"] else "aesgcm"
    built = build(
        notification["title"],
        notification["navigate"],
        given,
        document.get("app_badge"),
        document.get("mutable"),
        encoding,
    )
    return built
