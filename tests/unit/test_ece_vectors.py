"""ECE against published vectors: RFC 8188 §3.1/§3.2, RFC 8291 App. A, aesgcm draft-04, RFC 5869.

Encryption is reproduced byte-exact from the fixed salt and keys; every
intermediate value of RFC 8291 Appendix A is reproduced through ``ece.trace``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from webpush_core import ece
from webpush_core._b64 import b64url_decode as unb64
from webpush_core._p256 import private_key_from_scalar
from webpush_core.ece._hkdf import hkdf_expand, hkdf_extract

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rfc-vectors.json").read_text()
)
A = VECTORS["rfc8291_appendix_a"]
R1 = VECTORS["rfc8188_3_1"]
R2 = VECTORS["rfc8188_3_2"]
G = VECTORS["aesgcm_draft04"]

RFC8291_STEPS = [
    "ecdh_secret",
    "PRK_key",
    "key_info",
    "IKM",
    "PRK",
    "cek_info",
    "CEK",
    "nonce_info",
    "NONCE",
    "header",
    "ciphertext",
]


def key(scalar_b64: str) -> ec.EllipticCurvePrivateKey:
    return private_key_from_scalar(unb64(scalar_b64))


def sender(vector: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """encrypt() arguments of a vector's application server."""
    return {
        "salt": unb64(vector["salt"]),
        "private_key": key(vector["as_private"]),
        "dh": unb64(vector["ua_public"]),
        "auth_secret": unb64(vector["auth_secret"]),
        **extra,
    }


AESGCM_SENDER = sender(G, version="aesgcm")


# ---------------------------------------------------------------- RFC 8291


def test_rfc8291_body_byte_exact() -> None:
    body = ece.encrypt(A["plaintext"].encode(), **sender(A))
    assert body == unb64(A["body"])


def test_rfc8291_body_byte_exact_via_encrypt_message() -> None:
    message = ece.encrypt_message(
        A["plaintext"].encode(),
        unb64(A["ua_public"]),
        unb64(A["auth_secret"]),
        salt=unb64(A["salt"]),
        private_key=key(A["as_private"]),
    )
    assert message.body == unb64(A["body"])
    assert message.salt == unb64(A["salt"])
    assert message.as_public == unb64(A["as_public"])
    assert message.version == "aes128gcm"


def test_rfc8291_every_intermediate_value_through_trace() -> None:
    steps = ece.trace(A["plaintext"].encode(), **sender(A))
    assert [name for name, _ in steps] == RFC8291_STEPS
    values = dict(steps)
    for name, expected in A["intermediate"].items():
        assert values[name] == unb64(expected), name
    assert values["header"] + values["ciphertext"] == unb64(A["body"])
    # RFC 8188 §2.1 header: salt | rs=4096 | idlen=65 | keyid = as_public (RFC 8291 §4).
    assert values["header"] == (
        unb64(A["salt"]) + (4096).to_bytes(4, "big") + b"\x41" + unb64(A["as_public"])
    )


def test_rfc8291_decrypt_as_the_user_agent() -> None:
    plaintext = ece.decrypt(
        unb64(A["body"]), private_key=key(A["ua_private"]), auth_secret=unb64(A["auth_secret"])
    )
    assert plaintext == A["plaintext"].encode()


def test_rfc8291_decrypt_with_explicit_dh_equals_keyid_path() -> None:
    plaintext = ece.decrypt(
        unb64(A["body"]),
        private_key=key(A["ua_private"]),
        dh=unb64(A["as_public"]),
        auth_secret=unb64(A["auth_secret"]),
    )
    assert plaintext == A["plaintext"].encode()


def test_rfc8291_wrong_auth_secret_fails() -> None:
    with pytest.raises(ece.ECEError):
        ece.decrypt(unb64(A["body"]), private_key=key(A["ua_private"]), auth_secret=bytes(16))


# ---------------------------------------------------------------- RFC 8188


def test_rfc8188_3_1_body_byte_exact() -> None:
    body = ece.encrypt(R1["plaintext"].encode(), salt=unb64(R1["salt"]), key=unb64(R1["key"]))
    assert body == unb64(R1["body"])


def test_rfc8188_3_1_decrypt() -> None:
    assert ece.decrypt(unb64(R1["body"]), key=unb64(R1["key"])) == R1["plaintext"].encode()


def test_rfc8188_3_2_decrypt_multi_record_with_keyid() -> None:
    body = unb64(R2["body"])
    assert body[16:20] == (25).to_bytes(4, "big") and body[20:23] == b"\x02a1"
    assert ece.decrypt(body, key=unb64(R2["key"])) == R2["plaintext"].encode()


