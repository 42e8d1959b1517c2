"""The receiving side: parse and verify a VAPID Authorization header.

Two schemes exist:

* RFC 8292 §3: ``Authorization: vapid t=<JWT>, k=<public key>``;
* draft-ietf-webpush-vapid-01 (paired with the legacy ``aesgcm`` coding):
  ``Authorization: WebPush <JWT>`` with the key in
  ``Crypto-Key: p256ecdsa=<public key>``.

The key is the 65-byte uncompressed P-256 point, base64url (RFC 8292 §3.2).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Optional

from .._b64 import b64url_decode
from .._p256 import public_key_from_point
from ..errors import VapidError
from . import _jwt
from ._claims import MAX_TTL

__all__ = ["VapidToken", "check_token_claims", "parse_authorization", "split_authorization"]

_FIELD = "authorization"
# A sender whose clock runs a little ahead may mint exp = its now + 24 h.
_LEEWAY = 60


@dataclass(frozen=True)
class VapidToken:
    """A verified VAPID token: its scheme ("vapid" or "webpush"), claims and key.

    ``public_key`` is the 65-byte uncompressed point the token was verified
    with; a push service compares it to the subscription's
    ``applicationServerKey`` (RFC 8292 §4.1).
    """

    scheme: str
    claims: dict[str, Any]
    public_key: bytes


def _auth_params(text: str) -> dict[str, str]:
    """``name=value`` pairs separated by commas (RFC 7235 §2.1 auth-params)."""
    params: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not eq or not name or not value:
            raise VapidError(
                "the vapid Authorization parameters must be t=<JWT>, k=<key> (RFC 8292 §3)",
                field=_FIELD,
            )
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name in params:
            raise VapidError(f"the Authorization header repeats {name}=", field=_FIELD)
        params[name] = value
    return params


def _crypto_key_p256ecdsa(crypto_key: Optional[str]) -> str:
    """The ``p256ecdsa`` value of a Crypto-Key header (draft-ietf-webpush-vapid-01 §4)."""
    if not crypto_key:
        raise VapidError(
            "a WebPush Authorization needs a Crypto-Key header with p256ecdsa=<key>",
            field="crypto_key",
        )
    if not isinstance(crypto_key, str):
        raise VapidError("the Crypto-Key header must be a string", field="crypto_key")
    found = set()
    for item in crypto_key.replace(",", ";").split(";"):
        name, _, value = item.partition("=")
        if name.strip().lower() == "p256ecdsa":
            found.add(value.strip().strip('"'))
    if len(found) != 1:
        raise VapidError(
            "the Crypto-Key header must carry exactly one p256ecdsa=<key>"
            if found
            else "the Crypto-Key header has no p256ecdsa=<key>",
            field="crypto_key",
        )
    return found.pop()


def split_authorization(authorization: str, crypto_key: Optional[str]) -> tuple[str, str, bytes]:
    """(scheme, JWT, 65-byte point) from the headers; nothing verified yet."""
    if not isinstance(authorization, str):
        raise VapidError("the Authorization header must be a string", field=_FIELD)
    scheme, _, rest = authorization.strip().partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme == "vapid":
        params = _auth_params(rest)
        token, key = params.get("t"), params.get("k")
        if not token or not key:
            raise VapidError(
                "the vapid Authorization needs both t=<JWT> and k=<key> (RFC 8292 §3)",
                field=_FIELD,
            )
    elif scheme == "webpush":
        token = rest
        if not token or any(c.isspace() for c in token):
            raise VapidError("the WebPush Authorization must be 'WebPush <JWT>'", field=_FIELD)
        key = _crypto_key_p256ecdsa(crypto_key)
    else:
        raise VapidError(
            "the Authorization scheme must be 'vapid' (RFC 8292) or 'WebPush' (draft-01)",
            field=_FIELD,
        )
    try:
        point = b64url_decode(key)
    except ValueError:
        raise VapidError("the VAPID public key is not base64url", field=_FIELD) from None
    if len(point) != 65 or point[0] != 0x04:
        raise VapidError(
            "the VAPID public key must be a 65-byte uncompressed P-256 point (RFC 8292 §3.2)",
            field=_FIELD,
        )
    return scheme, token, point


def check_token_claims(claims: dict[str, Any], audience: Optional[str], now: float) -> None:
    """What a push service checks in the claims (RFC 8292 §2, §4.2)."""
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise VapidError("the VAPID token has no numeric exp claim", field=_FIELD)
    if isinstance(exp, float) and math.isnan(exp):
        # json.loads reads NaN, which no comparison below would catch:
        # a token that never expires.
        raise VapidError("the VAPID token's exp is not a number (NaN)", field=_FIELD)
    if exp <= now:
        raise VapidError("the VAPID token has expired", field=_FIELD)
    if exp > now + MAX_TTL + _LEEWAY:
        raise VapidError(
            "the VAPID token's exp is more than 24 hours ahead (RFC 8292 §2)", field=_FIELD
        )
    if audience is not None and claims.get("aud") != audience:
        raise VapidError(
            f"the VAPID token's aud {claims.get('aud')!r} is not {audience!r}", field=_FIELD
        )


def parse_authorization(
    authorization: str,
    crypto_key: Optional[str] = None,
    *,
    audience: Optional[str] = None,
) -> VapidToken:
    """Verify a VAPID token against the key carried with it; return it.

    The signature is checked with the key in ``k=`` (or the Crypto-Key
    header's ``p256ecdsa=``), ``exp`` must be in the future and at most
    24 h ahead, and ``aud`` must equal ``audience`` when given. A push
    service must then compare :attr:`VapidToken.public_key` with the
    subscription's ``applicationServerKey``: a valid token signed by some
    other key proves nothing. Every failure is a :class:`VapidError`.
    """
    scheme, token, point = split_authorization(authorization, crypto_key)
    try:
        public_key = public_key_from_point(point)
    except ValueError:
        raise VapidError("the VAPID public key is not on the P-256 curve", field=_FIELD) from None
    claims = _jwt.decode_verified(token, public_key)
    check_token_claims(claims, audience, time.time())
    return VapidToken(scheme=scheme, claims=claims, public_key=point)
