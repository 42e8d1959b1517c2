"""Subscription keys given as base64url ``bytes`` (what ``base64.urlsafe_b64encode``
returns, and what applications written for pywebpush store) work wherever a
subscription is read; non-ASCII bytes are refused, naming the field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from webpush_core import InvalidSubscription, PushClient, Subscription, WebPusher, webpush
from webpush_core._b64 import b64url_decode
from webpush_core.testing import LocalPushService


def as_bytes(sub: dict[str, Any], *, padded: bool = True) -> dict[str, Any]:
    """The subscription with its keys as base64url bytes, as pywebpush users store them."""
    keys = {}
    for name, text in sub["keys"].items():
        raw = base64.urlsafe_b64encode(b64url_decode(text))
        keys[name] = raw if padded else raw.rstrip(b"=")
    return {**sub, "keys": keys}


@pytest.fixture
def service() -> Any:
    with LocalPushService() as svc:
        yield svc


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_every_sender_reads_bytes_keys(service: LocalPushService, padded: bool) -> None:
    text_sub = service.subscribe()
    sub = as_bytes(text_sub, padded=padded)
    assert isinstance(sub["keys"]["p256dh"], bytes)
    parsed = Subscription.from_info(sub)
    assert parsed == Subscription.from_info(text_sub)
    assert Subscription.fields(sub) == Subscription.fields(text_sub)
    policy = service.endpoint_policy

    webpush(sub, "webpush", endpoint_policy=policy)
    pusher = WebPusher(sub)
    assert (pusher.receiver_key, pusher.auth_key) == (parsed.p256dh, parsed.auth)
    pusher.send("WebPusher", endpoint_policy=policy)
    # The fan-out parses without loading the point first (Subscription.fields).
    with PushClient(endpoint_policy=policy, helper_process=False) as client:
        [result] = client.send_many([sub], "PushClient")
        assert result.ok, result.error
        assert client.send(sub, "send").ok
    assert [m.text for m in service.messages(text_sub)] == [
        "webpush",
        "WebPusher",
        "PushClient",
        "send",
    ]


@pytest.mark.parametrize("name", ["p256dh", "auth"])
def test_non_ascii_bytes_refused_before_sending(service: LocalPushService, name: str) -> None:
    sub = as_bytes(service.subscribe())
    sub["keys"][name] = sub["keys"][name][:-2] + "é".encode()
    with pytest.raises(InvalidSubscription) as caught:
        webpush(sub, "x", endpoint_policy=service.endpoint_policy)
    assert caught.value.field == f"keys.{name}"
    assert "non-ASCII bytes" in caught.value.message
    with PushClient(endpoint_policy=service.endpoint_policy, helper_process=False) as client:
        [result] = client.send_many([sub], "x")
    assert isinstance(result.error, InvalidSubscription)
    assert result.error.field == f"keys.{name}" and result.reason == "invalid-input"
    assert service.requests == []


def test_celery_dispatch_carries_bytes_keys_as_text(service: LocalPushService) -> None:
    pytest.importorskip("celery")
    from webpush_core.celery._batch import compact

    text_sub = service.subscribe()
    origin, item = compact(7, as_bytes(text_sub))
    assert origin == service.url
    # The task message is JSON: the keys travel as text, decoding to the same bytes.
    assert item[:2] == [7, text_sub["endpoint"]]
    assert [b64url_decode(k) for k in item[2:]] == [
        b64url_decode(text_sub["keys"]["p256dh"]),
        b64url_decode(text_sub["keys"]["auth"]),
    ]
    assert all(isinstance(k, str) for k in item[2:])
    bad = as_bytes(text_sub)
    bad["keys"]["auth"] = b"\xff" * 22
    with pytest.raises(InvalidSubscription, match="non-ASCII bytes") as caught:
        compact(0, bad)
    assert caught.value.field == "keys.auth"
    bad["keys"]["auth"] = 16
    with pytest.raises(InvalidSubscription) as caught:
        compact(0, bad)
    assert caught.value.field == "keys.auth"
