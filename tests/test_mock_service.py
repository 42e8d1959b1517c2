"""MockPushService: what replaces ``patch("requests.post")`` in an application's tests.

Every sender is answered by it while it is active, with no socket connected and
no name looked up (both are made to fail here); each request is captured with
its headers, body and timeout, and decrypts; the endpoint policy's URL rules
still apply; leaving the ``with`` block gives the network back.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from webpush_core import (
    ECEError,
    EndpointNotAllowed,
    EndpointPolicy,
    InvalidInput,
    PushClient,
    WebPusher,
    make_pool_manager,
    webpush,
    webpush_async,
)
from webpush_core._b64 import b64url_encode
from webpush_core.testing import CapturedRequest, LocalPushService, MockPushService, _mock
from webpush_core.vapid import Vapid

CLAIMS = {"sub": "mailto:ops@example.com"}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection or lookup fails the test (AssertionError is no WebPushException)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"network use: {args[:2]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture
def key() -> Vapid:
    return Vapid.generate()


def own_subscription(endpoint: str) -> tuple[dict[str, Any], ec.EllipticCurvePrivateKey, bytes]:
    """A subscription of the application's own test data: keys it made itself."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    point = private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    auth = b"0123456789abcdef"
    sub = {
        "endpoint": endpoint,
        "keys": {"p256dh": b64url_encode(point), "auth": b64url_encode(auth)},
    }
    return sub, private_key, auth


def test_every_sender_is_answered_without_a_network(no_network: None, key: Vapid) -> None:
    with MockPushService() as push:
        sub = push.subscribe(key.application_server_key)
        assert webpush(sub, "webpush", key, CLAIMS).status_code == 201
        headers = key.sign({**CLAIMS, "aud": push.url})
        assert WebPusher(sub).send("send", headers).status_code == 201

        async def async_senders() -> None:
            assert (await webpush_async(sub, "webpush_async", key, CLAIMS)).status_code == 201
            assert (await WebPusher(sub).send_async("send_async", headers)).status_code == 201
            with PushClient(key, CLAIMS, helper_process=False) as client:
                assert (await client.send_async(sub, "PushClient.send_async")).ok
                results = [r async for r in client.send_many_async([sub], "send_many_async")]
                assert results[0].ok

        asyncio.run(async_senders())
        for pool in (None, make_pool_manager()):
            with PushClient(key, CLAIMS, helper_process=False, pool_manager=pool) as client:
                assert client.send(sub, f"PushClient.send {pool is None}").ok
                assert all(r.ok for r in client.send_many([sub, sub], "send_many"))
    texts = [m.text for m in push.messages(sub)]
    assert texts[:6] == [
        "webpush",
        "send",
        "webpush_async",
        "send_async",
        "PushClient.send_async",
        "send_many_async",
    ]
    assert sorted(texts[6:]) == sorted(
        ["PushClient.send True", "PushClient.send False"] + ["send_many"] * 4
    )
    assert len(push.requests) == 12
    for captured in push.requests:
        assert captured.status == 201 and captured.message is not None
        assert captured.vapid_claims is not None and captured.vapid_claims["aud"] == push.url


def test_captured_requests_replace_the_mock_post_assertions(no_network: None, key: Vapid) -> None:
    """What pywebpush's tests read from mock_post.call_args, read from push.requests."""
    sub, private_key, auth = own_subscription("https://fcm.googleapis.com/fcm/send/abc")
    with MockPushService() as push:
        webpush(
            sub,
            "Mary had a little lamb",
            key,
            CLAIMS,
            "aesgcm",
            headers={"Test-Header": "test-value"},
            timeout=5.2,
        )
        WebPusher(sub).send(None, {"Crypto-Key": "pre-existing", "Authentication": "bearer"})
    first, empty = push.requests
    assert isinstance(first, CapturedRequest)
    assert first.url == sub["endpoint"] and first.method == "POST" and first.timeout == 5.2
    assert first.headers.get("ttl") == first.headers["TTL"] == "0"
    assert first.headers["content-encoding"] == "aesgcm"
    assert first.headers["test-header"] == "test-value"
    assert "dh=" in first.headers["crypto-key"]
    assert first.vapid_claims is not None
    assert first.vapid_claims["aud"] == "https://fcm.googleapis.com"
    # Someone else's subscription: accepted (201), and the keys it was made with decrypt it.
    assert first.status == 201 and first.message is None
    assert first.decrypt(private_key, auth) == b"Mary had a little lamb"
    assert first.decrypt(private_key, b64url_encode(auth)) == b"Mary had a little lamb"
    with pytest.raises(ECEError):
        first.decrypt(ec.generate_private_key(ec.SECP256R1()), auth)
    with pytest.raises(ECEError, match="auth_secret"):
        first.decrypt(private_key, "not*base64")
    assert empty.body == b"" and "encryption" not in empty.headers
    assert empty.headers["crypto-key"] == "pre-existing"
    assert empty.headers["authentication"] == "bearer"
    assert empty.decrypt(private_key, auth) == b""
    # Neither the token nor the body shows in a repr.
    text = repr(first)
    assert "vapid" not in text.lower() and "eyJ" not in text and str(len(first.body)) not in text


