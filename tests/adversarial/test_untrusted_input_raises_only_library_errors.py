"""Fuzzing the code that reads untrusted input: only webpush_core's own errors come out.

Untrusted here means: an encrypted body and its header parameters (what a
receiver decrypts), a subscription as a browser (or an attacker) sent it, a
VAPID key string from configuration, an Authorization / Crypto-Key header
pair (what a push service verifies), and whatever a push service answers
(status, headers, body). For each, hypothesis throws random and mutated
input at the public entry point and checks that

* the only exception is the documented ``WebPushException`` subclass;
* a mutated valid input either fails or gives back the original value
  (never a different plaintext or claims);
* nothing hangs (hypothesis' ``deadline`` flags a slow example);
* huge input is refused by size before any work: tracemalloc measures it.

``tests/fuzz/`` has atheris harnesses for the same targets, run by hand.
"""

from __future__ import annotations

import base64
import encodings.aliases
import json
import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Callable, Optional

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from servers.hostile import stream
from servers.loopback import Server
from webpush_core import ece, vapid
from webpush_core._b64 import b64url_encode
from webpush_core._classify import error_for_response
from webpush_core._endpoint import DEFAULT_POLICY, EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._request.build import build_request
from webpush_core._request.value import PushRequest
from webpush_core._response import PushResponse, parse_retry_after
from webpush_core._subscription import Subscription
from webpush_core._wire.urllib3_pools import make_pool_manager
from webpush_core._wire.urllib3_transport import send_request
from webpush_core.ece._ece import MAX_DECRYPT
from webpush_core.errors import (
    ECEError,
    InvalidInput,
    InvalidSubscription,
    PushRejected,
    PushServiceError,
    VapidError,
)
from webpush_core.vapid import Vapid, Vapid01

# Generous deadline: this 2-core machine runs other suites at the same time;
# a parser that loops or goes quadratic still blows through it.
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CHEAP = settings(FUZZ, max_examples=300)

# --------------------------------------------------------------------------
# Shared material: a browser key pair, valid encrypted bodies, a VAPID key.

UA_KEY = generate_private_key()
UA_PUBLIC = uncompressed_point(UA_KEY.public_key())
AUTH = bytes(range(16))
OTHER_POINT = uncompressed_point(generate_private_key().public_key())


def _valid_bodies() -> list[dict[str, Any]]:
    cases = []
    for version in ("aes128gcm", "aesgcm"):
        for plaintext, rs, padding in (
            (b"", 4096, 0),
            (b"hello, fuzz", 4096, 0),
            (b"x" * 100, 4096, 30),
            (bytes(range(200)), 25 if version == "aes128gcm" else 23, 5),  # many records
        ):
            sender = generate_private_key()
            salt = bytes(16 - len(plaintext) % 16) + bytes(len(plaintext) % 16)
            body = ece.encrypt(
                plaintext,
                salt=salt,
                private_key=sender,
                dh=UA_PUBLIC,
                auth_secret=AUTH,
                rs=rs,
                version=version,
                padding=padding,
            )
            cases.append(
                {
                    "version": version,
                    "plaintext": plaintext,
                    "body": body,
                    "salt": salt,
                    "rs": rs,
                    "dh": uncompressed_point(sender.public_key()),
                }
            )
    return cases


VALID_BODIES = _valid_bodies()


def _decrypt_as_receiver(body: Any, case: dict[str, Any], **override: Any) -> bytes:
    kwargs: dict[str, Any] = {
        "private_key": UA_KEY,
        "auth_secret": AUTH,
        "version": case["version"],
    }
    if case["version"] == "aesgcm":
        kwargs.update(salt=case["salt"], dh=case["dh"], rs=case["rs"])
    kwargs.update(override)
    return ece.decrypt(body, **kwargs)


