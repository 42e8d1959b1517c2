"""A declarative push message built: the checked members as compact, deterministic JSON.

:func:`message` takes the members as keywords, checks each (:mod:`._rules`)
and the rules between them, and encodes the document (sorted keys, no
spaces, UTF-8) within the content coding's limit: one record (RFC 8291 §4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from ..errors import InvalidInput, PayloadTooLarge
from ._rules import OPTIONAL, U64, check_bool, check_option, check_string, check_uint, check_url
from ._value import WEB_PUSH, Action, DeclarativeMessage, JSONValue, Members

__all__ = ["LIMITS", "build", "message"]

LIMITS = {"aes128gcm": 3993, "aesgcm": 4078}  # RFC 8291 §4; the aesgcm draft's one record


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
    """A declarative push message, every member checked (the rules: the package docstring).

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
    return build(title, navigate, given, app_badge, mutable, content_encoding)


def build(
    title: Any,
    navigate: Any,
    given: Mapping[str, Any],
    app_badge: Any,
    mutable: Any,
    content_encoding: str,
) -> DeclarativeMessage:
    if content_encoding not in LIMITS:
        raise InvalidInput(
            f"content_encoding must be one of {', '.join(LIMITS)}, got {content_encoding!r}",
            field="content_encoding",
        )
    checked: dict[str, Any] = {
        "title": check_string("notification.title", title),
        "navigate": check_url("notification.navigate", navigate),
    }
    for key, _ in OPTIONAL:
        value = given.get(key)
        if value is not None:
            checked[key] = check_option(key, value)
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
        check_uint("app_badge", app_badge, U64, "a 64-bit unsigned integer")
    if mutable is not None:
        check_bool("mutable", mutable)

    notification: dict[str, Any] = {}
    for key, member in (("title", "title"), ("navigate", "navigate"), *OPTIONAL):
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
    limit = LIMITS[content_encoding]
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
