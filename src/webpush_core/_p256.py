"""P-256 helpers shared by ``ece``, ``vapid`` and subscription parsing.

Web Push moves public keys as 65-byte uncompressed points (X9.62, SEC1 §2.3.3:
0x04 || X || Y) and VAPID private keys sometimes as the bare 32-byte scalar.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "CURVE",
    "generate_private_key",
    "private_key_from_scalar",
    "public_key_from_point",
    "uncompressed_point",
]

CURVE = ec.SECP256R1()
POINT_LEN = 65
SCALAR_LEN = 32
# The group order n of P-256 (SEC 2 §2.4.2): valid scalars are 1..n-1.
ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(CURVE)


def public_key_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    """Load a 65-byte uncompressed point; ValueError if malformed or off the curve."""
    if not isinstance(point, (bytes, bytearray)):
        raise ValueError(f"expected bytes, got {type(point).__name__}")
    if len(point) != POINT_LEN or point[0] != 0x04:
        raise ValueError(
            f"expected a {POINT_LEN}-byte uncompressed P-256 point (0x04||X||Y), "
            f"got {len(point)} bytes"
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, bytes(point))
    except ValueError:
        raise ValueError("the point is not on the P-256 curve") from None


def private_key_from_scalar(scalar: bytes) -> ec.EllipticCurvePrivateKey:
    """Load a 32-byte big-endian private scalar; ValueError unless 1 <= d < n."""
    if len(scalar) != SCALAR_LEN:
        raise ValueError(f"expected a {SCALAR_LEN}-byte P-256 private scalar, got {len(scalar)}")
    d = int.from_bytes(scalar, "big")
    if not 1 <= d < ORDER:
        raise ValueError("the private scalar is out of range for P-256 (zero or >= n)")
    return ec.derive_private_key(d, CURVE)


def uncompressed_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte uncompressed encoding of a public key."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