def test_rfc8188_3_2_body_byte_exact() -> None:
    # The example has two 25-octet records, one octet of padding in the first
    # (padding first, as our encoder lays it out). Its salt is in the body.
    body = unb64(R2["body"])
    ours = ece.encrypt(
        R2["plaintext"].encode(),
        salt=body[:16],
        key=unb64(R2["key"]),
        keyid=R2["keyid"],
        rs=R2["rs"],
        padding=1,
    )
    assert ours == body


def test_key_mode_trace_starts_at_ikm() -> None:
    steps = ece.trace(R1["plaintext"].encode(), salt=unb64(R1["salt"]), key=unb64(R1["key"]))
    assert [name for name, _ in steps] == RFC8291_STEPS[3:]
    assert dict(steps)["IKM"] == unb64(R1["key"])


# ---------------------------------------------------------------- aesgcm draft-04


def test_aesgcm_draft04_body_byte_exact() -> None:
    body = ece.encrypt(G["plaintext"].encode(), **AESGCM_SENDER)
    assert body == unb64(G["body"])


def test_aesgcm_draft04_decrypt() -> None:
    plaintext = ece.decrypt(
        unb64(G["body"]),
        salt=unb64(G["salt"]),
        private_key=key(G["ua_private"]),
        dh=unb64(G["as_public"]),
        auth_secret=unb64(G["auth_secret"]),
        version="aesgcm",
    )
    assert plaintext == G["plaintext"].encode()


def test_aesgcm_trace_names_and_context() -> None:
    steps = ece.trace(G["plaintext"].encode(), **AESGCM_SENDER)
    names = [name for name, _ in steps]
    assert names == [
        "ecdh_secret",
        "auth_info",
        "PRK_combine",
        "IKM",
        "context",
        "PRK",
        "cek_info",
        "CEK",
        "nonce_info",
        "NONCE",
        "ciphertext",
    ]
    values = dict(steps)
    ua, sender = unb64(G["ua_public"]), unb64(G["as_public"])
    context = b"P-256\x00\x00\x41" + ua + b"\x00\x41" + sender
    assert values["auth_info"] == b"Content-Encoding: auth\x00"
    assert values["context"] == context
    assert values["cek_info"] == b"Content-Encoding: aesgcm\x00" + context
    assert values["nonce_info"] == b"Content-Encoding: nonce\x00" + context
    assert values["ciphertext"] == unb64(G["body"])


@pytest.mark.parametrize("mixed", [True, False])
def test_aesgcm_key_mode_trace(mixed: bool) -> None:
    # An explicit key: with an auth secret it is mixed in first (as http_ece does),
    # without one it is the IKM as is; the cek_info is aesgcm's either way.
    key, salt, auth = os.urandom(16), os.urandom(16), os.urandom(16)
    extra = {"auth_secret": auth} if mixed else {}
    steps = ece.trace(b"x", salt=salt, key=key, version="aesgcm", **extra)
    names = [name for name, _ in steps]
    tail = ["PRK", "cek_info", "CEK", "nonce_info", "NONCE", "ciphertext"]
    values = dict(steps)
    if mixed:
        assert names == ["key", "auth_info", "PRK_combine", "IKM", *tail]
        assert values["key"] == key
        assert values["PRK_combine"] == hkdf_extract(auth, key)
        assert values["IKM"] == hkdf_expand(
            values["PRK_combine"], b"Content-Encoding: auth\x00", 32
        )
    else:
        assert names == ["IKM", *tail]
        assert values["IKM"] == key
    assert values["cek_info"] == b"Content-Encoding: aesgcm\x00"
    assert values["PRK"] == hkdf_extract(salt, values["IKM"])
    assert values["ciphertext"] == ece.encrypt(b"x", salt=salt, key=key, version="aesgcm", **extra)


# ---------------------------------------------------------------- HKDF (RFC 5869)


def test_hkdf_rfc5869_case_1() -> None:
    # RFC 5869 Appendix A.1.
    ikm = bytes([0x0B]) * 22
    salt = bytes(range(0x0D))
    info = bytes(range(0xF0, 0xFA))
    prk = hkdf_extract(salt, ikm)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    assert hkdf_expand(prk, info, 42).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pytest.mark.parametrize("length", [0, 1, 12, 16, 31, 32, 33, 64, 100, 255 * 32])
def test_hkdf_matches_cryptography(length: int) -> None:
    salt, ikm, info = os.urandom(16), os.urandom(32), os.urandom(40)
    oracle = HKDF(algorithm=hashes.SHA256(), length=max(length, 1), salt=salt, info=info)
    expected = oracle.derive(ikm)[:length]
    assert hkdf_expand(hkdf_extract(salt, ikm), info, length) == expected


def test_hkdf_expand_refuses_impossible_length() -> None:
    # RFC 5869 §2.3: L <= 255 * HashLen.
    for length in (255 * 32 + 1, -1):
        with pytest.raises(ValueError, match=r"^HKDF-Expand length must be 0\.\.8160 octets$"):
            hkdf_expand(bytes(32), b"", length)
