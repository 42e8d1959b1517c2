"""What ``webpush`` puts on the wire, seen by a capture server (RFC 8030 §5, RFC 8291, RFC 8292).

The capture server (the shared PushService on 127.0.0.1) records each
request's method, path, headers and body and answers 201. The bodies are
decrypted with http_ece and the VAPID tokens verified with PyJWT: both are
independent implementations, used here as oracles.

Also: the caller's headers and subscription are never mutated, its claims
dict only gets the ``exp`` pywebpush writes into it (never an ``aud``), and a
claims dict shared by two push services gives each its own ``aud``.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import http_ece
import jwt
import py_vapid
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from servers.loopback import Request
from servers.push_service import Answer, PushService
from webpush_core import EndpointNotAllowed, EndpointPolicy, WebPusher, build_request, webpush
from webpush_core._request.keys import load_vapid_key
from webpush_core.vapid import Vapid

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}
# What urllib3 / http.client add on their own; everything else is ours.
TRANSPORT_HEADERS = {"host", "accept-encoding", "user-agent", "content-length"}


@pytest.fixture
def capture() -> Iterator[PushService]:
    """The capture server: records every request (``Request``: method, path, lower-case
    headers, body, the client's address) and answers 201 with an empty body."""
    with PushService() as server:
        yield server


# -- a browser's side, built with cryptography (not with webpush_core) ----------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """A subscriber: its key pair and auth secret, and the subscription it hands out."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    endpoint: str

    @classmethod
    def new(cls, endpoint: str) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16), endpoint)

    @property
    def point(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )

    def info(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(self.point), "auth": b64url(self.auth)},
        }

    def decrypt(self, captured: Request) -> bytes:
        """Decrypt with http_ece (the oracle), from the wire headers only."""
        coding = captured.headers["content-encoding"]
        if coding == "aes128gcm":
            out: bytes = http_ece.decrypt(
                captured.body,
                private_key=self.private_key,
                auth_secret=self.auth,
                version="aes128gcm",
            )
            return out
        params = dict(p.split("=", 1) for p in captured.headers["encryption"].split(";"))
        crypto_key = dict(p.split("=", 1) for p in captured.headers["crypto-key"].split(";"))
        out = http_ece.decrypt(
            captured.body,
            salt=unb64url(params["salt"]),
            private_key=self.private_key,
            dh=unb64url(crypto_key["dh"]),
            auth_secret=self.auth,
            version="aesgcm",
        )
        return out


def origin_of(url: str) -> str:
    return "/".join(url.split("/")[:3])