def test_valid_bodies_decrypt() -> None:
    # The fuzz material itself is sound (else the mutation tests prove nothing).
    for case in VALID_BODIES:
        assert _decrypt_as_receiver(case["body"], case) == case["plaintext"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to three random edits: flip, overwrite, cut, insert, extend."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "extend", "delete"]))
        i = draw(st.integers(0, max(0, len(out) - 1)))
        if op == "flip" and out:
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and out:
            out[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del out[i:]
        elif op == "insert":
            out[i:i] = draw(st.binary(min_size=1, max_size=20))
        elif op == "extend":
            out += draw(st.binary(min_size=1, max_size=40))
        elif op == "delete" and out:
            del out[i : i + draw(st.integers(1, 20))]
    return bytes(out)


# --------------------------------------------------------------------------
# ece.decrypt


@FUZZ
@given(st.sampled_from(VALID_BODIES), st.data())
def test_decrypt_mutated_body_fails_or_gives_the_original(case: dict[str, Any], data: Any) -> None:
    body = data.draw(mutated(case["body"]))
    try:
        plaintext = _decrypt_as_receiver(body, case)
    except ECEError:
        return
    # Some edits leave the authenticated content intact (e.g. a larger rs
    # over a one-record body); they must never yield other plaintext.
    assert plaintext == case["plaintext"]


@FUZZ
@given(st.sampled_from(VALID_BODIES), st.data())
def test_decrypt_aes128gcm_header_fields_fuzzed(case: dict[str, Any], data: Any) -> None:
    if case["version"] != "aes128gcm":
        return
    body = bytearray(case["body"])
    field = data.draw(st.sampled_from(["rs", "idlen", "salt", "keyid"]))
    if field == "rs":
        body[16:20] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    elif field == "idlen":
        body[20] = data.draw(st.integers(0, 255))
    elif field == "salt":
        body[:16] = data.draw(st.binary(min_size=16, max_size=16))
    else:
        body[21:86] = data.draw(st.sampled_from([OTHER_POINT, bytes(65), b"\x04" + bytes(64)]))
    try:
        plaintext = _decrypt_as_receiver(bytes(body), case)
    except ECEError:
        return
    assert plaintext == case["plaintext"]


@FUZZ
@given(
    st.sampled_from([c for c in VALID_BODIES if c["version"] == "aesgcm"]),
    st.one_of(st.none(), st.binary(max_size=20)),
    st.one_of(st.none(), st.binary(max_size=70), st.just(OTHER_POINT)),
    st.one_of(st.integers(-5, 2**33), st.none(), st.text(max_size=3), st.floats(), st.booleans()),
)
def test_decrypt_aesgcm_parameters_fuzzed(
    case: dict[str, Any], salt: Optional[bytes], dh: Optional[bytes], rs: Any
) -> None:
    override = {k: v for k, v in (("salt", salt), ("dh", dh), ("rs", rs)) if v is not None}
    try:
        plaintext = _decrypt_as_receiver(case["body"], case, **override)
    except ECEError:
        return
    assert plaintext == case["plaintext"]


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=30),
    st.binary(max_size=80),
    st.lists(st.integers(0, 255), max_size=5),
)


@FUZZ
@given(
    content=st.one_of(st.binary(max_size=600), st.builds(bytearray, st.binary(max_size=100))),
    version=st.one_of(st.sampled_from(["aes128gcm", "aesgcm", "aesgcm128", ""]), anything),
    key=st.one_of(st.none(), st.binary(min_size=16, max_size=16), anything),
    private_key=st.sampled_from(
        [None, UA_KEY, ec.generate_private_key(ec.SECP384R1()), "not a key", b"\x01" * 32]
    ),
    dh=st.one_of(st.none(), st.just(OTHER_POINT), st.binary(max_size=70), anything),
    auth_secret=st.one_of(st.none(), st.just(AUTH), anything),
    salt=st.one_of(st.none(), st.binary(min_size=16, max_size=16), anything),
    rs=st.one_of(st.integers(-1, 2**32 + 1), anything),
    keyid=st.one_of(st.none(), anything),
    keylabel=st.one_of(st.just("P-256"), st.text(max_size=5), anything),
)
def test_decrypt_random_arguments_only_ece_error(**kwargs: Any) -> None:
    try:
        result = ece.decrypt(**kwargs)
    except ECEError:
        return
    assert isinstance(result, bytes)


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_decrypt_refuses_100_mb_by_size_before_any_crypto(version: str, kind: type) -> None:
    size = 100 * 2**20
    # Allocated outside the measurement (zero pages: cheap until touched).
    huge = memoryview(bytearray(size)) if kind is memoryview else kind(size)
    kwargs: dict[str, Any] = {"private_key": UA_KEY, "auth_secret": AUTH, "version": version}
    if version == "aesgcm":
        kwargs.update(salt=bytes(16), dh=OTHER_POINT)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(ECEError, match=f"more than the {MAX_DECRYPT}"):
            ece.decrypt(huge, **kwargs)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Measured ~1 KB (the error and its message); a copy or a decryption
    # would be >= 100 MB. (Not a timing test: elapsed only proves no work.)
    assert peak < 64 * 1024, peak
    assert elapsed < 1.0


