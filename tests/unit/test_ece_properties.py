"""Property tests (hypothesis): round trips, minimal record counts, and that every
mutation, truncation or random input is refused with ECEError (never another exception).

What RFC 8188 does not authenticate: the header's ``rs`` (a larger rs over
records that still split the same way describes the same body) and, with an
explicit key, the ``keyid``. A mutation there may decrypt; it must then give
the original plaintext. Every other octet is covered by the AEAD tag or the
ECDH (the keyid is the sender key in Web Push mode).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webpush_core import ece
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import ECEError

UA = generate_private_key()
UA_PUBLIC = uncompressed_point(UA.public_key())
AUTH = os.urandom(16)
KEY = os.urandom(16)
SENDER = generate_private_key()

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

payloads = st.binary(max_size=600)
versions = st.sampled_from(["aes128gcm", "aesgcm"])


def _rs(version: str) -> st.SearchStrategy[int]:
    return st.integers(min_value=18 if version == "aes128gcm" else 3, max_value=300)


@st.composite
def keyed_cases(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(versions)
    return {
        "data": draw(payloads),
        "version": version,
        "rs": draw(_rs(version)),
        "padding": draw(st.integers(min_value=0, max_value=300)),
        "salt": draw(st.binary(min_size=16, max_size=16)),
    }


def _encrypt_keyed(case: dict[str, Any], keyid: bytes = b"", padding_cap: int = 40) -> bytes:
    return ece.encrypt(
        case["data"],
        salt=case["salt"],
        key=KEY,
        keyid=keyid,
        rs=case["rs"],
        version=case["version"],
        padding=min(case["padding"], padding_cap),
    )


def _decrypt_keyed(body: bytes, case: dict[str, Any]) -> bytes:
    return ece.decrypt(body, salt=case["salt"], key=KEY, rs=case["rs"], version=case["version"])


@FAST
@given(keyed_cases())
def test_round_trip_any_payload_record_size_and_padding(case: dict[str, Any]) -> None:
    data, version, rs, padding = case["data"], case["version"], case["rs"], case["padding"]
    body = _encrypt_keyed(case, padding_cap=padding)
    assert _decrypt_keyed(body, case) == data
    # Never more records than the content and padding need (at least one).
    if version == "aes128gcm":
        records = -(-(len(body) - 21) // rs)
        assert records == max(1, -(-(len(data) + padding) // (rs - 17)))
        assert len(body) == 21 + len(data) + padding + records * 17
    else:
        records = -(-len(body) // (rs + 16))
        assert records == (len(data) + padding) // (rs - 2) + 1
        assert len(body) == len(data) + padding + records * 18


@settings(max_examples=40, deadline=None)
@given(payloads, versions, st.sampled_from([18, 25, 100, 4096]), st.integers(0, 100))
def test_round_trip_webpush_mode(data: bytes, version: str, rs: int, padding: int) -> None:
    salt = os.urandom(16)
    body = ece.encrypt(
        data,
        salt=salt,
        private_key=SENDER,
        dh=UA_PUBLIC,
        auth_secret=AUTH,
        rs=rs,
        version=version,
        padding=padding,
    )
    dh = {"dh": uncompressed_point(SENDER.public_key())} if version == "aesgcm" else {}
    plaintext = ece.decrypt(
        body, salt=salt, private_key=UA, auth_secret=AUTH, rs=rs, version=version, **dh
    )
    assert plaintext == data


def _unauthenticated(version: str, position: int, keyed: bool, body: bytes) -> bool:
    if version != "aes128gcm":
        return False
    in_rs = 16 <= position < 20
    in_keyid = keyed and 21 <= position < 21 + body[20]
    return in_rs or in_keyid


@FAST
@given(keyed_cases(), st.data())
def test_any_single_octet_mutation_is_refused(case: dict[str, Any], data: st.DataObject) -> None:
    body = _encrypt_keyed(case, keyid=data.draw(st.binary(max_size=8)))
    position = data.draw(st.integers(0, len(body) - 1))
    mutated = bytearray(body)
    mutated[position] ^= data.draw(st.integers(1, 255))
    try:
        plaintext = _decrypt_keyed(bytes(mutated), case)
    except ECEError:
        return
    assert _unauthenticated(case["version"], position, True, body), position
    assert plaintext == case["data"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), versions, st.data())
def test_any_mutation_in_webpush_mode_is_refused(
    data: bytes, version: str, draw: st.DataObject
) -> None:
    message = ece.encrypt_message(data, UA_PUBLIC, AUTH, version=version)
    body = message.body
    position = draw.draw(st.integers(0, len(body) - 1))
    mutated = bytearray(body)
    mutated[position] ^= draw.draw(st.integers(1, 255))
    extra = {"salt": message.salt, "dh": message.as_public} if version == "aesgcm" else {}
    try:
        plaintext = ece.decrypt(
            bytes(mutated), private_key=UA, auth_secret=AUTH, version=version, **extra
        )
    except ECEError:
        return
    assert _unauthenticated(version, position, False, body), position
    assert plaintext == data


@FAST
@given(keyed_cases(), st.data())
def test_any_truncation_is_refused(case: dict[str, Any], data: st.DataObject) -> None:
    body = _encrypt_keyed(case)
    cut = data.draw(st.integers(0, len(body) - 1))
    try:
        _decrypt_keyed(body[:cut], case)
    except ECEError:
        return
    raise AssertionError(f"a body truncated to {cut} of {len(body)} octets was accepted")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), versions, st.integers(0, 2), st.data())
def test_random_bytes_raise_ece_error(
    garbage: bytes, version: str, mode: int, data: st.DataObject
) -> None:
    if mode == 0:
        kwargs: dict[str, Any] = {"key": KEY}
    elif mode == 1:
        kwargs = {"private_key": UA, "auth_secret": AUTH}
    else:
        kwargs = {
            "private_key": UA,
            "auth_secret": AUTH,
            "dh": data.draw(st.binary(min_size=65, max_size=65)),
        }
    if version == "aesgcm":
        kwargs.setdefault("dh", UA_PUBLIC)
        if mode == 0:
            del kwargs["dh"]
        kwargs["salt"] = data.draw(st.binary(min_size=16, max_size=16))
        kwargs["rs"] = data.draw(st.integers(3, 5000))
    try:
        ece.decrypt(garbage, version=version, **kwargs)
    except ECEError:
        return
    raise AssertionError("random bytes decrypted")


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=21, max_size=200), st.integers(18, 2**32 - 1), st.binary(max_size=255))
def test_random_records_behind_a_valid_header_raise_ece_error(
    records: bytes, rs: int, keyid: bytes
) -> None:
    header = os.urandom(16) + rs.to_bytes(4, "big") + bytes((len(keyid),)) + keyid
    for kwargs in ({"key": KEY}, {"private_key": UA, "auth_secret": AUTH}):
        try:
            ece.decrypt(header + records, **kwargs)  # type: ignore[arg-type]
        except ECEError:
            continue
        raise AssertionError("random records decrypted")
