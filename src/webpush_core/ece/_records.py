"""Record framing: RFC 8188 (aes128gcm) and the legacy aesgcm coding.

aes128gcm (RFC 8188 §2): a header ``salt(16) | rs(uint32) | idlen(uint8) |
keyid`` then records of exactly ``rs`` octets (the last may be shorter), each
``AEAD(data | delimiter | 0x00*)``: delimiter 0x01 on every record but the
last, 0x02 on the last, which is how truncation is detected.

aesgcm (draft-ietf-httpbis-encryption-encoding-03 §2): no header (salt and
rs travel in the ``Encryption`` header), records of ``rs`` plaintext octets
(``rs + 16`` on the wire), each ``AEAD(uint16 padlen | 0x00*padlen | data)``;
the last record must be shorter than ``rs`` (an empty one is appended if
needed), which is how truncation is detected there.

The nonce of record ``seq`` is NONCE XOR seq (RFC 8188 §2.3).
"""

from __future__ import annotations

from typing import Callable, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _AESGCM

from ..errors import ECEError
from ._keys import AES128GCM, NONCE_LEN, Steps

__all__ = [
    "AES128GCM_MIN_RS",
    "AESGCM_MIN_RS",
    "HEADER_LEN",
    "MAX_RS",
    "SALT_LEN",
    "TAG_LEN",
    "build_header",
    "open_aes128gcm",
    "open_aesgcm",
    "parse_header",
    "seal_aes128gcm",
    "seal_aesgcm",
    "seal_body",
]

Buffer = Union[bytes, bytearray, memoryview]

SALT_LEN = 16
TAG_LEN = 16
HEADER_LEN = 21  # salt(16) | rs(4) | idlen(1), before the keyid
MAX_KEYID_LEN = 255
MAX_RS = 0xFFFFFFFF  # rs is a uint32 in the aes128gcm header
# RFC 8188 §2.1: a record must hold the tag and the delimiter: rs >= 18.
AES128GCM_MIN_RS = TAG_LEN + 2
# aesgcm: rs counts plaintext octets; a record needs the 2-octet pad length,
# and the last one must be shorter than rs: rs >= 3 (as http_ece).
AESGCM_MIN_RS = 3
MAX_AESGCM_PAD = 0xFFFF

_DELIMITER = b"\x01"
_LAST_DELIMITER = b"\x02"


def record_nonce(nonce: bytes, seq: int) -> bytes:
    """RFC 8188 §2.3: the nonce of record ``seq`` is NONCE XOR seq (big-endian)."""
    if seq == 0:
        return nonce
    return (int.from_bytes(nonce, "big") ^ seq).to_bytes(NONCE_LEN, "big")


def build_header(salt: bytes, rs: int, keyid: bytes) -> bytes:
    """RFC 8188 §2.1: salt | rs | idlen | keyid."""
    if len(keyid) > MAX_KEYID_LEN:
        raise ECEError(f"keyid: at most {MAX_KEYID_LEN} octets, got {len(keyid)}")
    return b"".join((salt, rs.to_bytes(4, "big"), bytes((len(keyid),)), keyid))


def parse_header(body: Buffer) -> tuple[bytes, int, bytes, int]:
    """RFC 8188 §2.1: (salt, rs, keyid, offset of the first record)."""
    if len(body) < HEADER_LEN:
        raise ECEError(f"truncated header: {len(body)} octets, need at least {HEADER_LEN}")
    salt = bytes(body[:SALT_LEN])
    rs = int.from_bytes(body[SALT_LEN : SALT_LEN + 4], "big")
    idlen = body[HEADER_LEN - 1]
    start = HEADER_LEN + idlen
    if len(body) < start:
        raise ECEError(f"truncated header: the keyid needs {idlen} octets")
    if rs < AES128GCM_MIN_RS:
        raise ECEError(f"bad record size: rs={rs}, must be at least {AES128GCM_MIN_RS}")
    return salt, rs, bytes(body[HEADER_LEN:start]), start


def seal_body(
    version: str,
    cek: bytes,
    nonce: bytes,
    content: Buffer,
    *,
    salt: bytes,
    rs: int,
    keyid: bytes,
    padding: int,
    steps: Steps,
) -> bytes:
    """The whole encrypted body: the aes128gcm header and records, or the aesgcm records.

    ``steps`` (``ece.trace``) gets ``header`` (aes128gcm only) and ``ciphertext``
    (the records).
    """
    if version == AES128GCM:
        header = build_header(salt, rs, keyid)
        records = seal_aes128gcm(cek, nonce, content, rs, padding)
        if steps is not None:
            steps += [("header", header), ("ciphertext", records)]
        return header + records
    records = seal_aesgcm(cek, nonce, content, rs, padding)
    if steps is not None:
        steps.append(("ciphertext", records))
    return records


def _layout(length: int, padding: int, rooms: list[int], max_pad: int) -> list[tuple[int, int]]:
    """(padding, data) octets for each record: padding first, each record filled in turn.

    Padding first is how RFC 8188 §3.2 lays out its example. With the minimum
    number of records every record but the last comes out full, as framing needs.
    """
    plan = []
    for seq, room in enumerate(rooms):
        pad = min(padding, room, max_pad)
        size = min(length, room - pad)
        plan.append((pad, size))
        padding -= pad
        length -= size
        if pad + size < room and (padding or seq < len(rooms) - 1):
            # A gap before more padding or another record: only aesgcm's
            # 65535 cap on padding per record can cause it.
            raise ECEError("padding: more than this record size can carry (65535 per record)")
    return plan


