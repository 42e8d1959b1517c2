"""Argument checks shared by the ECE entry points.

Messages name the argument and the rule, and give lengths, never values:
several of these arguments are secrets.
"""

from __future__ import annotations

from typing import Optional

from ..errors import ECEError
from ._keys import AES128GCM, AESGCM
from ._records import AES128GCM_MIN_RS, AESGCM_MIN_RS, MAX_RS

__all__ = ["VERSIONS", "check_padding", "check_rs", "check_version", "octets"]

VERSIONS = (AES128GCM, AESGCM)


def octets(name: str, value: object, length: Optional[int] = None) -> bytes:
    """``value`` as bytes; ECEError unless it is bytes-like (and ``length`` long)."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ECEError(f"{name}: expected bytes, got {type(value).__name__}")
    data = bytes(value)
    if length is not None and len(data) != length:
        raise ECEError(f"{name}: must be {length} octets, got {len(data)}")
    return data


def check_version(version: object) -> str:
    if version not in VERSIONS:
        # aesgcm128 (an older draft http_ece still knows) is deliberately not supported.
        shown = repr(version) if isinstance(version, str) else type(version).__name__
        raise ECEError(f"unknown version {shown[:40]}: use 'aes128gcm' or 'aesgcm'")
    return str(version)


def check_rs(version: str, rs: object) -> int:
    """RFC 8188 §2.1: 18 <= rs < 2**32 for aes128gcm; rs >= 3 for aesgcm."""
    if not isinstance(rs, int) or isinstance(rs, bool):
        raise ECEError(f"rs: expected an integer, got {type(rs).__name__}")
    low = AES128GCM_MIN_RS if version == AES128GCM else AESGCM_MIN_RS
    if not low <= rs <= MAX_RS:
        raise ECEError(f"bad record size: rs={rs}, must be {low}..{MAX_RS} for {version}")
    return rs


def check_padding(padding: object) -> int:
    if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
        raise ECEError("padding: expected a non-negative integer (octets of padding)")
    return padding