def test_decrypt_just_under_the_bound_still_works() -> None:
    plaintext = b"z" * (MAX_DECRYPT - 8192)  # 17 octets per record + header
    body = ece.encrypt(plaintext, key=bytes(16), rs=4096)
    assert len(body) <= MAX_DECRYPT
    assert ece.decrypt(body, key=bytes(16)) == plaintext
    with pytest.raises(ECEError, match="more than"):
        ece.decrypt(body + bytes(MAX_DECRYPT - len(body) + 1), key=bytes(16))


# --------------------------------------------------------------------------
# Subscription parsing

json_like = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=40),
        st.binary(max_size=20),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)

hosts = st.one_of(
    st.sampled_from(
        [
            "fcm.googleapis.com",
            "push.example.net",
            "127.0.0.1",
            "[::1]",
            "[::1",
            "::1",
            "[fe80::1%25eth0]",
            "localhost",
            "169.254.169.254",
            "0x7f.1",
            "2130706433",
            "xn--bcher-kva.example",
            "bücher.example",
            "",
            "a" * 300,
            "user:pw@push.example.net",
            "push.example.net.",
        ]
    ),
    st.text(max_size=20),
)
urls = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["https", "http", "HTTPS", "ftp", "file", "javascript", ""]),
    hosts,
    st.sampled_from(["", ":443", ":8443", ":0", ":65536", ":99999", ":abc", ":-1", ":"]),
    st.one_of(st.just("/push/abc"), st.text(max_size=20)),
)


def _b64_variants(raw: bytes) -> st.SearchStrategy[str]:
    url = b64url_encode(raw)
    std = base64.b64encode(raw).decode()
    return st.sampled_from([url, url + "==", std, std.rstrip("="), " " + url + "\n", url[:-1]])


key_text = st.one_of(
    _b64_variants(UA_PUBLIC),
    _b64_variants(AUTH),
    st.binary(max_size=70).map(b64url_encode),
    st.sampled_from([b64url_encode(b"\x04" + bytes(64)), b64url_encode(bytes(65)), "", "é" * 22]),
    st.text(max_size=90),
    json_like,
)


@st.composite
def subscription_infos(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 4)) == 0:
        return draw(json_like)
    info: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        info["endpoint"] = draw(st.one_of(urls, urls, st.text(max_size=30), json_like))
    keys: Any = {}
    for name in ("p256dh", "auth"):
        if draw(st.integers(0, 9)):
            keys[name] = draw(key_text)
    if draw(st.integers(0, 9)) == 0:
        keys = draw(json_like)
    if draw(st.integers(0, 9)):
        info["keys"] = keys
    if draw(st.booleans()):
        info["expirationTime"] = draw(json_like)
    return info


@CHEAP
@given(subscription_infos())
@example({"endpoint": "https://push.example.net/x", "keys": {"p256dh": [], "auth": {}}})
@example({"endpoint": "https://[::1/x", "keys": {}})
def test_subscription_from_info_only_invalid_subscription(info: Any) -> None:
    try:
        sub = Subscription.from_info(info)
    except InvalidSubscription as e:
        assert e.field  # every refusal names the field it is about
        return
    if "keys" in info:
        assert sub.has_keys and len(sub.p256dh) == 65 and len(sub.auth) == 16
    else:  # for pushes without data (RFC 8030 §5)
        assert (sub.has_keys, sub.p256dh, sub.auth) == (False, b"", b"")
    assert Subscription.from_info(sub.to_info()) == sub
    assert not sub.auth or b64url_encode(sub.auth) not in repr(sub)


@FUZZ
@given(subscription_infos(), st.sampled_from([DEFAULT_POLICY, EndpointPolicy(allow_http=True)]))
def test_build_request_from_fuzzed_subscription_only_invalid_input(
    info: Any, policy: EndpointPolicy
) -> None:
    try:
        request = build_request(info, b"hi", endpoint_policy=policy)
    except InvalidInput as e:
        assert e.field
        return
    assert isinstance(request, PushRequest)
    assert request.url == info["endpoint"]


# --------------------------------------------------------------------------
# VAPID keys

SIGNER = Vapid()
_pem = SIGNER.private_pem()
_der = SIGNER.private_key.private_bytes(  # type: ignore[union-attr]
    serialization.Encoding.DER,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
_sec1_pem = SIGNER.private_key.private_bytes(  # type: ignore[union-attr]
    serialization.Encoding.PEM,
    serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption(),
)
_raw = SIGNER.private_key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]


