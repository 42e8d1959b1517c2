"""base64url as Web Push uses it (RFC 7515 §2 / RFC 8291 §6).

Browsers hand out keys as unpadded base64url; some clients pad them or use
the standard alphabet. We accept all of those on input and always write
unpadded base64url.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Union

__all__ = ["b64url_decode", "b64url_encode"]

# Both alphabets read as one (RFC 4648 §4 and §5): "-" and "_" are "+" and "/".
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_STANDARD = re.compile(rb"[A-Za-z0-9+/]*")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of ``data``."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: Union[str, bytes, bytearray]) -> bytes:
    """Decode base64url or standard base64, padded or not.

    Raises ValueError (callers turn it into their own, field-naming error)
    on anything else: non-ASCII text, characters outside both alphabets, or
    an impossible length.
    """
    if isinstance(value, str):
        try:
            raw = value.strip().encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("not base64url: non-ASCII characters") from None
    elif isinstance(value, (bytes, bytearray)):
        # What base64.urlsafe_b64encode returns (and some apps store).
        raw = bytes(value).strip()
        if not raw.isascii():
            raise ValueError(
                "not base64url: non-ASCII bytes (raw key bytes? pass "
                "base64.urlsafe_b64encode(key) instead)"
            )
    else:
        raise ValueError(f"not base64url: expected str, got {type(value).__name__}")
    # One translation and one check, then the decoder itself (base64.b64decode
    # would build its translation table again on every call: two per subscription).
    raw = raw.translate(_TO_STANDARD).rstrip(b"=")
    if len(raw) % 4 == 1:
        raise ValueError("not base64url: impossible length")
    if _STANDARD.fullmatch(raw) is None:
        raise ValueError("not base64url: characters outside the alphabet")
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))
