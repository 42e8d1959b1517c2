"""End to end: ``webpush`` / ``webpush_async`` deliver to real push services.

* web-push-testing (node, an independent implementation of a push service):
  it decrypts with its own ece and checks VAPID against the subscription's
  applicationServerKey. Both codings, every VAPID key form (``Vapid``,
  py_vapid instances, a key file path, PEM and raw base64url strings), the
  largest payloads, asyncio, and an expired subscription (410).
* our LocalPushService: the decrypted plaintext, TTL/Urgency/Topic and the
  VAPID claims it verified.
* PushClient.send_many to web-push-testing, with the helper process sealing.
"""

from __future__ import annotations

import asyncio
import pathlib
import random
import string
import time
from typing import Any, Callable

import py_vapid
import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from peers import (
    expire,
    get_notifications,
    subscribe,
    subscription_info,
    webpush_testing_server,  # noqa: F401 - pytest fixture
)
from webpush_core import (
    EndpointPolicy,
    ExpiredSubscription,
    PushClient,
    PushRejected,
    PushResponse,
    Subscription,
    WebPushException,
    webpush,
    webpush_async,
)
from webpush_core._b64 import b64url_encode
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import spawn as _spawn
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid, Vapid01

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}
CODINGS = ["aes128gcm", "aesgcm"]


