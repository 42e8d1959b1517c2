"""ECE API: argument rules, ECEError for every failure, secrets kept out of messages,
encrypt_message / max_plaintext / EncryptedMessage, and no transport import."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any, Optional

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webpush_core import ece
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.ece._keys import content_key, key_secrets
from webpush_core.ece._records import build_header, record_nonce
from webpush_core.errors import ECEError, PayloadTooLarge, WebPushException

UA = generate_private_key()
UA_PUBLIC = uncompressed_point(UA.public_key())
AUTH = os.urandom(16)
KEY = os.urandom(16)
P384 = ec.generate_private_key(ec.SECP384R1()).public_key()


def webpush_decrypt(body: bytes, **kw: Any) -> bytes:
    return ece.decrypt(body, private_key=UA, auth_secret=AUTH, **kw)


# ---------------------------------------------------------------- public surface


def test_all_names_and_error_hierarchy() -> None:
    assert set(ece.__all__) == {
        "ECEError",
        "EncryptedMessage",
        "Step",
        "decrypt",
        "encrypt",
        "encrypt_message",
        "explain",
        "max_plaintext",
        "trace",
    }
    assert ece.ECEError is ECEError
    assert issubclass(ECEError, WebPushException)


def test_max_plaintext() -> None:
    assert ece.max_plaintext() == 3993 == 4096 - 86 - 16 - 1
    assert ece.max_plaintext("aesgcm") == 4078 == 4096 - 16 - 2
    # A smaller record size bounds it further: one record of rs octets.
    assert ece.max_plaintext("aes128gcm", rs=100) == 100 - 17
    assert ece.max_plaintext("aesgcm", rs=100) == 100 - 3
    with pytest.raises(ECEError):
        ece.max_plaintext("aesgcm128")
    with pytest.raises(ECEError):
        ece.max_plaintext("aes128gcm", rs=17)


# ---------------------------------------------------------------- encrypt_message


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_encrypt_message_fills_exactly_max_plaintext(version: str) -> None:
    limit = ece.max_plaintext(version)
    message = ece.encrypt_message(os.urandom(limit), UA_PUBLIC, AUTH, version=version)
    assert len(message.body) == 4096  # the RFC 8291 §4 bound, reached exactly
    with pytest.raises(PayloadTooLarge) as info:
        ece.encrypt_message(os.urandom(limit + 1), UA_PUBLIC, AUTH, version=version)
    assert info.value.field == "data"
    with pytest.raises(PayloadTooLarge):
        ece.encrypt_message(os.urandom(limit - 9), UA_PUBLIC, AUTH, version=version, padding=10)


def test_encrypt_message_aes128gcm_layout() -> None:
    message = ece.encrypt_message(b"hello", UA_PUBLIC, AUTH)
    body = message.body
    assert body[:16] == message.salt
    assert int.from_bytes(body[16:20], "big") == 4096  # one record, rs=4096
    assert body[20] == 65 and body[21:86] == message.as_public  # keyid: RFC 8291 §4
    assert len(body) == 86 + 5 + 1 + 16
    assert webpush_decrypt(body) == b"hello"
    assert message.headers() == {"Content-Encoding": "aes128gcm"}


def test_encrypt_message_aesgcm_and_headers() -> None:
    message = ece.encrypt_message(b"hello", UA_PUBLIC, AUTH, version="aesgcm")
    assert len(message.body) == 2 + 5 + 16
    plaintext = webpush_decrypt(
        message.body, salt=message.salt, dh=message.as_public, version="aesgcm"
    )
    assert plaintext == b"hello"
    headers = message.headers()
    assert headers["Content-Encoding"] == "aesgcm"
    assert headers["Encryption"].startswith("salt=") and "=" not in headers["Encryption"][5:]
    assert headers["Crypto-Key"].startswith("dh=")


def test_encrypt_message_accepts_a_loaded_key_and_fresh_keys_each_time() -> None:
    first = ece.encrypt_message(b"x", UA.public_key(), AUTH)
    second = ece.encrypt_message(b"x", UA_PUBLIC, AUTH)
    assert webpush_decrypt(first.body) == webpush_decrypt(second.body) == b"x"
    assert first.as_public != second.as_public and first.salt != second.salt


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_encrypt_message_padding(version: str) -> None:
    plain = ece.encrypt_message(b"abc", UA_PUBLIC, AUTH, version=version)
    padded = ece.encrypt_message(b"abc", UA_PUBLIC, AUTH, version=version, padding=100)
    assert len(padded.body) == len(plain.body) + 100
    extra = {} if version == "aes128gcm" else {"salt": padded.salt, "dh": padded.as_public}
    assert webpush_decrypt(padded.body, version=version, **extra) == b"abc"


def test_encrypted_message_repr_is_short_and_frozen() -> None:
    message = ece.encrypt_message(b"secret text", UA_PUBLIC, AUTH)
    text = repr(message)
    assert text == f"EncryptedMessage(version='aes128gcm', body=<{len(message.body)} octets>)"
    with pytest.raises(AttributeError):
        message.body = b""  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"ua_public": UA_PUBLIC[:64]}, ECEError),
        ({"ua_public": b"\x04" + bytes(64)}, ECEError),  # not on the curve
        ({"ua_public": "BCVx"}, ECEError),
        ({"ua_public": ec.generate_private_key(ec.SECP384R1()).public_key()}, ECEError),
        ({"auth_secret": AUTH[:15]}, ECEError),
        ({"auth_secret": None}, ECEError),
        ({"version": "aesgcm128"}, ECEError),
        ({"padding": -1}, ECEError),
        ({"salt": bytes(15)}, ECEError),
        ({"private_key": "not a key"}, ECEError),
        ({"plaintext": "text, not bytes"}, ECEError),
    ],
)
def test_encrypt_message_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    args: dict[str, Any] = {"plaintext": b"hi", "ua_public": UA_PUBLIC, "auth_secret": AUTH}
    args.update(kwargs)
    with pytest.raises(error):
        ece.encrypt_message(
            args.pop("plaintext"), args.pop("ua_public"), args.pop("auth_secret"), **args
        )


# ---------------------------------------------------------------- encrypt / decrypt rules


def test_random_salt_by_default_and_http_ece_keyid_rules() -> None:
    a = ece.encrypt(b"x", key=KEY)
    b = ece.encrypt(b"x", key=KEY)
    assert a[:16] != b[:16]
    assert a[20] == 0  # no keyid by default with an explicit key
    labelled = ece.encrypt(b"x", key=KEY, keyid="k1")
    assert labelled[20:23] == b"\x02k1"
    assert ece.decrypt(labelled, key=KEY) == b"x"
    sender = generate_private_key()
    sent = ece.encrypt(b"x", private_key=sender, dh=UA_PUBLIC, auth_secret=AUTH)
    assert sent[21:86] == uncompressed_point(sender.public_key())


def test_keyid_must_be_sender_key_with_dh() -> None:
    sender = generate_private_key()
    ok = uncompressed_point(sender.public_key())
    body = ece.encrypt(b"x", private_key=sender, dh=UA_PUBLIC, auth_secret=AUTH, keyid=ok)
    assert webpush_decrypt(body) == b"x"
    with pytest.raises(ECEError, match="keyid"):
        ece.encrypt(b"x", private_key=sender, dh=UA_PUBLIC, auth_secret=AUTH, keyid=b"other")


def test_dh_accepts_key_object() -> None:
    body = ece.encrypt(
        b"x", private_key=generate_private_key(), dh=UA.public_key(), auth_secret=AUTH
    )
    assert webpush_decrypt(body) == b"x"


@pytest.mark.parametrize(
    ("length", "rs", "padding", "records"),
    [(0, 18, 0, 1), (1, 18, 0, 1), (2, 18, 0, 2), (0, 18, 3, 3), (83, 100, 0, 1), (84, 100, 0, 2)],
)
def test_aes128gcm_record_count_is_minimal(
    length: int, rs: int, padding: int, records: int
) -> None:
    content = os.urandom(length)
    body = ece.encrypt(content, key=KEY, rs=rs, padding=padding)
    assert -(-(len(body) - 21) // rs) == records
    assert ece.decrypt(body, key=KEY) == content


@pytest.mark.parametrize(
    ("length", "rs", "padding", "records"),
    [(0, 3, 0, 1), (1, 3, 0, 2), (0, 100, 97, 1), (98, 100, 0, 2), (97, 100, 0, 1), (0, 3, 2, 3)],
)
def test_aesgcm_record_count_is_minimal(length: int, rs: int, padding: int, records: int) -> None:
    content = os.urandom(length)
    salt = os.urandom(16)
    body = ece.encrypt(content, salt=salt, key=KEY, rs=rs, padding=padding, version="aesgcm")
    assert -(-len(body) // (rs + 16)) == records
    assert len(body) % (rs + 16) != 0  # the last record is shorter than rs
    assert ece.decrypt(body, salt=salt, key=KEY, rs=rs, version="aesgcm") == content


# ---------------------------------------------------------------- every failure is an ECEError

SENDER = generate_private_key()
GOOD = ece.encrypt(b"hello", private_key=SENDER, dh=UA_PUBLIC, auth_secret=AUTH)
GOOD_KEYED = ece.encrypt(b"hello world", key=KEY, rs=18)  # 11 records


NO_RECORDS = (
    "truncated: the body is a header with no records (RFC 8188 §2: even an empty message "
    "has one record, its padding delimiter and tag)"
)
ALTERED = "record 0: authentication failed (wrong key, or the data was altered)"
SHORTER = "truncated: the last record must be shorter than the record size"


def _stable_id(value: object) -> Optional[str]:
    """A body's test id: its length (its octets come from a key made at import,
    and every process that collects these tests must name them alike)."""
    return f"{len(value)}-octets" if isinstance(value, bytes) else None


def _sealed(seq: int, plaintext: bytes) -> bytes:
    """Record ``seq`` of an aes128gcm body under KEY and a zero salt, sealed as given."""
    cek, nonce = content_key(bytes(16), *key_secrets("aes128gcm", KEY, None, None), None)
    return AESGCM(cek).encrypt(record_nonce(nonce, seq), plaintext, None)


def _record(seq: int, plaintext: bytes, rs: int = 4096) -> bytes:
    """A single-record aes128gcm body with a chosen record plaintext (RFC 8188 §2)."""
    salt = bytes(16)
    cek, nonce = content_key(salt, *key_secrets("aes128gcm", KEY, None, None), None)
    return build_header(salt, rs, b"") + AESGCM(cek).encrypt(
        record_nonce(nonce, seq), plaintext, None
    )


@pytest.mark.parametrize(
    ("body", "kwargs", "rule"),
    [
        (GOOD[:20], {}, "truncated header: 20 octets, need at least 21"),
        (GOOD_KEYED[:21], {"key": KEY}, NO_RECORDS),
        (GOOD[:85], {}, "truncated header: the keyid needs 65 octets"),  # keyid cut short
        (GOOD[:86], {}, NO_RECORDS),
        (
            GOOD[:16] + (17).to_bytes(4, "big") + GOOD[20:],
            {},
            "bad record size: rs=17, must be at least 18",
        ),
        (GOOD[:-1], {}, ALTERED),
        (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), {}, ALTERED),
        (GOOD[:86] + GOOD[86:102], {}, "record 0: truncated (16 octets)"),  # no longer than the tag
        (
            GOOD_KEYED[: 21 + 18],
            {"key": KEY},
            "record 0: bad delimiter 0x01, expected 0x02 (last record)",
        ),  # cut on a record boundary
        (
            _record(0, b"data\x01"),
            {"key": KEY},
            "record 0: bad delimiter 0x01, expected 0x02 (last record)",
        ),  # last record must end in 0x02
        (
            _record(0, b"data\x03\x00"),
            {"key": KEY},
            "record 0: bad delimiter 0x03, expected 0x02 (last record)",
        ),
        (_record(0, bytes(5)), {"key": KEY}, "record 0: all-zero plaintext, no delimiter"),
        (
            _record(0, b""),
            {"key": KEY},
            "record 0: truncated (16 octets)",
        ),  # a tag and nothing else
        (_record(1, b"data\x02"), {"key": KEY}, ALTERED),  # wrong sequence
        (b"", {}, "truncated header: 0 octets, need at least 21"),
        # Octets after the delimiter must be zeros, whatever they are.
        (
            _record(0, b"data\x02X"),
            {"key": KEY},
            "record 0: bad delimiter 0x58, expected 0x02 (last record)",
        ),
        (
            _record(0, b"da\x05\x02\x00\x07"),
            {"key": KEY},
            "record 0: bad delimiter 0x07, expected 0x02 (last record)",
        ),
        (
            build_header(bytes(16), 18, b"") + _sealed(0, b"d\x02") + _sealed(1, b"e\x02"),
            {"key": KEY},
            "record 0: bad delimiter 0x02, expected 0x01",
        ),
    ],
    ids=_stable_id,
)
def test_aes128gcm_decrypt_failures(body: bytes, kwargs: dict[str, Any], rule: str) -> None:
    args: dict[str, Any] = {"private_key": UA, "auth_secret": AUTH}
    if "key" in kwargs:
        args = kwargs
    with pytest.raises(ECEError) as caught:
        ece.decrypt(body, **args)
    assert str(caught.value) == rule


def test_keyid_not_a_point() -> None:
    body = ece.encrypt(b"x", key=KEY, keyid=b"\x04" + bytes(64))
    with pytest.raises(ECEError, match=r"^keyid: the point is not on the P-256 curve$"):
        webpush_decrypt(body)
    body = ece.encrypt(b"x", key=KEY, keyid=b"a1")
    with pytest.raises(ECEError) as caught:
        webpush_decrypt(body)
    assert str(caught.value) == (
        "keyid: expected a 65-byte uncompressed P-256 point (0x04||X||Y), got 2 bytes"
    )


def test_decrypt_takes_at_most_max_decrypt_octets() -> None:
    # One record of rs = 1 MiB: a body of exactly MAX_DECRYPT octets decrypts ...
    limit = 1 << 20
    content = os.urandom(limit - 21 - 1 - 16)
    body = ece.encrypt(content, key=KEY, rs=limit)
    assert len(body) == limit
    assert ece.decrypt(body, key=KEY) == content
    assert ece.decrypt(memoryview(body), key=KEY) == content
    # ... one octet more is refused before anything else is looked at.
    with pytest.raises(ECEError) as caught:
        ece.decrypt(body + b"\x00", key=KEY)
    assert (
        str(caught.value) == f"content: {limit + 1} octets, more than the {limit} decrypt accepts"
    )


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_default_record_size_is_4096_both_ways(version: str) -> None:
    content = os.urandom(10_000)  # three records of the default size
    salt = os.urandom(16)
    body = ece.encrypt(content, salt=salt, key=KEY, version=version)
    assert body == ece.encrypt(content, salt=salt, key=KEY, version=version, rs=4096)
    assert ece.decrypt(body, salt=salt, key=KEY, version=version) == content


def test_ecdh_with_a_key_off_the_curve_is_an_ece_error() -> None:
    from webpush_core.ece._keys import ecdh

    assert ecdh(UA, SENDER.public_key()) == SENDER.exchange(ec.ECDH(), UA.public_key())
    with pytest.raises(ECEError) as caught:
        ecdh(UA, P384)
    assert str(caught.value) == "dh: ECDH with this public key failed"


def _aesgcm(plaintext: bytes, rs: int = 4096) -> bytes:
    """One aesgcm record with a chosen plaintext (pad length included)."""
    cek, nonce = content_key(bytes(16), *key_secrets("aesgcm", KEY, None, None), None)
    return AESGCM(cek).encrypt(nonce, plaintext, None)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", SHORTER),
        (b"x" * 17, "record 0: truncated (17 octets)"),
        (_aesgcm(b"\x00"), "record 0: truncated (17 octets)"),  # shorter than the pad length
        (_aesgcm(b"\x00\x05abc"), "record 0: bad padding (pad length 5 exceeds the record)"),
        (_aesgcm(b"\x00\x03abc"), "record 0: bad padding (non-zero padding octets)"),
        (_aesgcm(b"\x00\x02\x00\x01abc"), "record 0: bad padding (non-zero padding octets)"),
        (_aesgcm(b"\x00\x00" + bytes(18), rs=20), SHORTER),  # a full last record
        (_aesgcm(b"\x00\x00abc")[:-1], ALTERED),
    ],
    ids=_stable_id,
)
def test_aesgcm_decrypt_failures(body: bytes, rule: str) -> None:
    rs = 20 if len(body) == 36 else 4096
    with pytest.raises(ECEError) as caught:
        ece.decrypt(body, salt=bytes(16), key=KEY, rs=rs, version="aesgcm")
    assert str(caught.value) == rule


def test_aesgcm_pad_length_is_honoured() -> None:
    body = _aesgcm(b"\x00\x03\x00\x00\x00abc")
    assert ece.decrypt(body, salt=bytes(16), key=KEY, version="aesgcm") == b"abc"


BAD_DH = UA_PUBLIC[:33]
KEYID_RULE = (
    "keyid: for aes128gcm with private_key and dh the keyid is the sender's public key "
    "(RFC 8291 §4); leave keyid out and it is written for you"
)
WEB_PUSH: dict[str, Any] = {
    "key": None,
    "private_key": SENDER,
    "dh": UA_PUBLIC,
    "auth_secret": AUTH,
}


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"version": "aesgcm128"}, "unknown version 'aesgcm128': use 'aes128gcm' or 'aesgcm'"),
        ({"version": None}, "unknown version NoneType: use 'aes128gcm' or 'aesgcm'"),
        ({"rs": 17}, "bad record size: rs=17, must be 18..4294967295 for aes128gcm"),
        ({"rs": 18}, None),  # the smallest record size: a tag and the delimiter
        ({"rs": 2**32}, "bad record size: rs=4294967296, must be 18..4294967295 for aes128gcm"),
        ({"rs": 2**32 - 1}, None),
        ({"rs": "4096"}, "rs: expected an integer, got str"),
        ({"rs": True}, "rs: expected an integer, got bool"),
        ({"rs": 2, "version": "aesgcm"}, "bad record size: rs=2, must be 3..4294967295 for aesgcm"),
        ({"rs": 3, "version": "aesgcm", "salt": bytes(16)}, None),
        ({"salt": bytes(15)}, "salt: must be 16 octets, got 15"),
        ({"salt": "a string"}, "salt: expected bytes, got str"),
        ({"key": bytes(15)}, "key: must be 16 octets, got 15"),
        ({"key": None}, "missing key: give key, or private_key (with dh)"),
        ({"key": None, "dh": UA_PUBLIC}, "private_key: dh needs our private key"),
        (
            {"key": None, "private_key": SENDER},
            "dh: private_key needs the receiver's public key (dh)",
        ),
        (
            {"private_key": SENDER, "dh": UA_PUBLIC},
            "key: give either key, or private_key (with dh), not both",
        ),
        ({**WEB_PUSH, "auth_secret": None}, "auth_secret: required for Web Push"),
        ({**WEB_PUSH, "auth_secret": AUTH[:8]}, "auth_secret: must be 16 octets, got 8"),
        # aesgcm with an explicit key mixes in an auth secret when given: checked as well.
        (
            {"version": "aesgcm", "salt": bytes(16), "auth_secret": AUTH[:15]},
            "auth_secret: must be 16 octets, got 15",
        ),
        ({"version": "aesgcm", "salt": bytes(16), "auth_secret": bytearray(AUTH)}, None),
        (
            {**WEB_PUSH, "dh": BAD_DH},
            "dh: expected a 65-byte uncompressed P-256 point (0x04||X||Y), got 33 bytes",
        ),
        ({**WEB_PUSH, "dh": b"\x04" + bytes(64)}, "dh: the point is not on the P-256 curve"),
        ({**WEB_PUSH, "dh": "BCVx"}, "dh: expected a 65-byte P-256 point, got str"),
        ({**WEB_PUSH, "dh": P384}, "dh: the public key must be on P-256"),
        (
            {**WEB_PUSH, "private_key": b"raw"},
            "private_key: expected a cryptography P-256 private key, got bytes",
        ),
        (
            {**WEB_PUSH, "private_key": ec.generate_private_key(ec.SECP384R1())},
            "private_key: the key must be on P-256",
        ),
        ({**WEB_PUSH, "keyid": b"other"}, KEYID_RULE),
        ({"padding": -1}, "padding: expected a non-negative integer (octets of padding)"),
        ({"padding": 1.5}, "padding: expected a non-negative integer (octets of padding)"),
        ({"keyid": b"k" * 256}, "keyid: at most 255 octets, got 256"),
        ({"keyid": b"k" * 255}, None),
        ({"keyid": 5}, "keyid: expected bytes, got int"),
        ({"keylabel": 5}, "keylabel: expected str, got int"),
        ({"keylabel": "\ud800"}, "keylabel: not encodable as UTF-8"),
        (
            {"padding": 70000, "rs": 70000, "version": "aesgcm"},
            "padding: more than this record size can carry (65535 per record)",
        ),
        # The last record would need 465 octets of padding past its 65535.
        (
            {"padding": 66000, "rs": 70000, "version": "aesgcm"},
            "padding: more than this record size can carry (65535 per record)",
        ),
        # A middle record that cannot be full: its padding is capped and the data runs out.
        (
            {"padding": 140000, "rs": 70000, "version": "aesgcm", "content": bytes(5000)},
            "padding: more than this record size can carry (65535 per record)",
        ),
    ],
)
def test_encrypt_argument_failures(kwargs: dict[str, Any], rule: Optional[str]) -> None:
    args: dict[str, Any] = {"key": KEY}
    args.update(kwargs)
    content = args.pop("content", b"content")
    if args.get("keylabel") is not None:
        args.update(WEB_PUSH, version="aesgcm")
    if rule is None:  # at the limit: accepted, and it decrypts
        body = ece.encrypt(content, **args)
        names = ("rs", "salt", "auth_secret")
        extra = {k: args[k] for k in names if k in args and args.get("version") == "aesgcm"}
        assert (
            ece.decrypt(body, key=KEY, version=args.get("version", "aes128gcm"), **extra) == content
        )
        return
    with pytest.raises(ECEError) as caught:
        ece.encrypt(content, **args)
    assert str(caught.value) == rule
    with pytest.raises(ECEError) as caught:
        ece.trace(content, **args)
    assert str(caught.value) == rule


def test_encrypt_content_must_be_bytes() -> None:
    with pytest.raises(ECEError, match=r"^content: expected bytes, got str$"):
        ece.encrypt("text", key=KEY)  # type: ignore[arg-type]
    with pytest.raises(ECEError, match=r"^content: expected bytes, got NoneType$"):
        ece.decrypt(None, key=KEY)  # type: ignore[arg-type]
    body = ece.encrypt(memoryview(b"view"), salt=bytearray(16), key=bytearray(KEY), keyid="k1")
    assert ece.decrypt(bytearray(body), key=memoryview(KEY)) == b"view"


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        (
            {"version": "aesgcm", "private_key": UA, "auth_secret": AUTH, "salt": bytes(16)},
            "dh: aesgcm needs the sender's public key (Crypto-Key dh)",
        ),
        ({"version": "aesgcm", "key": KEY}, "salt: required for aesgcm"),
        (
            {"version": "aesgcm", "key": KEY, "salt": bytes(16), "rs": 2},
            "bad record size: rs=2, must be 3..4294967295 for aesgcm",
        ),
        ({"private_key": UA}, "auth_secret: required for Web Push"),
        (
            {"private_key": UA, "auth_secret": AUTH, "key": KEY},
            "key: give either key, or private_key (with dh), not both",
        ),
        ({}, "missing key: give key, or private_key (with dh)"),
        ({"version": "nope", "key": KEY}, "unknown version 'nope': use 'aes128gcm' or 'aesgcm'"),
        ({"version": "aesgcm", "key": KEY, "salt": bytes(15)}, "salt: must be 16 octets, got 15"),
        ({"private_key": UA, "auth_secret": AUTH[:8]}, "auth_secret: must be 16 octets, got 8"),
        ({"key": KEY, "dh": UA_PUBLIC}, "private_key: dh needs our private key"),
    ],
)
def test_decrypt_argument_failures(kwargs: dict[str, Any], rule: str) -> None:
    with pytest.raises(ECEError) as caught:
        ece.decrypt(GOOD, **kwargs)
    assert str(caught.value) == rule


# ---------------------------------------------------------------- no secrets in errors

MARK_AUTH = b"AUTHSECRETMARK!"  # 15 octets: one short
MARK_KEY = b"KEYMATERIALMARK"


def _leaks(exc: BaseException, *secrets: bytes) -> list[str]:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    found = []
    for secret in secrets:
        for form in (
            secret.decode("latin-1"),
            repr(secret),
            secret.hex(),
            base64.urlsafe_b64encode(secret).decode().rstrip("="),
            base64.b64encode(secret).decode().rstrip("="),
        ):
            if form[:12] in text:
                found.append(form)
    return found


def test_leak_detector_detects() -> None:
    for form in (MARK_AUTH.hex(), repr(MARK_AUTH), base64.b64encode(MARK_AUTH).decode()):
        assert _leaks(ECEError(f"auth_secret {form} is bad"), MARK_AUTH)


def test_errors_never_contain_secrets() -> None:
    auth16 = MARK_AUTH + b"#"
    cases = [
        lambda: ece.encrypt(b"x", private_key=SENDER, dh=UA_PUBLIC, auth_secret=MARK_AUTH),
        lambda: ece.encrypt(b"x", key=MARK_KEY),  # 15 octets
        lambda: ece.encrypt_message(b"x", UA_PUBLIC, MARK_AUTH),
        lambda: ece.decrypt(GOOD, private_key=UA, auth_secret=auth16),  # wrong secret: bad tag
        lambda: ece.decrypt(GOOD_KEYED, key=MARK_KEY + b"#"),
        lambda: ece.decrypt(GOOD[:50], private_key=UA, auth_secret=auth16),
    ]
    for case in cases:
        with pytest.raises(ECEError) as info:
            case()
        assert _leaks(info.value, MARK_AUTH, MARK_KEY) == []


# ---------------------------------------------------------------- sans-IO


def test_import_pulls_in_no_transport() -> None:
    code = (
        "import sys, webpush_core.ece\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('urllib3', 'requests', 'http', 'socket', 'ssl') "
        "or m.startswith('webpush_core._wire.urllib3_'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"webpush_core.ece imported: {result.stdout}"


# ---------------------------------------------------------------- each error names the rule

OFF_CURVE = b"\x04" + bytes(64)


class Octets(int):
    """An int subclass (an IntEnum, a numpy-free counter): accepted where an int is."""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"plaintext": "text"}, "plaintext: expected bytes, got str"),
        ({"version": "aesgcm128"}, "unknown version 'aesgcm128': use 'aes128gcm' or 'aesgcm'"),
        ({"version": ["aesgcm"]}, "unknown version list: use 'aes128gcm' or 'aesgcm'"),
        ({"version": None}, "unknown version NoneType: use 'aes128gcm' or 'aesgcm'"),
        ({"version": "x" * 60}, f"unknown version '{'x' * 39}: use 'aes128gcm' or 'aesgcm'"),
        ({"padding": -1}, "padding: expected a non-negative integer (octets of padding)"),
        ({"padding": 1.5}, "padding: expected a non-negative integer (octets of padding)"),
        ({"padding": True}, "padding: expected a non-negative integer (octets of padding)"),
        (
            {"plaintext": bytes(3990), "padding": 4},
            "data: 3990 octets + 4 padding exceed the 3993 octets one aes128gcm record can "
            "carry (RFC 8291 §4)",
        ),
        (
            {"plaintext": bytes(4079), "version": "aesgcm"},
            "data: 4079 octets + 0 padding exceed the 4078 octets one aesgcm record can "
            "carry (RFC 8291 §4)",
        ),
        (
            {"ua_public": UA_PUBLIC[:64]},
            "ua_public: expected a 65-byte uncompressed P-256 point (0x04||X||Y), got 64 bytes",
        ),
        ({"ua_public": OFF_CURVE}, "ua_public: the point is not on the P-256 curve"),
        ({"ua_public": "BCVx"}, "ua_public: expected a 65-byte P-256 point, got str"),
        ({"ua_public": P384}, "ua_public: the public key must be on P-256"),
        (
            {"ua_public": P384, "ua_point": UA_PUBLIC},
            "ua_public: the public key must be on P-256",
        ),
        (
            {"ua_public": UA.public_key(), "ua_point": bytearray(UA_PUBLIC)},
            "ua_point: expected ua_public's 65-byte uncompressed point",
        ),
        (
            {"ua_public": UA.public_key(), "ua_point": UA_PUBLIC[:64]},
            "ua_point: expected ua_public's 65-byte uncompressed point",
        ),
        (
            {"ua_public": UA.public_key(), "ua_point": b"\x05" + UA_PUBLIC[1:]},
            "ua_point: expected ua_public's 65-byte uncompressed point",
        ),
        (
            {"ua_public": UA.public_key(), "ua_point": UA_PUBLIC + b"\x00"},
            "ua_point: expected ua_public's 65-byte uncompressed point",
        ),
        ({"auth_secret": AUTH[:15]}, "auth_secret: must be 16 octets, got 15"),
        ({"auth_secret": None}, "auth_secret: expected bytes, got NoneType"),
        ({"salt": bytes(15)}, "salt: must be 16 octets, got 15"),
        ({"salt": "s" * 16}, "salt: expected bytes, got str"),
        (
            {"private_key": "not a key"},
            "private_key: expected a cryptography P-256 private key, got str",
        ),
        (
            {"private_key": ec.generate_private_key(ec.SECP384R1())},
            "private_key: the key must be on P-256",
        ),
    ],
)
def test_encrypt_message_errors_name_the_argument_and_rule(
    kwargs: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"plaintext": b"hi", "ua_public": UA_PUBLIC, "auth_secret": AUTH}
    args.update(kwargs)
    with pytest.raises((ECEError, PayloadTooLarge)) as caught:
        ece.encrypt_message(
            args.pop("plaintext"), args.pop("ua_public"), args.pop("auth_secret"), **args
        )
    assert str(caught.value) == message
    assert isinstance(caught.value, PayloadTooLarge) is message.startswith("data:")


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_encrypt_message_takes_bytes_like_arguments_and_int_subclasses(version: str) -> None:
    message = ece.encrypt_message(
        bytearray(b"hello"),
        UA.public_key(),
        bytearray(AUTH),
        version=version,
        padding=Octets(3),
        salt=bytearray(bytes(16)),
        ua_point=UA_PUBLIC,
    )
    assert message.version == version and message.salt == bytes(16)
    extra = {} if version == "aes128gcm" else {"salt": message.salt, "dh": message.as_public}
    assert webpush_decrypt(message.body, version=version, **extra) == b"hello"
    assert (
        len(message.body)
        == len(ece.encrypt_message(b"hello", UA_PUBLIC, AUTH, version=version).body) + 3
    )


def test_encrypt_message_with_fixed_keys_is_the_rfc_8291_body() -> None:
    # The same inputs through the general encrypt (the key schedule written step by
    # step) and through the per-message recipe give the same octets.
    sender = generate_private_key()
    salt = os.urandom(16)
    for padding in (0, 7):
        message = ece.encrypt_message(
            b"same", UA_PUBLIC, AUTH, salt=salt, private_key=sender, padding=padding
        )
        general = ece.encrypt(
            b"same",
            salt=salt,
            private_key=sender,
            dh=UA_PUBLIC,
            auth_secret=AUTH,
            padding=padding,
        )
        assert message.body == general
        assert message.as_public == uncompressed_point(sender.public_key())


def test_the_hot_path_seal_is_a_one_record_aes128gcm_body() -> None:
    from webpush_core.ece._message import seal_aes128gcm_message

    for padding in (0, 5):
        body = seal_aes128gcm_message(b"fan-out", UA.public_key(), UA_PUBLIC, AUTH, padding)
        assert int.from_bytes(body[16:20], "big") == 4096 and body[20] == 65
        assert len(body) == 86 + len(b"fan-out") + 1 + padding + 16
        assert webpush_decrypt(body) == b"fan-out"
    first, second = (seal_aes128gcm_message(b"x", UA.public_key(), UA_PUBLIC, AUTH) for _ in "ab")
    assert first[:16] != second[:16]  # a fresh salt each time
    assert len(first) == 86 + 1 + 1 + 16  # no padding unless asked
    with pytest.raises(ECEError) as caught:
        seal_aes128gcm_message(b"x", P384, UA_PUBLIC, AUTH)
    assert str(caught.value) == "dh: ECDH with this public key failed"
