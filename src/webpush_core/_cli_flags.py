"""The command line's grammar: each command's flags, their help and defaults.

:func:`argument_parser` is what ``webpush-core`` accepts (every optional
flag's help states its default); :func:`values_attached` lets a flag's value
begin with ``-`` (a key string, a message); :func:`in_flags` reads the library's
argument names in an error message as the flags a CLI user can change
(``vapid_claims`` is ``--claims``). :mod:`._cli` runs the commands.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from ._version import __version__

__all__ = ["argument_parser", "in_flags", "values_attached"]


def _flags(parser: argparse.ArgumentParser) -> dict[str, bool]:
    """Every flag of ``parser`` and its commands: whether it takes a value."""
    flags: dict[str, bool] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                flags.update(_flags(command))
        for flag in action.option_strings:
            flags[flag] = action.nargs is None and isinstance(action, argparse._StoreAction)
    return flags


def values_attached(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with each value that begins with ``-`` attached to its flag.

    argparse reads ``--key -Xb3...`` (a key string can begin with ``-``, as can
    a message) as two flags and refuses it. A flag that takes a value always
    takes the next argument, so it is attached: ``--key=-Xb3...``,
    ``-m-5``. What reads as a flag is left alone, so a forgotten value is
    still reported as one: ``--``, a flag itself, and the start of a long
    flag's name (argparse takes ``--verb`` for ``--verbose``).
    """
    flags = _flags(parser)
    longs = [flag for flag in flags if flag.startswith("--")]
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if flags.get(arg):
            value = next(args, None)
            if value is None:
                out.append(arg)
            elif value.startswith("-") and not _reads_as_a_flag(value, flags, longs):
                out.append(f"{arg}={value}" if arg.startswith("--") else f"{arg}{value}")
            else:
                out += [arg, value]
            continue
        out.append(arg)
        if arg == "--":
            out += list(args)
    return out


def _reads_as_a_flag(value: str, flags: dict[str, bool], longs: list[str]) -> bool:
    name = value.partition("=")[0]
    if value == "--" or name in flags:
        return True
    return name.startswith("--") and any(flag.startswith(name) for flag in longs)


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webpush-core", description="Send Web Push messages.")
    parser.add_argument("--version", action="version", version=f"webpush-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send", help="encrypt a message and send it to a subscription")
    send.add_argument(
        "--info", "-i", required=True, help="subscription JSON file (PushSubscription.toJSON())"
    )
    body = send.add_mutually_exclusive_group()
    body.add_argument("--data", "-d", help="file whose content is the message (default: none)")
    body.add_argument("--message", "-m", help="the message text (default: none)")
    send.add_argument("--head", help="JSON file of extra headers (default: none)")
    send.add_argument(
        "--claims",
        help='JSON file of VAPID claims, e.g. {"sub": "mailto:you@example.com"} '
        "(default: none, no VAPID)",
    )
    send.add_argument(
        "--key", help="VAPID private key: a key file path or a key string (default: none)"
    )
    send.add_argument(
        "--wns",
        action="store_true",
        help="Microsoft's service: TTL 86400 unless --ttl, X-WNS-Cache-Policy: cache "
        "(default: off)",
    )
    send.add_argument(
        "--curl",
        action="store_true",
        help="print a curl command instead of sending (default: off)",
    )
    send.add_argument(
        "--encoding",
        default="aes128gcm",
        choices=["aes128gcm", "aesgcm"],
        help="content coding (default: aes128gcm)",
    )
    send.add_argument(
        "--ttl", type=int, default=None, help="seconds the push service keeps it (default: 0)"
    )
    send.add_argument(
        "--urgency",
        choices=["very-low", "low", "normal", "high"],
        help="RFC 8030 Urgency (default: none sent, the service treats it as normal)",
    )
    send.add_argument(
        "--topic", help="replaces a pending message with the same topic (default: none)"
    )
    send.add_argument("--timeout", type=float, default=None, help="seconds (default: 10)")
    send.add_argument(
        "--proxy",
        help="forward proxy http://[user:password@]host:port; 'none' connects directly "
        "(default: the HTTPS_PROXY / HTTP_PROXY / NO_PROXY environment variables)",
    )
    send.add_argument(
        "--allow-private",
        action="store_true",
        help="allow http:// and loopback/private endpoints, local testing only (default: off)",
    )
    send.add_argument(
        "--verbose", "-v", action="store_true", help="log the request and answer (default: off)"
    )

    keygen = sub.add_parser("keygen", help="create a VAPID key pair")
    keygen.add_argument(
        "--out",
        default="private_key.pem",
        help="where to write the private key, mode 0600; '-' writes it to stdout and "
        "the applicationServerKey to stderr (default: private_key.pem)",
    )
    keygen.add_argument(
        "--format",
        default="pem",
        choices=["pem", "der", "raw"],
        help="pem (PKCS#8), der (binary PKCS#8) or raw (the base64url private scalar, "
        "what node web-push keeps in an environment variable) (default: pem)",
    )
    keygen.add_argument(
        "--force", action="store_true", help="overwrite an existing file (default: off)"
    )

    pubkey = sub.add_parser(
        "pubkey", help="print the applicationServerKey of an existing VAPID private key"
    )
    pubkey.add_argument("keyfile", help="the private key file (PEM, DER or raw base64url)")
    pubkey.add_argument(
        "--format",
        default="raw",
        choices=["raw", "pem"],
        help="raw (the base64url uncompressed point: the applicationServerKey) or pem "
        "(SubjectPublicKeyInfo, what openssl and JWT libraries read) (default: raw)",
    )

    explain = sub.add_parser("explain", help="print each RFC 8291 encryption step (the audit view)")
    explain.add_argument(
        "--info", "-i", help="subscription JSON file (default: none; or --subscription and --auth)"
    )
    explain.add_argument(
        "--subscription",
        help="the receiver's public key, keys.p256dh (base64url) (default: from --info)",
    )
    explain.add_argument(
        "--auth", help="the auth secret, keys.auth (base64url) (default: from --info)"
    )
    explain.add_argument(
        "--salt", help="16-byte salt, base64url (default: random, fresh for each run)"
    )
    explain.add_argument(
        "--sender-key",
        help="the sender's ephemeral private key, base64url 32-byte scalar "
        "(default: random, fresh for each run)",
    )
    ebody = explain.add_mutually_exclusive_group(required=True)
    ebody.add_argument("--data", "-d", help="file whose content is the message")
    ebody.add_argument("--message", "-m", help="the message text")
    explain.add_argument(
        "--encoding",
        default="aes128gcm",
        choices=["aes128gcm", "aesgcm"],
        help="content coding (default: aes128gcm)",
    )

    sub.add_parser(
        "demo", help="send a real notification to a local push service and show it decrypted"
    )
    return parser


# Python names in messages, as the CLI's flags (what a CLI user can change).
_FLAGS = (
    (
        re.compile(r"EndpointPolicy\.for_testing\(\) \(allow_http=True, allow_private=True\)"),
        "--allow-private",
    ),
    (re.compile(r"\ballow_(?:http|private)=True\b"), "--allow-private"),
    (re.compile(r"\bvapid_claims\b"), "--claims"),
    (re.compile(r"\bvapid_private_key\b"), "--key"),
    (re.compile(r"\bsubscription_info\b"), "--info"),
    (re.compile(r"\bcontent_encoding\b"), "--encoding"),
    (re.compile(r"\bproxy=\B"), "--proxy"),
)


def in_flags(message: str) -> str:
    for pattern, flag in _FLAGS:
        message = pattern.sub(flag, message)
    return message
