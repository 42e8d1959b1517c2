"""The crypto floor: what any correct Web Push sender computes per message, written
directly on ``cryptography``'s primitives and ``hmac``, with nothing else around it.

Per message (RFC 8291 §3.4, RFC 8188 §2.1-2.2): one ephemeral P-256 key pair,
its public key serialized (``as_public``: it is in key_info and is the body's
keyid), one ECDH with the subscription's point, five HMAC-SHA-256 (PRK_key,
IKM; PRK, then CEK and NONCE), one AES-GCM seal of one record. Every
contender's per-message CPU is read as a ratio to this, measured in the same run.

Two floors: for subscriptions whose points are loaded once and kept
(``kept``), and for a dict subscription as a browser or a broker hands it over
(``from_dict``: base64url-decoding both keys and loading the point are part of
every message). The per-message work they leave out is measured on its own
(``parts``).
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import Sub, UserAgent, VapidKeys, b64url_decode
from .measure import PerCall

_CURVE = ec.SECP256R1()
_ECDH = ec.ECDH()
_X962 = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
_WEBPUSH_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"

KEPT_NOTE = "generate_private_key + public_bytes + exchange + 5x hmac.digest + AESGCM.encrypt"
DICT_NAME = "floor for a dict subscription (+ b64 x2 + point load)"
DICT_NOTE = "the floor + b64 decode of both keys + from_encoded_point"


def _seal(secret: bytes, auth: bytes, key_info: bytes, salt: bytes, data: bytes) -> bytes:
    prk_key = hmac.digest(auth, secret, hashlib.sha256)
    ikm = hmac.digest(prk_key, key_info, hashlib.sha256)
    prk = hmac.digest(salt, ikm, hashlib.sha256)
    cek = hmac.digest(prk, _CEK_INFO, hashlib.sha256)[:16]
    nonce = hmac.digest(prk, _NONCE_INFO, hashlib.sha256)[:12]
    return AESGCM(cek).encrypt(nonce, data + b"\x02", None)


def kept(uas: list[UserAgent], data: bytes) -> PerCall:
    """The floor for subscriptions whose points were loaded beforehand (the i-th call
    on the i-th, modulo). Constant auth and salt: same work, fewer lookups."""
    peers = [
        (ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ua.p256dh), ua.p256dh) for ua in uas
    ]
    n = len(peers)

    def floor(i: int) -> bytes:
        peer, ua_public = peers[i % n]
        key = ec.generate_private_key(_CURVE)
        as_public = key.public_key().public_bytes(*_X962)
        secret = key.exchange(_ECDH, peer)
        key_info = _WEBPUSH_INFO + ua_public + as_public + b"\x01"
        return _seal(secret, b"auth-secret-0123", key_info, b"salt-salt-salt-1", data)

    return floor


def from_dict(subs: list[Sub], data: bytes) -> PerCall:
    """The floor for dict subscriptions: decode both keys and load the point per call."""
    n = len(subs)

    def floor(i: int) -> bytes:
        sub_keys = subs[i % n]["keys"]
        p256dh, auth = b64url_decode(sub_keys["p256dh"]), b64url_decode(sub_keys["auth"])
        peer = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, p256dh)
        key = ec.generate_private_key(_CURVE)
        as_public = key.public_key().public_bytes(*_X962)
        secret = key.exchange(_ECDH, peer)
        key_info = _WEBPUSH_INFO + p256dh + as_public + b"\x01"
        return _seal(secret, auth, key_info, b"salt-salt-salt-1", data)

    return floor


def parts(uas: list[UserAgent], vapid: VapidKeys) -> list[tuple[str, PerCall]]:
    """Per-message work the kept floor leaves out, to read the other rows by."""
    n = len(uas)
    scalar = int.from_bytes(b64url_decode(vapid.private_b64), "big")
    vkey = ec.derive_private_key(scalar, _CURVE)
    return [
        (
            "  part: load ua_public (from_encoded_point)",
            lambda i: ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, uas[i % n].p256dh),
        ),
        (
            "  part: ES256 sign (a VAPID JWT; cached by ours)",
            lambda i: vkey.sign(b"header.claims", ec.ECDSA(hashes.SHA256())),
        ),
    ]
