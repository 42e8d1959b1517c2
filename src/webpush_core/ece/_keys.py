"""Key schedules: from a shared secret to the content encryption key and nonce.

* aes128gcm (RFC 8291 §3.3-3.4 on top of RFC 8188 §2.2-2.3):
  ``ecdh_secret -> PRK_key -> IKM -> PRK -> CEK, NONCE``.
* aesgcm (draft-ietf-webpush-encryption-04 §3.3 and
  draft-ietf-httpbis-encryption-encoding-03 §3.2): the auth secret is mixed in
  with ``"Content-Encoding: auth\\0"`` and both infos end in the ``P-256``
  context of length-prefixed public keys.

Every step lives in exactly one function. Each takes an optional ``steps``
list; when given (``ece.trace``), the step appends its ``(name, value)``
pairs, named as the RFC names them. The hot path passes None and pays one
``is not None`` test per function.
"""

from __future__ import annotations

from typing import Optional, Union

from cryptography.hazmat.primitives.asymmetric import ec

from .._p256 import public_key_from_point, uncompressed_point
from ..errors import ECEError
from ._hkdf import HASH_LEN, hkdf_expand, hkdf_extract

__all__ = [
    "AES128GCM",
    "AESGCM",
    "CEK_LEN",
    "NONCE_LEN",
    "Steps",
    "check_private_key",
    "content_key",
    "ecdh",
    "key_secrets",
    "load_peer",
    "webpush_secrets",
]

AES128GCM = "aes128gcm"
AESGCM = "aesgcm"

CEK_LEN = 16  # AEAD_AES_128_GCM key (RFC 8188 §2.2)
NONCE_LEN = 12  # AEAD_AES_128_GCM nonce (RFC 8188 §2.3)

# RFC 8291 §3.4: key_info = "WebPush: info" || 0x00 || ua_public || as_public.
WEBPUSH_INFO = b"WebPush: info\x00"
# RFC 8188 §2.2 / §2.3: constant infos for aes128gcm.
CEK_INFO = b"Content-Encoding: aes128gcm\x00"
NONCE_INFO = b"Content-Encoding: nonce\x00"
# aesgcm draft: the auth info, and the cek info prefix (followed by the context).
# Its nonce info prefix is the same octets as NONCE_INFO.
AUTH_INFO = b"Content-Encoding: auth\x00"
AESGCM_CEK_INFO = b"Content-Encoding: aesgcm\x00"

Steps = Optional[list[tuple[str, bytes]]]

_ECDH = ec.ECDH()


def load_peer(
    dh: Union[bytes, bytearray, memoryview, ec.EllipticCurvePublicKey], what: str = "dh"
) -> tuple[ec.EllipticCurvePublicKey, bytes]:
    """The peer's P-256 public key as (key object, 65-byte uncompressed point).

    ``dh`` may be the point (X9.62 uncompressed, as Web Push sends it) or an
    already-loaded key; ECEError if it is neither, or not on the curve.
    """
    if isinstance(dh, ec.EllipticCurvePublicKey):
        if not isinstance(dh.curve, ec.SECP256R1):
            raise ECEError(f"{what}: the public key must be on P-256")
        return dh, uncompressed_point(dh)
    if not isinstance(dh, (bytes, bytearray, memoryview)):
        raise ECEError(f"{what}: expected a 65-byte P-256 point, got {type(dh).__name__}")
    point = bytes(dh)
    try:
        return public_key_from_point(point), point
    except ValueError as exc:
        # _p256's messages state the rule and the length, never the point.
        raise ECEError(f"{what}: {exc}") from None


def check_private_key(private_key: object) -> ec.EllipticCurvePrivateKey:
    """ECEError unless ``private_key`` is a P-256 private key object."""
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise ECEError(
            "private_key: expected a cryptography P-256 private key, "
            f"got {type(private_key).__name__}"
        )
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ECEError("private_key: the key must be on P-256")
    return private_key


