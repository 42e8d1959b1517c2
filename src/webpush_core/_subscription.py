"""The browser's push subscription (RFC 8030 §5, RFC 8291 §2-3).

A browser's ``PushSubscription.toJSON()`` gives::

    {"endpoint": "https://...", "expirationTime": null,
     "keys": {"p256dh": "<base64url 65-byte point>", "auth": "<base64url 16 bytes>"}}

:class:`Subscription` parses and checks that once, and keeps the loaded
user-agent public key (``ua_public``, RFC 8291 §3.4) so every encryption for
this subscriber reuses it.

``keys`` may be left out: RFC 8030 §5 allows a push message without a
payload, and only a payload is encrypted for the keys. Such a subscription is
accepted when it is read and refused, naming ``keys`` and the fix, by whatever
would encrypt data for it (:meth:`Subscription.require_keys`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from ._b64 import b64url_decode, b64url_encode
from ._origin import DEFAULT_PORTS, MAX_ENDPOINT, NOT_VISIBLE_ASCII, OriginError, origin_of
from ._p256 import public_key_from_point, uncompressed_point
from .errors import InvalidSubscription

__all__ = ["Subscription"]

AUTH_LEN = 16  # RFC 8291 §3.2: the authentication secret is 16 octets
P256DH_LEN = 65  # RFC 8291 §3.1: an uncompressed P-256 point

_NO_KEYS = (
    "keys is missing: a push message with data is encrypted for the subscription's "
    "keys.p256dh and keys.auth (RFC 8291); store the subscription as the browser gives it "
    "(PushSubscription.toJSON(), keys included), or send it no data (RFC 8030 §5)"
)


def _check_endpoint(endpoint: Any) -> str:
    """Syntactic check of the push resource URL (RFC 8030 §5); returns its origin.

    The origin is the one identity of :mod:`._origin` (lower case, one
    trailing dot dropped), serialised per RFC 6454 §6.2 (the default port
    left out): what the VAPID ``aud`` claim names (RFC 8292 §2).
    """
    if (
        type(endpoint) is str
        and len(endpoint) <= MAX_ENDPOINT
        and NOT_VISIBLE_ASCII.search(endpoint) is None
    ):
        try:
            return origin_of(endpoint).serialized
        except OriginError:
            pass  # the general path below says why
    return _check_endpoint_general(endpoint)


def _check_endpoint_general(endpoint: Any) -> str:
    """:func:`_check_endpoint` for any value, raising the error that says what is wrong."""
    if not isinstance(endpoint, str):
        raise InvalidSubscription(
            f"endpoint must be a string URL, got {type(endpoint).__name__}", field="endpoint"
        )
    if len(endpoint) > MAX_ENDPOINT:
        raise InvalidSubscription(
            f"endpoint is {len(endpoint)} characters long, at most {MAX_ENDPOINT} are sent "
            "(RFC 9112 section 3: the request line servers are recommended to accept); "
            "a push service's endpoint is a few hundred characters: check that the stored "
            "value is the subscription's endpoint alone",
            field="endpoint",
        )
    bad = NOT_VISIBLE_ASCII.search(endpoint)
    if bad is not None:
        # Named by its code point: the character itself is what must not be shown.
        raise InvalidSubscription(
            f"endpoint must be visible ASCII only (0x21-0x7E: no spaces, control or "
            f"non-ASCII characters), found U+{ord(bad.group()):04X} at offset {bad.start()}; "
            "percent-encode the path and query (RFC 3986 section 2.1) and give the host in "
            "punycode (IDNA), as browsers do",
            field="endpoint",
        )
    try:
        scheme = urlsplit(endpoint).scheme
    except ValueError:
        raise InvalidSubscription(
            "endpoint is not a valid URL (brackets, or a port of digits)", field="endpoint"
        ) from None
    if scheme.lower() not in DEFAULT_PORTS:
        raise InvalidSubscription(
            f"endpoint must be an http(s) URL, got scheme {scheme or '(none)'!r}",
            field="endpoint",
        )
    try:
        return origin_of(endpoint).serialized
    except OriginError as exc:
        raise InvalidSubscription(f"endpoint is not a valid URL: {exc}", field="endpoint") from None


def _decode_key(keys: Mapping[str, Any], name: str) -> bytes:
    field_name = f"keys.{name}"
    if name not in keys:
        raise InvalidSubscription(f"{field_name} is missing", field=field_name)
    value = keys[name]
    # bytes too: base64.urlsafe_b64encode's result, which pywebpush accepts.
    if not isinstance(value, (str, bytes, bytearray)):
        raise InvalidSubscription(
            f"{field_name} must be a base64url string (or its ASCII bytes), "
            f"got {type(value).__name__}",
            field=field_name,
        )
    try:
        return b64url_decode(value)
    except ValueError as exc:
        # b64url_decode's messages describe the rule, never the value.
        raise InvalidSubscription(f"{field_name} is {exc}", field=field_name) from None


def _parse(
    info: Any, *, load: bool, keys_required: bool
) -> tuple[str, str, bytes, bytes, Optional[ec.EllipticCurvePublicKey]]:
    """from_info's checks, in its order; with ``load=False`` all but loading the point.

    Without ``keys`` (and ``keys_required`` False): ``b""``, ``b""`` and no key.
    """
    if type(info) is not dict and not isinstance(info, Mapping):  # the ABC check is slower
        raise InvalidSubscription(
            "subscription_info must be a mapping with endpoint and keys, "
            f"got {type(info).__name__}",
            field="subscription_info",
        )
    if "endpoint" not in info:
        raise InvalidSubscription("endpoint is missing", field="endpoint")
    endpoint = info["endpoint"]
    origin = _check_endpoint(endpoint)
    if "keys" not in info:
        if keys_required:
            raise InvalidSubscription(_NO_KEYS, field="keys")
        return endpoint, origin, b"", b"", None
    keys = info["keys"]
    if type(keys) is not dict and not isinstance(keys, Mapping):  # (as for info)
        raise InvalidSubscription(
            f"keys must be a mapping with p256dh and auth, got {type(keys).__name__} "
            "(leave keys out only for a subscription that is sent no data)",
            field="keys",
        )
    p256dh = _decode_key(keys, "p256dh")
    if len(p256dh) != P256DH_LEN:
        raise InvalidSubscription(
            f"keys.p256dh must decode to a {P256DH_LEN}-byte uncompressed P-256 point, "
            f"got {len(p256dh)} bytes",
            field="keys.p256dh",
        )
    ua_public_key = None
    if load:
        try:
            ua_public_key = public_key_from_point(p256dh)
        except ValueError as exc:
            raise InvalidSubscription(f"keys.p256dh: {exc}", field="keys.p256dh") from None
    auth = _decode_key(keys, "auth")
    if len(auth) != AUTH_LEN:
        raise InvalidSubscription(
            f"keys.auth must decode to {AUTH_LEN} bytes, got {len(auth)}", field="keys.auth"
        )
    return endpoint, origin, p256dh, auth, ua_public_key


@dataclass(frozen=True, repr=False)
class Subscription:
    """A checked push subscription: where to send, and the keys to encrypt for.

    ``p256dh`` is the user agent's public key as a 65-byte uncompressed point
    (RFC 8291 §3.1), ``auth`` its 16-byte authentication secret (§3.2).
    Build one with :meth:`from_info`; it is immutable and reusable.

    A subscription given without ``keys`` has ``p256dh == auth == b""`` and
    no ``ua_public_key`` (:attr:`has_keys` is False): it can be sent a push
    message without data (RFC 8030 §5), nothing else.
    """

    endpoint: str
    p256dh: bytes = b""
    auth: bytes = b""
    ua_public_key: Optional[ec.EllipticCurvePublicKey] = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def from_info(cls, info: Union[Mapping[str, Any], Subscription]) -> Subscription:
        """Parse a browser's subscription info (``PushSubscription.toJSON()``).

        ``keys.p256dh`` and ``keys.auth`` may be base64url or standard base64,
        padded or not, as ``str`` or as ASCII ``bytes`` (what
        ``base64.urlsafe_b64encode`` returns). Extra members (``expirationTime``, ...) are ignored.
        ``keys`` may be absent (a subscription for pushes without data: see
        :meth:`require_keys`); when present, both keys must be valid.
        Raises :class:`InvalidSubscription` naming the field and the rule.
        Returns ``info`` itself when it already is a :class:`Subscription`.
        """
        if isinstance(info, Subscription):
            return info
        endpoint, origin, p256dh, auth, ua_public_key = _parse(info, load=True, keys_required=False)
        # Every field is checked: skip __post_init__'s second look at the
        # endpoint (the fan-out parses one subscription per message). The
        # origin comes from the same split (the cached_property's slot).
        sub = object.__new__(cls)
        sub.__dict__.update(
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            ua_public_key=ua_public_key,
            origin=origin,
        )
        return sub

    @staticmethod
    def fields(info: Union[Mapping[str, Any], Subscription]) -> tuple[str, str, bytes, bytes]:
        """(endpoint, origin, p256dh, auth) with every check of :meth:`from_info`
        but loading the point onto the curve, and the keys required.

        For a fan-out whose encryption (and so the load) happens in another
        process; a point that then does not load is reported by running
        :meth:`from_info`, whose error is the one to report.
        """
        if isinstance(info, Subscription):
            info.require_keys()
            return info.endpoint, info.origin, info.p256dh, info.auth
        endpoint, origin, p256dh, auth, _ = _parse(info, load=False, keys_required=True)
        return endpoint, origin, p256dh, auth

    def __post_init__(self) -> None:
        # Direct construction gets the cheap checks too (from_info did the
        # expensive one: loading the point).
        _check_endpoint(self.endpoint)
        if self.p256dh == b"" and self.auth == b"" and self.ua_public_key is None:
            return  # no keys: for pushes without data
        if not isinstance(self.p256dh, bytes) or len(self.p256dh) != P256DH_LEN:
            raise InvalidSubscription(
                f"keys.p256dh must be {P256DH_LEN} bytes", field="keys.p256dh"
            )
        if not isinstance(self.auth, bytes) or len(self.auth) != AUTH_LEN:
            raise InvalidSubscription(f"keys.auth must be {AUTH_LEN} bytes", field="keys.auth")
        if not isinstance(self.ua_public_key, ec.EllipticCurvePublicKey) or not isinstance(
            self.ua_public_key.curve, ec.SECP256R1
        ):
            raise InvalidSubscription(
                "ua_public_key must be a P-256 EllipticCurvePublicKey", field="keys.p256dh"
            )
        # The encryption uses both: p256dh in key_info, the key for ECDH.
        if uncompressed_point(self.ua_public_key) != self.p256dh:
            raise InvalidSubscription(
                "ua_public_key is not the key whose point is keys.p256dh", field="keys.p256dh"
            )

    @functools.cached_property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the endpoint: the VAPID ``aud`` (RFC 8292 §2).

        Userinfo, path and query are dropped; the host is in its one spelling
        (lower case, IDNA, one trailing dot dropped) and the scheme's default
        port omitted (RFC 6454 §6.2 serialization).
        """
        return _check_endpoint(self.endpoint)

    @property
    def has_keys(self) -> bool:
        """Whether the subscription has keys, so that data can be encrypted for it."""
        return self.ua_public_key is not None

    def require_keys(self) -> ec.EllipticCurvePublicKey:
        """The user agent's public key; :class:`InvalidSubscription` (field ``keys``)
        for a subscription without keys, saying what to do."""
        if self.ua_public_key is None:
            raise InvalidSubscription(_NO_KEYS, field="keys")
        return self.ua_public_key

    def to_info(self) -> dict[str, Any]:
        """The browser's JSON shape back, with unpadded base64url keys (none without)."""
        if not self.has_keys:
            return {"endpoint": self.endpoint}
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url_encode(self.p256dh), "auth": b64url_encode(self.auth)},
        }

    def __repr__(self) -> str:
        # The auth secret must never reach a log line.
        return f"Subscription(endpoint={self.endpoint!r})"
