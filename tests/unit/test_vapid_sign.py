"""VAPID tokens: checked by independent verifiers (PyJWT, py_vapid), verified by us."""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import jwt
import py_vapid
import py_vapid.jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core.errors import VapidError
from webpush_core.vapid import Vapid, Vapid01, VapidToken, parse_authorization

SUB = "mailto:ops@example.com"
AUD = "https://push.example.net"
CLAIMS = {"sub": SUB, "aud": AUD}
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split_vapid(authorization: Any) -> tuple[str, str]:
    """(t, k) from "vapid t=..., k=...", parsed here independently of the library."""
    if isinstance(authorization, dict):
        assert list(authorization) == ["Authorization"]
        authorization = authorization["Authorization"]
    scheme, rest = authorization.split(" ", 1)
    assert scheme == "vapid"
    params = dict(p.strip().split("=", 1) for p in rest.split(","))
    assert set(params) == {"t", "k"}
    return params["t"], params["k"]


@pytest.fixture(scope="module")
def vapid() -> Vapid:
    return Vapid.generate()


def test_vapid_header_shape_and_pyjwt_verifies(vapid: Vapid) -> None:
    headers = vapid.sign(CLAIMS)
    assert list(headers) == ["Authorization"]
    auth = headers["Authorization"]
    assert auth.startswith("vapid t=")
    assert ", k=" in auth
    token, k = split_vapid(auth)
    assert k == vapid.application_server_key
    claims = jwt.decode(token, vapid.public_pem(), algorithms=["ES256"], audience=AUD)
    assert claims["sub"] == SUB and claims["aud"] == AUD
    assert time.time() + 11 * 3600 < claims["exp"] <= time.time() + 12 * 3600
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token, vapid.public_pem(), algorithms=["ES256"], audience="https://other.example"
        )
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, Vapid.generate().public_pem(), algorithms=["ES256"], audience=AUD)


def test_jws_layout_is_exact(vapid: Vapid) -> None:
    token, _ = split_vapid(vapid.sign({**CLAIMS, "exp": int(time.time()) + 3600}))
    header, payload, signature = token.split(".")
    assert "=" not in token
    assert unb64u(header) == b'{"typ":"JWT","alg":"ES256"}'
    claims = json.loads(unb64u(payload))
    # Compact and sorted (Chrome's push service once required sorted claims).
    assert unb64u(payload) == json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    raw = unb64u(signature)
    assert len(raw) == 64
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    assert 0 < r < N and 0 < s < N
    # The raw r||s is the DER signature's integers: re-check with cryptography directly.
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    vapid.public_key.verify(
        encode_dss_signature(r, s), f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256())
    )


def test_short_integers_are_left_padded() -> None:
    # r and s below 2^248 (~1 signature in 128) must still take 32 octets each
    # (RFC 7518 §3.4). A key whose DER signature has tiny r and s shows it every time.
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from webpush_core.vapid import _jwt

    class TinySignature:
        def sign(self, data: bytes, algorithm: object) -> bytes:
            return encode_dss_signature(5, 7)

    token = _jwt.encode({"sub": SUB, "aud": AUD}, TinySignature())  # type: ignore[arg-type]
    raw = unb64u(token.rsplit(".", 1)[1])
    assert raw == (5).to_bytes(32, "big") + (7).to_bytes(32, "big")
    # And real signatures, short ones included when they occur, verify with PyJWT.
    vapid = Vapid.generate()
    for i in range(200):
        token, _ = split_vapid(vapid.sign({**CLAIMS, "n": i}))
        assert len(unb64u(token.rsplit(".", 1)[1])) == 64
        jwt.decode(token, vapid.public_pem(), algorithms=["ES256"], audience=AUD)


def test_py_vapid_verifies_our_tokens(vapid: Vapid) -> None:
    token, k = split_vapid(vapid.sign(CLAIMS))
    assert py_vapid.jwt.decode(token, k) == jwt.decode(token, options={"verify_signature": False})
    signing_input, signature = token.rsplit(".", 1)
    assert py_vapid.Vapid.from_raw_public(k.encode()).verify_token(
        signing_input.encode(), signature
    )
    assert not py_vapid.Vapid.from_raw_public(
        Vapid.generate().application_server_key.encode()
    ).verify_token(signing_input.encode(), signature)
    # The draft scheme, with py_vapid's own header parser.
    headers = vapid.sign_headers(CLAIMS, scheme="webpush")
    assert py_vapid.Vapid01.verify(headers["Crypto-Key"].split("=", 1)[1], headers["Authorization"])


