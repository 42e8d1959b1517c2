"""Smoke test of the peer fixture: web-push-testing starts, subscribes, receives, expires.

The pushes come from node web-push (an independent sender), so this proves
the fixture and the helpers before our own sender is involved.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from peers import (
    expire,
    get_notifications,
    node_send,
    subscribe,
    webpush_testing_server,  # noqa: F401 - pytest fixture
)
from webpush_core._b64 import b64url_encode

pytestmark = pytest.mark.node


def _vapid_keys() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return {
        "subject": "mailto:ops@example.com",
        "publicKey": b64url_encode(public),
        "privateKey": b64url_encode(private),
    }


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
@pytest.mark.parametrize("with_vapid", [True, False], ids=["vapid", "no-vapid"])
def test_node_push_reaches_web_push_testing(
    webpush_testing_server: str,  # noqa: F811
    coding: str,
    with_vapid: bool,
) -> None:
    vapid = _vapid_keys() if with_vapid else None
    sub = subscribe(webpush_testing_server, vapid["publicKey"] if vapid else None)
    assert sub["endpoint"].startswith(f"{webpush_testing_server}/notify/")
    assert set(sub["keys"]) == {"p256dh", "auth"}

    message = f"hello über {coding}"
    answer = node_send(sub, message.encode(), vapid=vapid, content_encoding=coding)
    assert answer["status"] == 201, answer["body"]
    assert get_notifications(webpush_testing_server, sub["clientHash"]) == [message]


def test_wrong_vapid_key_and_expiry(webpush_testing_server: str) -> None:  # noqa: F811
    vapid = _vapid_keys()
    sub = subscribe(webpush_testing_server, vapid["publicKey"])
    other: dict[str, Any] = _vapid_keys()
    refused = node_send(sub, b"signed by someone else", vapid=other)
    assert refused["status"] == 400  # web-push-testing answers 400, not 401/403
    assert get_notifications(webpush_testing_server, sub["clientHash"]) == []

    expire(webpush_testing_server, sub["clientHash"])
    gone = node_send(sub, b"too late", vapid=vapid)
    assert gone["status"] == 410
    assert get_notifications(webpush_testing_server, sub["clientHash"]) == []
