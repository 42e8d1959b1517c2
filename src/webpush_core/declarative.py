"""Declarative Web Push: a push message that *is* the notification.

A declarative push message is a JSON document a browser shows as a
notification by itself, with no service worker (Safari 18.4+ on iOS,
iPadOS and macOS; the W3C Push API, "Declarative push message" and its
"declarative push message parser", Editor's Draft with w3c/push-api
pull requests 385 "Add Declarative Web Push" and 402 "Add app badge to
Declarative Web Push"; WebKit's "Meet Declarative Web Push", 2025)::

    {"web_push": 8030,
     "notification": {"title": "...", "navigate": "https://...", ...},
     "app_badge": 3, "mutable": false}

:func:`message` builds one and checks every member before any work;
:func:`parse` reads one back (what a browser's parser accepts, with this
module's stricter rules). A :class:`DeclarativeMessage` *is* ``bytes``, so
it is ``data=`` wherever webpush_core takes a payload: compact,
deterministic JSON (sorted keys, no spaces, UTF-8). The request's headers
do not change: the content coding's ``Content-Encoding`` and RFC 8030's
headers, as for any payload.

Members of ``notification`` other than ``title`` and ``navigate`` are the
Notifications API's ``NotificationOptions`` (the spec derives them from
it), so their JSON names are that dictionary's: ``require_interaction=``
here is ``"requireInteraction"`` on the wire.

Rules beyond the JSON types, each checked here because a browser would
silently drop the message (the parser returns failure) or the notification
(the Notifications API throws):

* ``navigate`` (and every URL member) is an absolute ``https`` URL, without
  backslashes, userinfo or a percent-encoded host (where Python's
  ``urlsplit`` and a browser's URL parser read a different host:
  ``https://evil.example\\@good.example/`` is evil.example to a browser);
* every string is text that UTF-8 can carry (no lone surrogate);
* ``renotify`` needs a non-empty ``tag``; ``silent`` excludes ``vibrate``
  (Notifications API, "create a notification");
* every action has ``action``, ``title`` and ``navigate`` (no service
  worker handles a click on a declarative notification's action);
* ``app_badge`` is a 64-bit unsigned integer, ``timestamp`` too
  (``EpochTimestamp``), each ``vibrate`` entry a 32-bit one;
* the encoded message fits the content coding's limit (aes128gcm: 3993
  octets, RFC 8291 §4).

:func:`parse` reads UTF-8 only (RFC 8259 §8.1; a leading byte order mark is
ignored, as a browser's UTF-8 decode does) and at most :data:`MAX_DOCUMENT`
octets; an error echoes at most a short, escaped excerpt of what it refused.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from .errors import InvalidInput, PayloadTooLarge

__all__ = [
    "MAX_DOCUMENT",
    "WEB_PUSH",
    "Action",
    "DeclarativeMessage",
    "Members",
    "is_declarative",
    "message",
    "parse",
]

WEB_PUSH = 8030  # the member that marks a declarative push message (the RFC's number)
_U64 = 2**64 - 1
_U32 = 2**32 - 1
_DIRS = ("auto", "ltr", "rtl")
# BCP 47 in outline (RFC 5646 §2.1): alphanumeric subtags of 1-8, the first alphabetic.
_LANG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*\Z")
_LIMITS = {"aes128gcm": 3993, "aesgcm": 4078}  # RFC 8291 §4; the aesgcm draft's one record
# What parse() reads: a message is at most 4078 octets compact; this leaves room
# for indentation, and bounds the work (and the error) whatever arrives.
MAX_DOCUMENT = 16384
# What an error echoes of the value it refused: an excerpt, escaped (repr).
_ECHO = reprlib.Repr()
_ECHO.maxstring = _ECHO.maxother = 60
_ECHO.maxlist = _ECHO.maxtuple = _ECHO.maxdict = _ECHO.maxset = 4
_ECHO.maxlevel = 2
_MAX_ECHO = 120

JSONValue = Any


@dataclass(frozen=True)
class Action:
    """A notification action: a button that opens ``navigate`` when chosen."""

    action: str
    title: str
    navigate: str
    icon: Optional[str] = None


@dataclass(frozen=True)
class Members:
    """A declarative message's checked members (None: not given)."""

    title: str
    navigate: str
    body: Optional[str] = None
    lang: Optional[str] = None
    dir: Optional[str] = None
    tag: Optional[str] = None
    image: Optional[str] = None
    icon: Optional[str] = None
    badge: Optional[str] = None
    vibrate: Optional[Union[int, tuple[int, ...]]] = None
    timestamp: Optional[int] = None
    renotify: Optional[bool] = None
    silent: Optional[bool] = None
    require_interaction: Optional[bool] = None
    data: JSONValue = None
    actions: tuple[Action, ...] = ()
    app_badge: Optional[int] = None
    mutable: Optional[bool] = None


