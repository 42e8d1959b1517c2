"""The declarative parser and builder against documents written to break them.

A declarative message read back (``parse``, the local test service's
``ReceivedMessage.declarative``) may come from anyone: a lone surrogate, 10 MB
of unknown members, a UTF-16 document, a URL whose host Python's ``urlsplit``
and a browser read differently. Each is refused with ``InvalidInput`` naming
the member, its error short, at the size limit and one past it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from webpush_core import EndpointPolicy, InvalidInput, webpush
from webpush_core import declarative as dwp
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
NAVIGATE = "https://app.example/inbox"
# What the limit is, read from the module when it has one (the examples below
# also run, and fail, on a version without it).
LIMIT = getattr(dwp, "MAX_DOCUMENT", 16384)
MAX_ERROR = 300  # characters of an error message, whatever the document


def document(notification: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "web_push": 8030,
        "notification": {"title": "t", "navigate": NAVIGATE, **notification},
        **top,
    }


def encoded(doc: dict[str, Any], **dumps: Any) -> bytes:
    return json.dumps(doc, **dumps).encode("utf-8")


# -- lone surrogates ------------------------------------------------------------------

SURROGATE_MEMBERS = [
    ("notification.title", {"title": "\ud800"}),
    ("notification.body", {"body": "ok \udfff"}),
    ("notification.tag", {"tag": "\udbff\udbff"}),
    ("notification.navigate", {"navigate": "https://app.example/\ud800"}),
    ("notification.icon", {"icon": "https://app.example/\udc00.png"}),
    ("notification.data", {"data": {"k": ["\ud800"]}}),
    ("notification.data", {"data": {"\udfff": 1}}),
    (
        "notification.actions[0].title",
        {"actions": [{"action": "a", "title": "\ud83d", "navigate": NAVIGATE}]},
    ),
]


@pytest.mark.parametrize(("field", "members"), SURROGATE_MEMBERS)
def test_a_lone_surrogate_in_a_parsed_document_is_invalid_input(
    field: str, members: dict[str, Any]
) -> None:
    doc = document(members)
    # As JSON escapes in UTF-8 bytes (what arrives in a push), and as a str.
    for payload in (encoded(doc), json.dumps(doc)):
        with pytest.raises(InvalidInput) as info:
            dwp.parse(payload)
        assert info.value.field in (field, "web_push"), info.value
        assert len(str(info.value)) <= MAX_ERROR


def test_a_lone_surrogate_in_a_parsed_document_names_the_member() -> None:
    with pytest.raises(InvalidInput) as info:
        dwp.parse(encoded(document({"body": "ok \udfff"})))
    assert info.value.field == "notification.body"
    assert "surrogate" in info.value.message
    # A str holding one raw cannot be UTF-8 at all: the whole document is refused.
    with pytest.raises(InvalidInput) as info:
        dwp.parse(json.dumps(document({"body": "x"}), ensure_ascii=False).replace("x", "\ud800"))
    assert info.value.field == "web_push" and "surrogate" in info.value.message


@pytest.mark.parametrize(("field", "members"), SURROGATE_MEMBERS)
def test_a_lone_surrogate_given_to_message_is_invalid_input(
    field: str, members: dict[str, Any]
) -> None:
    kwargs = {"title": "t", "navigate": NAVIGATE, **members}
    with pytest.raises(InvalidInput) as info:
        dwp.message(**kwargs)
    assert info.value.field == field
    assert len(str(info.value)) <= MAX_ERROR


def test_received_message_repr_survives_a_lone_surrogate() -> None:
    """Through the local service: the push decrypts, its repr and error say what is wrong."""
    payload = encoded(document({"title": "\ud800"}))
    with LocalPushService() as service:
        sub = service.subscribe()
        webpush(sub, payload, endpoint_policy=LOCAL)
        (received,) = service.messages(sub)
    shown = repr(received)
    assert "declarative=invalid" in shown
    assert received.declarative is None
    assert received.declarative_error is not None
    assert received.declarative_error.startswith("notification.title:")


# -- size, and what an error echoes ------------------------------------------------------


def padded_to(size: int, doc: dict[str, Any]) -> bytes:
    """``doc`` as JSON of exactly ``size`` octets (spaces before the closing brace)."""
    raw = encoded(doc)
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_a_document_at_the_size_limit_parses_and_one_octet_more_is_refused() -> None:
    doc = document({"body": "b" * 100})
    at_limit = padded_to(LIMIT, doc)
    assert len(at_limit) == LIMIT
    assert dwp.parse(at_limit).members.body == "b" * 100
    assert dwp.parse(at_limit.decode()).members.body == "b" * 100
    for over in (padded_to(LIMIT + 1, doc), padded_to(LIMIT + 1, doc).decode()):
        with pytest.raises(InvalidInput) as info:
            dwp.parse(over)
        assert info.value.field == "web_push"
        assert str(LIMIT) in info.value.message


@pytest.mark.parametrize("where", ["top", "notification", "action"])
def test_ten_megabytes_of_unknown_members_give_a_short_error(where: str) -> None:
    keys = {f"unknown-member-{i:08d}": i for i in range(10 * 1024 * 1024 // 30)}
    if where == "top":
        doc = {**document({}), **keys}
    elif where == "notification":
        doc = document(keys)
    else:
        doc = document({"actions": [{"action": "a", "title": "t", "navigate": NAVIGATE, **keys}]})
    raw = encoded(doc)
    assert len(raw) > 10 * 1024 * 1024
    with pytest.raises(InvalidInput) as info:
        dwp.parse(raw)
    assert len(str(info.value)) <= MAX_ERROR, len(str(info.value))


@pytest.mark.parametrize("where", ["top", "notification", "action"])
def test_unknown_members_up_to_the_size_limit_give_a_short_error(where: str) -> None:
    keys: dict[str, int] = {}
    base = {"top": document({}), "notification": document({}), "action": document({})}[where]
    while True:  # as many unknown members as fit in the limit
        keys[f"k{len(keys):06d}" + "x" * 40] = 1
        if where == "top":
            doc = {**base, **keys}
        elif where == "notification":
            doc = document(keys)
        else:
            doc = document(
                {"actions": [{"action": "a", "title": "t", "navigate": NAVIGATE, **keys}]}
            )
        if len(encoded(doc)) > LIMIT - 60:
            break
    raw = encoded(doc)
    assert LIMIT - 60 < len(raw) <= LIMIT
    with pytest.raises(InvalidInput) as info:
        dwp.parse(raw)
    assert len(str(info.value)) <= MAX_ERROR, len(str(info.value))
    # The builder echoes as little, however large the value it refuses.
    with pytest.raises(InvalidInput) as info:
        dwp.message(
            "t", NAVIGATE, actions=[{"action": "a", "title": "t", "navigate": NAVIGATE, **keys}]
        )
    assert len(str(info.value)) <= MAX_ERROR, len(str(info.value))
    with pytest.raises(InvalidInput) as info:
        dwp.message("t", NAVIGATE, dir="x" * 10_000_000)
    assert len(str(info.value)) <= MAX_ERROR, len(str(info.value))


# -- URLs a browser reads differently ------------------------------------------------------

URL_MEMBERS = [
    ("notification.navigate", lambda url: {"navigate": url}),
    ("notification.image", lambda url: {"image": url}),
    ("notification.icon", lambda url: {"icon": url}),
    ("notification.badge", lambda url: {"badge": url}),
    (
        "notification.actions[0].navigate",
        lambda url: {"actions": [{"action": "a", "title": "t", "navigate": url}]},
    ),
    (
        "notification.actions[0].icon",
        lambda url: {"actions": [{"action": "a", "title": "t", "navigate": NAVIGATE, "icon": url}]},
    ),
]
MISREAD_URLS = [
    "https://evil.example\\@good.example/",  # a browser: host evil.example; urlsplit: good.example
    "https://evil.example\\good.example/",
    "https://good.example/a\\b",
    "https:\\\\evil.example/",
    "https://user@good.example/",
    "https://user:secret@good.example/",
    "https://evil.example%2f@good.example/",
    "https://evil%2Eexample/",
]


@pytest.mark.parametrize("url", MISREAD_URLS)
@pytest.mark.parametrize(("field", "member"), URL_MEMBERS, ids=[f for f, _ in URL_MEMBERS])
def test_a_url_member_with_backslashes_or_userinfo_is_refused(
    field: str, member: Any, url: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        dwp.parse(encoded(document(member(url))))
    assert info.value.field == field
    with pytest.raises(InvalidInput) as info:
        dwp.message(**{"title": "t", "navigate": NAVIGATE, **member(url)})
    assert info.value.field == field


@pytest.mark.parametrize(
    "url",
    [
        "https://good.example/path@with-at",
        "https://good.example/?q=a%5Cb",
        "https://good.example:8443/x#frag@x",
        "https://xn--bcher-kva.example/",
    ],
)
def test_url_members_without_either_are_still_accepted(url: str) -> None:
    assert dwp.parse(encoded(document({"navigate": url}))).members.navigate == url


# -- not UTF-8 --------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_a_document_that_is_not_utf8_is_refused(codec: str) -> None:
    raw = json.dumps(document({"body": "caf\u00e9"}), ensure_ascii=False).encode(codec)
    with pytest.raises(InvalidInput) as info:
        dwp.parse(raw)
    assert info.value.field == "web_push"
    assert "UTF-8" in info.value.message


def test_invalid_utf8_octets_are_refused_and_a_bom_is_ignored() -> None:
    doc = json.dumps(document({"body": "caf\u00e9"}), ensure_ascii=False)
    with pytest.raises(InvalidInput, match="UTF-8"):
        dwp.parse(doc.encode("latin-1"))
    with pytest.raises(InvalidInput, match="UTF-8"):
        dwp.parse(doc.encode("utf-8").replace("\u00e9".encode(), b"\xed\xa0\x80"))  # CESU
    # A browser's UTF-8 decode drops a leading byte order mark: so does parse().
    assert dwp.parse(b"\xef\xbb\xbf" + doc.encode()).members.body == "caf\u00e9"
