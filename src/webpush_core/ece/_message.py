"""One Web Push message, encrypted as an application server (RFC 8291 §3-4).

:func:`encrypt_message` is what the request builder calls once per message:
the fan-out hot path. It does the minimum: one ephemeral key pair, one ECDH,
four HMACs (via :mod:`._keys`), one AES-GCM seal of a single record.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Callable, Optional, Union

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .._b64 import b64url_encode
from .._p256 import CURVE, POINT_LEN, generate_private_key, uncompressed_point
from ..errors import ECEError, PayloadTooLarge
from ._check import check_padding, check_rs, check_version, octets
from ._keys import (
    _ECDH,
    AES128GCM,
    CEK_INFO,
    CEK_LEN,
    NONCE_INFO,
    NONCE_LEN,
    WEBPUSH_INFO,
    Steps,
    check_private_key,
    content_key,
    ecdh,
    load_peer,
    webpush_secrets,
)
from ._records import HEADER_LEN, SALT_LEN, TAG_LEN, Buffer, seal_body

try:
    # hmac.digest's own one-shot C function, minus the wrapper's type checks
    # (five HMACs per message); hmac.digest wherever it is not there.
    from _hashlib import hmac_digest as _hmac_sha256
except ImportError:  # pragma: no cover - CPython without OpenSSL's hashlib
    _hmac_sha256 = hmac.digest  # type: ignore[assignment]

__all__ = [
    "EncryptedMessage",
    "encrypt_message",
    "max_plaintext",
    "seal_aes128gcm_message",
    "seal_webpush",
]

# RFC 8030 §7.2 / RFC 8291 §4: a push service must accept 4096 octets of body.
MAX_BODY = 4096
DEFAULT_RS = 4096
AUTH_SECRET_LEN = 16  # RFC 8291 §3.2


@dataclass(frozen=True, repr=False)
class EncryptedMessage:
    """An encrypted push message body and what the request needs to carry it.

    ``as_public`` is the sender's ephemeral public key (65 octets). For
    aes128gcm it is already in the body (the keyid); for aesgcm it goes in
    ``Crypto-Key: dh=`` and ``salt`` in ``Encryption: salt=`` (see
    :meth:`headers`).
    """

    __slots__ = ("as_public", "body", "salt", "version")

    body: bytes
    salt: bytes
    as_public: bytes
    version: str

    def __repr__(self) -> str:
        return f"EncryptedMessage(version={self.version!r}, body=<{len(self.body)} octets>)"

    def headers(self) -> dict[str, str]:
        """The HTTP headers this body needs (RFC 8291 §4; aesgcm draft-04 §3.1)."""
        if self.version == AES128GCM:
            return {"Content-Encoding": AES128GCM}
        return {
            "Content-Encoding": self.version,
            "Encryption": "salt=" + b64url_encode(self.salt),
            "Crypto-Key": "dh=" + b64url_encode(self.as_public),
        }


def max_plaintext(version: str = AES128GCM, rs: int = DEFAULT_RS) -> int:
    """The largest plaintext that fits one record of ``rs`` and a 4096-octet body.

    aes128gcm: the body is header (21 + 65-octet keyid) + data + delimiter +
    tag: 4096 - 86 - 1 - 16 = 3993. aesgcm: data + 2-octet pad length + tag,
    and the record must be shorter than rs: 4096 - 16 - 2 = 4078.
    """
    version = check_version(version)
    rs = check_rs(version, rs)
    if version == AES128GCM:
        return min(rs, MAX_BODY - HEADER_LEN - POINT_LEN) - TAG_LEN - 1
    return min(rs - 1, MAX_BODY - TAG_LEN) - 2


_LIMITS = {version: max_plaintext(version) for version in ("aes128gcm", "aesgcm")}

# The aes128gcm hot path's constants (RFC 8188 §2.1-2.3, RFC 8291 §3.4, §4):
# rs || idlen of the header, and the infos with HKDF-Expand's T(1) counter.
_RS_IDLEN = DEFAULT_RS.to_bytes(4, "big") + bytes((POINT_LEN,))
_CEK_INFO_1 = CEK_INFO + b"\x01"
_NONCE_INFO_1 = NONCE_INFO + b"\x01"
_LAST_RECORD = b"\x02"  # RFC 8188 §2: the delimiter of the last (here: only) record
_X962, _UNCOMPRESSED = Encoding.X962, PublicFormat.UncompressedPoint
_new_key: Callable[[ec.EllipticCurve], ec.EllipticCurvePrivateKey] = ec.generate_private_key


def seal_aes128gcm_message(
    plaintext: bytes,
    ua_key: ec.EllipticCurvePublicKey,
    ua_public: bytes,
    auth_secret: bytes,
    padding: int = 0,
) -> bytes:
    """The fan-out's hot path: one aes128gcm body of one record, rs=4096.

    ``ua_key`` is the subscription's loaded key and ``ua_public`` its 65-octet
    point; ``auth_secret`` 16 octets; plaintext + padding fit one record
    (:func:`max_plaintext`). The request builder checks all of that once per
    subscription or message, so nothing is checked again here.
    """
    return _seal_aes128gcm(
        plaintext, ua_key, ua_public, auth_secret, None, os.urandom(SALT_LEN), padding
    )[0]


def _seal_aes128gcm(
    plaintext: bytes,
    ua_key: ec.EllipticCurvePublicKey,
    ua_public: bytes,
    auth_secret: bytes,
    private_key: Optional[ec.EllipticCurvePrivateKey],
    salt: bytes,
    padding: int,
) -> tuple[bytes, bytes]:
    """One aes128gcm message of one record, rs=4096: (body, as_public).

    The same steps as :func:`seal_webpush` (``webpush_secrets``,
    ``content_key``, ``seal_body``; :func:`~webpush_core.ece.trace` shows them
    one by one), written out with the infos precomputed, because they run
    once per push message::

        PRK_key = HMAC(auth_secret, ecdh_secret)                     RFC 8291 §3.3
        IKM     = HMAC(PRK_key, "WebPush: info" 0x00 ua as 0x01)     RFC 8291 §3.4
        PRK     = HMAC(salt, IKM)                                    RFC 8188 §2.2
        CEK     = HMAC(PRK, cek_info 0x01)[:16], NONCE = ...[:12]    RFC 8188 §2.2-2.3
        body    = salt rs idlen as_public AEAD(plaintext 0x02 0x00*padding)   RFC 8188 §2.1

    Arguments are checked by the caller; plaintext + padding fit one record.
    """
    if private_key is None:
        private_key = _new_key(CURVE)
    as_public = private_key.public_key().public_bytes(_X962, _UNCOMPRESSED)
    try:
        ecdh_secret = private_key.exchange(_ECDH, ua_key)
    except ValueError:
        raise ECEError("dh: ECDH with this public key failed") from None
    prk_key = _hmac_sha256(auth_secret, ecdh_secret, "sha256")
    ikm = _hmac_sha256(prk_key, WEBPUSH_INFO + ua_public + as_public + b"\x01", "sha256")
    prk = _hmac_sha256(salt, ikm, "sha256")
    cek = _hmac_sha256(prk, _CEK_INFO_1, "sha256")[:CEK_LEN]
    nonce = _hmac_sha256(prk, _NONCE_INFO_1, "sha256")[:NONCE_LEN]
    record = plaintext + _LAST_RECORD + bytes(padding) if padding else plaintext + _LAST_RECORD
    sealed = _AESGCM(cek).encrypt(nonce, record, None)
    return b"".join((salt, _RS_IDLEN, as_public, sealed)), as_public  # one copy of the body


def seal_webpush(
    version: str,
    content: Buffer,
    *,
    ua_key: ec.EllipticCurvePublicKey,
    ua_public: bytes,
    auth_secret: bytes,
    private_key: ec.EllipticCurvePrivateKey,
    salt: bytes,
    rs: int,
    padding: int,
    keylabel: str,
    steps: Steps,
) -> tuple[bytes, bytes]:
    """Encrypt as the application server (RFC 8291 §3): (body, as_public).

    Arguments are already checked. For aes128gcm the keyid is as_public
    (RFC 8291 §4).
    """
    as_public = uncompressed_point(private_key.public_key())
    ecdh_secret = ecdh(private_key, ua_key)
    ikm, cek_info, nonce_info = webpush_secrets(
        version,
        ecdh_secret,
        auth_secret,
        ua_public=ua_public,
        as_public=as_public,
        keylabel=keylabel,
        steps=steps,
    )
    cek, nonce = content_key(salt, ikm, cek_info, nonce_info, steps)
    body = seal_body(
        version,
        cek,
        nonce,
        content,
        salt=salt,
        rs=rs,
        keyid=as_public,
        padding=padding,
        steps=steps,
    )
    return body, as_public


def encrypt_message(
    plaintext: bytes,
    ua_public: Union[bytes, ec.EllipticCurvePublicKey],
    auth_secret: bytes,
    *,
    version: str = AES128GCM,
    padding: int = 0,
    salt: Optional[bytes] = None,
    private_key: Optional[ec.EllipticCurvePrivateKey] = None,
    ua_point: Optional[bytes] = None,
) -> EncryptedMessage:
    """Encrypt one push message for a subscription (RFC 8291 §3-4), one record of rs=4096.

    ``ua_public`` is the subscription's ``p256dh`` (65-octet point, or the
    loaded key), ``auth_secret`` its 16-octet ``auth``. With a loaded key,
    pass its 65-octet point as ``ua_point`` too if you have it (e.g.
    ``Subscription.p256dh``): it goes into key_info as is, instead of being
    serialized again per message (it must be that key's point). A fresh
    ephemeral key and salt are used unless ``private_key`` / ``salt`` are
    given (tests).
    ``padding`` zero octets hide the length (after the 0x02 delimiter for
    aes128gcm, counted by the 2-octet pad length for aesgcm).

    Raises PayloadTooLarge (field ``data``) when plaintext + padding exceeds
    :func:`max_plaintext`, ECEError for any other bad argument.
    """
    limit = _LIMITS.get(version) if isinstance(version, str) else None
    if limit is None:
        version = check_version(version)  # raises
    if type(plaintext) is not bytes:
        plaintext = octets("plaintext", plaintext)
    if type(padding) is not int or padding < 0:
        padding = check_padding(padding)
    if len(plaintext) + padding > limit:  # type: ignore[operator]
        raise PayloadTooLarge(
            f"data: {len(plaintext)} octets + {padding} padding exceed the {limit} octets "
            f"one {version} record can carry (RFC 8291 §4)",
            field="data",
        )
    if ua_point is not None and isinstance(ua_public, ec.EllipticCurvePublicKey):
        if type(ua_point) is not bytes or len(ua_point) != POINT_LEN or ua_point[0] != 0x04:
            raise ECEError(f"ua_point: expected ua_public's {POINT_LEN}-byte uncompressed point")
        if not isinstance(ua_public.curve, ec.SECP256R1):
            raise ECEError("ua_public: the public key must be on P-256")
        ua_key, ua_bytes = ua_public, ua_point
    else:
        ua_key, ua_bytes = load_peer(ua_public, "ua_public")
    if type(auth_secret) is not bytes or len(auth_secret) != AUTH_SECRET_LEN:
        auth_secret = octets("auth_secret", auth_secret, AUTH_SECRET_LEN)
    if private_key is not None:
        check_private_key(private_key)
    salt = os.urandom(SALT_LEN) if salt is None else octets("salt", salt, SALT_LEN)
    if version == AES128GCM:  # always one record: plaintext + padding <= 3993 < rs
        body, as_public = _seal_aes128gcm(
            plaintext, ua_key, ua_bytes, auth_secret, private_key, salt, padding
        )
        return EncryptedMessage(body, salt, as_public, version)
    if private_key is None:
        private_key = generate_private_key()
    body, as_public = seal_webpush(
        version,
        plaintext,
        ua_key=ua_key,
        ua_public=ua_bytes,
        auth_secret=auth_secret,
        private_key=private_key,
        salt=salt,
        rs=DEFAULT_RS,
        padding=padding,
        keylabel="P-256",
        steps=None,
    )
    return EncryptedMessage(body, salt, as_public, version)
