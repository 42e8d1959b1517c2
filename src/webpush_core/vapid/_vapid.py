"""The VAPID key pair: loads keys, signs cached tokens, verifies them (RFC 8292)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Hashable, Mapping
from typing import Any, Callable, ClassVar, Optional, TypeVar, Union

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .._b64 import b64url_encode
from .._p256 import generate_private_key, uncompressed_point
from ..errors import VapidError
from . import _jwt, _keys
from ._cache import MAX_ENTRIES, Minted, TokenCache
from ._claims import check_aud, validate_claims
from ._token import check_token_claims, split_authorization

__all__ = ["SCHEMES", "Vapid", "Vapid01"]

# "vapid": RFC 8292 §3. "webpush": draft-ietf-webpush-vapid-01, for aesgcm.
SCHEMES = ("vapid", "webpush")
_CORE_CLAIMS = frozenset({"sub", "aud", "exp"})
_V = TypeVar("_V", bound="Vapid")


def _cache_key(scheme: str, claims: Mapping[str, Any]) -> Optional[Hashable]:
    """A cheap key for the token cache, or None when the claims need the slow path.

    The common claims ({"sub", "aud"}) cost three lookups and a tuple; any
    other claim is folded in as canonical JSON. Values of the wrong type go
    to the slow path, which validates them and raises.
    """
    try:
        sub = claims.get("sub")
        aud = claims.get("aud")
        exp = claims.get("exp")
    except AttributeError:
        return None
    # type() is: exp 5 and exp 5.0 hash alike, but only the int is valid.
    if type(sub) is not str or type(aud) is not str or (exp is not None and type(exp) is not int):
        return None
    extra = ""
    if len(claims) > 2 and any(k not in _CORE_CLAIMS for k in claims):
        try:
            extra = json.dumps(
                {k: v for k, v in claims.items() if k not in _CORE_CLAIMS},
                sort_keys=True,
                separators=(",", ":"),
                allow_nan=False,
            )
        except (TypeError, ValueError):
            return None
    return (scheme, aud, sub, exp, extra)


class Vapid:
    """A VAPID key pair (RFC 8292), signing with the ``vapid`` scheme.

    ``Vapid()`` generates a new key pair; the ``from_*`` classmethods load
    one. ``sign(claims)`` returns the headers to send; tokens are cached per
    claims and reused until an hour before they expire. ``clock`` (seconds
    since the epoch) is for tests. ``repr`` shows the public key only.
    """

    default_scheme: ClassVar[str] = "vapid"

    def __init__(
        self,
        private_key: Optional[ec.EllipticCurvePrivateKey] = None,
        *,
        public_key: Optional[ec.EllipticCurvePublicKey] = None,
        clock: Optional[Callable[[], float]] = None,
        cache_size: int = MAX_ENTRIES,
    ) -> None:
        self._clock: Callable[[], float] = clock if clock is not None else time.time
        self._cache = TokenCache(clock=self._clock, max_entries=cache_size)
        self._private_key: Optional[ec.EllipticCurvePrivateKey] = None
        if private_key is not None:
            self._set_private_key(_keys.check_private_key(private_key))
        elif public_key is not None:
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
                public_key.curve, ec.SECP256R1
            ):
                raise VapidError("the public key must be a P-256 key", field="vapid_public_key")
            self._set_public_key(public_key)
        else:
            self._set_private_key(generate_private_key())

    def _set_private_key(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._private_key = key
        self._set_public_key(key.public_key())

    def _set_public_key(self, key: ec.EllipticCurvePublicKey) -> None:
        self._public_key = key
        self._point = uncompressed_point(key)
        self._k = b64url_encode(self._point)
        self._cache.clear()

    # ---------------------------------------------------------------- loading

    @classmethod
    def generate(cls: type[_V]) -> _V:
        """A new random key pair."""
        return cls(generate_private_key())

    @classmethod
    def from_file(cls: type[_V], path: Union[str, os.PathLike[str]]) -> _V:
        """Load a key file: PEM (PKCS#8 or SEC1), base64url DER text, raw scalar text.

        A missing file raises :class:`VapidError` (py_vapid would create one).
        """
        return cls(_keys.load_file(path))

    @classmethod
    def from_pem(cls: type[_V], data: Union[bytes, str]) -> _V:
        """Load a PEM private key (PKCS#8 or SEC1 ``EC PRIVATE KEY``)."""
        return cls(_keys.load_pem(data))

    @classmethod
    def from_der(cls: type[_V], data: Union[bytes, str]) -> _V:
        """Load a DER private key: raw bytes, or their base64(url) text as py_vapid takes."""
        return cls(_keys.load_der(data))

    @classmethod
    def from_raw(cls: type[_V], data: Union[str, bytes]) -> _V:
        """Load the raw private scalar: base64url of 32 bytes (or the 32 bytes)."""
        return cls(_keys.load_raw(data))

    @classmethod
    def from_string(cls: type[_V], s: str) -> _V:
        """Load a key string of any format: PEM text, base64url DER or raw scalar.

        The raw scalar is what node web-push's ``generateVAPIDKeys().privateKey``
        gives; base64url DER is what py_vapid prints.
        """
        return cls(_keys.load_string(s))

    @classmethod
    def from_raw_public(cls: type[_V], data: Union[str, bytes]) -> _V:
        """A verify-only object from the public key (base64url 65-byte point)."""
        return cls(public_key=_keys.load_public_raw(data))

    def generate_keys(self) -> None:
        """Replace this object's key pair with a new random one."""
        self._set_private_key(generate_private_key())

    # ------------------------------------------------------------------- keys

    @property
    def private_key(self) -> Optional[ec.EllipticCurvePrivateKey]:
        """The private key, or None for a verify-only object."""
        return self._private_key

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    @property
    def application_server_key(self) -> str:
        """Unpadded base64url of the 65-byte public point: ``pushManager.subscribe()``'s key."""
        return self._k

    def _require_private(self) -> ec.EllipticCurvePrivateKey:
        if self._private_key is None:
            raise VapidError(
                "this Vapid object has only a public key; it can verify, not sign",
                field="vapid_private_key",
            )
        return self._private_key

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._require_private().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM."""
        return self._public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def save_key(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the private key as PEM, atomically, to a file readable by its owner only."""
        _keys.write_file(path, self.private_pem(), 0o600)

    def save_public_key(self, path: Union[str, os.PathLike[str]]) -> None:
        """Write the public key as PEM, atomically."""
        _keys.write_file(path, self.public_pem(), 0o644)

    def __repr__(self) -> str:
        kind = "" if self._private_key is not None else ", verify-only"
        return f"{type(self).__name__}(application_server_key={self._k!r}{kind})"

    # ---------------------------------------------------------------- signing

    def sign(self, claims: Mapping[str, Any]) -> dict[str, str]:
        """The VAPID headers for ``claims``, in this class's scheme.

        ``Vapid``: ``{"Authorization": "vapid t=<JWT>, k=<key>"}`` (RFC 8292 §3).
        ``Vapid01``: ``{"Authorization": "WebPush <JWT>", "Crypto-Key": "p256ecdsa=<key>"}``.
        """
        return self.sign_headers(claims, scheme=self.default_scheme)

    def sign_headers(self, claims: Mapping[str, Any], *, scheme: str) -> dict[str, str]:
        """The VAPID headers for ``claims`` in ``scheme`` ("vapid" or "webpush").

        ``claims`` needs ``sub`` and ``aud`` (see :func:`validate_claims`);
        ``exp`` defaults to now + 12 h. The token is cached and reused until
        an hour before its ``exp``. ``claims`` is never mutated; the returned
        dict is the caller's to modify.
        """
        if scheme not in SCHEMES:
            raise VapidError(
                f"unknown VAPID scheme {scheme!r}: use 'vapid' (RFC 8292) or 'webpush' (aesgcm)",
                field="scheme",
            )
        key = _cache_key(scheme, claims)
        if key is None:
            # Unusual claims: validate (raising the precise error) and sign, uncached.
            return self._mint(scheme, claims, self._clock())[0]
        return self._cache.get_or_mint(key, lambda now: self._mint(scheme, claims, now))

    def _mint(self, scheme: str, claims: Mapping[str, Any], now: float) -> Minted:
        private_key = self._require_private()
        full = validate_claims(claims, now=now)
        check_aud(full.get("aud"))
        token = _jwt.encode(full, private_key)
        if scheme == "vapid":
            headers = {"Authorization": f"vapid t={token}, k={self._k}"}
        else:
            headers = {"Authorization": f"WebPush {token}", "Crypto-Key": f"p256ecdsa={self._k}"}
        return headers, full["exp"]

    # -------------------------------------------------------------- verifying

    def verify(
        self,
        authorization: str,
        crypto_key: Optional[str] = None,
        *,
        audience: Optional[str] = None,
    ) -> dict[str, Any]:
        """Verify a VAPID Authorization header against THIS key; return its claims.

        The header's key (``k=``, or the Crypto-Key header's ``p256ecdsa=``
        for the WebPush scheme) must be this key, the ES256 signature must
        verify, ``exp`` must be in the future (at most 24 h ahead) and
        ``aud`` must equal ``audience`` when given. Raises :class:`VapidError`.
        """
        _, token, point = split_authorization(authorization, crypto_key)
        if point != self._point:
            raise VapidError(
                "the token carries a different public key than this one", field="authorization"
            )
        claims = _jwt.decode_verified(token, self._public_key)
        check_token_claims(claims, audience, self._clock())
        return claims


class Vapid01(Vapid):
    """A VAPID key pair signing with the draft-01 ``WebPush`` scheme (for ``aesgcm``)."""

    default_scheme: ClassVar[str] = "webpush"