def _pem_of(key: Any, password: Optional[bytes] = None) -> bytes:
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algorithm)
    )


FOREIGN_KEYS = [
    _pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    _pem_of(ec.generate_private_key(ec.SECP384R1())),
    _pem_of(ed25519.Ed25519PrivateKey.generate()),
    _pem_of(SIGNER.private_key, password=b"secret"),
    SIGNER.public_pem(),
]

key_strings = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.sampled_from([_pem, _sec1_pem, _der, *FOREIGN_KEYS]).flatmap(mutated),
    st.sampled_from([_pem.decode(), b64url_encode(_der), b64url_encode(_raw)]),
    st.sampled_from(FOREIGN_KEYS),
    st.binary(min_size=32, max_size=32).map(b64url_encode),
    st.sampled_from(
        [
            b64url_encode(b"\xff" * 32),  # scalar >= n
            b64url_encode(bytes(32)),  # zero
            "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----",
            "-----BEGIN",
            "\x00",
        ]
    ),
)


@FUZZ
@given(key_strings)
def test_vapid_from_string_only_vapid_error(text: Any) -> None:
    loaders: list[Callable[[Any], Vapid]] = [
        Vapid.from_string,
        Vapid.from_pem,
        Vapid.from_der,
        Vapid.from_raw,
        Vapid.from_raw_public,
    ]
    for load in loaders:
        try:
            key = load(text)
        except VapidError as e:
            assert e.field
            continue
        assert len(key.application_server_key) == 87


@FUZZ
@given(text=key_strings)
def test_vapid_from_file_only_vapid_error(tmp_path_factory: Any, text: Any) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzzed-key"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        key = Vapid.from_file(path)
    except VapidError as e:
        assert e.field  # anything else propagates and fails the test
        return
    assert len(key.application_server_key) == 87


# --------------------------------------------------------------------------
# VAPID verification (the push service's side)

AUD = "https://push.example.net"
CLAIMS = {"sub": "mailto:ops@example.com", "aud": AUD}
TOKEN_HEADERS = SIGNER.sign(CLAIMS)
TOKEN_01 = Vapid01.from_pem(_pem).sign(CLAIMS)
TOKEN = TOKEN_HEADERS["Authorization"].split("t=", 1)[1].split(",", 1)[0]
SIGNED_CLAIMS = [
    vapid.parse_authorization(TOKEN_HEADERS["Authorization"]).claims,
    vapid.parse_authorization(TOKEN_01["Authorization"], TOKEN_01["Crypto-Key"]).claims,
]


def _b64json(value: Any) -> str:
    return b64url_encode(json.dumps(value, default=repr).encode())


jwt_parts = st.one_of(
    st.just(TOKEN),
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", max_size=300
    ),
    st.builds(
        lambda h, p, s: f"{h}.{p}.{s}",
        st.one_of(json_like.map(_b64json), st.just(TOKEN.split(".")[0]), st.text(max_size=10)),
        st.one_of(json_like.map(_b64json), st.just(TOKEN.split(".")[1])),
        st.one_of(
            st.binary(max_size=70).map(b64url_encode), st.just(TOKEN.split(".")[2]), st.just("")
        ),
    ),
    st.just(TOKEN.encode()).flatmap(mutated).map(lambda b: b.decode("latin-1")),
)
key_params = st.one_of(
    st.just(SIGNER.application_server_key),
    st.just(b64url_encode(OTHER_POINT)),
    key_text,
)


@st.composite
def authorizations(draw: st.DrawFn) -> tuple[Any, Any]:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.one_of(st.text(max_size=200), json_like)), draw(
            st.one_of(st.none(), st.text(max_size=100), json_like)
        )
    token, key = draw(jwt_parts), draw(key_params)
    if kind == 1:
        scheme = draw(st.sampled_from(["vapid", "VAPID", "Vapid", "bearer", ""]))
        params = draw(
            st.permutations(
                [
                    f"t={token}",
                    f"k={key}",
                    *draw(st.sampled_from([[], [f"t={token}"], ["x"], ['k="a"']])),
                ]
            )
        )
        sep = draw(st.sampled_from([", ", ",", " , ", ";"]))
        return f"{scheme} {sep.join(params)}", draw(st.one_of(st.none(), st.text(max_size=20)))
    if kind == 2:
        scheme = draw(st.sampled_from(["WebPush", "webpush", "WEBPUSH"]))
        crypto_key = draw(
            st.one_of(
                st.just(f"p256ecdsa={key}"),
                st.just(f"dh=abc;p256ecdsa={key}"),
                st.just(f"p256ecdsa={key};p256ecdsa={b64url_encode(OTHER_POINT)}"),
                st.text(max_size=50),
                st.none(),
            )
        )
        return f"{scheme} {token}", crypto_key
    header = draw(st.sampled_from([TOKEN_HEADERS["Authorization"], TOKEN_01["Authorization"]]))
    return draw(mutated(header.encode())).decode("latin-1"), draw(
        st.sampled_from([None, TOKEN_01["Crypto-Key"]])
    )