class DeclarativeMessage(bytes):
    """A checked declarative push message: its bytes are the compact JSON that is
    encrypted and sent (so it is ``data=`` everywhere), ``members`` its parsed form.

    Immutable; equal to another exactly when the members are (the encoding is
    deterministic). The repr shows the size, never the contents.
    """

    members: Members

    def __new__(cls, encoded: bytes, members: Members) -> DeclarativeMessage:
        self = super().__new__(cls, encoded)
        object.__setattr__(self, "members", members)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a DeclarativeMessage is immutable")

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return parse, (bytes(self),)

    def __repr__(self) -> str:
        return f"<DeclarativeMessage {len(self)} bytes>"

    def as_json(self) -> dict[str, Any]:
        """The JSON object (a fresh dict) this message encodes."""
        loaded: dict[str, Any] = json.loads(self)
        return loaded


# Python keyword -> JSON member of ``notification`` (NotificationOptions' names).
_OPTIONAL = (
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


def _fail(name: str, rule: str, got: Any = None, *, show: bool = True) -> InvalidInput:
    shown = ""
    if show:  # an excerpt: a refused value may be megabytes, or anyone's text
        excerpt = _ECHO.repr(got)
        if len(excerpt) > _MAX_ECHO:
            excerpt = excerpt[: _MAX_ECHO - 3] + "..."
        shown = f", got {excerpt}"
    return InvalidInput(f"{name} must be {rule}{shown}", field=name)


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(name, "a string", type(value).__name__)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(
                name, "text without lone surrogates (U+D800-U+DFFF have no UTF-8 form)", value
            ) from None
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, "true or false", value)
    return value


def _uint(name: str, value: Any, top: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _fail(name, f"an integer from 0 to {top} ({what})", value)
    return value


def _url(name: str, value: Any) -> str:
    text = _string(name, value)
    rule = "an absolute https URL (e.g. https://app.example/inbox)"
    if any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in text):
        raise _fail(name, rule + " without spaces or control characters", text)
    if "\\" in text:
        # A browser reads "\\" as "/" in an https URL, urlsplit does not: the
        # two would disagree on the host (https://evil.example\\@good.example/).
        raise _fail(name, rule + " without backslashes", text)
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise _fail(name, rule, text) from None
    if parts.scheme.lower() != "https" or not parts.hostname or not port_ok:
        raise _fail(name, rule, text)
    if "@" in parts.netloc:
        raise _fail(name, rule + " without userinfo (user@)", text)
    if "%" in parts.netloc:  # a browser decodes it, urlsplit does not
        raise _fail(name, rule + " without a percent-encoded host", text)
    return text


def _json_data(name: str, value: Any) -> JSONValue:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(name, "JSON text without lone surrogates (U+D800-U+DFFF)", show=False) from None
    except (TypeError, ValueError, RecursionError) as e:
        raise _fail(
            name, f"JSON-serializable (finite numbers, str keys): {str(e)[:_MAX_ECHO]}", show=False
        ) from None
    return value


