"""ES256 JWTs in JWS compact form, by hand (RFC 7515 §7.1, RFC 7518 §3.4).

A VAPID token is ``b64url(header) "." b64url(claims) "." b64url(r || s)``:
the signature is the raw 64-byte concatenation of the ECDSA integers, not
the DER structure cryptography produces, so we convert both ways.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .._b64 import b64url_decode, b64url_encode
from ..errors import VapidError

__all__ = ["HEADER", "decode_verified", "encode"]

# RFC 8292 §2: typ "JWT", alg "ES256"; written once, always the same bytes.
HEADER = b'{"typ":"JWT","alg":"ES256"}'
_HEADER_B64 = b64url_encode(HEADER)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_COORD = 32  # bytes per P-256 integer in a JWS signature (RFC 7518 §3.4)


def encode(claims: Mapping[str, Any], private_key: ec.EllipticCurvePrivateKey) -> str:
    """Sign ``claims`` as an ES256 JWT.

    Claims are serialized compactly with sorted keys: deterministic, and some
    push services (Chrome's, historically) were picky about the layout.
    """
    try:
        payload = json.dumps(
            claims, separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False
        ).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise VapidError(
            f"vapid_claims must be JSON-serializable: {exc}", field="vapid_claims"
        ) from None
    signing_input = f"{_HEADER_B64}.{b64url_encode(payload)}"
    der = private_key.sign(signing_input.encode("ascii"), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big")
    return f"{signing_input}.{b64url_encode(signature)}"


def _segment_json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise VapidError(f"the JWT {what} is not base64url JSON", field="authorization") from None
    if not isinstance(value, dict):
        raise VapidError(f"the JWT {what} is not a JSON object", field="authorization")
    return value


def decode_verified(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """Check an ES256 JWT's header and signature against ``public_key``; return its claims.

    Only ``alg: ES256`` is accepted (RFC 8292 §2), so ``none`` and algorithm
    confusion are refused. Expiry and audience are the caller's business.
    """
    if not isinstance(token, str):
        raise VapidError("the JWT must be a string", field="authorization")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise VapidError(
            "the JWT must have three non-empty base64url parts (RFC 7515 §7.1)",
            field="authorization",
        )
    header = _segment_json(parts[0], "header")
    if header.get("alg") != "ES256":
        raise VapidError("the JWT header's alg must be ES256 (RFC 8292 §2)", field="authorization")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise VapidError("the JWT header's typ must be JWT", field="authorization")
    try:
        signature = b64url_decode(parts[2])
    except ValueError:
        raise VapidError("the JWT signature is not base64url", field="authorization") from None
    if len(signature) != 2 * _COORD:
        raise VapidError(
            f"an ES256 signature is {2 * _COORD} bytes (r || s), got {len(signature)}",
            field="authorization",
        )
    r = int.from_bytes(signature[:_COORD], "big")
    s = int.from_bytes(signature[_COORD:], "big")
    try:
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        public_key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
    except (InvalidSignature, UnicodeEncodeError, ValueError, binascii.Error):
        raise VapidError(
            "the VAPID token's signature does not verify with the key", field="authorization"
        ) from None
    return _segment_json(parts[1], "claims")