def test_webpush_scheme_and_vapid01(vapid: Vapid) -> None:
    assert vapid.private_key is not None
    v01 = Vapid01(vapid.private_key)
    headers = v01.sign(CLAIMS)
    assert set(headers) == {"Authorization", "Crypto-Key"}
    scheme, token = headers["Authorization"].split(" ")
    assert scheme == "WebPush"
    assert headers["Crypto-Key"] == f"p256ecdsa={vapid.application_server_key}"
    jwt.decode(token, vapid.public_pem(), algorithms=["ES256"], audience=AUD)
    # sign_headers overrides the class default either way.
    assert v01.sign_headers(CLAIMS, scheme="vapid")["Authorization"].startswith("vapid t=")
    assert vapid.sign_headers(CLAIMS, scheme="webpush")["Authorization"].startswith("WebPush ")
    with pytest.raises(VapidError, match="scheme") as info:
        vapid.sign_headers(CLAIMS, scheme="bearer")
    assert info.value.field == "scheme"


def test_sign_never_mutates_claims(vapid: Vapid) -> None:
    claims: dict[str, Any] = {"sub": SUB, "aud": AUD, "extra": {"a": [1]}}
    before = copy.deepcopy(claims)
    token, _ = split_vapid(vapid.sign(claims))
    assert claims == before
    decoded = jwt.decode(token, vapid.public_pem(), algorithms=["ES256"], audience=AUD)
    assert decoded["extra"] == {"a": [1]}
    assert "exp" in decoded


def test_unserializable_claims_are_refused(vapid: Vapid) -> None:
    for bad in (object(), float("nan"), {1, 2}):
        with pytest.raises(VapidError, match="JSON"):
            vapid.sign({**CLAIMS, "extra": bad})


# --------------------------------------------------------------------------
# Receiving side.


def test_verify_round_trip_both_schemes(vapid: Vapid) -> None:
    auth = vapid.sign(CLAIMS)["Authorization"]
    claims = vapid.verify(auth, audience=AUD)
    assert claims["sub"] == SUB
    assert vapid.verify(auth) == claims
    token = parse_authorization(auth, audience=AUD)
    assert token == VapidToken("vapid", claims, unb64u(vapid.application_server_key))
    headers = vapid.sign_headers(CLAIMS, scheme="webpush")
    # Signed separately (and maybe cached from another test): exp may differ by a second.
    claims01 = vapid.verify(headers["Authorization"], headers["Crypto-Key"], audience=AUD)
    assert {k: v for k, v in claims01.items() if k != "exp"} == {
        k: v for k, v in claims.items() if k != "exp"
    }
    assert abs(claims01["exp"] - claims["exp"]) <= 3600
    token01 = parse_authorization(headers["Authorization"], headers["Crypto-Key"])
    assert token01.scheme == "webpush"
    assert token01.public_key == token.public_key
    # A real aesgcm request's Crypto-Key also carries dh=.
    both = f"dh=BAAA;{headers['Crypto-Key']}"
    assert parse_authorization(headers["Authorization"], both).claims == claims01
    # Verify-only objects verify.
    assert Vapid.from_raw_public(vapid.application_server_key).verify(auth) == claims


def test_we_verify_tokens_from_other_signers(vapid: Vapid) -> None:
    assert vapid.private_key is not None
    exp = int(time.time()) + 3600
    k = vapid.application_server_key
    # PyJWT (header in another key order).
    token = jwt.encode({"sub": SUB, "aud": AUD, "exp": exp}, vapid.private_pem(), algorithm="ES256")
    assert vapid.verify(f"vapid t={token},k={k}", audience=AUD)["exp"] == exp
    # py_vapid's own header ("t=...,k=..." without a space), and its draft scheme.
    pv = py_vapid.Vapid02(vapid.private_key)
    assert vapid.verify(pv.sign(dict(CLAIMS))["Authorization"], audience=AUD)["aud"] == AUD
    pv01 = py_vapid.Vapid01(vapid.private_key).sign(dict(CLAIMS))
    assert vapid.verify(pv01["Authorization"], pv01["Crypto-Key"])["sub"] == SUB
    # Case-insensitive scheme and parameter names, quoted values (RFC 7235 §2.1).
    assert vapid.verify(f'VAPID T="{token}" ,  K={k}')["exp"] == exp


