"""The pieces PushClient's fan-out is made of, one by one.

* ``encrypt_message(..., ua_point=)`` and the one-record aes128gcm path:
  byte-exact against RFC 8291 Appendix A, and decrypted by http_ece (an
  independent implementation) with padding;
* ``Subscription.fields`` (every from_info check but loading the point) and
  the consistency a directly built Subscription must have;
* ``prepare_message`` + ``MessagePlan.build``: the same requests and the
  same errors as ``build_request``;
* the helper process (``_sealer``): bodies that decrypt, a bad point
  marked, a clean exit;
* the request line's split of the endpoint URL, against urlsplit.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from webpush_core import build_request, ece
from webpush_core._b64 import b64url_decode, b64url_encode
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery import spawn as _spawn
from webpush_core._origin import origin_of
from webpush_core._p256 import generate_private_key, private_key_from_scalar, uncompressed_point
from webpush_core._request import plan as request_plan
from webpush_core._request.build import prepare_message
from webpush_core._subscription import Subscription
from webpush_core._wire.exchange import split_url
from webpush_core.ece._message import seal_aes128gcm_message
from webpush_core.errors import ECEError, InvalidSubscription, WebPushException
from webpush_core.vapid import Vapid

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "rfc-vectors.json").read_text()
)
A = VECTORS["rfc8291_appendix_a"]
UA = generate_private_key()
POINT = uncompressed_point(UA.public_key())
AUTH = os.urandom(16)
ENDPOINT = "https://push.example.net/push/abc"
INFO = {"endpoint": ENDPOINT, "keys": {"p256dh": b64url_encode(POINT), "auth": b64url_encode(AUTH)}}
VAPID = Vapid()
CLAIMS = {"sub": "mailto:ops@example.com"}


def oracle_decrypt(body: bytes, key: ec.EllipticCurvePrivateKey = UA, auth: bytes = AUTH) -> bytes:
    return bytes(
        http_ece.decrypt(body, private_key=key, dh=None, auth_secret=auth, version="aes128gcm")
    )


# --------------------------------------------------------------------------
# Encryption


def test_rfc8291_body_byte_exact_with_a_loaded_key_and_its_point() -> None:
    ua_point = b64url_decode(A["ua_public"])
    ua_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_point)
    message = ece.encrypt_message(
        A["plaintext"].encode(),
        ua_key,
        b64url_decode(A["auth_secret"]),
        salt=b64url_decode(A["salt"]),
        private_key=private_key_from_scalar(b64url_decode(A["as_private"])),
        ua_point=ua_point,
    )
    assert message.body == b64url_decode(A["body"])
    assert message.as_public == b64url_decode(A["as_public"])


@pytest.mark.parametrize("padding", [0, 1, 100, 3993 - 11])
def test_one_record_path_decrypts_with_http_ece(padding: int) -> None:
    body = seal_aes128gcm_message(b"hello world", UA.public_key(), POINT, AUTH, padding)
    assert oracle_decrypt(body) == b"hello world"
    assert len(body) == 21 + 65 + len(b"hello world") + 1 + padding + 16


def test_fresh_key_and_salt_every_message() -> None:
    bodies = [seal_aes128gcm_message(b"x", UA.public_key(), POINT, AUTH) for _ in range(20)]
    assert len({b[:16] for b in bodies}) == 20  # salt
    assert len({b[21:86] for b in bodies}) == 20  # keyid: the ephemeral public key


@pytest.mark.parametrize(
    "ua_point",
    [POINT[:64], b"\x03" + POINT[1:], bytearray(POINT), "not bytes"],
    ids=["short", "prefix", "bytearray", "str"],
)
def test_bad_ua_point_is_refused(ua_point: Any) -> None:
    with pytest.raises(ECEError, match="ua_point"):
        ece.encrypt_message(b"x", UA.public_key(), AUTH, ua_point=ua_point)


def test_ua_point_with_a_key_off_p256_is_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ECEError, match="P-256"):
        ece.encrypt_message(b"x", p384, AUTH, ua_point=POINT)


# --------------------------------------------------------------------------
# Subscriptions


def test_fields_are_from_infos_without_the_load() -> None:
    sub = Subscription.from_info(INFO)
    assert Subscription.fields(INFO) == (sub.endpoint, sub.origin, sub.p256dh, sub.auth)
    assert Subscription.fields(sub) == Subscription.fields(INFO)
    assert sub.origin == "https://push.example.net"


_y = (int.from_bytes(POINT[33:], "big") + 1) % 2**256
OFF_CURVE = b64url_encode(POINT[:33] + _y.to_bytes(32, "big"))
BAD_INFOS: list[Any] = [
    "text",
    {"keys": INFO["keys"]},
    {"endpoint": ENDPOINT + " x", "keys": INFO["keys"]},
    {"endpoint": "https://:443/x", "keys": INFO["keys"]},
    {"endpoint": "https://h:99999/x", "keys": INFO["keys"]},
    {"endpoint": ENDPOINT, "keys": []},
    {"endpoint": ENDPOINT, "keys": {"p256dh": INFO["keys"]["p256dh"]}},
    {"endpoint": ENDPOINT, "keys": {"auth": INFO["keys"]["auth"], "p256dh": "!!"}},
    {"endpoint": ENDPOINT, "keys": {"auth": "AAAA", "p256dh": INFO["keys"]["p256dh"]}},
    {"endpoint": ENDPOINT, "keys": {"auth": INFO["keys"]["auth"], "p256dh": INFO["keys"]["auth"]}},
]


@pytest.mark.parametrize("info", BAD_INFOS)
def test_fields_refuse_what_from_info_refuses(info: Any) -> None:
    with pytest.raises(InvalidSubscription) as full:
        Subscription.from_info(info)
    with pytest.raises(InvalidSubscription) as light:
        Subscription.fields(info)
    assert (light.value.field, light.value.message) == (full.value.field, full.value.message)


def test_fields_refuse_a_subscription_without_keys_as_its_encryption_would() -> None:
    """from_info accepts it (pushes without data); fields is for encrypting, so it refuses
    it with the error a build with data gives."""
    info = {"endpoint": ENDPOINT}
    sub = Subscription.from_info(info)
    with pytest.raises(InvalidSubscription) as full:
        sub.require_keys()
    for given in (info, sub):
        with pytest.raises(InvalidSubscription) as light:
            Subscription.fields(given)
        assert (light.value.field, light.value.message) == (full.value.field, full.value.message)


def test_fields_leave_the_curve_check_to_the_load() -> None:
    info = {"endpoint": ENDPOINT, "keys": {"p256dh": OFF_CURVE, "auth": INFO["keys"]["auth"]}}
    assert Subscription.fields(info)[2] == b64url_decode(OFF_CURVE)
    with pytest.raises(InvalidSubscription, match="not on the P-256 curve"):
        Subscription.from_info(info)


def test_a_built_subscription_must_be_consistent() -> None:
    other = generate_private_key().public_key()
    with pytest.raises(InvalidSubscription, match="not the key"):
        Subscription(ENDPOINT, POINT, AUTH, other)
    with pytest.raises(InvalidSubscription, match="P-256"):
        Subscription(ENDPOINT, POINT, AUTH, ec.generate_private_key(ec.SECP384R1()).public_key())
    sub = Subscription(ENDPOINT, POINT, AUTH, UA.public_key())
    assert sub == Subscription.from_info(INFO)


# --------------------------------------------------------------------------
# The message plan


def test_plan_builds_what_build_request_builds() -> None:
    sub = Subscription.from_info(INFO)
    for coding in ("aes128gcm", "aesgcm"):
        args: tuple[Any, ...] = (b"data", VAPID, CLAIMS, coding, 60, "high", "t1")
        extra = {"X-Custom": "1", "Crypto-Key": "keyid=p1"} if coding == "aesgcm" else {}
        direct = build_request(INFO, *args, headers=extra or None, pad_to=100)
        planned = prepare_message(*args, headers=extra or None, pad_to=100).build(sub)
        assert planned.url == direct.url and planned.method == direct.method == "POST"
        assert len(planned.body) == len(direct.body)
        volatile = {"Encryption", "Crypto-Key"}  # salt and dh= differ per message
        assert {k: v for k, v in planned.headers.items() if k not in volatile} == {
            k: v for k, v in direct.headers.items() if k not in volatile
        }
        assert list(planned.headers) == list(direct.headers)  # same order too
        if coding == "aesgcm":
            ck = planned.headers["Crypto-Key"].split(";")
            assert ck[0].startswith("dh=") and ck[1] == "keyid=p1"
            assert ck[2].startswith("p256ecdsa=")
        else:
            assert oracle_decrypt(planned.body) == b"data"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content_encoding": "aes256"},
        {"ttl": -1},
        {"urgency": "soon"},
        {"topic": "has space"},
        {"data": 12},
        {"data": b"x" * 4000},
        {"headers": {"Content-Type": "text/plain"}},
        {"headers": {"TTL": "5", "ttl": "6"}},
        {"pad_to": 5000},
        {"max_payload": 0},
        {"vapid_private_key": None, "vapid_claims": CLAIMS},
        {"vapid_claims": {}},
        {"vapid_private_key": "not a key"},
    ],
)
def test_plan_raises_what_build_request_raises(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"data": b"x", "vapid_private_key": VAPID, "vapid_claims": CLAIMS}
    args.update(kwargs)
    with pytest.raises(WebPushException) as direct:
        build_request(INFO, **args)
    with pytest.raises(WebPushException) as planned:
        prepare_message(**args)
    assert type(planned.value) is type(direct.value)
    assert planned.value.message == direct.value.message


def test_plan_checks_aud_per_subscription() -> None:
    plan = prepare_message(b"x", VAPID, {**CLAIMS, "aud": "https://push.example.net"})
    assert plan.build(Subscription.from_info(INFO)).headers["Authorization"].startswith("vapid ")
    other = {**INFO, "endpoint": "https://fcm.googleapis.com/fcm/send/x"}
    with pytest.raises(WebPushException) as info:
        plan.build(Subscription.from_info(other))
    assert info.value.field == "vapid_claims.aud"  # type: ignore[attr-defined]


def test_plan_reuses_the_origins_token_and_keeps_few() -> None:
    plan = prepare_message(b"x", VAPID, CLAIMS)
    first = plan.build(Subscription.from_info(INFO)).headers["Authorization"]
    again = plan.build(Subscription.from_info(INFO)).headers["Authorization"]
    assert first == again
    for i in range(3 * request_plan._PLAN_TOKEN_ORIGINS):
        plan.build(Subscription.from_info({**INFO, "endpoint": f"https://p{i}.example.net/x"}))
        assert len(plan._tokens) <= request_plan._PLAN_TOKEN_ORIGINS


def test_plan_asks_the_signer_again_after_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(request_plan.time, "monotonic", lambda: now[0])
    calls: list[str] = []
    sign_headers = Vapid.sign_headers

    def counting(self: Vapid, claims: Any, *, scheme: str) -> dict[str, str]:
        calls.append(claims["aud"])
        return sign_headers(self, claims, scheme=scheme)

    monkeypatch.setattr(Vapid, "sign_headers", counting)
    plan = prepare_message(b"x", VAPID, CLAIMS)
    sub = Subscription.from_info(INFO)
    plan.build(sub)
    now[0] += request_plan._PLAN_TOKEN_SECONDS - 1
    plan.build(sub)
    assert len(calls) == 1
    now[0] += 2
    plan.build(sub)
    assert len(calls) == 2


# --------------------------------------------------------------------------
# The helper process


@pytest.mark.skipif(_spawn._python_executable() is None, reason="no Python executable")
def test_helper_process_encrypts_and_marks_bad_points() -> None:
    sealer = _sealer.Sealer()
    sealer.start()
    try:
        ready = threading.Event()
        for _ in range(500):
            if sealer.ready or sealer.failed:
                break
            ready.wait(0.02)
        assert sealer.ready, "the helper did not start"
        keys = [generate_private_key() for _ in range(5)]
        auths = [os.urandom(16) for _ in keys]
        pairs = [(uncompressed_point(k.public_key()), a) for k, a in zip(keys, auths)]
        pairs[3] = (b64url_decode(OFF_CURVE), auths[3])
        got: list[Optional[list[Optional[bytes]]]] = []
        done = threading.Event()
        assert sealer.submit(b"from the helper", 7, pairs, lambda b: (got.append(b), done.set()))
        assert done.wait(10)
        bodies = got[0]
        assert bodies is not None and len(bodies) == 5 and bodies[3] is None
        for i in (0, 1, 2, 4):
            body = bodies[i]
            assert body is not None
            assert oracle_decrypt(body, keys[i], auths[i]) == b"from the helper"
            assert len(body) == 21 + 65 + 15 + 1 + 7 + 16
        proc = sealer._proc
    finally:
        sealer.close()
    assert proc is not None and proc.returncode == 0  # it exited by itself
    assert not sealer.submit(b"x", 0, pairs, lambda b: None)  # no longer taken


# --------------------------------------------------------------------------
# The request target


@pytest.mark.parametrize(
    "url",
    [
        "https://push.example.net/wpush/v2/gAAAAA",
        "https://fcm.googleapis.com/fcm/send/abc:APA91b?x=1&y=%20",
        "HTTPS://Push.Example.NET:8443",
        "https://h?only=query",
        "https://h#fragment",
        "https://h/p#f?not-query",
        "http://[::1]:8080/p",
        "https://user@h/p",
        "https://h/p;params/more",
    ],
)
def test_split_agrees_with_urlsplit(url: str) -> None:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    origin, got = split_url(url)
    assert got == target
    assert origin == origin_of(url)
    assert (origin.scheme, origin.host, origin.port) == (
        parts.scheme,
        parts.hostname,
        parts.port or {"http": 80, "https": 443}[parts.scheme],
    )


def test_split_percent_encodes_non_ascii() -> None:
    assert split_url("https://h/päth?q=ü")[1] == "/p%C3%A4th?q=%C3%BC"