def test_the_endpoint_policy_still_applies(no_network: None) -> None:
    with MockPushService() as push:
        for endpoint in ("http://push.example.net/p", "https://10.0.0.5/p", "https://localhost/p"):
            sub, _, _ = own_subscription(endpoint)
            with pytest.raises(EndpointNotAllowed):
                webpush(sub, "x")
            with PushClient(helper_process=False) as client:
                assert isinstance(client.send(sub, "x").error, EndpointNotAllowed)
        # A policy that allows it: captured (the local service's endpoints, say).
        sub, _, _ = own_subscription("http://127.0.0.1:9/push/1")
        webpush(sub, "x", endpoint_policy=EndpointPolicy.for_testing())
    assert [r.url for r in push.requests] == ["http://127.0.0.1:9/push/1"]


def test_leaving_gives_the_network_back() -> None:
    with LocalPushService() as local:
        sub = local.subscribe()
        with MockPushService() as push:
            webpush(sub, "mocked", endpoint_policy=local.endpoint_policy)
        webpush(sub, "real", endpoint_policy=local.endpoint_policy)
        assert [m.text for m in local.messages(sub)] == ["real"]
        assert [r.url for r in push.requests] == [sub["endpoint"]]
        assert len(local.requests) == 1


def test_the_last_started_answers_and_stopping_is_idempotent(no_network: None) -> None:
    outer, inner = MockPushService(), MockPushService("https://fcm.googleapis.com")
    with outer:
        sub = outer.subscribe()
        with inner:
            webpush(sub, "to the inner one")
        inner.stop()
        webpush(sub, "to the outer one")
    outer.stop()
    assert [r.url for r in inner.requests] == [sub["endpoint"]]
    assert [m.text for m in outer.messages(sub)] == ["to the outer one"]
    assert inner.subscribe()["endpoint"].startswith("https://fcm.googleapis.com/push/")
    assert "stopped" in repr(outer)


def test_a_subscription_for_fcm_passes_the_known_services_policy(no_network: None) -> None:
    with MockPushService("https://fcm.googleapis.com") as push:
        sub = push.subscribe()
        webpush(sub, "x", endpoint_policy=EndpointPolicy.known_push_services())
    assert push.messages(sub)[0].text == "x"


@pytest.mark.parametrize(
    "origin",
    [
        "push.example.net",
        "ftp://push.example.net",
        "https://push.example.net/path",
        "https://user@push.example.net",
        "https://",
        5,
    ],
)
def test_bad_origins(origin: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        MockPushService(origin)
    assert caught.value.field == "origin"


def test_captured_requests_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_mock, "MAX_CAPTURED", 3)
    with MockPushService() as push:
        sub = push.subscribe()
        for i in range(5):
            webpush(sub, str(i))
    assert [r.message.text for r in push.requests if r.message] == ["2", "3", "4"]


def test_the_pytest_fixture(push_mock: MockPushService, no_network: None) -> None:
    sub = push_mock.subscribe()
    push_mock.answer(410)
    with PushClient(helper_process=False) as client:
        result = client.send(sub, "x")
    assert result.expired and result.action == "delete"


@pytest.fixture
def running_mock() -> Iterator[MockPushService]:
    with MockPushService() as push:
        yield push


def test_a_vapid_check_failure_is_answered_like_a_push_service(
    running_mock: MockPushService, key: Vapid
) -> None:
    sub = running_mock.subscribe(key.application_server_key)
    with pytest.raises(Exception) as caught:
        webpush(sub, "x", Vapid.generate(), CLAIMS)  # another key than the subscription's
    assert caught.value.status_code == 403  # type: ignore[attr-defined]
    assert running_mock.requests[-1].status == 403 and running_mock.messages(sub) == []