def text_of(size: int, seed: int) -> str:
    """ASCII text of ``size`` bytes (web-push-testing hands messages back as text)."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


# -- the VAPID key forms a caller may pass ----------------------------------------


def _as_vapid(key: Vapid, tmp: pathlib.Path) -> Any:
    return key


def _as_vapid01(key: Vapid, tmp: pathlib.Path) -> Any:
    assert key.private_key is not None
    return Vapid01(key.private_key)


def _as_path(key: Vapid, tmp: pathlib.Path) -> Any:
    path = tmp / "vapid_private.pem"
    key.save_key(path)
    return str(path)


def _as_pathlike(key: Vapid, tmp: pathlib.Path) -> Any:
    path = tmp / "vapid_private.pem"
    key.save_key(path)
    return path


def _as_pem(key: Vapid, tmp: pathlib.Path) -> Any:
    return key.private_pem().decode()


def _as_raw(key: Vapid, tmp: pathlib.Path) -> Any:
    assert key.private_key is not None
    scalar = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    return b64url_encode(scalar)  # node web-push's generateVAPIDKeys().privateKey


def _as_der_b64url(key: Vapid, tmp: pathlib.Path) -> Any:
    assert key.private_key is not None
    der = key.private_key.private_bytes(
        Encoding.DER, PrivateFormat.TraditionalOpenSSL, NoEncryption()
    )
    return b64url_encode(der)  # what py_vapid's vapid --gen prints


def _as_py_vapid(cls: Any) -> Callable[[Vapid, pathlib.Path], Any]:
    def convert(key: Vapid, tmp: pathlib.Path) -> Any:
        signer = cls(private_key=key.private_key)
        return signer

    return convert


KEY_FORMS = {
    "Vapid": _as_vapid,
    "Vapid01": _as_vapid01,
    "py_vapid.Vapid01": _as_py_vapid(py_vapid.Vapid01),
    "py_vapid.Vapid02": _as_py_vapid(py_vapid.Vapid02),
    "path": _as_path,
    "pathlike": _as_pathlike,
    "pem-string": _as_pem,
    "raw-b64url-string": _as_raw,
    "der-b64url-string": _as_der_b64url,
}


# -- web-push-testing ----------------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("form", list(KEY_FORMS))
def test_delivered_with_every_key_form(
    webpush_testing_server: str,  # noqa: F811
    tmp_path: pathlib.Path,
    coding: str,
    form: str,
) -> None:
    key = Vapid.generate()
    peer_sub = subscribe(webpush_testing_server, key.application_server_key)
    message = f"{form} über {coding}"
    response = webpush(
        subscription_info(peer_sub),
        message,
        KEY_FORMS[form](key, tmp_path),
        CLAIMS,
        coding,
        ttl=60,
        endpoint_policy=LOCAL,
    )
    assert isinstance(response, PushResponse)
    assert response.status_code == 201
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == [message]


@pytest.mark.node
@pytest.mark.parametrize(("coding", "size"), [("aes128gcm", 3993), ("aesgcm", 4078)])
def test_largest_payload_delivered(
    webpush_testing_server: str,  # noqa: F811
    coding: str,
    size: int,
) -> None:
    key = Vapid.generate()
    peer_sub = subscribe(webpush_testing_server, key.application_server_key)
    message = text_of(size, seed=size)
    webpush(subscription_info(peer_sub), message, key, CLAIMS, coding, endpoint_policy=LOCAL)
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == [message]


@pytest.mark.node
@pytest.mark.parametrize("coding", CODINGS)
def test_without_vapid_when_the_subscription_has_no_key(
    webpush_testing_server: str,  # noqa: F811
    coding: str,
) -> None:
    peer_sub = subscribe(webpush_testing_server)
    webpush(
        subscription_info(peer_sub), "anonymous", content_encoding=coding, endpoint_policy=LOCAL
    )
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == ["anonymous"]


@pytest.mark.node
def test_async_sends_concurrently(webpush_testing_server: str) -> None:  # noqa: F811
    key = Vapid.generate()
    peer_subs = [subscribe(webpush_testing_server, key.application_server_key) for _ in range(6)]

    async def main() -> list[Any]:
        sends = [
            webpush_async(
                subscription_info(s),
                f"async {i}",
                key,
                CLAIMS,
                CODINGS[i % 2],
                ttl=30,
                endpoint_policy=LOCAL,
            )
            for i, s in enumerate(peer_subs)
        ]
        return await asyncio.gather(*sends)

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [201] * 6
    for i, s in enumerate(peer_subs):
        assert get_notifications(webpush_testing_server, s["clientHash"]) == [f"async {i}"]


@pytest.mark.node
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_expired_subscription_is_a_410_on_ex_response(
    webpush_testing_server: str,  # noqa: F811
    use_async: bool,
) -> None:
    key = Vapid.generate()
    peer_sub = subscribe(webpush_testing_server, key.application_server_key)
    info = subscription_info(peer_sub)
    webpush(info, "before", key, CLAIMS, endpoint_policy=LOCAL)
    expire(webpush_testing_server, peer_sub["clientHash"])

    with pytest.raises(ExpiredSubscription) as caught:
        if use_async:
            asyncio.run(webpush_async(info, "after", key, CLAIMS, endpoint_policy=LOCAL))
        else:
            webpush(info, "after", key, CLAIMS, endpoint_policy=LOCAL)
    ex = caught.value
    assert isinstance(ex, WebPushException)
    assert ex.response.status_code == 410
    assert bool(ex.response) is True
    # The clean-up idiom pywebpush users write (falsy there for any 4xx):
    cleaned = bool(ex.response and ex.response.status_code in (404, 410))
    assert cleaned
    assert ex.status_code == 410
    assert ex.endpoint == info["endpoint"]
    assert "unsubscribed or expired" in ex.response.text  # the service's own words
    assert "unsubscribed or expired" in str(ex)
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == ["before"]


@pytest.mark.node
def test_token_from_another_key_refused_by_the_peer(
    webpush_testing_server: str,  # noqa: F811
) -> None:
    peer_sub = subscribe(webpush_testing_server, Vapid.generate().application_server_key)
    with pytest.raises(PushRejected) as caught:  # the peer answers 400, not 401/403
        webpush(subscription_info(peer_sub), "x", Vapid.generate(), CLAIMS, endpoint_policy=LOCAL)
    assert caught.value.status_code == 400
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == []


@pytest.mark.node
def test_a_subscription_object_is_reusable(webpush_testing_server: str) -> None:  # noqa: F811
    key = Vapid.generate()
    peer_sub = subscribe(webpush_testing_server, key.application_server_key)
    parsed = Subscription.from_info(subscription_info(peer_sub))
    for i, coding in enumerate(CODINGS * 2):
        webpush(parsed, f"m{i}", key, CLAIMS, coding, endpoint_policy=LOCAL)
    assert get_notifications(webpush_testing_server, peer_sub["clientHash"]) == [
        "m0",
        "m1",
        "m2",
        "m3",
    ]


# -- our local push service -----------------------------------------------------------


@pytest.mark.parametrize("coding", CODINGS)
def test_local_service_sees_plaintext_options_and_claims(
    push_service: LocalPushService, coding: str
) -> None:
    key = Vapid.generate()
    sub = push_service.subscribe(key.application_server_key)
    claims = {"sub": "https://example.com/contact", "jti": "abc"}
    plaintext = bytes(range(256)) * 3  # binary, not only text
    response = webpush(
        sub,
        plaintext,
        key,
        claims,
        coding,
        ttl=3600,
        urgency="high",
        topic="scores",
        endpoint_policy=LOCAL,
    )
    assert response.status_code == 201
    assert response.location is not None and response.location.startswith(push_service.url)
    [message] = push_service.messages(sub)
    assert message.plaintext == plaintext
    assert message.encoding == coding
    assert (message.ttl, message.urgency, message.topic) == (3600, "high", "scores")
    assert message.vapid_claims is not None
    assert message.vapid_claims["aud"] == push_service.url
    assert message.vapid_claims["sub"] == "https://example.com/contact"
    assert message.vapid_claims["jti"] == "abc"
    assert time.time() < message.vapid_claims["exp"] <= time.time() + 24 * 3600


@pytest.mark.parametrize("coding", CODINGS)
def test_local_service_without_data_and_with_padding(
    push_service: LocalPushService, coding: str
) -> None:
    key = Vapid.generate()
    sub = push_service.subscribe(key.application_server_key)
    webpush(sub, None, key, CLAIMS, coding, endpoint_policy=LOCAL)
    webpush(sub, "short", key, CLAIMS, coding, pad_to=512, endpoint_policy=LOCAL)
    empty, padded = push_service.messages(sub)
    assert empty.plaintext == b"" and empty.body == b""
    assert padded.plaintext == b"short"
    assert len(padded.body) > 512


def test_local_service_async_and_expiry(push_service: LocalPushService) -> None:
    key = Vapid.generate()
    sub = push_service.subscribe(key.application_server_key)

    async def main() -> Any:
        return await webpush_async(sub, "from asyncio", key, CLAIMS, endpoint_policy=LOCAL)

    assert asyncio.run(main()).status_code == 201
    assert push_service.messages(sub)[0].plaintext == b"from asyncio"
    push_service.expire(sub)
    with pytest.raises(ExpiredSubscription) as caught:
        asyncio.run(main())
    assert caught.value.response.status_code == 410
    assert bool(caught.value.response) is True
    assert len(push_service.messages(sub)) == 1


def test_local_service_verifies_the_key_of_each_form(
    push_service: LocalPushService, tmp_path: pathlib.Path
) -> None:
    """Every key form signs with the same key: the service's applicationServerKey check passes."""
    key = Vapid.generate()
    sub = push_service.subscribe(key.application_server_key)
    for i, (form, convert) in enumerate(KEY_FORMS.items()):
        webpush(sub, form, convert(key, tmp_path), CLAIMS, CODINGS[i % 2], endpoint_policy=LOCAL)
    assert [m.text for m in push_service.messages(sub)] == list(KEY_FORMS)


