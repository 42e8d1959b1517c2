"""Command line: ``webpush-core demo`` for now; send/keygen/explain come with sending."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ._version import __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="webpush-core", description="Web Push sender.")
    parser.add_argument("--version", action="version", version=f"webpush-core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="encrypt a message for a fresh browser key pair, step by step")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run

        return run()
    return 2  # pragma: no cover - argparse already refused unknown commands