def _vibrate(name: str, value: Any) -> Union[int, tuple[int, ...]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return _uint(name, value, _U32, "milliseconds")
    if isinstance(value, (list, tuple)):
        return tuple(_uint(f"{name}[{i}]", v, _U32, "milliseconds") for i, v in enumerate(value))
    raise _fail(name, "milliseconds as an integer or a list of integers", value)


def _action(name: str, value: Any) -> Action:
    if isinstance(value, Action):
        value = {k: v for k, v in vars(value).items() if v is not None}
    if not isinstance(value, Mapping):
        raise _fail(name, "an Action or a mapping with action, title and navigate", value)
    unknown = set(value) - {"action", "title", "navigate", "icon"}
    if unknown:
        raise _fail(name, "made of action, title, navigate and icon only", sorted(unknown))
    for required in ("action", "title", "navigate"):
        if required not in value:
            raise InvalidInput(
                f"{name}.{required} is required (a declarative notification's action "
                "opens its navigate URL: no service worker handles the click)",
                field=f"{name}.{required}",
            )
    icon = value.get("icon")
    return Action(
        action=_string(f"{name}.action", value["action"]),
        title=_string(f"{name}.title", value["title"]),
        navigate=_url(f"{name}.navigate", value["navigate"]),
        icon=None if icon is None else _url(f"{name}.icon", icon),
    )


def _check_option(key: str, value: Any) -> Any:
    name = f"notification.{key}"
    if key in ("body", "tag"):
        return _string(name, value)
    if key == "lang":
        text = _string(name, value)
        if text and not _LANG.match(text):
            raise _fail(name, "a BCP 47 language tag (e.g. en-US) or empty", text)
        return text
    if key == "dir":
        if value not in _DIRS:
            raise _fail(name, "one of auto, ltr, rtl", value)
        return value
    if key in ("image", "icon", "badge"):
        return _url(name, value)
    if key == "vibrate":
        return _vibrate(name, value)
    if key == "timestamp":
        return _uint(name, value, _U64, "milliseconds since the epoch")
    if key in ("renotify", "silent", "require_interaction"):
        return _bool(name, value)
    if key == "data":
        return _json_data(name, value)
    if key == "actions":
        if not isinstance(value, (list, tuple)):
            raise _fail(name, "a list of actions", type(value).__name__)
        return tuple(_action(f"{name}[{i}]", a) for i, a in enumerate(value))
    raise AssertionError(key)  # pragma: no cover - _OPTIONAL lists every key


def message(
    title: str,
    navigate: str,
    *,
    body: Optional[str] = None,
    lang: Optional[str] = None,
    dir: Optional[str] = None,
    tag: Optional[str] = None,
    image: Optional[str] = None,
    icon: Optional[str] = None,
    badge: Optional[str] = None,
    vibrate: Optional[Union[int, Sequence[int]]] = None,
    timestamp: Optional[int] = None,
    renotify: Optional[bool] = None,
    silent: Optional[bool] = None,
    require_interaction: Optional[bool] = None,
    data: JSONValue = None,
    actions: Optional[Sequence[Union[Action, Mapping[str, Any]]]] = None,
    app_badge: Optional[int] = None,
    mutable: Optional[bool] = None,
    content_encoding: str = "aes128gcm",
) -> DeclarativeMessage:
    """A declarative push message, every member checked (see the module docstring).

    Raises :class:`~webpush_core.InvalidInput` naming the member (e.g.
    ``notification.navigate``) and its rule, or
    :class:`~webpush_core.PayloadTooLarge` when the encoded message does not
    fit one ``content_encoding`` record. Members left None are omitted.
    """
    given = dict(
        body=body,
        lang=lang,
        dir=dir,
        tag=tag,
        image=image,
        icon=icon,
        badge=badge,
        vibrate=vibrate,
        timestamp=timestamp,
        renotify=renotify,
        silent=silent,
        require_interaction=require_interaction,
        data=data,
        actions=actions,
    )
    return _build(title, navigate, given, app_badge, mutable, content_encoding)


def _build(
    title: Any,
    navigate: Any,
    given: Mapping[str, Any],
    app_badge: Any,
    mutable: Any,
    content_encoding: str,
) -> DeclarativeMessage:
    if content_encoding not in _LIMITS:
        raise InvalidInput(
            f"content_encoding must be one of {', '.join(_LIMITS)}, got {content_encoding!r}",
            field="content_encoding",
        )
    checked: dict[str, Any] = {
        "title": _string("notification.title", title),
        "navigate": _url("notification.navigate", navigate),
    }
    for key, _ in _OPTIONAL:
        value = given.get(key)
        if value is not None:
            checked[key] = _check_option(key, value)
    if checked.get("renotify") and not checked.get("tag"):
        raise InvalidInput(
            "notification.renotify needs a non-empty notification.tag (the Notifications API "
            "refuses renotify without a tag)",
            field="notification.renotify",
        )
    if checked.get("silent") and "vibrate" in checked:
        raise InvalidInput(
            "notification.vibrate cannot be given with silent=true (the Notifications API "
            "refuses a silent notification that vibrates)",
            field="notification.vibrate",
        )
    if app_badge is not None:
        _uint("app_badge", app_badge, _U64, "a 64-bit unsigned integer")
    if mutable is not None:
        _bool("mutable", mutable)

    notification: dict[str, Any] = {}
    for key, member in (("title", "title"), ("navigate", "navigate"), *_OPTIONAL):
        if key not in checked:
            continue
        value = checked[key]
        if key == "actions":
            value = [
                {k: v for k, v in vars(a).items() if v is not None}
                for a in value  # Action fields, icon only when given
            ]
        notification[member] = value  # (a tuple, vibrate's, is a JSON array)
    document: dict[str, Any] = {"web_push": WEB_PUSH, "notification": notification}
    if app_badge is not None:
        document["app_badge"] = app_badge
    if mutable is not None:
        document["mutable"] = mutable
    encoded = json.dumps(
        document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    limit = _LIMITS[content_encoding]
    if len(encoded) > limit:
        raise PayloadTooLarge(
            f"the declarative message is {len(encoded)} bytes encoded; at most {limit} fit in "
            f"one {content_encoding} push message (RFC 8291 §4): shorten body or data",
            field="data",
        )
    members = Members(
        **{k: v for k, v in checked.items() if k != "actions"},
        actions=checked.get("actions", ()),
        app_badge=app_badge,
        mutable=mutable,
    )
    return DeclarativeMessage(encoded, members)


def is_declarative(payload: bytes) -> bool:
    """Whether ``payload`` claims to be a declarative push message (``"web_push": 8030``)."""
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("web_push") == WEB_PUSH


def parse(payload: Union[bytes, str]) -> DeclarativeMessage:
    """Read a declarative push message back, with every rule :func:`message` checks.

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
            f"(at most {_LIMITS['aesgcm']} once compact); this one is longer",
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
        raise _fail("web_push", f"the integer {WEB_PUSH}", web_push)
    unknown = set(document) - {"web_push", "notification", "app_badge", "mutable"}
    if unknown:
        raise _fail("web_push", "alongside notification, app_badge, mutable only", sorted(unknown))
    notification = document.get("notification")
    if not isinstance(notification, dict):
        raise _fail("notification", "a JSON object", type(notification).__name__)
    members = {member: key for key, member in _OPTIONAL}
    unknown = set(notification) - set(members) - {"title", "navigate"}
    if unknown:
        raise _fail("notification", "made of NotificationOptions' members", sorted(unknown))
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
    encoding = "aes128gcm" if len(raw) <= _LIMITS["aes128gcm"] else "aesgcm"
    built = _build(
        notification["title"],
        notification["navigate"],
        given,
        document.get("app_badge"),
        document.get("mutable"),
        encoding,
    )
    return built
