"""HKDF with HMAC-SHA-256 (RFC 5869), on the stdlib.

Web Push only ever expands to 32 octets or fewer (IKM, CEK, NONCE), which is
a single HMAC block; :func:`hkdf_expand` still implements the full loop of
RFC 5869 §2.3 so the function means what its name says.
"""

from __future__ import annotations

import hmac

__all__ = ["HASH_LEN", "hkdf_expand", "hkdf_extract"]

HASH_LEN = 32  # SHA-256 output, RFC 5869's HashLen


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM)."""
    # hmac.digest is the one-shot C path: no HMAC object per call.
    return hmac.digest(salt, ikm, "sha256")


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3: the first ``length`` octets of T(1) | T(2) | ..."""
    if not 0 <= length <= 255 * HASH_LEN:
        raise ValueError("HKDF-Expand length must be 0..8160 octets")
    if length <= HASH_LEN:
        # T(1) = HMAC-Hash(PRK, info | 0x01): the only block Web Push needs.
        return hmac.digest(prk, info + b"\x01", "sha256")[:length]
    okm = b""
    block = b""
    counter = 1
    while len(okm) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha256")
        okm += block
        counter += 1
    return okm[:length]
