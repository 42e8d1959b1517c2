"""HTTP/1.1 response heads: CPU per head, this tree against a git revision, one run.

Each row is one response as a push service sends it, fed to a new
``ResponseParser`` the way the client does (one read, or the reads given),
until it is done. Both parsers run in this process, interleaved (every row
of both sides once per repeat), thread CPU time; the table gives the best
run of each side and the ratios (best runs, and the median of the
per-repeat ratios). Before timing, both sides' results (status, reason,
headers, body, complete, keep_alive) are checked to be the same.

    .venv/bin/python -m benchmarks.parser --baseline main --iterations 20000 --repeats 9
"""

from __future__ import annotations

import argparse
import gc
import shlex
import sys
import time
from types import ModuleType
from typing import Callable, Optional

from webpush_core._wire.http1 import parser as http1

from . import baseline
from .measure import median, ratios

DATE = b"Date: Thu, 03 Dec 2026 14:48:55 GMT\r\n"
# What each answers to a push message (nginx: the benchmarks' stand-in, as sent
# by nginx 1.22 for `return 201` with a Location header).
HEADS: list[tuple[str, list[bytes]]] = [
    (
        "nginx 201 (the benchmark stand-in)",
        [
            b"HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\n" + DATE + b"Content-Type: text/plain"
            b"\r\nContent-Length: 0\r\nConnection: keep-alive\r\n"
            b"Location: /message/b0d75e92e34e75ddbfbda6578feb828c\r\n\r\n"
        ],
    ),
    (
        "201, Location + TTL (a push service's few fields)",
        [
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n"
            b"Location: https://updates.push.example.net/m/gAAAAABl0123456789abcdef\r\n"
            b"TTL: 0\r\n" + DATE + b"\r\n"
        ],
    ),
    ("201, Content-Length only", [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"]),
    (
        "201 head cut over two reads (the full parser's path)",
        [b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n", b"TTL: 0\r\n" + DATE + b"\r\n"],
    ),
    (
        "410 with a JSON body (the full parser's path)",
        [
            b"HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: 52\r\n"
            + DATE
            + b'\r\n{"code":410,"errno":106,"error":"Subscription gone"}'
        ],
    ),
]

Parse = Callable[[], object]


def parse_with(module: ModuleType, reads: list[bytes]) -> Parse:
    parser_class = module.ResponseParser

    def parse() -> object:
        parser = parser_class(65536)
        for data in reads:
            parser.feed(data)
        return parser

    return parse


def outcome(parser: object) -> tuple[object, ...]:
    names = ("done", "status", "reason", "headers", "body", "complete", "keep_alive", "received")
    return tuple(getattr(parser, name) for name in names)


def runs_of(rows: list[tuple[str, Parse]], iterations: int, repeats: int) -> dict[str, list[float]]:
    """µs of thread CPU per parse, one entry per repeat, every row once per repeat."""
    for _, fn in rows:
        for _ in range(200):
            fn()
    out: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _ in range(repeats):
        for name, fn in rows:
            gc.collect()
            t0 = time.thread_time()
            for _ in range(iterations):
                fn()
            out[name].append((time.thread_time() - t0) / iterations * 1e6)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.parser", description=__doc__.split("\n")[0]
    )
    p.add_argument("--baseline", default="main", help="git revision to compare with (main)")
    p.add_argument("--iterations", type=int, default=20000, help="parses per timed run")
    p.add_argument("--repeats", type=int, default=9, help="interleaved repeats")
    args = p.parse_args(argv)
    commit = baseline.resolve(args.baseline)
    command = ".venv/bin/python -m benchmarks.parser " + shlex.join(
        [
            f"--baseline={args.baseline}",
            f"--iterations={args.iterations}",
            f"--repeats={args.repeats}",
        ]
    )
    print(f"$ {command}", flush=True)
    old_tree = baseline.load(commit)
    try:  # where ResponseParser lives; a baseline from before the split: _wire.http1
        before = baseline.submodule(old_tree, "_wire.http1.parser")
    except ModuleNotFoundError:
        before = baseline.submodule(old_tree, "_wire.http1")

    rows: list[tuple[str, Parse]] = []
    for name, reads in HEADS:
        old, new = parse_with(before, reads), parse_with(http1, reads)
        if outcome(old()) != outcome(new()):
            raise SystemExit(f"{name}: the two parsers disagree; not timed")
        rows += [(f"before: {name}", old), (f"after: {name}", new)]
    runs = runs_of(rows, args.iterations, args.repeats)

    print()
    print(f"`{command}` (baseline {args.baseline} = {commit[:12]})")
    print()
    print(
        "| response | before µs | after µs | after/before (best runs) | (median of repeats) "
        "| spread before, after |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, _ in HEADS:
        old, new = runs[f"before: {name}"], runs[f"after: {name}"]
        best, med = ratios(new, old)
        spread = ", ".join(f"{(max(r) - min(r)) / median(r):.0%}" for r in (old, new))
        print(f"| {name} | {min(old):.2f} | {min(new):.2f} | {best:.2f}x | {med:.2f}x | {spread} |")
    print()
    print("spread: (slowest run - fastest run) / median run, of each side's repeats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