@FUZZ
@given(authorizations(), st.sampled_from([None, AUD, "https://other.example"]))
@example(("vapid t=a.b.c, k=" + SIGNER.application_server_key, None), None)
@example((TOKEN_HEADERS["Authorization"], None), AUD)
def test_verify_fuzzed_headers_only_vapid_error(
    headers: tuple[Any, Any], audience: Optional[str]
) -> None:
    authorization, crypto_key = headers
    for verify in (
        lambda: vapid.parse_authorization(authorization, crypto_key, audience=audience).claims,
        lambda: SIGNER.verify(authorization, crypto_key, audience=audience),
    ):
        try:
            claims = verify()
        except VapidError as e:
            assert e.field in ("authorization", "crypto_key")
            continue
        # Only the genuine token verifies, and it says what was signed.
        assert claims in SIGNED_CLAIMS


def _signed_token(payload: bytes) -> str:
    header = b64url_encode(b'{"typ":"JWT","alg":"ES256"}')
    signing_input = f"{header}.{b64url_encode(payload)}"
    der = SIGNER.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr]
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.mark.parametrize(
    "exp", ["NaN", "Infinity", "-Infinity", "1e999", "true", '"9999999999"', "null", "1" * 5000]
)
def test_verify_refuses_non_finite_or_odd_exp(exp: str) -> None:
    # Found by fuzzing: json.loads reads NaN, and a NaN exp passed every
    # comparison, so a signed token with exp=NaN never expired.
    payload = f'{{"aud":"{AUD}","exp":{exp},"sub":"mailto:a@example.com"}}'.encode()
    authorization = f"vapid t={_signed_token(payload)}, k={SIGNER.application_server_key}"
    with pytest.raises(VapidError):
        vapid.parse_authorization(authorization)
    with pytest.raises(VapidError):
        SIGNER.verify(authorization)


# --------------------------------------------------------------------------
# What a push service answers

CHARSETS = [
    *sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())),
    "idna",
    "punycode",
    "undefined",
    "unicode_escape",
    "rot13",
    "base64",
    "no-such-charset",
    '"utf-8"',
    "",
]

