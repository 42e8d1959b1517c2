"""Declarative Web Push: the builder, the validator, and a round trip through the local service.

The spec examples are the W3C Push API's ("Declarative push message", from
w3c/push-api pull request 385 "Add Declarative Web Push" and 402 "Add app
badge to Declarative Web Push"); member rules from its "declarative push
message parser" and the Notifications API's "create a notification".
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from webpush_core import EndpointPolicy, InvalidInput, PayloadTooLarge, PushClient, build_request
from webpush_core import declarative as dwp
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)

# The spec's example, as printed in the Push API's "Declarative push message" section.
SPEC_EXAMPLE = {
    "web_push": 8030,
    "notification": {
        "title": "Ada emailed \u2018London\u2019",
        "lang": "en-US",
        "dir": "ltr",
        "body": "Did you hear about the tube strikes?",
        "navigate": "https://email.example/message/12",
    },
}


def spec_example() -> dwp.DeclarativeMessage:
    return dwp.message(
        "Ada emailed \u2018London\u2019",
        "https://email.example/message/12",
        lang="en-US",
        dir="ltr",
        body="Did you hear about the tube strikes?",
    )


def full() -> dwp.DeclarativeMessage:
    return dwp.message(
        "Your order shipped",
        "https://shop.example/orders/7",
        body="Arrives Tuesday",
        lang="en",
        dir="auto",
        tag="order-7",
        image="https://shop.example/img/7.png",
        icon="https://shop.example/icon.png",
        badge="https://shop.example/badge.png",
        vibrate=[100, 50, 100],
        timestamp=1_760_000_000_000,
        renotify=True,
        require_interaction=True,
        data={"order": 7, "items": ["a", "b"]},
        actions=[
            dwp.Action("track", "Track", "https://shop.example/orders/7/track"),
            {"action": "help", "title": "Help", "navigate": "https://shop.example/help"},
        ],
        app_badge=3,
        mutable=True,
    )


def test_spec_example_builds_byte_for_byte() -> None:
    msg = spec_example()
    assert msg.as_json() == SPEC_EXAMPLE
    # Compact, deterministic: sorted keys, no spaces, UTF-8 (not \\u escapes).
    assert (
        bytes(msg)
        == json.dumps(
            SPEC_EXAMPLE, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert b" " not in bytes(msg).replace(b"Ada emailed", b"").split(b'"body"')[0]
    assert bytes(spec_example()) == bytes(msg) and spec_example() == msg
    assert isinstance(msg, bytes) and repr(msg) == f"<DeclarativeMessage {len(msg)} bytes>"


def test_every_member_on_the_wire() -> None:
    doc = full().as_json()
    assert doc["web_push"] == 8030 and doc["app_badge"] == 3 and doc["mutable"] is True
    n = doc["notification"]
    # NotificationOptions' names on the wire
    assert n["requireInteraction"] is True and "require_interaction" not in n
    assert n["vibrate"] == [100, 50, 100] and n["timestamp"] == 1_760_000_000_000
    assert n["actions"] == [
        {"action": "track", "title": "Track", "navigate": "https://shop.example/orders/7/track"},
        {"action": "help", "title": "Help", "navigate": "https://shop.example/help"},
    ]
    assert n["data"] == {"order": 7, "items": ["a", "b"]}


@pytest.mark.parametrize("build", [spec_example, full])
def test_parse_round_trip(build: Any) -> None:
    msg = build()
    again = dwp.parse(bytes(msg))
    assert again == msg and again.members == msg.members
    assert pickle.loads(pickle.dumps(msg)) == msg  # noqa: S301 - a task queue's serializer


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": 5}, "notification.title"),
        ({"navigate": "http://app.example/x"}, "notification.navigate"),
        ({"navigate": "/relative"}, "notification.navigate"),
        ({"navigate": "https://"}, "notification.navigate"),
        ({"navigate": "https://app.example/a b"}, "notification.navigate"),
        ({"navigate": "javascript:alert(1)"}, "notification.navigate"),
        ({"dir": "up"}, "notification.dir"),
        ({"lang": "english please"}, "notification.lang"),
        ({"body": b"bytes"}, "notification.body"),
        ({"icon": "ftp://x.example/i.png"}, "notification.icon"),
        ({"vibrate": -1}, "notification.vibrate"),
        ({"vibrate": [100, "x"]}, "notification.vibrate[1]"),
        ({"vibrate": 2**32}, "notification.vibrate"),
        ({"timestamp": 1.5}, "notification.timestamp"),
        ({"timestamp": -1}, "notification.timestamp"),
        ({"renotify": "yes"}, "notification.renotify"),
        ({"renotify": True}, "notification.renotify"),  # needs a tag
        ({"silent": True, "vibrate": 100}, "notification.vibrate"),
        ({"require_interaction": 1}, "notification.require_interaction"),
        ({"data": {"x": float("nan")}}, "notification.data"),
        ({"data": {"x": object()}}, "notification.data"),
        ({"actions": "open"}, "notification.actions"),
        ({"actions": [{"action": "a", "title": "A"}]}, "notification.actions[0].navigate"),
        (
            {"actions": [{"action": "a", "title": "A", "navigate": "http://x.example"}]},
            "notification.actions[0].navigate",
        ),
        (
            {"actions": [{"action": "a", "title": "A", "navigate": "https://x.example", "x": 1}]},
            "notification.actions[0]",
        ),
        ({"app_badge": -1}, "app_badge"),
        ({"app_badge": 2**64}, "app_badge"),
        ({"app_badge": True}, "app_badge"),
        ({"mutable": "no"}, "mutable"),
        ({"content_encoding": "gzip"}, "content_encoding"),
    ],
)
def test_bad_members_refused_by_name(kwargs: dict[str, Any], field: str) -> None:
    args = {"title": "t", "navigate": "https://app.example/", **kwargs}
    with pytest.raises(InvalidInput) as info:
        dwp.message(**args)
    assert info.value.field == field
    assert field.split("[", 1)[0].rsplit(".", 1)[-1] in str(info.value)


def test_limits_of_the_integer_members() -> None:
    top = dwp.message("t", "https://a.example/", app_badge=2**64 - 1, timestamp=2**64 - 1)
    assert top.as_json()["app_badge"] == 2**64 - 1
    assert dwp.message("t", "https://a.example/", app_badge=0).members.app_badge == 0


def test_size_checked_against_the_content_coding() -> None:
    # The encoded JSON, not the body alone, must fit one record (RFC 8291 §4).
    overhead = len(dwp.message("t", "https://a.example/", body=""))
    fits = dwp.message("t", "https://a.example/", body="x" * (3993 - overhead))
    assert len(fits) == 3993
    with pytest.raises(PayloadTooLarge) as info:
        dwp.message("t", "https://a.example/", body="x" * (3994 - overhead))
    assert info.value.field == "data" and "3994" in str(info.value)
    # aesgcm's record holds more
    assert (
        len(
            dwp.message(
                "t", "https://a.example/", body="x" * (4078 - overhead), content_encoding="aesgcm"
            )
        )
        == 4078
    )
    # non-ASCII counts in UTF-8 octets
    with pytest.raises(PayloadTooLarge):
        dwp.message("t", "https://a.example/", body="\u00e9" * 2000)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (b"not json", "web_push"),
        (b"[1]", "web_push"),
        ({"web_push": 9001, "notification": {}}, "web_push"),  # the early draft's number
        ({"web_push": True, "notification": {}}, "web_push"),
        ({"web_push": 8030}, "notification"),
        ({"web_push": 8030, "notification": {"title": "t"}}, "notification.navigate"),
        (
            {"web_push": 8030, "notification": {"navigate": "https://a.example"}},
            "notification.title",
        ),
        (
            {
                "web_push": 8030,
                "notification": {"title": "t", "navigate": "https://a.example", "url": "x"},
            },
            "notification",
        ),
        (
            {
                "web_push": 8030,
                "notification": {"title": "t", "navigate": "https://a.example"},
                "x": 1,
            },
            "web_push",
        ),
        (
            {
                "web_push": 8030,
                "notification": {"title": "t", "navigate": "https://a.example"},
                "app_badge": -2,
            },
            "app_badge",
        ),
        (
            {
                "web_push": 8030,
                "notification": {"title": "t", "navigate": "https://a.example", "body": None},
            },
            "notification",
        ),
    ],
)
def test_parse_refuses_by_name(document: Any, field: str) -> None:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(InvalidInput) as info:
        dwp.parse(raw)
    assert info.value.field == field


def test_same_headers_as_any_payload() -> None:
    # Content-Type and every other header stay as for bytes: only the body differs.
    service_sub = {
        "endpoint": "https://push.example.com/x",
        "keys": {
            "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1X"
            "bjhazAkj7I99e8QcYP7DkM",
            "auth": "tBHItJI5svbpez7KI4CCXg",
        },
    }
    msg = spec_example()
    a = build_request(service_sub, msg, ttl=60)
    b = build_request(service_sub, bytes(msg), ttl=60)
    assert a.headers == b.headers  # same length too: only the ciphertext differs
    assert a.headers.get("Content-Encoding") == "aes128gcm"


@pytest.mark.parametrize("encoding", ["aes128gcm", "aesgcm"])
def test_round_trip_through_the_local_service(encoding: str) -> None:
    vapid = Vapid()
    with LocalPushService() as service:
        sub = service.subscribe()
        plain = service.subscribe()
        with PushClient(
            vapid,
            {"sub": "mailto:ops@example.com"},
            content_encoding=encoding,
            endpoint_policy=LOCAL,
        ) as client:
            msg = full()
            assert client.send(sub, msg).ok
            assert client.send(plain, b'{"title": "not declarative"}').ok
            bad = json.dumps({"web_push": 8030, "notification": {"title": "t"}})
            assert client.send(plain, bad).ok  # the service accepts it; a browser would not show it
        received = service.messages(sub)[0]
        assert received.plaintext == bytes(msg)
        assert received.declarative == msg and received.declarative is not None
        assert received.declarative.members.navigate == "https://shop.example/orders/7"
        assert received.declarative_error is None and "declarative=yes" in repr(received)
        first, second = service.messages(plain)
        assert first.declarative is None and first.declarative_error is None
        assert "declarative=no" in repr(first)
        assert second.declarative is None
        assert second.declarative_error is not None
        assert second.declarative_error.startswith("notification.navigate")
        assert "declarative=invalid" in repr(second)