def test_public_point_matches_application_server_key() -> None:
    """The helper forms above really are the same key (the tests would pass vacuously otherwise)."""
    key = Vapid.generate()
    signer = _as_py_vapid(py_vapid.Vapid02)(key, pathlib.Path("."))
    point = signer.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert b64url_encode(point) == key.application_server_key


# --------------------------------------------------------------------------
# PushClient's fan-out to web-push-testing


@pytest.mark.node
@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_send_many_reaches_every_peer_subscription(
    webpush_testing_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    coding: str,
) -> None:
    # A fan-out this long encrypts aes128gcm in the helper process too.
    monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    key = Vapid.generate()
    peer_subs = [subscribe(webpush_testing_server, key.application_server_key) for _ in range(20)]
    by_endpoint = {s["endpoint"]: s["clientHash"] for s in peer_subs}
    message = f"fan-out über {coding}"
    claims = {"sub": "mailto:ops@example.com"}
    with PushClient(
        key, claims, content_encoding=coding, ttl=60, concurrency=4, endpoint_policy=LOCAL
    ) as client:
        results = list(client.send_many([subscription_info(s) for s in peer_subs], message))
        helper_started = client._res.sealer.pid is not None
    assert len(results) == 20
    assert all(r.ok and r.status_code == 201 and r.attempts == 1 for r in results), results
    assert sorted(str(r.endpoint) for r in results) == sorted(by_endpoint)
    for client_hash in by_endpoint.values():
        assert get_notifications(webpush_testing_server, client_hash) == [message]
    if coding == "aes128gcm" and _spawn.cores() > 1:
        assert helper_started