def verify_vapid(captured: Request, scheme: str) -> tuple[dict[str, Any], str]:
    """Verify the token with PyJWT; return (claims, base64url public key)."""
    authorization = captured.headers["authorization"]
    if scheme == "vapid":
        assert authorization.startswith("vapid ")
        params = dict(p.strip().split("=", 1) for p in authorization[len("vapid ") :].split(","))
        assert set(params) == {"t", "k"}
        token, key = params["t"], params["k"]
    else:
        assert authorization.startswith("WebPush ")
        token = authorization[len("WebPush ") :]
        parts = dict(p.split("=", 1) for p in captured.headers["crypto-key"].split(";"))
        key = parts["p256ecdsa"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    claims: dict[str, Any] = jwt.decode(
        token,
        public,
        algorithms=["ES256"],
        audience=origin_of(captured_url(captured)),
        options={"require": ["exp", "aud", "sub"]},
    )
    return claims, key


def captured_url(captured: Request) -> str:
    return "http://" + captured.headers["host"] + captured.path


# -- aes128gcm ------------------------------------------------------------------


def test_aes128gcm_exact_headers_and_body(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/push/abc?x=1")
    vapid = Vapid.generate()
    message = "héllo wire".encode()
    response = webpush(browser.info(), message, vapid, CLAIMS, ttl=120, endpoint_policy=LOCAL)
    assert response.status_code == 201

    [seen] = capture.requests
    assert (seen.method, seen.path) == ("POST", "/push/abc?x=1")
    assert set(seen.headers) - TRANSPORT_HEADERS == {
        "ttl",
        "content-encoding",
        "content-type",
        "authorization",
    }
    assert seen.headers["ttl"] == "120"
    assert seen.headers["content-encoding"] == "aes128gcm"
    assert seen.headers["content-type"] == "application/octet-stream"
    assert int(seen.headers["content-length"]) == len(seen.body)
    # RFC 8188 §2.1 header: salt(16) rs(4) idlen(1) keyid(65: the sender's public point).
    assert int.from_bytes(seen.body[16:20], "big") == 4096
    assert seen.body[20] == 65 and seen.body[21] == 0x04
    assert browser.decrypt(seen) == message

    claims, k = verify_vapid(seen, "vapid")
    assert k == vapid.application_server_key
    assert claims["aud"] == capture.url
    assert claims["sub"] == CLAIMS["sub"]
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_aesgcm_exact_headers_and_body(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/push/legacy")
    vapid = Vapid.generate()
    message = b"legacy coding"
    webpush(browser.info(), message, vapid, CLAIMS, "aesgcm", ttl=0, endpoint_policy=LOCAL)

    [seen] = capture.requests
    assert set(seen.headers) - TRANSPORT_HEADERS == {
        "ttl",
        "content-encoding",
        "content-type",
        "encryption",
        "crypto-key",
        "authorization",
    }
    assert seen.headers["ttl"] == "0"
    assert seen.headers["content-encoding"] == "aesgcm"
    assert seen.headers["content-type"] == "application/octet-stream"
    encryption = seen.headers["encryption"]
    assert encryption.startswith("salt=") and ";" not in encryption
    assert len(unb64url(encryption[len("salt=") :])) == 16
    # dh first, then the VAPID key, joined with ";" (what services parse).
    dh, p256ecdsa = seen.headers["crypto-key"].split(";")
    assert dh.startswith("dh=") and len(unb64url(dh[3:])) == 65
    assert p256ecdsa == f"p256ecdsa={vapid.application_server_key}"
    assert seen.headers["authorization"].startswith("WebPush ")
    assert browser.decrypt(seen) == message

    claims, k = verify_vapid(seen, "webpush")
    assert k == vapid.application_server_key
    assert claims["aud"] == capture.url


def test_aesgcm_without_vapid_has_only_dh(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    webpush(browser.info(), b"x", content_encoding="aesgcm", endpoint_policy=LOCAL)
    [seen] = capture.requests
    assert "authorization" not in seen.headers
    assert seen.headers["crypto-key"].startswith("dh=") and ";" not in seen.headers["crypto-key"]
    assert browser.decrypt(seen) == b"x"


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_urgency_and_topic_on_the_wire(capture: PushService, coding: str) -> None:
    browser = Browser.new(f"{capture.url}/p")
    webpush(
        browser.info(),
        "x",
        content_encoding=coding,
        ttl=3600,
        urgency="very-low",
        topic="news_Feed-1",
        endpoint_policy=LOCAL,
    )
    webpush(browser.info(), "y", content_encoding=coding, endpoint_policy=LOCAL)
    first, second = capture.requests
    assert (first.headers["urgency"], first.headers["topic"]) == ("very-low", "news_Feed-1")
    assert first.headers["ttl"] == "3600"
    assert "urgency" not in second.headers and "topic" not in second.headers


def test_options_given_as_headers_pywebpush_style(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    webpush(
        browser.info(),
        "x",
        headers={"TTL": "90", "Urgency": "high", "Topic": "t1", "X-Extra": 7},
        endpoint_policy=LOCAL,
    )
    [seen] = capture.requests
    assert seen.headers["ttl"] == "90"
    assert seen.headers["urgency"] == "high"
    assert seen.headers["topic"] == "t1"
    assert seen.headers["x-extra"] == "7"


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_no_data_means_no_body_and_no_content_encoding(capture: PushService, coding: str) -> None:
    browser = Browser.new(f"{capture.url}/tickle")
    vapid = Vapid.generate()
    webpush(browser.info(), None, vapid, CLAIMS, coding, endpoint_policy=LOCAL)
    [seen] = capture.requests
    assert seen.body == b""
    assert seen.headers.get("content-length", "0") == "0"
    for absent in ("content-encoding", "content-type", "encryption"):
        assert absent not in seen.headers
    if coding == "aesgcm":
        # Only the VAPID key: there is no dh= without a payload.
        assert seen.headers["crypto-key"] == f"p256ecdsa={vapid.application_server_key}"
    else:
        assert "crypto-key" not in seen.headers
    assert verify_vapid(seen, "vapid" if coding == "aes128gcm" else "webpush")[1] == (
        vapid.application_server_key
    )


def test_each_message_fresh_salt_and_key(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    for _ in range(2):
        webpush(browser.info(), b"same", endpoint_policy=LOCAL)
    a, b = capture.requests
    assert a.body[:16] != b.body[:16]  # salt
    assert a.body[21:86] != b.body[21:86]  # the sender's ephemeral public key
    assert browser.decrypt(a) == browser.decrypt(b) == b"same"


def test_pad_to_hides_the_length(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    webpush(browser.info(), b"a", pad_to=100, endpoint_policy=LOCAL)
    webpush(browser.info(), b"a" * 90, pad_to=100, endpoint_policy=LOCAL)
    short, longer = capture.requests
    assert len(short.body) == len(longer.body)
    assert browser.decrypt(short) == b"a"
    assert browser.decrypt(longer) == b"a" * 90


def test_standard_base64_padded_keys_accepted(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    info = browser.info()
    info["keys"] = {
        "p256dh": base64.b64encode(browser.point).decode(),
        "auth": base64.b64encode(browser.auth).decode(),
    }
    webpush(info, b"std b64", endpoint_policy=LOCAL)
    assert browser.decrypt(capture.requests[0]) == b"std b64"


def test_build_request_matches_what_is_sent(capture: PushService) -> None:
    """The sans-IO value and the wire agree: the transport adds nothing of ours."""
    browser = Browser.new(f"{capture.url}/p")
    vapid = Vapid.generate()
    request = build_request(
        browser.info(), b"sans-io", vapid, CLAIMS, ttl=5, urgency="low", endpoint_policy=LOCAL
    )
    assert request.url == browser.endpoint
    assert request.method == "POST"
    assert set(request.headers) == {
        "TTL",
        "Urgency",
        "Content-Encoding",
        "Content-Type",
        "Authorization",
    }
    assert "Authorization" not in repr(request) and "vapid t=" not in repr(request)
    # Send it with another HTTP client (urllib3 directly here).
    import urllib3

    reply = urllib3.PoolManager().request(
        "POST", request.url, body=request.body, headers=request.headers
    )
    assert reply.status == 201
    [seen] = capture.requests
    for name, value in request.headers.items():
        assert seen.headers[name.lower()] == value
    assert browser.decrypt(seen) == b"sans-io"


# -- the caller's dicts ------------------------------------------------------------


def test_callers_dicts_get_only_the_exp_pywebpush_writes() -> None:
    vapid = Vapid.generate()
    with PushService() as one, PushService() as two:
        claims = {"sub": "mailto:ops@example.com", "extra": {"nested": [1, 2]}}
        headers = {"X-Trace": "abc", "TTL": "30"}
        browsers = [Browser.new(f"{one.url}/a"), Browser.new(f"{two.url}/b")]
        subs = [b.info() for b in browsers]
        before = copy.deepcopy((claims, headers, subs))
        built = build_request(subs[0], "m", vapid, claims, endpoint_policy=LOCAL)
        assert claims == before[0]  # build_request (and PushClient) never write into it
        assert built.headers["Authorization"].startswith("vapid ")
        for coding in ("aes128gcm", "aesgcm"):
            for sub in subs:
                webpush(sub, "m", vapid, claims, coding, headers=headers, endpoint_policy=LOCAL)
                WebPusher(sub).send(
                    "m", headers=headers, content_encoding=coding, endpoint_policy=LOCAL
                )
        assert (headers, subs) == before[1:]
        # webpush() wrote the missing exp (now + 12 h) into the claims, as pywebpush
        # does, and nothing else: an aud would leak into the other push service's token.
        exp = claims.pop("exp")
        assert claims == before[0]
        assert isinstance(exp, int) and abs(exp - (time.time() + 43200)) < 60

        # Each push service got a token for its own origin from the one claims dict.
        vapid_requests = [r for r in one.requests + two.requests if "authorization" in r.headers]
        assert len(vapid_requests) == 4
        auds = []
        for seen in vapid_requests:
            scheme = "vapid" if seen.headers["content-encoding"] == "aes128gcm" else "webpush"
            token_claims, _ = verify_vapid(seen, scheme)  # checks aud == this request's origin
            assert token_claims["extra"] == {"nested": [1, 2]}
            assert token_claims["exp"] == exp  # the one written, reused
            auds.append(token_claims["aud"])
        assert sorted(auds) == sorted([one.url, one.url, two.url, two.url])


class RecordingSigner(py_vapid.Vapid02):  # type: ignore[misc]
    """A py_vapid key that remembers the claims objects sign() was given."""

    def __init__(self) -> None:
        super().__init__()
        self.generate_keys()
        self.given: list[Any] = []

    def sign(self, claims: Any, crypto_key: Any = None) -> Any:
        self.given.append(claims)
        return super().sign(claims, crypto_key)


def test_py_vapid_signer_gets_the_callers_dict_or_a_copy_with_aud(
    capture: PushService,
) -> None:
    signer = RecordingSigner()
    browser = Browser.new(f"{capture.url}/p")
    # With the endpoint's aud: pywebpush's call, sign(vapid_claims), exp written in first.
    claims = {"sub": "mailto:ops@example.com", "aud": capture.url}
    webpush(browser.info(), "m", signer, claims, endpoint_policy=LOCAL)
    assert signer.given[0] is claims and set(claims) == {"sub", "aud", "exp"}
    # Without: a copy with the aud (pywebpush wrote it into the dict), exp still written.
    claims = {"sub": "mailto:ops@example.com"}
    webpush(browser.info(), "m", signer, claims, endpoint_policy=LOCAL)
    given = signer.given[1]
    assert given is not claims and given == {**claims, "aud": capture.url}
    assert set(claims) == {"sub", "exp"}
    for seen in capture.requests:
        token_claims, _ = verify_vapid(seen, "vapid")
        assert token_claims["aud"] == capture.url


@pytest.mark.parametrize(
    ("ahead", "renewed"),
    # 100 s either side of the hour: the call may start a while after exp is computed.
    [(-60, True), (0, True), (600, True), (3500, True), (3700, False), (7200, False)],
)
def test_webpush_renews_an_exp_under_an_hour_ahead(
    capture: PushService, ahead: int, renewed: bool
) -> None:
    """A claims dict reused for hours carries the exp webpush() wrote: near its end it is
    renewed (now + 12 h), so no token leaves with less than an hour to live (the token
    cache's margin); one further ahead is the caller's and kept."""
    browser = Browser.new(f"{capture.url}/p")
    exp = int(time.time()) + ahead
    claims = {"sub": "mailto:ops@example.com", "exp": exp}
    webpush(browser.info(), "m", Vapid.generate(), claims, endpoint_policy=LOCAL)
    token_claims, _ = verify_vapid(capture.requests[0], "vapid")
    if renewed:
        assert abs(token_claims["exp"] - (time.time() + 43200)) < 60
    else:
        assert token_claims["exp"] == exp
    assert claims == {"sub": "mailto:ops@example.com", "exp": token_claims["exp"]}


def test_explicit_matching_aud_is_accepted(capture: PushService) -> None:
    browser = Browser.new(f"{capture.url}/p")
    claims = {"sub": "https://example.com/contact", "aud": capture.url + "/"}
    webpush(browser.info(), "m", Vapid.generate(), claims, endpoint_policy=LOCAL)
    assert verify_vapid(capture.requests[0], "vapid")[0]["aud"] == capture.url
    assert claims["aud"] == capture.url + "/"


def test_vapid_token_reused_for_the_same_origin(capture: PushService) -> None:
    """A key string passed on every call is parsed once and its token cached."""
    key_pem = Vapid.generate().private_pem().decode()
    for path in ("a", "b"):
        webpush(
            Browser.new(f"{capture.url}/{path}").info(), "m", key_pem, CLAIMS, endpoint_policy=LOCAL
        )
    a, b = capture.requests
    assert a.headers["authorization"] == b.headers["authorization"]
    assert load_vapid_key(key_pem) is load_vapid_key(key_pem)


def test_one_pooled_keep_alive_connection_by_default(capture: PushService) -> None:
    """Without a requests_session, sends reuse the module's PoolManager connections."""
    browser = Browser.new(f"{capture.url}/p")
    for _ in range(3):
        webpush(browser.info(), "m", endpoint_policy=LOCAL)
    clients = {r.client for r in capture.requests}
    assert len(capture.requests) == 3 and len(clients) == 1


def test_response_object_reflects_the_answer() -> None:
    with PushService(Answer(202, {"Location": "/m/1", "X-Y": "z"})) as server:
        response = webpush(Browser.new(f"{server.url}/p").info(), "m", endpoint_policy=LOCAL)
    assert response.status_code == 202
    assert response.headers["location"] == "/m/1"
    assert response.headers["X-Y"] == "z"
    assert response.content == b"" and response.text == ""
    assert bool(response) is True


def test_json_claims_from_a_file_shape(capture: PushService) -> None:
    """Claims loaded from JSON (str values, int exp) work as they are."""
    claims = json.loads(
        json.dumps({"sub": "mailto:ops@example.com", "exp": int(time.time()) + 600})
    )
    webpush(
        Browser.new(f"{capture.url}/p").info(), "m", Vapid.generate(), claims, endpoint_policy=LOCAL
    )
    assert verify_vapid(capture.requests[0], "vapid")[0]["exp"] == claims["exp"]


@pytest.mark.parametrize(
    "endpoint",
    ["http://push.example.com/p", "https://127.0.0.1/p", "https://169.254.169.254/p"],
)
def test_build_request_checks_the_endpoint_by_default(endpoint: str) -> None:
    """A request built for the caller's own HTTP client is SSRF-checked too."""
    info = {**Browser.new(endpoint).info(), "endpoint": endpoint}
    with pytest.raises(EndpointNotAllowed) as caught:
        build_request(info, b"x")
    assert caught.value.field == "endpoint"
    assert build_request(info, b"x", endpoint_policy=LOCAL).url == endpoint
