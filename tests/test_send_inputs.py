# ruff: noqa: E501 - the bad-input table reads best one case per line
"""Every bad input to a send raises a specific WebPushException subclass, before any byte is sent.

Each case sends to a capture server that records every request it gets (or
names an endpoint that, if the check failed, would be contacted or looked
up): it must record none. Each error must name the field (``.field``), state
the rule (a word of it is matched), and never echo the subscription's auth
secret or the VAPID private key.
"""

from __future__ import annotations

import asyncio
import base64
import os
import pathlib
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable

import py_vapid
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from servers.push_service import PushService
from test_send_wire import Browser, b64url, unb64url
from webpush_core import (
    EndpointNotAllowed,
    EndpointPolicy,
    InvalidInput,
    InvalidRequest,
    InvalidSubscription,
    PayloadTooLarge,
    VapidError,
    WebPusher,
    WebPushException,
    build_request,
    webpush,
    webpush_async,
)
from webpush_core.vapid import Vapid

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
VAPID = Vapid.generate()
VAPID_PEM = VAPID.private_pem().decode()
VAPID_RAW = b64url(VAPID.private_key.private_numbers().private_value.to_bytes(32, "big"))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def capture() -> Iterator[PushService]:
    with PushService() as server:
        yield server


@pytest.fixture
def browser(capture: PushService) -> Browser:
    return Browser.new(f"{capture.url}/push/sub1")


def _keys(browser: Browser, **changes: Any) -> dict[str, Any]:
    keys: dict[str, Any] = {"p256dh": b64url(browser.point), "auth": b64url(browser.auth)}
    keys.update(changes)
    return {k: v for k, v in keys.items() if v is not ...}


def _off_curve(browser: Browser) -> str:
    point = bytearray(browser.point)
    point[-1] ^= 1  # same x, wrong y: not on P-256
    return b64url(bytes(point))


def _compressed(browser: Browser) -> str:
    key = browser.private_key.public_key()
    return b64url(
        key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    )


def _pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class _StrSigner:
    """Has .sign(), but returns a string instead of headers."""

    def sign(self, claims: Any) -> str:
        return "vapid t=x"


# Each case: (id, change(browser, capture) -> webpush kwargs, error class, field, rule word).
# The base call is webpush(info, "hello", VAPID, {"sub": "mailto:ops@example.com"},
# endpoint_policy=LOCAL) to the capture server; a case overrides some of it.
Change = Callable[[Browser, PushService], dict[str, Any]]


def sub(**changes: Any) -> Change:
    """The subscription with some members replaced (``...`` removes one)."""

    def change(browser: Browser, capture: PushService) -> dict[str, Any]:
        info = browser.info()
        for k, v in changes.items():
            if v is ...:
                info.pop(k)
            else:
                info[k] = v(browser) if callable(v) else v
        return {"subscription_info": info}

    return change


def keys(**changes: Any) -> Change:
    def change(browser: Browser, capture: PushService) -> dict[str, Any]:
        resolved = {k: (v(browser) if callable(v) else v) for k, v in changes.items()}
        return {
            "subscription_info": {"endpoint": browser.endpoint, "keys": _keys(browser, **resolved)}
        }

    return change


def args(**kwargs: Any) -> Change:
    return lambda browser, capture: dict(kwargs)


def endpoint(url: str) -> Change:
    """Default policy (no LOCAL), this endpoint; ``{cap}`` is the capture server's host:port."""

    def change(browser: Browser, capture: PushService) -> dict[str, Any]:
        info = browser.info()
        info["endpoint"] = url.format(cap=capture.url.split("//", 1)[1])
        return {"subscription_info": info, "endpoint_policy": None}

    return change