def ecdh(private_key: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """ecdh_secret (RFC 8291 §3.1): the 32-octet x-coordinate of the shared point."""
    try:
        return private_key.exchange(_ECDH, peer)
    except ValueError:
        raise ECEError("dh: ECDH with this public key failed") from None


def webpush_secrets(
    version: str,
    ecdh_secret: bytes,
    auth_secret: bytes,
    *,
    ua_public: bytes,
    as_public: bytes,
    keylabel: str,
    steps: Steps,
) -> tuple[bytes, bytes, bytes]:
    """IKM, cek_info and nonce_info for a Web Push message (sender or receiver).

    aes128gcm, RFC 8291 §3.3-3.4::

        PRK_key  = HMAC-SHA-256(auth_secret, ecdh_secret)
        key_info = "WebPush: info" || 0x00 || ua_public || as_public
        IKM      = HMAC-SHA-256(PRK_key, key_info || 0x01)

    aesgcm, draft-ietf-webpush-encryption-04 §3.3::

        PRK_combine = HMAC-SHA-256(auth_secret, ecdh_secret)
        IKM         = HMAC-SHA-256(PRK_combine, "Content-Encoding: auth" || 0x00 || 0x01)
        context     = label || 0x00 || len(ua_public) || ua_public || len(as_public) || as_public
    """
    if steps is not None:
        steps.append(("ecdh_secret", ecdh_secret))
    if version == AES128GCM:
        prk_key = hkdf_extract(auth_secret, ecdh_secret)
        key_info = WEBPUSH_INFO + ua_public + as_public
        ikm = hkdf_expand(prk_key, key_info, HASH_LEN)
        if steps is not None:
            steps += [("PRK_key", prk_key), ("key_info", key_info), ("IKM", ikm)]
        return ikm, CEK_INFO, NONCE_INFO
    ikm = _aesgcm_auth(ecdh_secret, auth_secret, steps)
    context = _aesgcm_context(keylabel, ua_public, as_public)
    if steps is not None:
        steps.append(("context", context))
    return ikm, AESGCM_CEK_INFO + context, NONCE_INFO + context


def key_secrets(
    version: str, key: bytes, auth_secret: Optional[bytes], steps: Steps
) -> tuple[bytes, bytes, bytes]:
    """IKM, cek_info and nonce_info when the caller gives the key (RFC 8188 §3.1).

    As http_ece does: for aesgcm an auth secret, if given, is mixed in; for
    aes128gcm the explicit key is the IKM as is.
    """
    if version == AESGCM and auth_secret is not None:
        if steps is not None:
            steps.append(("key", key))
        return _aesgcm_auth(key, auth_secret, steps), AESGCM_CEK_INFO, NONCE_INFO
    if steps is not None:
        steps.append(("IKM", key))
    cek_info = CEK_INFO if version == AES128GCM else AESGCM_CEK_INFO
    return key, cek_info, NONCE_INFO


def content_key(
    salt: bytes, ikm: bytes, cek_info: bytes, nonce_info: bytes, steps: Steps
) -> tuple[bytes, bytes]:
    """CEK and NONCE from the salt and IKM (RFC 8188 §2.2-2.3)::

    PRK   = HMAC-SHA-256(salt, IKM)
    CEK   = HMAC-SHA-256(PRK, cek_info || 0x01)[0..15]
    NONCE = HMAC-SHA-256(PRK, nonce_info || 0x01)[0..11]
    """
    prk = hkdf_extract(salt, ikm)
    cek = hkdf_expand(prk, cek_info, CEK_LEN)
    nonce = hkdf_expand(prk, nonce_info, NONCE_LEN)
    if steps is not None:
        steps += [
            ("PRK", prk),
            ("cek_info", cek_info),
            ("CEK", cek),
            ("nonce_info", nonce_info),
            ("NONCE", nonce),
        ]
    return cek, nonce


def _aesgcm_auth(secret: bytes, auth_secret: bytes, steps: Steps) -> bytes:
    """aesgcm: IKM = HKDF(salt=auth_secret, ikm=secret, info="Content-Encoding: auth\\0")."""
    prk_combine = hkdf_extract(auth_secret, secret)
    ikm = hkdf_expand(prk_combine, AUTH_INFO, HASH_LEN)
    if steps is not None:
        steps += [("auth_info", AUTH_INFO), ("PRK_combine", prk_combine), ("IKM", ikm)]
    return ikm


def _aesgcm_context(keylabel: str, ua_public: bytes, as_public: bytes) -> bytes:
    """aesgcm draft §4.2: label || 0x00 || uint16 len || ua_public || uint16 len || as_public."""
    return b"".join(
        (
            keylabel.encode("utf-8"),
            b"\x00",
            len(ua_public).to_bytes(2, "big"),
            ua_public,
            len(as_public).to_bytes(2, "big"),
            as_public,
        )
    )