def _resign(vapid: Vapid, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with any header/claims, properly signed by ``vapid`` (for negative tests)."""
    assert vapid.private_key is not None
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(claims).encode())}"
    der = vapid.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64u(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


BAD_SIG = "the JWT signature is not base64url"


def test_verify_rejects(vapid: Vapid) -> None:
    k = vapid.application_server_key
    auth = vapid.sign(CLAIMS)["Authorization"]
    token, _ = split_vapid(auth)
    header, payload, signature = token.split(".")
    other = Vapid.generate()
    now = int(time.time())
    good_header = {"typ": "JWT", "alg": "ES256"}

    tampered_claims = b64u(
        json.dumps({**CLAIMS, "aud": "https://evil.example", "exp": now + 60}).encode()
    )
    flipped = bytearray(unb64u(signature))
    flipped[10] ^= 1
    expired = Vapid(vapid.private_key, clock=lambda: time.time() - 13 * 3600).sign(CLAIMS)
    too_far = _resign(vapid, good_header, {**CLAIMS, "exp": now + 3 * 86400})
    no_exp = _resign(vapid, good_header, dict(CLAIMS))
    assert vapid.private_key is not None
    der_signature = b64u(vapid.private_key.sign(b"x", ec.ECDSA(hashes.SHA256())))
    none_header = b64u(b'{"alg":"none","typ":"JWT"}')
    alg_none = f"{none_header}.{payload}."
    off_curve = b64u(b"\x04" + bytes(64))
    hs256 = jwt.encode({**CLAIMS, "exp": now + 60}, unb64u(k), algorithm="HS256")
    wrong_alg_signed = _resign(vapid, {"typ": "JWT", "alg": "ES384"}, {**CLAIMS, "exp": now + 60})
    wrong_typ = _resign(vapid, {"typ": "JWE", "alg": "ES256"}, {**CLAIMS, "exp": now + 60})
    array_claims = _resign(vapid, good_header, [1, 2])  # type: ignore[arg-type]
    number_typ = _resign(vapid, {"typ": 5, "alg": "ES256"}, {**CLAIMS, "exp": now + 60})

    sig = "the VAPID token's signature does not verify with the key"
    parts = "the JWT must have three non-empty base64url parts (RFC 7515 §7.1)"
    alg = "the JWT header's alg must be ES256 (RFC 8292 §2)"
    both = "the vapid Authorization needs both t=<JWT> and k=<key> (RFC 8292 §3)"
    scheme = "the Authorization scheme must be 'vapid' (RFC 8292) or 'WebPush' (draft-01)"
    # name: (Authorization, audience, the error's words)
    cases: dict[str, tuple[str, Any, str]] = {
        "tampered claims": (f"vapid t={header}.{tampered_claims}.{signature}, k={k}", None, sig),
        "tampered signature": (
            f"vapid t={header}.{payload}.{b64u(bytes(flipped))}, k={k}",
            None,
            sig,
        ),
        "short signature": (
            f"vapid t={header}.{payload}.{b64u(unb64u(signature)[:63])}, k={k}",
            None,
            "an ES256 signature is 64 bytes (r || s), got 63",
        ),
        "DER signature": (
            f"vapid t={header}.{payload}.{der_signature}, k={k}",
            None,
            f"an ES256 signature is 64 bytes (r || s), got {len(unb64u(der_signature))}",
        ),
        "signature not base64url": (f"vapid t={header}.{payload}.%%%, k={k}", None, BAD_SIG),
        "signed by another key, this k": (
            other.sign(CLAIMS)["Authorization"].split(", k=")[0] + f", k={k}",
            None,
            sig,
        ),
        "expired": (expired["Authorization"], None, "the VAPID token has expired"),
        "exp too far": (
            f"vapid t={too_far}, k={k}",
            None,
            "the VAPID token's exp is more than 24 hours ahead (RFC 8292 §2)",
        ),
        "no exp": (f"vapid t={no_exp}, k={k}", None, "the VAPID token has no numeric exp claim"),
        "wrong audience": (
            auth,
            "https://other.example",
            f"the VAPID token's aud {AUD!r} is not 'https://other.example'",
        ),
        "alg none": (f"vapid t={alg_none}, k={k}", None, parts),
        "HS256 with the public key as secret": (f"vapid t={hs256}, k={k}", None, alg),
        "alg ES384": (f"vapid t={wrong_alg_signed}, k={k}", None, alg),
        "typ JWE": (f"vapid t={wrong_typ}, k={k}", None, "the JWT header's typ must be JWT"),
        "typ not a string": (
            f"vapid t={number_typ}, k={k}",
            None,
            "the JWT header's typ must be JWT",
        ),
        "claims not an object": (
            f"vapid t={array_claims}, k={k}",
            None,
            "the JWT claims is not a JSON object",
        ),
        "header not an object": (
            f"vapid t={b64u(b'[1]')}.{payload}.{signature}, k={k}",
            None,
            "the JWT header is not a JSON object",
        ),
        "two parts": (f"vapid t={header}.{payload}, k={k}", None, parts),
        "four parts": (f"vapid t={token}.x, k={k}", None, parts),
        "empty part": (f"vapid t={header}..{signature}, k={k}", None, parts),
        "header not json": (
            f"vapid t={b64u(b'nope')}.{payload}.{signature}, k={k}",
            None,
            "the JWT header is not base64url JSON",
        ),
        "claims not json": (
            f"vapid t={header}.{b64u(b'nope')}.{signature}, k={k}",
            None,
            sig,  # the signature is checked before the claims are read
        ),
        "missing k": (f"vapid t={token}", None, both),
        "missing t": (f"vapid k={k}", None, both),
        "repeated t": (
            f"vapid t={token}, t={token}, k={k}",
            None,
            "the Authorization header repeats t=",
        ),
        "bad param": (
            f"vapid t={token}, k",
            None,
            "the vapid Authorization parameters must be t=<JWT>, k=<key> (RFC 8292 §3)",
        ),
        "k not a point": (
            f"vapid t={token}, k={b64u(b'x' * 65)}",
            None,
            "the VAPID public key must be a 65-byte uncompressed P-256 point (RFC 8292 §3.2)",
        ),
        "k off the curve": (
            f"vapid t={token}, k={off_curve}",
            None,
            "the token carries a different public key than this one",
        ),
        "k not base64": (f"vapid t={token}, k=%%%", None, "the VAPID public key is not base64url"),
        "unknown scheme": (f"Bearer {token}", None, scheme),
        "empty": ("", None, scheme),
        "scheme only": ("vapid", None, both),
        "WebPush without Crypto-Key": (
            f"WebPush {token}",
            None,
            "a WebPush Authorization needs a Crypto-Key header with p256ecdsa=<key>",
        ),
        "WebPush with spaces": (
            f"WebPush {token} extra",
            None,
            "the WebPush Authorization must be 'WebPush <JWT>'",
        ),
    }
    # parse_authorization trusts the key the header carries, so it says more about it.
    parsed_differently = {"k off the curve": "the VAPID public key is not on the P-256 curve"}
    for name, (authorization, audience, words) in cases.items():
        with pytest.raises(VapidError) as info:
            vapid.verify(authorization, audience=audience)
        assert (str(info.value), info.value.field) == (
            words,
            "crypto_key" if name.startswith("WebPush without") else "authorization",
        ), name
        # The header-carried key path refuses the same (except "this k" on a
        # foreign token, which is the one thing only vapid.verify can catch).
        with pytest.raises(VapidError) as info:
            parse_authorization(authorization, audience=audience)
        assert str(info.value) == parsed_differently.get(name, words), name
        assert info.value.field in ("authorization", "crypto_key"), name
        assert (info.value.field == "crypto_key") is name.startswith("WebPush without"), name

    # A token signed by another key verifies against the key it carries, but
    # not against us: the push service compares public_key to the subscription's.
    foreign = other.sign(CLAIMS)["Authorization"]
    assert parse_authorization(foreign).public_key == unb64u(other.application_server_key)
    with pytest.raises(VapidError, match="different public key"):
        vapid.verify(foreign)

    web = vapid.sign_headers(CLAIMS, scheme="webpush")
    one = "the Crypto-Key header must carry exactly one p256ecdsa=<key>"
    for crypto_key, words, field in (
        (
            f"p256ecdsa={other.application_server_key}",
            "the token carries a different public key than this one",
            "authorization",
        ),
        ("dh=BAAA", "the Crypto-Key header has no p256ecdsa=<key>", "crypto_key"),
        (
            "",
            "a WebPush Authorization needs a Crypto-Key header with p256ecdsa=<key>",
            "crypto_key",
        ),
        (f"p256ecdsa={k};p256ecdsa={other.application_server_key}", one, "crypto_key"),
        (f"p256ecdsa={k}, P256ECDSA={other.application_server_key}", one, "crypto_key"),
        (b"p256ecdsa=x", "the Crypto-Key header must be a string", "crypto_key"),
    ):
        with pytest.raises(VapidError) as info:
            vapid.verify(web["Authorization"], crypto_key)  # type: ignore[arg-type]
        assert (str(info.value), info.value.field) == (words, field), crypto_key
    # The same key twice is one key; names are case-insensitive; a quoted value is unquoted.
    for crypto_key in (
        f"p256ecdsa={k};p256ecdsa={k}",
        f'dh=BAAA; P256ECDSA="{k}"',
        f"dh=BAAA,p256ecdsa={k}",
    ):
        assert vapid.verify(web["Authorization"], crypto_key)["sub"] == SUB
    with pytest.raises(VapidError) as info:
        vapid.verify(42)  # type: ignore[arg-type]
    assert (str(info.value), info.value.field) == (
        "the Authorization header must be a string",
        "authorization",
    )


def test_decode_verified_takes_a_string_token() -> None:
    from webpush_core.vapid import _jwt

    key = Vapid.generate()
    with pytest.raises(VapidError) as info:
        _jwt.decode_verified(b"a.b.c", key.public_key)  # type: ignore[arg-type]
    assert (str(info.value), info.value.field) == ("the JWT must be a string", "authorization")


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=120)
    | st.builds(lambda a, b: f"vapid t={a}, k={b}", st.text(max_size=60), st.text(max_size=90))
    | st.builds(lambda a: f"WebPush {a}", st.text(max_size=60)),
    st.none() | st.text(max_size=100),
)
def test_parse_authorization_only_raises_vapid_error(auth: str, crypto_key: Any) -> None:
    with pytest.raises(VapidError):
        parse_authorization(auth, crypto_key)


# --------------------------------------------------------------------------
# The claims a push service checks, at their limits (RFC 8292 §2)


@pytest.mark.parametrize(
    ("exp", "words"),
    [
        (1_000_000, "the VAPID token has expired"),  # exp == now
        (1_000_000 + 0.5, None),  # a float NumericDate is a number too
        (1_000_000 + 86_400 + 60, None),  # 24 h ahead plus the 60 s of clock skew allowed
        (
            1_000_000 + 86_400 + 61,
            "the VAPID token's exp is more than 24 hours ahead (RFC 8292 §2)",
        ),
        (10**400, "the VAPID token's exp is more than 24 hours ahead (RFC 8292 §2)"),
        (float("nan"), "the VAPID token's exp is not a number (NaN)"),
        (True, "the VAPID token has no numeric exp claim"),
        ("1000060", "the VAPID token has no numeric exp claim"),
        (None, "the VAPID token has no numeric exp claim"),
    ],
)
def test_token_exp_at_its_limits(exp: Any, words: Any) -> None:
    from webpush_core.vapid._token import check_token_claims

    claims = {"aud": AUD, "exp": exp}
    if words is None:
        check_token_claims(claims, AUD, 1_000_000.0)
        return
    with pytest.raises(VapidError) as info:
        check_token_claims(claims, None, 1_000_000.0)
    assert (str(info.value), info.value.field) == (words, "authorization")


def test_token_audience_is_compared_when_given() -> None:
    from webpush_core.vapid._token import check_token_claims

    check_token_claims({"exp": 1_000_060}, None, 1_000_000.0)  # no audience asked: no check
    for claims, shown in (
        ({"exp": 1_000_060, "aud": AUD}, repr(AUD)),
        ({"exp": 1_000_060}, "None"),
    ):
        with pytest.raises(VapidError) as info:
            check_token_claims(claims, "https://other.example", 1_000_000.0)
        assert str(info.value) == f"the VAPID token's aud {shown} is not 'https://other.example'"


def test_vapid_parameters_as_rfc_7235_writes_them(vapid: Vapid) -> None:
    # Empty list items are skipped, names are case-insensitive, values may be quoted,
    # and base64url padding inside a value is part of the value.
    token, k = split_vapid(vapid.sign(CLAIMS))
    for header in (
        f"vapid t={token},, k={k}",
        f'Vapid T="{token}", K="{k}"',
        f"vapid  t={token} ,k={k}=",
        f"vapid k={k}, t={token}",
    ):
        assert vapid.verify(header)["sub"] == SUB, header
    both = "the vapid Authorization needs both t=<JWT> and k=<key> (RFC 8292 §3)"
    params = "the vapid Authorization parameters must be t=<JWT>, k=<key> (RFC 8292 §3)"
    for header, words in (
        (f'vapid t="", k={k}', both),  # an empty quoted value
        (f"vapid t=, k={k}", params),
        (f"vapid ={token}, t={token}, k={k}", params),  # no name
        (f"vapid t={token}, k={k}, T={token}", "the Authorization header repeats t="),
        ("WebPush  ", "the WebPush Authorization must be 'WebPush <JWT>'"),
    ):
        with pytest.raises(VapidError) as info:
            vapid.verify(header, f"p256ecdsa={k}")
        assert (str(info.value), info.value.field) == (words, "authorization"), header


def test_only_quotes_are_taken_off_a_crypto_key_value(vapid: Vapid) -> None:
    k = vapid.application_server_key
    headers = vapid.sign_headers(CLAIMS, scheme="webpush")
    for crypto_key in (
        f"p256ecdsa={k}",
        f'p256ecdsa="{k}"',
        f"p256ecdsa = {k} ",
        f"p256ecdsa={k}=",
    ):
        assert vapid.verify(headers["Authorization"], crypto_key)["aud"] == AUD
    with pytest.raises(VapidError) as info:  # anything else stays and is part of the key
        vapid.verify(headers["Authorization"], f"p256ecdsa=X{k}X")
    assert str(info.value) == "the VAPID public key is not base64url"


# --------------------------------------------------------------------------
# Claims that are not plain str and int: signed the slow way, same result


class Contact(str):
    """A str subclass, as an enum of contacts or a settings object may give."""


@pytest.mark.parametrize("cls", [Vapid, Vapid01])
def test_claims_of_str_subclasses_are_signed_like_plain_ones(cls: type[Vapid]) -> None:
    now = float(int(time.time()) + 1000)  # its own clock, not the wall's
    signer = cls(clock=lambda: now)
    headers = signer.sign({"sub": Contact(SUB), "aud": Contact(AUD)})
    assert isinstance(headers, dict)
    plain = signer.sign(CLAIMS)
    assert set(headers) == set(plain)
    assert headers["Authorization"].split()[0] == plain["Authorization"].split()[0]
    crypto_key = headers.get("Crypto-Key")
    claims = signer.verify(headers["Authorization"], crypto_key)
    assert claims == {"sub": SUB, "aud": AUD, "exp": int(now) + 12 * 3600}


def test_non_ascii_claims_are_escaped_and_unserializable_ones_refused(vapid: Vapid) -> None:
    headers = vapid.sign({**CLAIMS, "name": "Zoë"})
    token, _ = split_vapid(headers)
    assert unb64u(token.split(".")[1]).isascii()
    assert vapid.verify(headers["Authorization"])["name"] == "Zoë"
    for extra, why in (
        ({"x"}, "Object of type set is not JSON serializable"),
        (float("inf"), "Out of range float values are not JSON compliant"),
    ):
        with pytest.raises(VapidError) as info:
            vapid.sign({**CLAIMS, "extra": extra})
        assert (str(info.value), info.value.field) == (
            f"vapid_claims must be JSON-serializable: {why}",
            "vapid_claims",
        )
