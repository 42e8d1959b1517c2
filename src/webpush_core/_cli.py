"""Command line: ``webpush-core send | keygen | pubkey | explain | demo``.

``send`` takes pywebpush's flags (``--data``, ``--info``, ``--head``,
``--claims``, ``--key``, ``--wns``, ``--curl``, ``--encoding``,
``--verbose``) plus ``--message``, ``--ttl``, ``--urgency``, ``--topic``.
Exit status: 0 delivered, 1 refused by the push service or unreachable,
2 bad input (nothing was sent). The flags themselves: :mod:`._cli_flags`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, Optional, TextIO

from cryptography.hazmat.primitives import serialization

from . import ece
from ._b64 import b64url_decode, b64url_encode
from ._cli_flags import argument_parser, in_flags, values_attached
from ._demo import run as run_demo
from ._endpoint import EndpointPolicy
from ._facade.webpush import webpush
from ._p256 import generate_private_key
from ._reasons import MAX_DETAIL
from ._subscription import Subscription
from ._text import clean
from ._wire.proxy import ProxyArg
from .ece._explain import render
from .errors import InvalidInput, VapidError, WebPushException
from .vapid import Vapid
from .vapid._keys import load_raw, write_file

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# Characters of one printed line that holds another party's text (an error
# message with a push service's words or an endpoint, a verbose log line).
_MAX_LINE = 2000


class _CleanFormatter(logging.Formatter):
    """--verbose log lines: another party's text (reasons, endpoints) reaches the
    terminal as it does an error message, cleaned (:func:`._text.clean`)."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record), _MAX_LINE)


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
    policy = EndpointPolicy.for_testing() if args.allow_private else None
    proxy: ProxyArg = None
    if args.proxy is not None:
        proxy = False if args.proxy.strip().lower() == "none" else args.proxy
    if args.verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(_CleanFormatter("%(message)s"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
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
        proxy=proxy,
    )
    if isinstance(result, str):
        print(result, file=out)  # the curl command: our text, the endpoint shell-quoted
    else:
        # The push service's words: to a terminal only as error details go anywhere
        # (no escape sequences, no invisible or bidi characters, clipped).
        print(clean(f"{result.status_code} {result.reason}", MAX_DETAIL), file=out)
        text = clean(result.text, MAX_DETAIL)
        if text:
            print(text, file=out)
    return EXIT_OK


def _keygen(args: argparse.Namespace, out: TextIO) -> int:

    to_stdout = args.out == "-"
    if not to_stdout and os.path.exists(args.out) and not args.force:
        raise InvalidInput(f"{args.out!r} exists; pass --force to replace it", field="out")
    private = generate_private_key()
    key = Vapid(private)
    if args.format == "pem":
        data = key.private_pem()  # PKCS#8, ends with a newline
    elif args.format == "der":
        data = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    else:
        scalar = private.private_numbers().private_value.to_bytes(32, "big")
        data = (b64url_encode(scalar) + "\n").encode("ascii")
    if to_stdout:
        # The key alone on stdout (for a pipe or a secret store); the rest on stderr.
        if args.format == "der":
            binary = getattr(out, "buffer", None)
            if binary is None or out.isatty():
                raise InvalidInput(
                    "--format der is binary: write it to a file (--out FILE) or a pipe",
                    field="out",
                )
            out.flush()
            binary.write(data)
            binary.flush()
        else:
            out.write(data.decode("ascii"))
        info = sys.stderr
        print(f"private key written to stdout ({args.format})", file=info)
    else:
        write_file(args.out, data, 0o600)
        info = out
        print(f"private key written to {args.out} ({args.format}, mode 0600)", file=info)
    print("applicationServerKey (for pushManager.subscribe):", file=info)
    print(key.application_server_key, file=info)
    return EXIT_OK


def _pubkey(args: argparse.Namespace, out: TextIO) -> int:

    key = Vapid.from_file(args.keyfile)
    if args.format == "pem":
        out.write(key.public_pem().decode("ascii"))  # ends with a newline
    else:
        print(key.application_server_key, file=out)
    return EXIT_OK


def _b64_arg(value: str, flag: str, size: Optional[int] = None) -> bytes:
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise InvalidInput(f"{flag} must be base64url text", field=flag) from None
    if size is not None and len(raw) != size:
        raise InvalidInput(
            f"{flag} must be {size} bytes (base64url), got {len(raw)}", field=flag
        ) from None
    return raw


def _explain(args: argparse.Namespace, out: TextIO) -> int:

    if args.info is not None:
        if args.subscription is not None or args.auth is not None:
            raise InvalidInput(
                "pass --info, or --subscription and --auth, not both", field="--info"
            )
        sub = Subscription.from_info(_read_json(args.info, "info"))
        sub.require_keys()  # explain shows the encryption: it needs the keys
        endpoint, p256dh, auth = sub.endpoint, sub.p256dh, sub.auth
    elif args.subscription is not None and args.auth is not None:
        endpoint = "(no endpoint: --subscription and --auth given)"
        p256dh = _b64_arg(args.subscription, "--subscription", 65)
        auth = _b64_arg(args.auth, "--auth", 16)
    else:
        raise InvalidInput(
            "pass --info SUBSCRIPTION.json, or both --subscription P256DH and --auth AUTH",
            field="--info",
        )
    salt = _b64_arg(args.salt, "--salt", 16) if args.salt is not None else os.urandom(16)
    if args.sender_key is not None:
        try:
            sender = load_raw(_b64_arg(args.sender_key, "--sender-key", 32))
        except VapidError:
            raise InvalidInput(
                "--sender-key is not a P-256 private scalar", field="--sender-key"
            ) from None
    else:
        sender = generate_private_key()
    steps = ece.explain(
        _message(args) or b"",
        salt=salt,
        private_key=sender,
        dh=p256dh,
        auth_secret=auth,
        version=args.encoding,
    )
    print(f"{args.encoding} encryption for {endpoint}", file=out)
    print(
        "Each value in base64url; under it, how it is computed, where it is defined, "
        "and what it is for.",
        file=out,
    )
    out.write(render(steps))
    return EXIT_OK


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None) -> int:
    """Run the CLI; returns the exit status."""
    out = out or sys.stdout
    parser = argument_parser()
    args = parser.parse_args(values_attached(parser, sys.argv[1:] if argv is None else argv))
    try:
        if args.command == "send":
            return _send(args, out)
        if args.command == "keygen":
            return _keygen(args, out)
        if args.command == "pubkey":
            return _pubkey(args, out)
        if args.command == "explain":
            return _explain(args, out)
        return run_demo()
    except InvalidInput as e:
        print(f"webpush-core: {clean(in_flags(e.message), _MAX_LINE)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except WebPushException as e:
        print(f"webpush-core: {clean(in_flags(str(e)), _MAX_LINE)}", file=sys.stderr)
        return EXIT_FAILED