def seal_aes128gcm(cek: bytes, nonce: bytes, content: Buffer, rs: int, padding: int) -> bytes:
    """The records of an aes128gcm body (RFC 8188 §2), header not included.

    Each record carries up to ``rs - 17`` octets of data plus padding (zero
    octets after the delimiter); we write as few records as that allows, at
    least one.
    """
    capacity = rs - TAG_LEN - 1
    if len(content) + padding <= capacity:  # the Web Push case: one record
        tail = _LAST_DELIMITER + bytes(padding) if padding else _LAST_DELIMITER
        return _AESGCM(cek).encrypt(nonce, bytes(content) + tail, None)
    count = -(-(len(content) + padding) // capacity)

    def frame(seq: int, pad: int, data: Buffer) -> bytes:
        delimiter = _LAST_DELIMITER if seq == count - 1 else _DELIMITER
        return b"".join((data, delimiter, bytes(pad)))

    plan = _layout(len(content), padding, [capacity] * count, capacity)
    return _seal_records(cek, nonce, content, plan, frame)


def open_aes128gcm(cek: bytes, nonce: bytes, records: Buffer, rs: int) -> bytes:
    """Decrypt and unpad the records of an aes128gcm body (RFC 8188 §2)."""
    if not records:
        raise ECEError(
            "truncated: the body is a header with no records (RFC 8188 §2: even an empty "
            "message has one record, its padding delimiter and tag)"
        )

    def unframe(seq: int, plaintext: bytes, last: bool) -> bytes:
        plaintext = plaintext.rstrip(b"\x00")
        if not plaintext:
            raise ECEError(f"record {seq}: all-zero plaintext, no delimiter")
        if plaintext[-1] != (2 if last else 1):
            raise ECEError(
                f"record {seq}: bad delimiter {plaintext[-1]:#04x}, "
                f"expected {'0x02 (last record)' if last else '0x01'}"
            )
        return plaintext[:-1]

    return _open_records(cek, nonce, records, rs, min_len=TAG_LEN + 1, unframe=unframe)


def seal_aesgcm(cek: bytes, nonce: bytes, content: Buffer, rs: int, padding: int) -> bytes:
    """The records of an aesgcm body (aesgcm draft §2).

    Each record holds up to ``rs`` octets: the 2-octet pad length, the
    padding, then data; the last must be shorter than ``rs``. We write
    as few records as that allows, padding first.
    """
    capacity = rs - 2
    if len(content) + padding < capacity and padding <= MAX_AESGCM_PAD:  # one record
        head = padding.to_bytes(2, "big") + bytes(padding)
        return _AESGCM(cek).encrypt(nonce, head + bytes(content), None)

    def frame(seq: int, pad: int, data: Buffer) -> bytes:
        return b"".join((pad.to_bytes(2, "big"), bytes(pad), data))

    # The last record must be shorter than rs: one octet less room.
    count = (len(content) + padding) // capacity + 1
    plan = _layout(len(content), padding, [capacity] * (count - 1) + [capacity - 1], MAX_AESGCM_PAD)
    return _seal_records(cek, nonce, content, plan, frame)


def open_aesgcm(cek: bytes, nonce: bytes, body: Buffer, rs: int) -> bytes:
    """Decrypt and unpad the records of an aesgcm body (aesgcm draft §2)."""
    if len(body) % (rs + TAG_LEN) == 0:
        # Covers the empty body too: the last record must be shorter than rs.
        raise ECEError("truncated: the last record must be shorter than the record size")

    def unframe(seq: int, plaintext: bytes, last: bool) -> bytes:
        pad = int.from_bytes(plaintext[:2], "big")
        if 2 + pad > len(plaintext):
            raise ECEError(f"record {seq}: bad padding (pad length {pad} exceeds the record)")
        if plaintext[2 : 2 + pad].count(0) != pad:
            raise ECEError(f"record {seq}: bad padding (non-zero padding octets)")
        return plaintext[2 + pad :]

    return _open_records(cek, nonce, body, rs + TAG_LEN, min_len=TAG_LEN + 2, unframe=unframe)


def _seal_records(
    cek: bytes,
    nonce: bytes,
    content: Buffer,
    plan: list[tuple[int, int]],
    frame: Callable[[int, int, Buffer], bytes],
) -> bytes:
    """Seal record ``seq`` of the plan as AEAD(frame(seq, pad, data)) with NONCE XOR seq."""
    aead = _AESGCM(cek)
    view = memoryview(content)
    out = []
    start = 0
    for seq, (pad, size) in enumerate(plan):
        plaintext = frame(seq, pad, view[start : start + size])
        out.append(aead.encrypt(record_nonce(nonce, seq), plaintext, None))
        start += size
    return b"".join(out)


def _open_records(
    cek: bytes,
    nonce: bytes,
    body: Buffer,
    chunk: int,
    *,
    min_len: int,
    unframe: Callable[[int, bytes, bool], bytes],
) -> bytes:
    """Split ``body`` in ``chunk``-octet records, open each, and unframe its plaintext."""
    aead = _AESGCM(cek)
    view = memoryview(body)
    out = []
    for seq, start in enumerate(range(0, len(view), chunk)):
        record = view[start : start + chunk]
        if len(record) < min_len:
            raise ECEError(f"record {seq}: truncated ({len(record)} octets)")
        out.append(unframe(seq, _open(aead, nonce, seq, record), start + chunk >= len(view)))
    return b"".join(out)


def _open(aead: _AESGCM, nonce: bytes, seq: int, record: Buffer) -> bytes:
    try:
        return aead.decrypt(record_nonce(nonce, seq), record, None)
    except InvalidTag:
        raise ECEError(
            f"record {seq}: authentication failed (wrong key, or the data was altered)"
        ) from None
