"""Loading and saving VAPID keys in every format senders have them in.

* PEM, PKCS#8 (``BEGIN PRIVATE KEY``) or SEC1 (``BEGIN EC PRIVATE KEY``);
* DER, raw or base64url text (py_vapid's ``private_key`` strings);
* the raw 32-byte scalar as base64url (node web-push's ``generateVAPIDKeys()``);
* public keys as the 65-byte uncompressed point (RFC 8292 §3.2).

Every failure is a :class:`VapidError` whose message says what was expected
and never echoes the input: it may be a private key. The underlying
exception is dropped (``from None``) so tracebacks do not carry it either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .._b64 import b64url_decode
from .._p256 import SCALAR_LEN, private_key_from_scalar, public_key_from_point
from ..errors import VapidError

__all__ = [
    "check_private_key",
    "load_der",
    "load_file",
    "load_pem",
    "load_public_raw",
    "load_raw",
    "load_string",
    "write_file",
]

_FIELD = "vapid_private_key"
_PEM_MARK = b"-----BEGIN"
# Every DER private key (PKCS#8 or SEC1) is a SEQUENCE: tag 0x30.
_DER_SEQUENCE = 0x30


def _error(message: str) -> VapidError:
    return VapidError(message, field=_FIELD)


def check_private_key(key: object) -> ec.EllipticCurvePrivateKey:
    """Only P-256 keys can sign ES256 (RFC 7518 §3.4)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise _error(f"the key is a {type(key).__name__}, not an EC P-256 private key")
    if not isinstance(key.curve, ec.SECP256R1):
        raise _error(f"the key is on curve {key.curve.name}, VAPID needs P-256 (secp256r1)")
    return key


def load_pem(data: Union[bytes, str]) -> ec.EllipticCurvePrivateKey:
    """A PEM private key, PKCS#8 or SEC1, unencrypted."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if not isinstance(data, (bytes, bytearray)):
        raise _error(f"a PEM key must be bytes or str, got {type(data).__name__}")
    if b"PUBLIC KEY-----" in data and b"PRIVATE KEY-----" not in data:
        raise _error("this PEM holds a public key; signing needs the private key")
    try:
        key = serialization.load_pem_private_key(bytes(data), password=None)
    except TypeError:
        # cryptography raises TypeError when the key is password-protected.
        raise _error("the PEM key is encrypted; export it without a password") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _error("not a valid PEM private key (PKCS#8 or SEC1 EC PRIVATE KEY)") from None
    return check_private_key(key)


def load_der(data: Union[bytes, str]) -> ec.EllipticCurvePrivateKey:
    """A DER private key (PKCS#8 or SEC1): raw bytes, or base64(url) text of them."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    if not isinstance(data, (bytes, bytearray)):
        raise _error(f"a DER key must be bytes or str, got {type(data).__name__}")
    der = bytes(data)
    if der[:1] != bytes([_DER_SEQUENCE]):
        # py_vapid's from_der takes the base64 text of the DER.
        try:
            der = b64url_decode(b"".join(der.split()))
        except ValueError:
            raise _error("not DER, nor base64 text of DER") from None
    if not der:
        raise _error("the key is empty")
    try:
        key = serialization.load_der_private_key(der, password=None)
    except TypeError:
        raise _error("the DER key is encrypted; export it without a password") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _error("not a valid DER private key (PKCS#8 or SEC1)") from None
    return check_private_key(key)


def load_raw(data: Union[bytes, str]) -> ec.EllipticCurvePrivateKey:
    """The private scalar: base64url of 32 bytes (or the 32 bytes themselves)."""
    if isinstance(data, (bytes, bytearray)) and len(data) == SCALAR_LEN:
        # base64url of 32 bytes is 43 characters, so 32 bytes are the scalar.
        scalar = bytes(data)
    else:
        if not isinstance(data, (bytes, bytearray, str)):
            raise _error(f"a raw key must be str or bytes, got {type(data).__name__}")
        try:
            scalar = b64url_decode(data)
        except ValueError:
            raise _error("a raw key must be base64url text of a 32-byte scalar") from None
    if len(scalar) != SCALAR_LEN:
        raise _error(f"a raw P-256 private key is {SCALAR_LEN} bytes, this one is {len(scalar)}")
    try:
        return private_key_from_scalar(scalar)
    except ValueError:
        raise _error("the private scalar is out of range for P-256 (zero or >= n)") from None


def load_string(text: str) -> ec.EllipticCurvePrivateKey:
    """Detect the format: PEM text, base64url DER (SEC1 or PKCS#8), or a raw scalar."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("ascii", "replace")
    if not isinstance(text, str):
        raise _error(f"a key string must be str, got {type(text).__name__}")
    if not text.strip():
        raise _error("the key is empty")
    if "-----BEGIN" in text:
        return load_pem(text)
    try:
        decoded = b64url_decode("".join(text.split()))
    except ValueError:
        raise _error(
            "not a key: expected PEM text, base64url DER or a base64url 32-byte scalar"
        ) from None
    if len(decoded) == SCALAR_LEN:
        return load_raw(decoded)
    if decoded[:1] == bytes([_DER_SEQUENCE]):
        return load_der(decoded)
    raise _error(f"not a key: {len(decoded)} bytes decoded, expected a 32-byte scalar or DER")


def load_file(path: Union[str, os.PathLike[str]]) -> ec.EllipticCurvePrivateKey:
    """A key file: PEM, base64url DER text (py_vapid), raw scalar text, or binary DER.

    A missing file is an error (py_vapid would generate and save a new key
    there, so a typo silently changes the sender's identity).
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise _error(f"no VAPID key file at {os.fspath(path)!r}") from None
    except OSError as exc:
        raise _error(
            f"cannot read the VAPID key file {os.fspath(path)!r}: {exc.strerror}"
        ) from None
    if _PEM_MARK in data:
        return load_pem(data)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return load_der(data)
    return load_string(text)


def load_public_raw(data: Union[bytes, str]) -> ec.EllipticCurvePublicKey:
    """A public key as the 65-byte uncompressed point, base64url or raw bytes."""
    if isinstance(data, (bytes, bytearray)) and len(data) == 65 and data[0] == 0x04:
        point = bytes(data)
    else:
        if not isinstance(data, (bytes, bytearray, str)):
            raise VapidError(
                f"a public key must be str or bytes, got {type(data).__name__}",
                field="vapid_public_key",
            )
        try:
            point = b64url_decode(data)
        except ValueError:
            raise VapidError(
                "a public key must be base64url text of a 65-byte P-256 point",
                field="vapid_public_key",
            ) from None
    try:
        return public_key_from_point(point)
    except ValueError as exc:
        # The message names lengths and the rule only.
        raise VapidError(f"invalid VAPID public key: {exc}", field="vapid_public_key") from None


def write_file(path: Union[str, os.PathLike[str]], data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically, with permission bits ``mode``.

    The data goes to a temporary file in the same directory, created 0600 by
    ``mkstemp`` (so a private key is never readable by others, not even
    while being written), then ``os.replace`` moves it over ``path``.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".vapid-", suffix=".tmp")
    except OSError as exc:
        raise _error(f"cannot write the key file {target!r}: {exc.strerror}") from None
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _error(f"cannot write the key file {target!r}: {exc.strerror}") from None