NOW = int(time.time())
CASES: list[tuple[str, Change, type[WebPushException], str, str]] = [
    # -- the subscription: missing / ill-typed members
    ("sub-not-mapping", args(subscription_info="https://push.example.com/x"), InvalidSubscription, "subscription_info", "mapping"),
    ("sub-none", args(subscription_info=None), InvalidSubscription, "subscription_info", "mapping"),
    ("endpoint-missing", sub(endpoint=...), InvalidSubscription, "endpoint", "missing"),
    ("endpoint-int", sub(endpoint=443), InvalidSubscription, "endpoint", "string"),
    ("endpoint-relative", sub(endpoint="/push/x"), InvalidSubscription, "endpoint", "http"),
    ("endpoint-ftp", sub(endpoint="ftp://push.example.com/x"), InvalidSubscription, "endpoint", "http"),
    ("endpoint-space", sub(endpoint="https://push.example.com/a b"), InvalidSubscription, "endpoint", "space"),
    ("endpoint-crlf", sub(endpoint="https://push.example.com/a\r\nX: y"), InvalidSubscription, "endpoint", "control"),
    ("endpoint-bad-port", sub(endpoint="https://push.example.com:99999/x"), InvalidSubscription, "endpoint", "port"),
    ("keys-missing", sub(keys=...), InvalidSubscription, "keys", "missing"),  # with data
    ("keys-missing-padding", lambda b, c: {**sub(keys=...)(b, c), "data": None, "pad_to": 100}, InvalidSubscription, "keys", "send it no data"),
    ("keys-list", sub(keys=["p256dh", "auth"]), InvalidSubscription, "keys", "mapping"),
    ("p256dh-missing", keys(p256dh=...), InvalidSubscription, "keys.p256dh", "missing"),
    ("auth-missing", keys(auth=...), InvalidSubscription, "keys.auth", "missing"),
    ("p256dh-int", keys(p256dh=4), InvalidSubscription, "keys.p256dh", "string"),
    ("p256dh-non-ascii-bytes", keys(p256dh=lambda b: b64url(b.point).encode()[:-1] + b"\xe9"), InvalidSubscription, "keys.p256dh", "non-ASCII"),
    ("auth-none", keys(auth=None), InvalidSubscription, "keys.auth", "string"),
    # -- bad base64, wrong lengths, off-curve points
    ("p256dh-not-base64", keys(p256dh="BN%%%%"), InvalidSubscription, "keys.p256dh", "base64"),
    ("auth-not-base64", keys(auth="abc$def!"), InvalidSubscription, "keys.auth", "base64"),
    ("p256dh-64-bytes", keys(p256dh=lambda b: b64url(b.point[:64])), InvalidSubscription, "keys.p256dh", "65"),
    ("p256dh-66-bytes", keys(p256dh=lambda b: b64url(b.point + b"\0")), InvalidSubscription, "keys.p256dh", "65"),
    ("p256dh-compressed", keys(p256dh=_compressed), InvalidSubscription, "keys.p256dh", "65"),
    ("p256dh-off-curve", keys(p256dh=_off_curve), InvalidSubscription, "keys.p256dh", "curve"),
    ("p256dh-zero-point", keys(p256dh=b64url(b"\x04" + bytes(64))), InvalidSubscription, "keys.p256dh", "curve"),
    ("p256dh-bad-prefix", keys(p256dh=lambda b: b64url(b"\x05" + b.point[1:])), InvalidSubscription, "keys.p256dh", "uncompressed"),
    ("auth-15-bytes", keys(auth=b64url(bytes(15))), InvalidSubscription, "keys.auth", "16"),
    ("auth-17-bytes", keys(auth=b64url(bytes(17))), InvalidSubscription, "keys.auth", "16"),
    ("auth-empty", keys(auth=""), InvalidSubscription, "keys.auth", "16"),
    # -- the payload
    ("data-3994", args(data=b"x" * 3994), PayloadTooLarge, "data", "3993"),
    ("data-3994-utf8", args(data="é" * 1997), PayloadTooLarge, "data", "3994 bytes"),
    ("data-4079-aesgcm", args(data=b"x" * 4079, content_encoding="aesgcm"), PayloadTooLarge, "data", "4078"),
    ("data-max-payload", args(data=b"x" * 3071, max_payload=3070), PayloadTooLarge, "data", "3070"),
    ("data-dict", args(data={"title": "hi"}), InvalidRequest, "data", "json.dumps"),
    ("data-int", args(data=5), InvalidRequest, "data", "bytes or str"),
    ("max-payload-0", args(max_payload=0), InvalidRequest, "max_payload", "between"),
    ("max-payload-big", args(max_payload=5000), InvalidRequest, "max_payload", "between"),
    ("pad-to-big", args(pad_to=3994), InvalidRequest, "pad_to", "between"),
    ("pad-to-str", args(pad_to="100"), InvalidRequest, "pad_to", "between"),
    ("encoding-unknown", args(content_encoding="aesgcm128"), InvalidRequest, "content_encoding", "aes128gcm"),
    ("encoding-none", args(content_encoding=None), InvalidRequest, "content_encoding", "aes128gcm"),
    # -- TTL, Urgency, Topic
    ("ttl-negative", args(ttl=-1), InvalidRequest, "ttl", "8030"),
    ("ttl-float", args(ttl=1.5), InvalidRequest, "ttl", "whole"),
    ("ttl-bool", args(ttl=True), InvalidRequest, "ttl", "whole"),
    ("ttl-text", args(ttl="soon"), InvalidRequest, "ttl", "whole"),
    ("ttl-header-text", args(headers={"TTL": "soon"}), InvalidRequest, "ttl", "whole"),
    ("urgency-unknown", args(urgency="urgent"), InvalidRequest, "urgency", "very-low"),
    ("urgency-case", args(urgency="HIGH"), InvalidRequest, "urgency", "very-low"),
    ("urgency-int", args(urgency=1), InvalidRequest, "urgency", "very-low"),
    ("urgency-header", args(headers={"Urgency": "asap"}), InvalidRequest, "urgency", "very-low"),
    ("topic-33", args(topic="a" * 33), InvalidRequest, "topic", "32"),
    ("topic-empty", args(topic=""), InvalidRequest, "topic", "32"),
    ("topic-space", args(topic="a b"), InvalidRequest, "topic", "base64"),
    ("topic-padding", args(topic="abc="), InvalidRequest, "topic", "base64"),
    ("topic-slash", args(topic="a/b"), InvalidRequest, "topic", "base64"),
    ("topic-int", args(topic=7), InvalidRequest, "topic", "base64"),
    # -- header injection and ill-typed headers
    ("header-crlf-value", args(headers={"X-A": "a\r\nX-Evil: 1"}), InvalidRequest, "headers", "injection"),
    ("header-lf-value", args(headers={"X-A": "a\nb"}), InvalidRequest, "headers", "injection"),
    ("header-nul-value", args(headers={"X-A": "a\0b"}), InvalidRequest, "headers", "injection"),
    ("header-crlf-name", args(headers={"X-A\r\nX-Evil": "1"}), InvalidRequest, "headers", "token"),
    ("header-space-name", args(headers={"X A": "1"}), InvalidRequest, "headers", "token"),
    ("header-empty-name", args(headers={"": "1"}), InvalidRequest, "headers", "token"),
    ("header-int-name", args(headers={5: "1"}), InvalidRequest, "headers", "token"),
    ("header-list-value", args(headers={"X-A": ["1"]}), InvalidRequest, "headers", "str or a number"),
    ("header-none-value", args(headers={"X-A": None}), InvalidRequest, "headers", "str or a number"),
    ("header-non-ascii", args(headers={"X-A": "héllo"}), InvalidRequest, "headers", "ASCII"),
    ("header-emoji", args(headers={"X-A": "\U0001f514"}), InvalidRequest, "headers", "ASCII"),
    ("headers-list", args(headers=[("X-A", "1")]), InvalidRequest, "headers", "dict"),
    ("headers-str", args(headers="X-A: 1"), InvalidRequest, "headers", "dict"),
    # -- headers the library computes
    ("header-content-encoding", args(headers={"content-ENCODING": "gzip"}), InvalidRequest, "headers", "computed"),
    ("header-content-type", args(headers={"Content-Type": "text/plain"}), InvalidRequest, "headers", "computed"),
    ("header-content-length", args(headers={"Content-Length": "3"}), InvalidRequest, "headers", "computed"),
    ("header-encryption", args(headers={"Encryption": "salt=abc"}), InvalidRequest, "headers", "computed"),
    ("header-encryption-no-data", args(data=None, headers={"encryption": "salt=abc"}), InvalidRequest, "headers", "computed"),
    ("header-host", args(headers={"Host": "internal.example"}), InvalidRequest, "headers", "computed"),
    ("header-authorization-with-key", args(headers={"Authorization": "vapid t=x, k=y"}), InvalidRequest, "headers", "Authorization"),
    ("header-crypto-key-dh", args(content_encoding="aesgcm", headers={"Crypto-Key": "dh=abc"}), InvalidRequest, "headers", "dh="),
    ("header-crypto-key-p256ecdsa-with-key", args(content_encoding="aesgcm", headers={"Crypto-Key": "p256ecdsa=abc"}), InvalidRequest, "headers", "p256ecdsa"),
    ("header-transfer-encoding", args(headers={"Transfer-Encoding": "chunked"}), InvalidRequest, "headers", "computed"),
    ("header-duplicate-case", args(headers={"X-A": "1", "x-a": "2"}), InvalidRequest, "headers", "twice"),
    ("header-ttl-twice", args(headers={"TTL": "60", "ttl": "0"}), InvalidRequest, "headers", "twice"),
    ("ttl-twice", args(ttl=60, headers={"TTL": "61"}), InvalidRequest, "ttl", "twice"),
    ("urgency-twice", args(urgency="low", headers={"urgency": "high"}), InvalidRequest, "urgency", "twice"),
    ("topic-twice", args(topic="a", headers={"Topic": "b"}), InvalidRequest, "topic", "twice"),
    # -- VAPID claims
    ("claims-plain-email", args(vapid_claims={"sub": "ops@example.com"}), VapidError, "vapid_claims.sub", "mailto:"),
    ("claims-no-sub", args(vapid_claims={"exp": NOW + 600}), VapidError, "vapid_claims.sub", "sub"),
    ("claims-sub-http", args(vapid_claims={"sub": "http://example.com/contact"}), VapidError, "vapid_claims.sub", "https"),
    ("claims-sub-int", args(vapid_claims={"sub": 5}), VapidError, "vapid_claims.sub", "sub"),
    ("claims-sub-localhost", args(vapid_claims={"sub": "mailto:ops@localhost"}), VapidError, "vapid_claims.sub", "localhost"),
    ("claims-aud-other", args(vapid_claims={"sub": "mailto:a@example.com", "aud": "https://fcm.googleapis.com"}), VapidError, "vapid_claims.aud", "origin"),
    ("claims-aud-path", args(vapid_claims={"sub": "mailto:a@example.com", "aud": "{cap}/push"}), VapidError, "vapid_claims.aud", "origin"),
    ("claims-exp-25h", args(vapid_claims={"sub": "mailto:a@example.com", "exp": NOW + 25 * 3600}), VapidError, "vapid_claims.exp", "24 hours"),
    ("claims-exp-text", args(vapid_claims={"sub": "mailto:a@example.com", "exp": str(NOW + 60)}), VapidError, "vapid_claims.exp", "integer"),
    ("claims-not-dict", args(vapid_claims=[("sub", "mailto:a@example.com")]), VapidError, "vapid_claims", "dict"),
    ("claims-empty-with-key", args(vapid_claims={}), VapidError, "vapid_claims", "required"),
    ("claims-none-with-key", args(vapid_claims=None), VapidError, "vapid_claims", "required"),
    ("claims-without-key", args(vapid_private_key=None), VapidError, "vapid_private_key", "without"),
    # -- VAPID keys
    ("key-garbage", args(vapid_private_key="not a key at all"), VapidError, "vapid_private_key", "not a key"),
    ("key-empty", args(vapid_private_key="  "), VapidError, "vapid_private_key", "key string"),
    ("key-int", args(vapid_private_key=42), VapidError, "vapid_private_key", "Vapid instance"),
    ("key-bytes", args(vapid_private_key=VAPID_PEM.encode()), VapidError, "vapid_private_key", "Vapid instance"),
    ("key-zero-scalar", args(vapid_private_key=b64url(bytes(32))), VapidError, "vapid_private_key", "range"),
    ("key-scalar-over-n", args(vapid_private_key=b64url(b"\xff" * 32)), VapidError, "vapid_private_key", "range"),
    ("key-short-scalar", args(vapid_private_key=b64url(bytes(31) + b"\1")[:-2]), VapidError, "vapid_private_key", "not a key"),
    ("key-truncated-pem", args(vapid_private_key=VAPID_PEM[: len(VAPID_PEM) // 2]), VapidError, "vapid_private_key", "PEM"),
    ("key-p384-pem", args(vapid_private_key=_pem(ec.generate_private_key(ec.SECP384R1()))), VapidError, "vapid_private_key", "P-256"),
    ("key-ed25519-pem", args(vapid_private_key=_pem(ed25519.Ed25519PrivateKey.generate())), VapidError, "vapid_private_key", "P-256"),
    ("key-missing-file", args(vapid_private_key="/nonexistent/vapid_private.pem"), VapidError, "vapid_private_key", "no key file"),
    ("key-public-only", args(vapid_private_key=Vapid.from_raw_public(VAPID.application_server_key)), VapidError, "vapid_private_key", "only a public key"),
    ("key-py-vapid-without-key", args(vapid_private_key=py_vapid.Vapid02()), VapidError, "vapid_private_key", "sign() failed"),
    ("key-signer-returns-str", args(vapid_private_key=_StrSigner()), VapidError, "vapid_private_key", "dict of headers"),
    ("key-missing-pathlike", args(vapid_private_key=pathlib.Path("/nonexistent/k")), VapidError, "vapid_private_key", "no key file"),
    # -- unsafe endpoints under the default policy
    ("endpoint-http", endpoint("http://{cap}/push/x"), EndpointNotAllowed, "endpoint", "https"),
    ("endpoint-loopback", endpoint("https://127.0.0.1/push/x"), EndpointNotAllowed, "endpoint", "IP address"),
    ("endpoint-loopback-capture", endpoint("https://{cap}/push/x"), EndpointNotAllowed, "endpoint", "port"),
    ("endpoint-private-10", endpoint("https://10.1.2.3/push/x"), EndpointNotAllowed, "endpoint", "IP address"),
    ("endpoint-metadata", endpoint("https://169.254.169.254/latest/meta-data/"), EndpointNotAllowed, "endpoint", "IP address"),
    ("endpoint-ipv6-loopback", endpoint("https://[::1]/push/x"), EndpointNotAllowed, "endpoint", "IP address"),
    ("endpoint-decimal-ip", endpoint("https://2130706433/push/x"), EndpointNotAllowed, "endpoint", "IP address"),
    ("endpoint-localhost", endpoint("https://localhost/push/x"), EndpointNotAllowed, "endpoint", "internal"),
    ("endpoint-internal-name", endpoint("https://metadata.google.internal/x"), EndpointNotAllowed, "endpoint", "internal"),
    ("endpoint-userinfo", endpoint("https://user:pw@push.example.com/x"), EndpointNotAllowed, "endpoint", "userinfo"),
    ("endpoint-port-8443", endpoint("https://push.example.com:8443/x"), EndpointNotAllowed, "endpoint", "port 8443"),
    # -- the transport's own arguments
    ("timeout-zero", args(timeout=0), InvalidRequest, "timeout", "positive"),
    ("timeout-negative", args(timeout=-1), InvalidRequest, "timeout", "positive"),
    ("timeout-nan", args(timeout=float("nan")), InvalidRequest, "timeout", "positive"),
    ("timeout-text", args(timeout="10"), InvalidRequest, "timeout", "positive"),
]  # fmt: skip


def _call(browser: Browser, capture: PushService, change: Change) -> dict[str, Any]:
    call: dict[str, Any] = {
        "subscription_info": browser.info(),
        "data": "hello",
        "vapid_private_key": VAPID,
        "vapid_claims": {"sub": "mailto:ops@example.com"},
        "endpoint_policy": LOCAL,
    }
    call.update(change(browser, capture))
    claims = call.get("vapid_claims")
    if isinstance(claims, dict) and isinstance(claims.get("aud"), str):
        claims["aud"] = claims["aud"].format(cap=capture.url)
    return call


def _secrets(browser: Browser) -> list[str]:
    numbers = VAPID.private_key.private_numbers()  # type: ignore[union-attr]
    scalar = numbers.private_value.to_bytes(32, "big")
    return [
        b64url(browser.auth),
        base64.b64encode(browser.auth).decode(),
        browser.auth.hex(),
        b64url(scalar),
        scalar.hex(),
        VAPID_PEM.splitlines()[1],
    ]


@pytest.mark.parametrize(
    ("change", "error", "field", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_refused_before_sending(
    capture: PushService,
    browser: Browser,
    change: Change,
    error: type[WebPushException],
    field: str,
    rule: str,
) -> None:
    call = _call(browser, capture, change)
    sent_before = len(capture.requests)
    with pytest.raises(error) as caught:
        webpush(**call)
    assert len(capture.requests) == sent_before, "a request reached the server"
    exc = caught.value
    assert type(exc) is error  # the specific class, not a parent
    assert isinstance(exc, InvalidInput) and isinstance(exc, ValueError)
    assert exc.field == field
    assert rule.lower() in exc.message.lower(), exc.message
    assert exc.response is None and exc.status_code is None
    for text in (str(exc), repr(exc), exc.message):
        for secret in _secrets(browser):
            assert secret not in text


def test_table_covers_every_input_error_class() -> None:
    classes = {c[2] for c in CASES}
    assert classes == {
        InvalidSubscription,
        PayloadTooLarge,
        InvalidRequest,
        VapidError,
        EndpointNotAllowed,
    }


def test_name_resolving_to_a_private_address_refused(
    capture: PushService, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public-looking name pointing at an internal address: refused after the lookup,
    before connecting (the name is made to resolve to the capture server's address)."""
    host = "push.attacker-controlled.example"
    real = socket.getaddrinfo

    def fake(name: str, port: Any, *a: Any, **kw: Any) -> Any:
        if name == host:
            return real("127.0.0.1", capture.port, *a, **kw)
        return real(name, port, *a, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    info = browser.info()
    info["endpoint"] = f"https://{host}/push/x"
    sent_before = len(capture.requests)
    with pytest.raises(EndpointNotAllowed) as caught:
        webpush(info, "hello")
    assert caught.value.field == "endpoint"
    assert "127.0.0.1" in caught.value.message
    assert len(capture.requests) == sent_before


# -- the other entry points refuse the same way -------------------------------------

SOME = [c for c in CASES if c[0] in {
    "p256dh-off-curve", "keys-missing", "data-3994", "ttl-negative", "topic-33",
    "header-crlf-value", "header-content-encoding", "endpoint-metadata", "endpoint-userinfo",
}]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "error", "field"), [c[1:4] for c in SOME], ids=[c[0] for c in SOME]
)
def test_other_entry_points_refuse_too(
    capture: PushService,
    browser: Browser,
    change: Change,
    error: type[WebPushException],
    field: str,
) -> None:
    call = _call(browser, capture, change)
    sent_before = len(capture.requests)

    with pytest.raises(error) as caught:
        asyncio.run(webpush_async(**call))
    assert caught.value.field == field

    with pytest.raises(error):
        webpush(**call, curl=True)  # the curl command is not built either

    request_args = {k: v for k, v in call.items() if k not in ("timeout",)}
    if call.get("endpoint_policy") is None:
        # build_request only checks the endpoint when given a policy.
        request_args["endpoint_policy"] = EndpointPolicy()
    with pytest.raises(error):
        build_request(**request_args)

    def pusher_send() -> None:
        pusher = WebPusher(call["subscription_info"])
        pusher.send(
            call.get("data"),
            call.get("headers"),
            call.get("ttl", 0),
            call.get("content_encoding", "aes128gcm"),
            topic=call.get("topic"),
            endpoint_policy=call.get("endpoint_policy"),
        )

    with pytest.raises(error):
        pusher_send()
    assert len(capture.requests) == sent_before


def test_a_good_call_does_reach_the_server(capture: PushService, browser: Browser) -> None:
    """The control for the table: the same base call, unchanged, is sent and decrypts."""
    sent_before = len(capture.requests)
    webpush(**_call(browser, capture, args()))
    assert len(capture.requests) == sent_before + 1
    assert browser.decrypt(capture.requests[-1]) == b"hello"


@pytest.mark.parametrize("size", [3993])
def test_limits_are_inclusive(capture: PushService, browser: Browser, size: int) -> None:
    webpush(browser.info(), os.urandom(size), endpoint_policy=LOCAL)
    webpush(browser.info(), os.urandom(4078), content_encoding="aesgcm", endpoint_policy=LOCAL)
    webpush(browser.info(), b"x" * 3070, max_payload=3070, endpoint_policy=LOCAL)
    webpush(browser.info(), b"x", pad_to=3993, endpoint_policy=LOCAL)
    assert len(capture.requests[-4].body) == len(capture.requests[-1].body)
    assert [len(browser.decrypt(r)) for r in capture.requests[-4:]] == [size, 4078, 3070, 1]


def test_raw_and_pem_key_strings_and_unb64url_helper(
    capture: PushService, browser: Browser
) -> None:
    """Sanity of the helpers used above: the good key strings do work."""
    for key in (VAPID_PEM, VAPID_RAW):
        webpush(browser.info(), "k", key, {"sub": "mailto:ops@example.com"}, endpoint_policy=LOCAL)
        auth = capture.requests[-1].headers["authorization"]
        assert auth.endswith(f"k={VAPID.application_server_key}")
    assert unb64url(VAPID.application_server_key)[0] == 4
