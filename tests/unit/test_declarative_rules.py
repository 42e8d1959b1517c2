"""declarative: every refusal word for word, each limit at the limit and one past.

tests/test_declarative.py holds the messages that pass (round trips through
a local push service, the JSON as a browser reads it); the hostile documents
are in tests/adversarial/test_declarative_hostile_documents.py. Here: what
each rule says when it refuses (the member, the rule, an excerpt of the
value), since that is what the caller reads to fix it.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from webpush_core.declarative import (
    MAX_DOCUMENT,
    Action,
    is_declarative,
    message,
    parse,
)
from webpush_core.errors import InvalidInput, PayloadTooLarge

TITLE, NAVIGATE = "Hi", "https://app.example/inbox"
U64, U32 = 2**64 - 1, 2**32 - 1
URL_RULE = "an absolute https URL (e.g. https://app.example/inbox)"
ACTION = {"action": "open", "title": "Open", "navigate": "https://app.example/a"}


def build(**kwargs: Any) -> Callable[[], object]:
    """message() with these arguments (title and navigate valid unless given), each call anew."""

    def call() -> object:
        given = dict(kwargs)
        return message(given.pop("title", TITLE), given.pop("navigate", NAVIGATE), **given)

    return call


def doc(notification: dict[str, Any], **top: Any) -> Callable[[], object]:
    body = {
        "web_push": 8030,
        "notification": {"title": TITLE, "navigate": NAVIGATE, **notification},
    }
    body.update(top)
    return lambda: parse(json.dumps(body))


def _json_error(value: Any) -> str:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        return str(e)
    raise AssertionError(value)


# (what is called, the field named, the whole message)
REFUSALS: list[tuple[str, Callable[[], object], str, str]] = [
    (
        "title",
        build(title=5),
        "notification.title",
        "notification.title must be a string, got 'int'",
    ),
    (
        "title-surrogate",
        build(title="a\ud800"),
        "notification.title",
        "notification.title must be text without lone surrogates (U+D800-U+DFFF have no UTF-8 "
        "form), got 'a\\ud800'",
    ),
    (
        "renotify",
        build(renotify="yes", tag="t"),
        "notification.renotify",
        "notification.renotify must be true or false, got 'yes'",
    ),
    (
        "timestamp",
        build(timestamp=-1),
        "notification.timestamp",
        f"notification.timestamp must be an integer from 0 to {U64} (milliseconds since the "
        "epoch), got -1",
    ),
    (
        "timestamp-past",
        build(timestamp=U64 + 1),
        "notification.timestamp",
        f"notification.timestamp must be an integer from 0 to {U64} (milliseconds since the "
        f"epoch), got {U64 + 1}",
    ),
    (
        "vibrate",
        build(vibrate=U32 + 1),
        "notification.vibrate",
        f"notification.vibrate must be an integer from 0 to {U32} (milliseconds), got {U32 + 1}",
    ),
    (
        "vibrate-entry",
        build(vibrate=[1, -1]),
        "notification.vibrate[1]",
        f"notification.vibrate[1] must be an integer from 0 to {U32} (milliseconds), got -1",
    ),
    (
        "vibrate-kind",
        build(vibrate="x"),
        "notification.vibrate",
        "notification.vibrate must be milliseconds as an integer or a list of integers, got 'x'",
    ),
    (
        "vibrate-bool",
        build(vibrate=True),
        "notification.vibrate",
        "notification.vibrate must be milliseconds as an integer or a list of integers, got True",
    ),
    (
        "navigate-space",
        build(navigate="https://a b/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without spaces or control characters, "
        "got 'https://a b/'",
    ),
    (
        "navigate-control",
        build(navigate="https://app.example/\x01"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without spaces or control characters, "
        "got 'https://app.example/\\x01'",
    ),
    (
        "navigate-delete",
        build(navigate="https://app.example/\x7f"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without spaces or control characters, "
        "got 'https://app.example/\\x7f'",
    ),
    (
        "navigate-backslash",
        build(navigate="https://evil.example\\@good.example/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without backslashes, "
        "got 'https://evil.example\\\\@good.example/'",
    ),
    (
        "navigate-http",
        build(navigate="http://app.example/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE}, got 'http://app.example/'",
    ),
    (
        "navigate-port-0",
        build(navigate="https://app.example:0/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE}, got 'https://app.example:0/'",
    ),
    (
        "navigate-port-past",
        build(navigate="https://app.example:99999/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE}, got 'https://app.example:99999/'",
    ),
    (
        "navigate-userinfo",
        build(navigate="https://u@app.example/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without userinfo (user@), "
        "got 'https://u@app.example/'",
    ),
    (
        "navigate-percent",
        build(navigate="https://app%2Eexample/"),
        "notification.navigate",
        f"notification.navigate must be {URL_RULE} without a percent-encoded host, "
        "got 'https://app%2Eexample/'",
    ),
    (
        "data-nan",
        build(data={"x": float("nan")}),
        "notification.data",
        "notification.data must be JSON-serializable (finite numbers, str keys): "
        + _json_error({"x": float("nan")}),
    ),
    (
        "data-key",
        build(data={(1, 2): 3}),
        "notification.data",
        "notification.data must be JSON-serializable (finite numbers, str keys): "
        + _json_error({(1, 2): 3}),
    ),
    (
        "data-surrogate",
        build(data={"x": "\ud800"}),
        "notification.data",
        "notification.data must be JSON text without lone surrogates (U+D800-U+DFFF)",
    ),
    (
        "action-kind",
        build(actions=[5]),
        "notification.actions[0]",
        "notification.actions[0] must be an Action or a mapping with action, title and "
        "navigate, got 5",
    ),
    (
        "action-unknown",
        build(actions=[{**ACTION, "extra": 1}]),
        "notification.actions[0]",
        "notification.actions[0] must be made of action, title, navigate and icon only, "
        "got ['extra']",
    ),
    (
        "action-navigate",
        build(actions=[{"action": "a", "title": "t"}]),
        "notification.actions[0].navigate",
        "notification.actions[0].navigate is required (a declarative notification's action "
        "opens its navigate URL: no service worker handles the click)",
    ),
    (
        "action-action",
        build(actions=[{**ACTION, "action": 5}]),
        "notification.actions[0].action",
        "notification.actions[0].action must be a string, got 'int'",
    ),
    (
        "action-icon",
        build(actions=[ACTION, {**ACTION, "icon": "http://x.example/i.png"}]),
        "notification.actions[1].icon",
        f"notification.actions[1].icon must be {URL_RULE}, got 'http://x.example/i.png'",
    ),
    (
        "actions-kind",
        build(actions="open"),
        "notification.actions",
        "notification.actions must be a list of actions, got 'str'",
    ),
    (
        "lang-kind",
        build(lang=5),
        "notification.lang",
        "notification.lang must be a string, got 'int'",
    ),
    (
        "lang",
        build(lang="en_US"),
        "notification.lang",
        "notification.lang must be a BCP 47 language tag (e.g. en-US) or empty, got 'en_US'",
    ),
    (
        "dir",
        build(dir="up"),
        "notification.dir",
        "notification.dir must be one of auto, ltr, rtl, got 'up'",
    ),
    (
        "content-encoding",
        build(content_encoding="gzip"),
        "content_encoding",
        "content_encoding must be one of aes128gcm, aesgcm, got 'gzip'",
    ),
    (
        "renotify-tag",
        build(renotify=True),
        "notification.renotify",
        "notification.renotify needs a non-empty notification.tag (the Notifications API "
        "refuses renotify without a tag)",
    ),
    (
        "silent-vibrate",
        build(silent=True, vibrate=[100]),
        "notification.vibrate",
        "notification.vibrate cannot be given with silent=true (the Notifications API refuses "
        "a silent notification that vibrates)",
    ),
    (
        "app-badge",
        build(app_badge=-1),
        "app_badge",
        f"app_badge must be an integer from 0 to {U64} (a 64-bit unsigned integer), got -1",
    ),
    ("mutable", build(mutable="no"), "mutable", "mutable must be true or false, got 'no'"),
    # parse(): the document itself
    (
        "parse-surrogate",
        lambda: parse('{"web_push": 8030, "x": "\ud800"}'),
        "web_push",
        "a declarative push message is text without lone surrogates (U+D800-U+DFFF have no "
        "UTF-8 form)",
    ),
    (
        "parse-size",
        lambda: parse(b" " * (MAX_DOCUMENT + 1)),
        "web_push",
        f"a declarative push message is at most {MAX_DOCUMENT} octets (at most 4078 once "
        "compact); this one is longer",
    ),
    (
        "parse-utf8",
        lambda: parse(b'{"web_push": 8030, "x": "\xff"}'),
        "web_push",
        "a declarative push message is UTF-8 (RFC 8259 §8.1); this one is not (UTF-16 or "
        "UTF-32 are not read)",
    ),
    (
        "parse-nul",
        lambda: parse('{"web_push": 8030}'.encode("utf-16-le")),
        "web_push",
        "a declarative push message is UTF-8 JSON; this one holds NUL characters (UTF-16 or "
        "UTF-32 are not read)",
    ),
    (
        "parse-json",
        lambda: parse(b"[8030]"),
        "web_push",
        "a declarative push message is a JSON object",
    ),
    (
        "parse-web-push",
        lambda: parse(b'{"web_push": "8030"}'),
        "web_push",
        "web_push must be the integer 8030, got '8030'",
    ),
    (
        "parse-unknown",
        doc({}, extra=1),
        "web_push",
        "web_push must be alongside notification, app_badge, mutable only, got ['extra']",
    ),
    (
        "parse-notification",
        lambda: parse(b'{"web_push": 8030, "notification": []}'),
        "notification",
        "notification must be a JSON object, got 'list'",
    ),
    (
        "parse-member",
        doc({"requireinteraction": True}),
        "notification",
        "notification must be made of NotificationOptions' members, got ['requireinteraction']",
    ),
    (
        "parse-title",
        lambda: parse(b'{"web_push": 8030, "notification": {"navigate": "https://a.example/"}}'),
        "notification.title",
        "notification.title is required",
    ),
    (
        "parse-null",
        doc({"body": None}),
        "notification",
        "a declarative push message has no null members",
    ),
]


@pytest.mark.parametrize(("case", "call", "field", "words"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_word_for_word(
    case: str, call: Callable[[], object], field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        call()
    assert (caught.value.field, caught.value.message) == (field, words)


# What an error echoes of the value it refused: at most 120 characters.


def _unknown_keys(first: int, second: int) -> list[str]:
    return ["p" * first, "q" * second]


@pytest.mark.parametrize(("second", "clipped"), [(56, False), (57, True)])
def test_the_echo_at_its_limit_and_one_past(second: int, clipped: bool) -> None:
    keys = _unknown_keys(56, second)
    shown = repr(keys)  # ['ppp...', 'qqq...']: 120 characters, then 121
    assert len(shown) == 64 + second
    action = {**ACTION, **dict.fromkeys(keys, 1)}
    with pytest.raises(InvalidInput) as caught:
        message(TITLE, NAVIGATE, actions=[action])
    rule = "notification.actions[0] must be made of action, title, navigate and icon only, got "
    expected = shown[:117] + "..." if clipped else shown
    assert caught.value.message == rule + expected


# What the rules let through, at their limits


@pytest.mark.parametrize(
    "kwargs",
    [
        {"navigate": "https://app.example:1/"},
        {"navigate": "https://app.example:65535/"},
        {"vibrate": U32},
        {"vibrate": 0},
        {"vibrate": [0, U32]},
        {"timestamp": U64},
        {"app_badge": U64},
        {"app_badge": 0},
        {"lang": ""},
        {"lang": "en-US"},
        {"dir": "rtl"},
        {"renotify": True, "tag": "t"},
        {"silent": True},
        {"silent": False, "vibrate": [1]},
    ],
)
def test_each_limit_itself_is_allowed(kwargs: dict[str, Any]) -> None:
    built = build(**kwargs)()
    assert parse(bytes(built)) == built  # type: ignore[arg-type]


def test_an_integer_vibrate_is_kept_as_an_integer() -> None:
    built = message(TITLE, NAVIGATE, vibrate=200)
    assert built.as_json()["notification"]["vibrate"] == 200
    assert built.members.vibrate == 200
    listed = message(TITLE, NAVIGATE, vibrate=(100, 50))
    assert listed.as_json()["notification"]["vibrate"] == [100, 50]
    assert listed.members.vibrate == (100, 50)


def test_the_members_hold_what_was_given() -> None:
    plain = message(TITLE, NAVIGATE)
    assert (plain.members.actions, plain.members.app_badge, plain.members.mutable) == (
        (),
        None,
        None,
    )
    full = message(
        TITLE,
        NAVIGATE,
        actions=[Action("open", "Open", "https://app.example/a")],
        app_badge=3,
        mutable=True,
    )
    assert full.members.actions == (Action("open", "Open", "https://app.example/a"),)
    assert (full.members.app_badge, full.members.mutable) == (3, True)


def test_is_declarative_only_for_a_json_object_marked_8030() -> None:
    assert is_declarative(bytes(message(TITLE, NAVIGATE)))
    for payload in (b"not json", b"[8030]", b'{"web_push": 8031}', b"\xff", b"[" * 100_000):
        assert is_declarative(payload) is False


def _short_floats(raw_size: int) -> bytes:
    """A document whose 300 floats are written "1e9": its compact form (1000000000.0
    each) is 4001 octets, over aes128gcm's 3993 and within aesgcm's 4078; padded
    with white space to ``raw_size`` octets as received."""
    floats = ",".join(["1e9"] * 300)
    text = (
        '{"web_push":8030,"notification":{"title":"Hi","navigate":"https://app.example/inbox",'
        f'"data":{{"v":[{floats}]}}}}}}'
    )
    assert len(text) < raw_size
    return (text + " " * (raw_size - len(text))).encode()


def test_a_document_is_held_to_the_coding_its_size_says_it_came_in() -> None:
    # At most 3993 octets as received: it came as aes128gcm, whose record its
    # compact form overflows. One octet more: only aesgcm carries it, and it fits.
    with pytest.raises(PayloadTooLarge, match="at most 3993 fit in one aes128gcm"):
        parse(_short_floats(3993))
    assert len(parse(_short_floats(3994))) == 4001


@pytest.mark.parametrize("member", ["app_badge", "mutable"])
def test_a_null_top_member_is_refused(member: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        doc({}, **{member: None})()
    assert (caught.value.field, caught.value.message) == (
        "notification",
        "a declarative push message has no null members",
    )


def test_text_that_is_not_json_is_refused_as_such() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse(b'{"web_push": 8030,')
    assert (caught.value.field, caught.value.message) == (
        "web_push",
        "a declarative push message is a JSON object",
    )
