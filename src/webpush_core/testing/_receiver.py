"""The push service's side of one push request, without I/O.

:func:`accept_push` takes what arrived (headers, body) for one subscription and
either returns the delivered :class:`ReceivedMessage` or raises
:class:`Refusal` carrying the status a push service would answer
(RFC 8030 §5, §7, §8; RFC 8292 §4). The HTTP server in ``_server`` only moves
bytes around it.

Unlike a real push service, this one also plays the user agent: it decrypts
the payload (RFC 8291 §3.4; aesgcm draft-ietf-webpush-encryption-04) and
refuses the push when that fails, so a sender's mistake surfaces as a 400
in the sender's own test instead of a silently dropped message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Optional

from cryptography.hazmat.primitives.asymmetric import ec

from .. import ece, vapid
from .._b64 import b64url_decode
from ..declarative import DeclarativeMessage, is_declarative, parse
from ..errors import ECEError, InvalidInput, VapidError

__all__ = ["MAX_PAYLOAD", "ReceivedMessage", "Refusal", "accept_push", "decrypt_push"]

# RFC 8030 §7.2: a push service MUST accept payloads of at least 4096 octets
# (the encrypted body) and MAY refuse larger ones with 413.
MAX_PAYLOAD = 4096
URGENCIES = frozenset({"very-low", "low", "normal", "high"})  # RFC 8030 §5.3
# RFC 8030 §5.4: a topic is at most 32 characters of the base64url alphabet.
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_TTL = re.compile(r"[0-9]{1,10}")  # RFC 8030 §5.2: delta-seconds, non-negative
_RS = re.compile(r"[0-9]{1,10}")  # aesgcm's rs= (ASCII digits: isdigit() takes "²")
CODINGS = frozenset({"aes128gcm", "aesgcm"})
# RFC 8292 §2: exp MUST NOT be more than 24 hours after the request; allow a
# little clock skew on top.
MAX_VAPID_LIFETIME = 24 * 3600
CLOCK_SKEW = 60


@dataclass(frozen=True)
class ReceivedMessage:
    """One push the local service accepted, decrypted.

    ``headers`` holds the request's header fields with lower-case names;
    ``body`` the encrypted body as received; ``encoding`` the
    Content-Encoding (``""`` for a push without payload, RFC 8030 §5);
    ``vapid_claims`` the verified JWT claims, or None when the push carried
    no VAPID token. The repr shows sizes, never contents.
    """

    endpoint: str
    plaintext: bytes
    encoding: str
    ttl: int
    urgency: Optional[str]
    topic: Optional[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    vapid_claims: Optional[dict[str, Any]] = None

    @property
    def text(self) -> str:
        """The plaintext decoded as UTF-8 (what browsers hand to ``event.data.text()``)."""
        return self.plaintext.decode("utf-8")

    @property
    def declarative(self) -> Optional[DeclarativeMessage]:
        """The parsed Declarative Web Push message, when the plaintext is one.

        None when the plaintext does not claim to be one (no ``"web_push": 8030``)
        or breaks a rule (then :attr:`declarative_error` says which). Its
        ``members`` are what a browser would show without a service worker.
        """
        return self._declarative()[0]

    @property
    def declarative_error(self) -> Optional[str]:
        """Why a plaintext claiming ``"web_push": 8030`` is not a valid declarative message."""
        return self._declarative()[1]

    def _declarative(self) -> tuple[Optional[DeclarativeMessage], Optional[str]]:
        if not is_declarative(self.plaintext):
            return None, None
        try:
            return parse(self.plaintext), None
        except InvalidInput as e:
            return None, f"{e.field}: {e.message}"

    def __repr__(self) -> str:
        kind = "no"
        if is_declarative(self.plaintext):
            kind = "yes" if self.declarative is not None else "invalid"
        return (
            f"ReceivedMessage(endpoint={self.endpoint!r}, encoding={self.encoding!r}, "
            f"ttl={self.ttl}, urgency={self.urgency!r}, topic={self.topic!r}, "
            f"plaintext=<{len(self.plaintext)} bytes>, body=<{len(self.body)} bytes>, "
            f"vapid={'yes' if self.vapid_claims is not None else 'no'}, declarative={kind})"
        )


class Refusal(Exception):
    """What the push service answers instead of 201: status, errno, message.

    ``errno`` numbers follow the style of Mozilla's autopush error table, so
    the JSON body looks like a real service's.
    """

    def __init__(self, status: int, errno: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errno = errno
        self.message = message

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.status,
            "errno": self.errno,
            "error": HTTPStatus(self.status).phrase,
            "message": self.message,
        }


# errno values (autopush-style)
E_MISSING_CRYPTO = 101
E_NOT_FOUND = 102
E_GONE = 103
E_TOO_LARGE = 104
E_UNAUTHORIZED = 109
E_BAD_CRYPTO = 110
E_MISSING_HEADER = 111
E_BAD_TTL = 112
E_BAD_HEADER = 113
E_BAD_METHOD = 105
E_LENGTH_REQUIRED = 106


@dataclass
class SubscriptionState:
    """What the local service keeps for one subscription (the browser's secrets)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)
    application_server_key: Optional[bytes] = None
    expired: bool = False


def accept_push(
    sub: SubscriptionState,
    headers: Mapping[str, str],
    body: bytes,
    *,
    origin: str,
    now: Optional[float] = None,
) -> ReceivedMessage:
    """Check one push request to ``sub`` and decrypt it, or raise :class:`Refusal`.

    ``headers`` must have lower-case names. ``origin`` is this service's
    ``scheme://host:port``: the only ``aud`` a VAPID token may carry
    (RFC 8292 §2). Checks run in the order a push service applies them:
    gone (RFC 8030 §7.3), size (§7.2), TTL (§5.2), Urgency (§5.3), Topic
    (§5.4), VAPID (RFC 8292 §4), then the payload.
    """
    if sub.expired:
        raise Refusal(410, E_GONE, "the subscription has expired or was unsubscribed")
    if len(body) > MAX_PAYLOAD:
        raise Refusal(
            413, E_TOO_LARGE, f"the body is {len(body)} bytes; at most {MAX_PAYLOAD} are accepted"
        )

    ttl_value = headers.get("ttl")
    if ttl_value is None:
        raise Refusal(400, E_MISSING_HEADER, "the TTL header is required (RFC 8030 section 5.2)")
    if not _TTL.fullmatch(ttl_value.strip()):
        raise Refusal(400, E_BAD_TTL, "the TTL header must be a non-negative integer of seconds")
    ttl = int(ttl_value.strip())

    urgency = headers.get("urgency")
    if urgency is not None:
        urgency = urgency.strip()
        if urgency not in URGENCIES:
            raise Refusal(
                400, E_BAD_HEADER, "the Urgency header must be one of very-low, low, normal, high"
            )

    topic = headers.get("topic")
    if topic is not None:
        topic = topic.strip()
        if not _TOPIC.fullmatch(topic):
            raise Refusal(
                400, E_BAD_HEADER, "the Topic header must be 1 to 32 characters of base64url"
            )

    claims = _check_vapid(sub, headers, origin=origin, now=time.time() if now is None else now)

    encoding = headers.get("content-encoding", "").strip().lower()
    if not body:
        # RFC 8030 §5: a push without payload is valid; nothing to decrypt.
        plaintext = b""
    elif not encoding:
        raise Refusal(
            400, E_MISSING_HEADER, "a push with a body needs a Content-Encoding header (RFC 8291)"
        )
    elif encoding not in CODINGS:
        raise Refusal(
            400, E_BAD_CRYPTO, "unsupported Content-Encoding; use aes128gcm (RFC 8291) or aesgcm"
        )
    else:
        plaintext = _decrypt(sub, headers, body, encoding)

    return ReceivedMessage(
        endpoint=sub.endpoint,
        plaintext=plaintext,
        encoding=encoding,
        ttl=ttl,
        urgency=urgency,
        topic=topic,
        headers=dict(headers),
        body=body,
        vapid_claims=claims,
    )


def _check_vapid(
    sub: SubscriptionState, headers: Mapping[str, str], *, origin: str, now: float
) -> Optional[dict[str, Any]]:
    """RFC 8292 §4: verify the token; bind it to the subscription's key if it has one.

    A token is checked whenever one is present (as autopush does); it is
    required only for a subscription created with an applicationServerKey.
    """
    authorization = headers.get("authorization")
    if not authorization:
        if sub.application_server_key is not None:
            raise Refusal(
                401,
                E_UNAUTHORIZED,
                "this subscription was created with an applicationServerKey: "
                "a VAPID Authorization header is required (RFC 8292 section 4.2)",
            )
        return None
    try:
        token = vapid.parse_authorization(authorization, headers.get("crypto-key"), audience=origin)
    except VapidError as exc:
        raise Refusal(401, E_UNAUTHORIZED, f"invalid VAPID token: {exc.message}") from None
    claims = dict(token.claims)
    if claims.get("aud") != origin:
        raise Refusal(401, E_UNAUTHORIZED, f"the VAPID aud claim must be {origin}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Refusal(401, E_UNAUTHORIZED, "the VAPID exp claim must be an integer")
    if exp <= now - CLOCK_SKEW:
        raise Refusal(401, E_UNAUTHORIZED, "the VAPID token has expired")
    if exp > now + MAX_VAPID_LIFETIME + CLOCK_SKEW:
        raise Refusal(
            401, E_UNAUTHORIZED, "the VAPID exp claim is more than 24 hours ahead (RFC 8292 §2)"
        )
    if sub.application_server_key is not None and token.public_key != sub.application_server_key:
        raise Refusal(
            403,
            E_UNAUTHORIZED,
            "the VAPID key is not the applicationServerKey of this subscription (RFC 8292 §4.2)",
        )
    return claims


def _header_params(value: str) -> dict[str, str]:
    """``a=1;b=2`` or ``a=1,b=2`` (aesgcm draft §3.1, §3.2) as a dict; quotes removed."""
    params: dict[str, str] = {}
    for part in re.split(r"[;,]", value):
        name, sep, val = part.partition("=")
        if sep:
            params[name.strip().lower()] = val.strip().strip('"')
    return params


def _decode(value: Optional[str], name: str, length: int) -> bytes:
    if value is None:
        raise Refusal(400, E_MISSING_CRYPTO, f"aesgcm needs {name}")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise Refusal(400, E_BAD_CRYPTO, f"{name} is not base64url") from None
    if len(raw) != length:
        raise Refusal(400, E_BAD_CRYPTO, f"{name} must be {length} bytes, got {len(raw)}")
    return raw


def _aesgcm_params(headers: Mapping[str, str]) -> tuple[bytes, bytes, int]:
    """salt, dh and rs of a legacy aesgcm push (draft-ietf-webpush-encryption-04 §3)."""
    encryption = _header_params(headers.get("encryption", ""))
    crypto_key = _header_params(headers.get("crypto-key", ""))
    salt = _decode(encryption.get("salt"), "Encryption: salt=", 16)
    dh = _decode(crypto_key.get("dh"), "Crypto-Key: dh=", 65)
    rs_text = encryption.get("rs", "4096")
    if not _RS.fullmatch(rs_text) or not 2 < int(rs_text) <= 2**32 - 1:
        raise Refusal(400, E_BAD_CRYPTO, "Encryption: rs= must be an integer above 2")
    return salt, dh, int(rs_text)


def decrypt_push(sub: SubscriptionState, headers: Mapping[str, str], body: bytes) -> bytes:
    """The plaintext of a push to ``sub``, in the coding its Content-Encoding names
    (``headers`` with lower-case names), without the other checks of
    :func:`accept_push`. Raises :class:`Refusal` (400) when it does not decrypt."""
    if not body:
        return b""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in CODINGS:
        raise Refusal(
            400, E_BAD_CRYPTO, "unsupported Content-Encoding; use aes128gcm (RFC 8291) or aesgcm"
        )
    return _decrypt(sub, headers, body, encoding)


def _decrypt(
    sub: SubscriptionState, headers: Mapping[str, str], body: bytes, encoding: str
) -> bytes:
    try:
        if encoding == "aesgcm":
            salt, dh, rs = _aesgcm_params(headers)
            return ece.decrypt(
                body,
                salt=salt,
                dh=dh,
                rs=rs,
                private_key=sub.private_key,
                auth_secret=sub.auth_secret,
                version="aesgcm",
            )
        # aes128gcm carries salt, rs and the sender's key in its header (RFC 8291 §4).
        return ece.decrypt(
            body,
            private_key=sub.private_key,
            auth_secret=sub.auth_secret,
            version="aes128gcm",
        )
    except ECEError as exc:
        raise Refusal(
            400, E_BAD_CRYPTO, f"the payload does not decrypt ({encoding}): {exc.message}"
        ) from None
