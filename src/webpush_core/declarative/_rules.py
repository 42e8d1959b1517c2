"""Each member's rule, checked before any work: the error names the member and the rule.

Rules beyond the JSON types, because a browser would silently drop the
message (its parser returns failure) or the notification (the
Notifications API throws); the list is :mod:`webpush_core.declarative`'s
docstring. An error echoes at most a short, escaped excerpt of what it
refused.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Mapping
from typing import Any, Union
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ._value import Action, JSONValue

__all__ = [
    "OPTIONAL",
    "U64",
    "check_bool",
    "check_option",
    "check_string",
    "check_uint",
    "check_url",
    "fail",
]

U64 = 2**64 - 1
_U32 = 2**32 - 1
_DIRS = ("auto", "ltr", "rtl")
# BCP 47 in outline (RFC 5646 §2.1): alphanumeric subtags of 1-8, the first alphabetic.
_LANG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
# What an error echoes of the value it refused: an excerpt, escaped (repr).
_ECHO = reprlib.Repr()
_ECHO.maxstring = _ECHO.maxother = 60
_ECHO.maxlist = _ECHO.maxtuple = _ECHO.maxdict = _ECHO.maxset = 4
_ECHO.maxlevel = 2
_MAX_ECHO = 120

# Python keyword -> JSON member of ``notification`` (NotificationOptions' names).
OPTIONAL = (
    ("body", "body"),
    ("lang", "lang"),
    ("dir", "dir"),
    ("tag", "tag"),
    ("image", "image"),
    ("icon", "icon"),
    ("badge", "badge"),
    ("vibrate", "vibrate"),
    ("timestamp", "timestamp"),
    ("renotify", "renotify"),
    ("silent", "silent"),
    ("require_interaction", "requireInteraction"),
    ("data", "data"),
    ("actions", "actions"),
)


def fail(name: str, rule: str, got: Any = None, *, show: bool = True) -> InvalidInput:
    shown = ""
    if show:  # an excerpt: a refused value may be megabytes, or anyone's text
        excerpt = _ECHO.repr(got)
        if len(excerpt) > _MAX_ECHO:
            excerpt = excerpt[: _MAX_ECHO - 3] + "..."
        shown = f", got {excerpt}"
    return InvalidInput(f"{name} must be {rule}{shown}", field=name)


def check_string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise fail(name, "a string", type(value).__name__)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise fail(
                name, "text without lone surrogates (U+D800-U+DFFF have no UTF-8 form)", value
            ) from None
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(name, "true or false", value)
    return value


def check_uint(name: str, value: Any, top: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise fail(name, f"an integer from 0 to {top} ({what})", value)
    return value


def check_url(name: str, value: Any) -> str:
    text = check_string(name, value)
    rule = "an absolute https URL (e.g. https://app.example/inbox)"
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        raise fail(name, rule + " without spaces or control characters", text)
    if "\\" in text:
        # A browser reads "\\" as "/" in an https URL, urlsplit does not: the
        # two would disagree on the host (https://evil.example\\@good.example/).
        raise fail(name, rule + " without backslashes", text)
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise fail(name, rule, text) from None
    if parts.scheme.lower() != "https" or not parts.hostname or not port_ok:
        raise fail(name, rule, text)
    if "@" in parts.netloc:
        raise fail(name, rule + " without userinfo (user@)", text)
    if "%" in parts.netloc:  # a browser decodes it, urlsplit does not
        raise fail(name, rule + " without a percent-encoded host", text)
    return text


def _json_data(name: str, value: Any) -> JSONValue:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise fail(name, "JSON text without lone surrogates (U+D800-U+DFFF)", show=False) from None
    except (TypeError, ValueError, RecursionError) as e:
        raise fail(
            name, f"JSON-serializable (finite numbers, str keys): {str(e)[:_MAX_ECHO]}", show=False
        ) from None
    return value


def _vibrate(name: str, value: Any) -> Union[int, tuple[int, ...]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return check_uint(name, value, _U32, "milliseconds")
    if isinstance(value, (list, tuple)):
        return tuple(
            check_uint(f"{name}[{i}]", v, _U32, "milliseconds") for i, v in enumerate(value)
        )
    raise fail(name, "milliseconds as an integer or a list of integers", value)


def _action(name: str, value: Any) -> Action:
    if isinstance(value, Action):
        value = {k: v for k, v in vars(value).items() if v is not None}
    if not isinstance(value, Mapping):
        raise fail(name, "an Action or a mapping with action, title and navigate", value)
    unknown = set(value) - {"action", "title", "navigate", "icon"}
    if unknown:
        raise fail(name, "made of action, title, navigate and icon only", sorted(unknown))
    for required in ("action", "title", "navigate"):
        if required not in value:
            raise InvalidInput(
                f"{name}.{required} is required (a declarative notification's action "
                "opens its navigate URL: no service worker handles the click)",
                field=f"{name}.{required}",
            )
    icon = value.get("icon")
    return Action(
        action=check_string(f"{name}.action", value["action"]),
        title=check_string(f"{name}.title", value["title"]),
        navigate=check_url(f"{name}.navigate", value["navigate"]),
        icon=None if icon is None else check_url(f"{name}.icon", icon),
    )


def check_option(key: str, value: Any) -> Any:
    name = f"notification.{key}"
    if key in ("body", "tag"):
        return check_string(name, value)
    if key == "lang":
        text = check_string(name, value)
        if text and not _LANG.match(text):
            raise fail(name, "a BCP 47 language tag (e.g. en-US) or empty", text)
        return text
    if key == "dir":
        if value not in _DIRS:
            raise fail(name, "one of auto, ltr, rtl", value)
        return value
    if key in ("image", "icon", "badge"):
        return check_url(name, value)
    if key == "vibrate":
        return _vibrate(name, value)
    if key == "timestamp":
        return check_uint(name, value, U64, "milliseconds since the epoch")
    if key in ("renotify", "silent", "require_interaction"):
        return check_bool(name, value)
    if key == "data":
        return _json_data(name, value)
    if key == "actions":
        if not isinstance(value, (list, tuple)):
            raise fail(name, "a list of actions", type(value).__name__)
        return tuple(_action(f"{name}[{i}]", a) for i, a in enumerate(value))
    raise AssertionError(key)  # pragma: no cover - OPTIONAL lists every key