http_dates = st.builds(
    lambda wd, d, mon, y, h, m, s, form: form.format(wd=wd, d=d, mon=mon, y=y, h=h, m=m, s=s),
    st.sampled_from(["Sun", "Mon", "Sunday", "Xyz"]),
    st.integers(0, 99),
    st.sampled_from(["Jan", "Feb", "Nov", "nov", "Foo"]),
    st.integers(0, 9999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from(
        [
            "{wd}, {d:02d} {mon} {y:04d} {h:02d}:{m:02d}:{s:02d} GMT",
            "{wd}, {d:02d}-{mon}-{y:02d} {h:02d}:{m:02d}:{s:02d} GMT",
            "{wd} {mon} {d:2d} {h:02d}:{m:02d}:{s:02d} {y:04d}",
        ]
    ),
)
retry_after_text = st.one_of(
    st.text(max_size=40),
    http_dates,
    st.integers(0, 10**30).map(str),
    st.integers(300, 6000).map(lambda n: "9" * n),
    st.sampled_from(["-1", "1.5", "0x10", "١٢", "  7 ", "", "\x00"]),
)
retry_after_values = st.one_of(st.none(), retry_after_text, json_like)


@CHEAP
@given(retry_after_values, st.one_of(st.none(), st.floats(0, 4e9)))
@example("9" * 400, None)
@example("9" * 5000, None)
@example("Sun, 06 Nov 0000 08:49:37 GMT", None)
def test_parse_retry_after_never_raises(value: Any, now: Optional[float]) -> None:
    seconds = parse_retry_after(value, now=now)
    # HTTP-dates reach year 9999: up to ~2.5e11 s, still a finite float.
    assert seconds is None or (isinstance(seconds, float) and 0 <= seconds < 3e11)


nested_json = st.integers(50, 60000).flatmap(
    lambda depth: st.sampled_from(
        [
            b"[" * depth,
            b'{"error":' * depth,
            b"[" * depth + b"]" * depth,
            b'{"a":' * depth + b"1" + b"}" * depth,
        ]
    )
)
json_bodies = st.one_of(
    json_like.map(lambda v: json.dumps(v, default=repr).encode()),
    st.fixed_dictionaries(
        {},
        optional={
            "error": json_like | st.fixed_dictionaries({"message": json_like, "status": json_like}),
            "message": json_like,
            "reason": json_like,
            "errno": json_like,
            "code": json_like,
        },
    ).map(lambda v: json.dumps(v, default=repr).encode()),
)
bodies = st.one_of(st.binary(max_size=2000), json_bodies, nested_json)
header_names = st.one_of(
    st.sampled_from(["Retry-After", "retry-after", "Content-Type", "Location", "X-Other"]),
    st.text(max_size=10),
)


@st.composite
def responses(draw: st.DrawFn) -> PushResponse:
    headers = draw(st.lists(st.tuples(header_names, st.text(max_size=60)), max_size=4))
    if draw(st.booleans()):
        headers.append(("Content-Type", f"text/plain; charset={draw(st.sampled_from(CHARSETS))}"))
    if draw(st.booleans()):
        headers.append(("Retry-After", draw(retry_after_text)))
    status = draw(st.one_of(st.integers(100, 599), st.integers(0, 2000)))
    return PushResponse(
        status, draw(st.text(max_size=30)), headers, draw(bodies), "https://x.example/p"
    )


@CHEAP
@given(responses())
def test_error_for_response_never_raises_and_is_bounded(response: PushResponse) -> None:
    error = error_for_response(response, response.url)
    if 200 <= response.status_code <= 202:
        assert error is None
        return
    assert isinstance(error, PushServiceError)
    assert error.response is response and error.status_code == response.status_code
    # The status, reason, hint and a clipped detail: bounded whatever the body.
    assert len(error.message) <= 800 + len(response.reason)
    assert isinstance(response.text, str)
    response.json()  # never raises: None for a body that is not JSON
    if 300 <= response.status_code <= 399:
        assert isinstance(error, PushRejected)


@pytest.mark.parametrize("charset", ["idna", "punycode", "undefined"])
def test_text_with_codecs_that_cannot_replace(charset: str) -> None:
    # Found by fuzzing: these raised UnicodeError out of .text (and so out of webpush()).
    response = PushResponse(
        400, "Bad", [("Content-Type", f"text/plain; charset={charset}")], b"\xff\xfe bad \x80"
    )
    assert "bad" in response.text
    error = error_for_response(response, "https://x.example/p")
    assert isinstance(error, PushRejected) and "bad" in error.message


def test_deeply_nested_json_error_body() -> None:
    # Found by fuzzing: json.loads raised RecursionError out of error_for_response.
    response = PushResponse(500, "Oops", [], b'{"error":' * 50000)
    error = error_for_response(response, "https://x.example/p")
    assert error is not None and error.message.startswith("Push failed: 500 Oops")
    assert PushResponse(500, "", [], b"[" * 50000 + b"]" * 50000).json() is None


# --------------------------------------------------------------------------
# Transport: a 100 MB response body is capped, not buffered


@pytest.fixture
def huge_answer_server() -> Iterator[str]:
    """Answers 500 with a 100 MB body (Content-Length), streamed until the client leaves."""
    size = 100 * 2**20
    head = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % size
    with Server(stream(head, b"x", total=size)) as server:
        yield f"{server.url}/push/x"


def test_transport_caps_a_100_mb_response(huge_answer_server: str) -> None:
    pool = make_pool_manager()
    request = PushRequest(url=huge_answer_server, headers={"TTL": "0"}, body=b"")
    tracemalloc.start()
    try:
        response = send_request(
            request,
            pool_manager=pool,
            timeout=5,
            policy=EndpointPolicy(allow_http=True, allow_private=True),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pool.clear()
    assert response.status_code == 500
    assert len(response.content) == 65536  # max_response_bytes
    # Measured ~0.3 MB: the 64 KiB kept, read buffers, the connection.
    assert peak < 4 * 2**20, peak
