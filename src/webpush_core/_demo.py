"""``make demo``: a real, encrypted notification, end to end, on this machine.

Plays every part of Web Push: an in-process push service (the same
``webpush_core.testing.LocalPushService`` your tests can use) hands out a
subscription as a browser would; the application server generates a VAPID
key and sends a message with :func:`webpush_core.webpush`; the push service
checks the VAPID token (RFC 8292), decrypts the body with the subscription's
private key (RFC 8291) and records it. Along the way every step of the
RFC 8291 §3.4 key schedule is printed by its RFC name.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from . import ece
from ._b64 import b64url_encode
from ._endpoint import EndpointPolicy
from ._facade import webpush
from ._p256 import generate_private_key
from ._response import PushResponse
from ._subscription import Subscription
from .testing import LocalPushService
from .vapid import Vapid

__all__ = ["print_trace", "run"]

MESSAGE = b"When I grow up, I want to be a watermelon"
CLAIMS = {"sub": "mailto:demo@example.com"}


def print_trace(steps: Sequence[tuple[str, bytes]], out: TextIO = sys.stdout) -> None:
    """Print ``ece.trace`` steps as aligned ``name: base64url`` lines."""
    width = max((len(name) for name, _ in steps), default=0)
    for name, value in steps:
        out.write(f"  {name:<{width}} : {b64url_encode(value)}\n")


def _shorten(value: str, keep: int = 48) -> str:
    return value if len(value) <= keep else f"{value[:keep]}... ({len(value)} chars)"


def run(out: TextIO = sys.stdout) -> int:
    """Send one notification to a local push service and show every step."""
    vapid = Vapid.generate()
    out.write("1. Application server: a fresh VAPID key (RFC 8292).\n")
    out.write(f"  applicationServerKey : {vapid.application_server_key}\n\n")

    with LocalPushService() as service:
        info = service.subscribe(vapid.application_server_key)
        sub = Subscription.from_info(info)
        out.write("2. Browser: pushManager.subscribe() gives the application server:\n")
        out.write(f"  endpoint : {sub.endpoint}\n")
        out.write(f"  p256dh   : {info['keys']['p256dh']}\n")
        out.write("  auth     : (16-byte secret, shared only with the application server)\n\n")

        out.write(
            "3. The RFC 8291 §3.4 key schedule for this message (every message gets\n"
            "   a fresh ephemeral key and salt, so the values differ on each run):\n"
        )
        steps = ece.trace(
            MESSAGE, private_key=generate_private_key(), dh=sub.p256dh, auth_secret=sub.auth
        )
        print_trace(steps, out)

        # The push service is on loopback over http: allow it explicitly
        # (the default policy refuses both, as it should for real endpoints).
        local = EndpointPolicy(allow_http=True, allow_private=True)
        response = webpush(info, MESSAGE, vapid, CLAIMS, ttl=60, endpoint_policy=local)
        if not isinstance(response, PushResponse):  # only curl=True returns text
            raise TypeError("webpush() returned a curl command")
        wire = service.requests[-1]
        out.write("\n4. webpush() sent it; the push service received:\n")
        out.write(f"  POST {wire.path} ({wire.body_length} octets)\n")
        for name in ("ttl", "content-encoding", "content-type", "authorization"):
            out.write(f"  {name}: {_shorten(wire.headers.get(name, '-'), 72)}\n")
        out.write(f"  -> {response.status_code} {response.reason}, Location: {response.location}\n")

        message = service.wait_for_message(info)
        out.write("\n5. Push service: VAPID token verified, body decrypted with the\n")
        out.write("   browser's private key and auth secret:\n")
        out.write(f"  claims    : {message.vapid_claims}\n")
        out.write(f"  plaintext : {message.plaintext.decode('utf-8')}\n")
    ok = message.plaintext == MESSAGE
    out.write("\nDelivered and decrypted.\n" if ok else "\nMISMATCH: the delivered text differs.\n")
    return 0 if ok else 1
