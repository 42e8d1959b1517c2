"""What every benchmark sends: real P-256 subscriptions, one VAPID key, payloads.

Each subscription is a browser's side made here (RFC 8291 §3: a P-256 key pair
and a 16-octet auth secret), so a contender's body can be checked to decrypt,
with http_ece, an implementation independent of ours.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any, Callable

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

VAPID_SUB = "mailto:bench@example.com"

Sub = dict[str, Any]  # a subscription as the browser's PushSubscription.toJSON() gives it


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(size: int) -> bytes:
    """A deterministic message of exactly ``size`` bytes (printable, like JSON)."""
    unit = b'{"title":"Order update","body":"Your parcel is on its way"} '
    return (unit * (size // len(unit) + 1))[:size]


def _point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


@dataclass(frozen=True)
class UserAgent:
    """One browser's side of a subscription: what it publishes and what it keeps."""

    p256dh: bytes  # 65-octet uncompressed point (RFC 8291 §3.1 ua_public)
    auth: bytes  # 16-octet auth secret (RFC 8291 §3.2)
    private_key: ec.EllipticCurvePrivateKey  # kept to check that bodies decrypt

    def subscription(self, endpoint: str) -> Sub:
        return {
            "endpoint": endpoint,
            "keys": {"p256dh": b64url(self.p256dh), "auth": b64url(self.auth)},
        }


def new_user_agent() -> UserAgent:
    key = ec.generate_private_key(ec.SECP256R1())
    return UserAgent(p256dh=_point(key), auth=os.urandom(16), private_key=key)


@dataclass(frozen=True)
class VapidKeys:
    private_b64: str  # raw 32-octet scalar, base64url: the form all three libraries accept
    public_b64: str  # 65-octet uncompressed point, base64url (applicationServerKey)


def new_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return VapidKeys(private_b64=b64url(scalar), public_b64=b64url(_point(key)))


def subscriptions(
    agents: list[UserAgent], endpoint_of: Callable[[str], str], count: int
) -> list[Sub]:
    """``count`` distinct endpoints (``endpoint_of("sub-<i>")``), keys reused round-robin."""
    return [agents[i % len(agents)].subscription(endpoint_of(f"sub-{i}")) for i in range(count)]


def decrypts_to(ua: UserAgent, body: bytes, expected: bytes) -> bool:
    """Whether http_ece opens ``body`` for ``ua`` to ``expected`` (aes128gcm, RFC 8188)."""
    try:
        plain = http_ece.decrypt(
            body, private_key=ua.private_key, dh=None, auth_secret=ua.auth, version="aes128gcm"
        )
    except Exception:
        return False
    return bool(plain == expected)
