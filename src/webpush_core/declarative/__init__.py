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

One file per idea: ``_value`` (what a message is: ``Action``, ``Members``,
``DeclarativeMessage``), ``_rules`` (each member's check and the error that
names it), ``_build`` (``message``: the checked members as compact JSON,
within the content coding's limit), ``_parse`` (``parse`` and
``is_declarative``: a document you did not build, read by the same rules).
"""

from __future__ import annotations

from ._build import message
from ._parse import MAX_DOCUMENT, is_declarative, parse
from ._value import WEB_PUSH, Action, DeclarativeMessage, Members

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

# Named where they are used: a pickled DeclarativeMessage is a call of
# webpush_core.declarative.parse, an Action or Members is of a class here, so
# what one version pickles another loads whatever the private modules are
# called; reprs and help() show the same name.
for _public in (Action, Members, DeclarativeMessage, message, parse, is_declarative):
    _public.__module__ = __name__
del _public
