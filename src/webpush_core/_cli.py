"""Command line: ``webpush-core send | keygen | explain | demo``.

``send`` takes pywebpush's flags (``--data``, ``--info``, ``--head``,
``--claims``, ``--key``, ``--wns``, ``--curl``, ``--encoding``,
``--verbose``) plus ``--message``, ``--ttl``, ``--urgency``, ``--topic``.
Exit status: 0 delivered, 1 refused by the push service or unreachable,
2 bad input (nothing was sent).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional, TextIO

from . import ece
from ._demo import print_trace
from ._demo import run as run_demo
from ._endpoint import EndpointPolicy
from ._facade import webpush
from ._p256 import generate_private_key
from ._subscription import Subscription
from ._version import __version__
from .errors import InvalidInput, WebPushException
from .vapid import Vapid

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InvalidInput(f"cannot read {what} file {path!r}: {e.strerror}", field=what) from None
    except json.JSONDecodeError as e:
        raise InvalidInput(
            f"{what} file {path!r} is not JSON: {e.msg} (line {e.lineno})", field=what
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webpush-core", description="Send Web Push messages.")
    parser.add_argument("--version", action="version", version=f"webpush-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send", help="encrypt a message and send it to a subscription")
    send.add_argument(
        "--info", "-i", required=True, help="subscription JSON file (PushSubscription.toJSON())"
    )
    body = send.add_mutually_exclusive_group()
    body.add_argument("--data", "-d", help="file whose content is the message")
    body.add_argument("--message", "-m", help="the message text")
    send.add_argument("--head", help="JSON file of extra headers (optional)")
    send.add_argument(
        "--claims", help='JSON file of VAPID claims, e.g. {"sub": "mailto:you@example.com"}'
    )
    send.add_argument("--key", help="VAPID private key: a key file path or a key string")
    send.add_argument(
        "--wns",
        action="store_true",
        help="Microsoft's service: TTL > 0 and X-WNS-Cache-Policy: cache",
    )
    send.add_argument("--curl", action="store_true", help="print a curl command instead of sending")
    send.add_argument("--encoding", default="aes128gcm", choices=["aes128gcm", "aesgcm"])
    send.add_argument(
        "--ttl", type=int, default=None, help="seconds the push service keeps it (default 0)"
    )
    send.add_argument("--urgency", choices=["very-low", "low", "normal", "high"])
    send.add_argument("--topic", help="replaces a pending message with the same topic")
    send.add_argument("--timeout", type=float, default=None, help="seconds (default 10)")
    send.add_argument(
        "--allow-private",
        action="store_true",
        help="allow http:// and loopback/private endpoints (local testing only)",
    )
    send.add_argument("--verbose", "-v", action="store_true")

    keygen = sub.add_parser("keygen", help="create a VAPID key pair")
    keygen.add_argument(
        "--out", default="private_key.pem", help="where to write the private key (0600)"
    )
    keygen.add_argument("--force", action="store_true", help="overwrite an existing file")

    explain = sub.add_parser("explain", help="print each RFC 8291 encryption step (the audit view)")
    explain.add_argument("--info", "-i", required=True, help="subscription JSON file")
    ebody = explain.add_mutually_exclusive_group(required=True)
    ebody.add_argument("--data", "-d", help="file whose content is the message")
    ebody.add_argument("--message", "-m", help="the message text")
    explain.add_argument("--encoding", default="aes128gcm", choices=["aes128gcm", "aesgcm"])

    sub.add_parser(
        "demo", help="send a real notification to a local push service and show it decrypted"
    )
    return parser


def _message(args: argparse.Namespace) -> Optional[bytes]:
    if args.message is not None:
        return str(args.message).encode("utf-8")
    if args.data is not None:
        try:
            with open(args.data, "rb") as f:
                return f.read()
        except OSError as e:
            raise InvalidInput(
                f"cannot read data file {args.data!r}: {e.strerror}", field="data"
            ) from None
    return None


def _send(args: argparse.Namespace, out: TextIO) -> int:

    info = _read_json(args.info, "info")
    headers: dict[str, Any] = {}
    if args.head:
        head = _read_json(args.head, "head")
        if not isinstance(head, dict):
            raise InvalidInput(
                f"head file {args.head!r} must hold a JSON object of header names to values",
                field="head",
            )
        headers.update(head)
    claims = _read_json(args.claims, "claims") if args.claims else None
    ttl = args.ttl
    if args.wns:
        # Microsoft's service drops a TTL 0 message and wants the cache policy.
        headers.setdefault("X-WNS-Cache-Policy", "cache")
        ttl = ttl if ttl else 86400
    policy = EndpointPolicy(allow_http=True, allow_private=True) if args.allow_private else None
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = webpush(
        info,
        _message(args),
        args.key,
        claims,
        args.encoding,
        curl=args.curl,
        timeout=args.timeout,
        ttl=ttl or 0,
        verbose=args.verbose,
        headers=headers,
        urgency=args.urgency,
        topic=args.topic,
        endpoint_policy=policy,
    )
    if isinstance(result, str):
        print(result, file=out)
    else:
        print(f"{result.status_code} {result.reason}", file=out)
        if result.text:
            print(result.text, file=out)
    return EXIT_OK


def _keygen(args: argparse.Namespace, out: TextIO) -> int:

    if os.path.exists(args.out) and not args.force:
        raise InvalidInput(f"{args.out!r} exists; pass --force to replace it", field="out")
    key = Vapid.generate()
    key.save_key(args.out)
    print(f"private key written to {args.out} (mode 0600)", file=out)
    print("applicationServerKey (for pushManager.subscribe):", file=out)
    print(key.application_server_key, file=out)
    return EXIT_OK


def _explain(args: argparse.Namespace, out: TextIO) -> int:

    sub = Subscription.from_info(_read_json(args.info, "info"))
    steps = ece.trace(
        _message(args) or b"",
        private_key=generate_private_key(),
        dh=sub.p256dh,
        auth_secret=sub.auth,
        version=args.encoding,
    )
    print(f"{args.encoding} encryption for {sub.endpoint}", file=out)
    print_trace(steps, out=out)
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Run the CLI; returns the exit status."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "send":
            return _send(args, out)
        if args.command == "keygen":
            return _keygen(args, out)
        if args.command == "explain":
            return _explain(args, out)
        return run_demo()
    except InvalidInput as e:
        print(f"webpush-core: {e.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WebPushException as e:
        print(f"webpush-core: {e}", file=sys.stderr)
        return EXIT_FAILED
