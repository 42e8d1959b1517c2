"""``encrypt`` / ``decrypt`` / ``trace`` with http_ece's keyword names and meanings.

Modes, as in http_ece:

* ``key``: the 16-octet secret itself is the IKM (RFC 8188 §3.1 examples).
* ``private_key`` + ``dh``: Web Push (RFC 8291): ECDH between our private
  key and the peer's 65-octet public key, mixed with ``auth_secret``.
  Encrypting, we are the application server and ``dh`` is the browser key;
  for aes128gcm the keyid written is our public key (RFC 8291 §4).
  Decrypting, we are the browser: for aes128gcm the sender key is read from
  the keyid (``dh`` may be omitted); for aesgcm pass ``dh`` and ``salt``
  (from the ``Crypto-Key`` and ``Encryption`` headers).

aes128gcm reads ``salt``, ``rs`` and ``keyid`` from the body when decrypting;
aesgcm needs them as arguments. Every failure raises ECEError.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from cryptography.hazmat.primitives.asymmetric import ec

from .._p256 import uncompressed_point
from ..errors import ECEError
from ._check import check_padding, check_rs, check_version, octets
from ._keys import (
    AES128GCM,
    Steps,
    check_private_key,
    content_key,
    ecdh,
    key_secrets,
    load_peer,
    webpush_secrets,
)
from ._message import AUTH_SECRET_LEN, seal_webpush
from ._records import SALT_LEN, Buffer, open_aes128gcm, open_aesgcm, parse_header, seal_body

__all__ = ["decrypt", "encrypt", "trace"]

KEY_LEN = 16  # an explicit key (http_ece and RFC 8188 §3.1 use 16 octets)
# decrypt refuses longer content before copying or decrypting any of it: a
# push message body is at most 4096 octets (RFC 8030 §7.2), so 1 MiB leaves
# ample room while an attacker's 100 MB body costs nothing.
MAX_DECRYPT = 1 << 20
PublicKeyArg = Union[bytes, bytearray, memoryview, ec.EllipticCurvePublicKey]


def encrypt(
    content: bytes,
    salt: Optional[bytes] = None,
    key: Optional[bytes] = None,
    private_key: Optional[ec.EllipticCurvePrivateKey] = None,
    dh: Optional[PublicKeyArg] = None,
    auth_secret: Optional[bytes] = None,
    keyid: Optional[Union[bytes, str]] = None,
    keylabel: str = "P-256",
    rs: int = 4096,
    version: str = "aes128gcm",
    *,
    padding: int = 0,
) -> bytes:
    """Encrypt ``content`` (RFC 8188 aes128gcm or legacy aesgcm); see the module doc.

    ``salt`` defaults to 16 random octets. ``padding`` adds that many zero
    octets, in as few records as the content needs anyway whenever possible.
    """
    # locals() is exactly the parameters here: one call shape for encrypt and trace.
    return _encrypt(steps=None, **locals())


def trace(
    content: bytes,
    salt: Optional[bytes] = None,
    key: Optional[bytes] = None,
    private_key: Optional[ec.EllipticCurvePrivateKey] = None,
    dh: Optional[PublicKeyArg] = None,
    auth_secret: Optional[bytes] = None,
    keyid: Optional[Union[bytes, str]] = None,
    keylabel: str = "P-256",
    rs: int = 4096,
    version: str = "aes128gcm",
    *,
    padding: int = 0,
) -> list[tuple[str, bytes]]:
    """:func:`encrypt`, returning every step as ``(name, value)`` (the audit view).

    aes128gcm with ``private_key`` + ``dh``, named as RFC 8291 §3.4 and
    Appendix A: ecdh_secret, PRK_key, key_info, IKM, PRK, cek_info, CEK,
    nonce_info, NONCE, then header and ciphertext (header + ciphertext is the
    body). aesgcm, named as draft-ietf-webpush-encryption-04: ecdh_secret,
    auth_info, PRK_combine, IKM, context, PRK, cek_info, CEK, nonce_info,
    NONCE, ciphertext. With an explicit ``key`` the schedule starts at IKM
    (or at ``key`` when aesgcm mixes in an auth secret).

    The values include secrets (ecdh_secret, CEK, ...): that is the point.
    """
    arguments = locals()  # first statement: exactly the parameters
    steps: list[tuple[str, bytes]] = []
    _encrypt(steps=steps, **arguments)
    return steps


def decrypt(
    content: bytes,
    salt: Optional[bytes] = None,
    key: Optional[bytes] = None,
    private_key: Optional[ec.EllipticCurvePrivateKey] = None,
    dh: Optional[PublicKeyArg] = None,
    auth_secret: Optional[bytes] = None,
    keyid: Optional[Union[bytes, str]] = None,
    keylabel: str = "P-256",
    rs: int = 4096,
    version: str = "aes128gcm",
) -> bytes:
    """Decrypt an aes128gcm or aesgcm body; see the module doc. ECEError on any failure.

    ``content`` longer than ``MAX_DECRYPT`` (1 MiB) is refused first, before
    it is copied or any key is derived. ``keyid`` is accepted for http_ece
    compatibility and not used: aes128gcm takes it from the body.
    """
    version = check_version(version)
    if isinstance(content, (bytes, bytearray, memoryview)):
        size = memoryview(content).nbytes  # a view: no copy of the content
        if size > MAX_DECRYPT:
            raise ECEError(f"content: {size} octets, more than the {MAX_DECRYPT} decrypt accepts")
    body = octets("content", content)
    records: Buffer
    header_keyid = b""
    if version == AES128GCM:
        salt, rs, header_keyid, start = parse_header(body)
        records = memoryview(body)[start:]
    else:
        salt = _required("salt", salt, SALT_LEN, "aesgcm")
        rs = check_rs(version, rs)
        records = body
    if private_key is not None:
        _exclusive(key)
        check_private_key(private_key)
        if dh is None and version != AES128GCM:
            raise ECEError("dh: aesgcm needs the sender's public key (Crypto-Key dh)")
        # RFC 8291 §4: the aes128gcm keyid is the sender's public key.
        peer, as_public = load_peer(header_keyid, "keyid") if dh is None else load_peer(dh)
        ikm, cek_info, nonce_info = webpush_secrets(
            version,
            ecdh(private_key, peer),
            _required("auth_secret", auth_secret, AUTH_SECRET_LEN, "Web Push"),
            ua_public=uncompressed_point(private_key.public_key()),
            as_public=as_public,
            keylabel=_label(keylabel),
            steps=None,
        )
    else:
        ikm, cek_info, nonce_info = _key_mode(version, key, dh, auth_secret, None)
    cek, nonce = content_key(salt, ikm, cek_info, nonce_info, None)
    if version == AES128GCM:
        return open_aes128gcm(cek, nonce, records, rs)
    return open_aesgcm(cek, nonce, records, rs)


def _encrypt(
    *,
    content: object,
    salt: object,
    key: object,
    private_key: object,
    dh: object,
    auth_secret: object,
    keyid: object,
    keylabel: object,
    rs: object,
    version: object,
    padding: object,
    steps: Steps,
) -> bytes:
    version = check_version(version)
    data = octets("content", content)
    salt = os.urandom(SALT_LEN) if salt is None else octets("salt", salt, SALT_LEN)
    rs = check_rs(version, rs)
    padding = check_padding(padding)
    if private_key is not None:
        _exclusive(key)
        if dh is None:
            raise ECEError("dh: private_key needs the receiver's public key (dh)")
        private_key = check_private_key(private_key)
        peer, ua_public = load_peer(dh)  # type: ignore[arg-type]
        if keyid is not None:
            label = _keyid(keyid)
            # aesgcm: http_ece callers label the key ("p256dh"); as there, the
            # label names a key and never enters the key schedule. aes128gcm
            # writes the keyid into the header, where RFC 8291 §4 requires the
            # sender's public key.
            if version == AES128GCM and label != uncompressed_point(private_key.public_key()):
                raise ECEError(
                    "keyid: for aes128gcm with private_key and dh the keyid is the sender's "
                    "public key (RFC 8291 §4); leave keyid out and it is written for you"
                )
        body, _ = seal_webpush(
            version,
            data,
            ua_key=peer,
            ua_public=ua_public,
            auth_secret=_required("auth_secret", auth_secret, AUTH_SECRET_LEN, "Web Push"),
            private_key=private_key,
            salt=salt,
            rs=rs,
            padding=padding,
            keylabel=_label(keylabel),
            steps=steps,
        )
        return body
    ikm, cek_info, nonce_info = _key_mode(version, key, dh, auth_secret, steps)
    cek, nonce = content_key(salt, ikm, cek_info, nonce_info, steps)
    return seal_body(
        version,
        cek,
        nonce,
        data,
        salt=salt,
        rs=rs,
        keyid=b"" if keyid is None else _keyid(keyid),
        padding=padding,
        steps=steps,
    )


def _key_mode(
    version: str, key: object, dh: object, auth_secret: object, steps: Steps
) -> tuple[bytes, bytes, bytes]:
    """IKM and infos for an explicit ``key`` (no ECDH)."""
    if dh is not None:
        raise ECEError("private_key: dh needs our private key")
    if key is None:
        raise ECEError("missing key: give key, or private_key (with dh)")
    secret = octets("key", key, KEY_LEN)
    # As http_ece: aesgcm mixes in an auth secret if given; aes128gcm ignores it here.
    auth = None
    if version != AES128GCM and auth_secret is not None:
        auth = octets("auth_secret", auth_secret, AUTH_SECRET_LEN)
    return key_secrets(version, secret, auth, steps)


def _required(name: str, value: object, length: int, what: str) -> bytes:
    if value is None:
        raise ECEError(f"{name}: required for {what}")
    return octets(name, value, length)


def _exclusive(key: object) -> None:
    if key is not None:
        raise ECEError("key: give either key, or private_key (with dh), not both")


def _keyid(keyid: object) -> bytes:
    if isinstance(keyid, str):
        return keyid.encode("utf-8")
    return octets("keyid", keyid)


def _label(keylabel: object) -> str:
    if not isinstance(keylabel, str):
        raise ECEError(f"keylabel: expected str, got {type(keylabel).__name__}")
    try:
        keylabel.encode("utf-8")
    except UnicodeEncodeError:
        raise ECEError("keylabel: not encodable as UTF-8") from None
    return keylabel
