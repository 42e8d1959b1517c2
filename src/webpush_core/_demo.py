"""``make demo``: a real, encrypted notification, end to end, on this machine.

Plays every part of Web Push: an in-process push service (the same
``webpush_core.testing.LocalPushService`` your tests can use) hands out a
subscription as a browser would; the application server generates a VAPID
key and sends a message with :func:`webpush_core.webpush`; the push service
checks the VAPID token (RFC 8292), decrypts the body with the subscription's
private key (RFC 8291) and records it. Along the way every value is printed
with one line on what it is (the key schedule's from :func:`ece.explain`).
"""

from __future__ import annotations

import sys
from typing import TextIO

from . import ece
from ._endpoint import EndpointPolicy
from ._facade.webpush import webpush
from ._p256 import generate_private_key
from ._response import PushResponse
from ._subscription import Subscription
from .ece._explain import render
from .testing import LocalPushService
from .vapid import Vapid

__all__ = ["run"]

MESSAGE = b"When I grow up, I want to be a watermelon"
CLAIMS = {"sub": "mailto:demo@example.com"}


def _value(out: TextIO, name: str, value: str, meaning: str, width: int = 20) -> None:
    """One value and, under it, what it is, in one line."""
    out.write(f"  {name:<{width}} : {value}\n{' ' * (width + 5)}{meaning}\n")


def _shorten(value: str, keep: int = 48) -> str:
    return value if len(value) <= keep else f"{value[:keep]}... ({len(value)} chars)"


def run(out: TextIO = sys.stdout) -> int:
    """Send one notification to a local push service and show every step."""
    vapid = Vapid.generate()
    out.write("1. Application server: a fresh VAPID key (RFC 8292).\n")
    _value(out, "applicationServerKey", vapid.application_server_key,
           "its public key, base64url: the browser subscribes with it (RFC 8292 §3.2)")  # fmt: skip
    out.write("\n")

    with LocalPushService() as service:
        info = service.subscribe(vapid.application_server_key)
        sub = Subscription.from_info(info)
        out.write("2. Browser: pushManager.subscribe() gives the application server:\n")
        _value(
            out,
            "endpoint",
            sub.endpoint,
            "the push resource: the message is POSTed here (RFC 8030 §5)",
        )
        _value(
            out,
            "p256dh",
            info["keys"]["p256dh"],
            "the browser's P-256 public key: the message is encrypted to it (RFC 8291 §3.1)",
        )
        _value(
            out,
            "auth",
            "(16 octets, not shown)",
            "a secret shared only with the application server (RFC 8291 §3.2)",
        )
        out.write("\n")  # fmt: skip

        out.write(
            "3. The RFC 8291 key schedule for this message (every message gets a fresh\n"
            "   ephemeral key and salt, so the values differ on each run; `webpush-core\n"
            "   explain` adds each formula, the inputs and the whole body):\n"
        )
        steps = ece.explain(
            MESSAGE, private_key=generate_private_key(), dh=sub.p256dh, auth_secret=sub.auth
        )
        shown = [s for s in steps if s.part in ("key", "header", "record")]
        out.write(render(shown, brief=True, width=20))

        # The push service is on loopback over http: allow it explicitly
        # (the default policy refuses both, as it should for real endpoints).
        local = EndpointPolicy(allow_http=True, allow_private=True)
        response = webpush(info, MESSAGE, vapid, CLAIMS, ttl=60, endpoint_policy=local)
        if not isinstance(response, PushResponse):  # only curl=True returns text
            raise TypeError("webpush() returned a curl command")
        wire = service.requests[-1]
        headers = wire.headers
        out.write("\n4. webpush() sent it; the push service received:\n")
        _value(
            out,
            "POST",
            f"{wire.path} ({wire.body_length} octets)",
            "the body: header || one sealed record (RFC 8188 §2, RFC 8291 §4)",
        )
        _value(
            out,
            "ttl",
            headers.get("ttl", "-"),
            "seconds the push service may keep it for an offline browser (RFC 8030 §5.2)",
        )
        _value(
            out,
            "content-encoding",
            headers.get("content-encoding", "-"),
            "how the body is encrypted (RFC 8291 §4)",
        )
        _value(
            out,
            "content-type",
            headers.get("content-type", "-"),
            "opaque octets to the push service (RFC 8030 §5)",
        )
        _value(
            out,
            "authorization",
            _shorten(headers.get("authorization", "-"), 72),
            "vapid t=<JWT signed with the VAPID key>, k=<its public key> (RFC 8292 §3)",
        )
        answer = f"{response.status_code} {response.reason}, Location: {response.location}"
        _value(out, "->", answer,
               "accepted: held by the push service until delivered (RFC 8030 §5)")  # fmt: skip

        message = service.wait_for_message(info)
        out.write("\n5. Push service: VAPID token verified, body decrypted with the\n")
        out.write("   browser's private key and auth secret:\n")
        _value(
            out,
            "claims",
            str(message.vapid_claims),
            "the JWT's claims: aud (the push service's origin), exp, sub (RFC 8292 §2)",
        )
        _value(out, "plaintext", message.plaintext.decode("utf-8"),
               "what the service worker's push event receives")  # fmt: skip
    ok = message.plaintext == MESSAGE
    out.write("\nDelivered and decrypted.\n" if ok else "\nMISMATCH: the delivered text differs.\n")
    return 0 if ok else 1
