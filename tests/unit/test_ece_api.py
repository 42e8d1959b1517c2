"""ECE API: argument rules, ECEError for every failure, secrets kept out of messages,
encrypt_message / max_plaintext / EncryptedMessage, and no transport import."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

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
        (GOOD[:20], {}, "truncated header"),
        (GOOD_KEYED[:21], {"key": KEY}, "no records"),
        (GOOD[:85], {}, "truncated header"),  # keyid cut short
        (GOOD[:86], {}, "no records"),
        (GOOD[:16] + (17).to_bytes(4, "big") + GOOD[20:], {}, "record size"),
        (GOOD[:-1], {}, "authentication failed"),
        (GOOD[:-1] + bytes([GOOD[-1] ^ 1]), {}, "authentication failed"),
        (GOOD[:86] + GOOD[86:102], {}, "truncated"),  # a record no longer than the tag
        (GOOD_KEYED[: 21 + 18], {"key": KEY}, "delimiter"),  # cut on a record boundary
        (_record(0, b"data\x01"), {"key": KEY}, "delimiter"),  # last record must end in 0x02
        (_record(0, b"data\x03\x00"), {"key": KEY}, "delimiter"),
        (_record(0, bytes(5)), {"key": KEY}, "all-zero"),
        (_record(0, b""), {"key": KEY}, "truncated"),  # a tag and nothing else
        (_record(1, b"data\x02"), {"key": KEY}, "authentication failed"),  # wrong sequence
        (b"", {}, "truncated header"),
    ],
)
def test_aes128gcm_decrypt_failures(body: bytes, kwargs: dict[str, Any], rule: str) -> None:
    args: dict[str, Any] = {"private_key": UA, "auth_secret": AUTH}
    if "key" in kwargs:
        args = kwargs
    with pytest.raises(ECEError, match=rule):
        ece.decrypt(body, **args)


def test_keyid_not_a_point() -> None:
    body = ece.encrypt(b"x", key=KEY, keyid=b"\x04" + bytes(64))
    with pytest.raises(ECEError, match=r"keyid.*curve"):
        webpush_decrypt(body)
    body = ece.encrypt(b"x", key=KEY, keyid=b"a1")
    with pytest.raises(ECEError, match=r"keyid.*65"):
        webpush_decrypt(body)


def _aesgcm(plaintext: bytes, rs: int = 4096) -> bytes:
    """One aesgcm record with a chosen plaintext (pad length included)."""
    cek, nonce = content_key(bytes(16), *key_secrets("aesgcm", KEY, None, None), None)
    return AESGCM(cek).encrypt(nonce, plaintext, None)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b"", "truncated"),
        (b"x" * 17, "truncated"),
        (_aesgcm(b"\x00"), "truncated"),  # shorter than the pad length
        (_aesgcm(b"\x00\x05abc"), "bad padding"),  # pad length beyond the record
        (_aesgcm(b"\x00\x02\x00\x01abc"), "bad padding"),  # non-zero padding
        (_aesgcm(b"\x00\x00" + bytes(18), rs=20), "truncated"),  # a full last record
        (_aesgcm(b"\x00\x00abc")[:-1], "authentication failed"),
    ],
)
def test_aesgcm_decrypt_failures(body: bytes, rule: str) -> None:
    rs = 20 if len(body) == 36 else 4096
    with pytest.raises(ECEError, match=rule):
        ece.decrypt(body, salt=bytes(16), key=KEY, rs=rs, version="aesgcm")


def test_aesgcm_pad_length_is_honoured() -> None:
    body = _aesgcm(b"\x00\x03\x00\x00\x00abc")
    assert ece.decrypt(body, salt=bytes(16), key=KEY, version="aesgcm") == b"abc"


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"version": "aesgcm128"}, "unknown version"),
        ({"version": None}, "unknown version"),
        ({"rs": 17}, "record size"),
        ({"rs": 2**32}, "record size"),
        ({"rs": "4096"}, "rs"),
        ({"rs": 2, "version": "aesgcm"}, "record size"),
        ({"salt": bytes(15)}, "salt"),
        ({"salt": "a string"}, "salt"),
        ({"key": bytes(15)}, "key"),
        ({"key": None}, "missing key"),
        ({"key": None, "dh": UA_PUBLIC}, "private_key"),
        ({"key": None, "private_key": SENDER}, "dh"),
        ({"private_key": SENDER, "dh": UA_PUBLIC}, "not both"),
        ({"key": None, "private_key": SENDER, "dh": UA_PUBLIC}, "auth_secret"),
        ({"key": None, "private_key": SENDER, "dh": UA_PUBLIC, "auth_secret": AUTH[:8]}, "16"),
        ({"key": None, "private_key": SENDER, "dh": UA_PUBLIC[:33], "auth_secret": AUTH}, "dh"),
        (
            {"key": None, "private_key": SENDER, "dh": b"\x04" + bytes(64), "auth_secret": AUTH},
            "curve",
        ),
        ({"key": None, "private_key": b"raw", "dh": UA_PUBLIC, "auth_secret": AUTH}, "private"),
        ({"padding": -1}, "padding"),
        ({"padding": 1.5}, "padding"),
        ({"keyid": b"k" * 256}, "keyid"),
        ({"keyid": 5}, "keyid"),
        ({"keylabel": 5}, "keylabel"),
        ({"padding": 70000, "rs": 70000, "version": "aesgcm"}, "padding"),
    ],
)
def test_encrypt_argument_failures(kwargs: dict[str, Any], rule: str) -> None:
    args: dict[str, Any] = {"key": KEY}
    args.update(kwargs)
    if args.get("keylabel") is not None:
        args.update(key=None, private_key=SENDER, dh=UA_PUBLIC, auth_secret=AUTH, version="aesgcm")
    with pytest.raises(ECEError, match=rule):
        ece.encrypt(b"content", **args)
    with pytest.raises(ECEError):
        ece.trace(b"content", **args)


def test_encrypt_content_must_be_bytes() -> None:
    with pytest.raises(ECEError, match="content"):
        ece.encrypt("text", key=KEY)  # type: ignore[arg-type]
    with pytest.raises(ECEError, match="content"):
        ece.decrypt(None, key=KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"version": "aesgcm", "private_key": UA, "auth_secret": AUTH, "salt": bytes(16)}, "dh"),
        ({"version": "aesgcm", "key": KEY}, "salt"),
        ({"version": "aesgcm", "key": KEY, "salt": bytes(16), "rs": 2}, "record size"),
        ({"private_key": UA}, "auth_secret"),
        ({"private_key": UA, "auth_secret": AUTH, "key": KEY}, "not both"),
        ({}, "missing key"),
        ({"version": "nope", "key": KEY}, "unknown version"),
    ],
)
def test_decrypt_argument_failures(kwargs: dict[str, Any], rule: str) -> None:
    with pytest.raises(ECEError, match=rule):
        ece.decrypt(GOOD, **kwargs)


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
        "or m.startswith('webpush_core._wire.urllib3_transport'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "", f"webpush_core.ece imported: {result.stdout}"
