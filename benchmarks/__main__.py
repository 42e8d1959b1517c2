"""Fan-out benchmark: webpush_core vs pywebpush vs node web-push, in one run.

From the repository root, after ``make bench`` has made ``.venv``::

    .venv/bin/python -m benchmarks --messages 5000 --subscribers 5000 --in-flight 32 --rounds 3

(``make bench`` runs the same; ``make bench BENCH_ARGS=--quick`` a ~20 s smoke
run.) Every run prints its exact command, every setting explicit, and writes
``benchmarks/out/results.md`` and ``results.json``. What is measured and how:
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Optional

from . import readme
from .fanout import CONTENDERS, Settings, run
from .report import render

OUT_DIR = Path(__file__).resolve().parent / "out"
SKIPPABLE = [*CONTENDERS, "cpu", "memory"]


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: Optional[list[str]] = None) -> Settings:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    add = p.add_argument
    add("--quick", action="store_true", help="smoke run (~20 s): small N, one payload size")
    add("--messages", type=int, help="messages per contender (default 5000; quick 300)")
    add("--subscribers", type=int, help="distinct subscriptions (default = --messages)")
    add("--in-flight", type=int, default=32, help="concurrency for ours and node (32)")
    add("--rounds", type=int, help="interleaved rounds, median kept (default 3; quick 1)")
    add("--payload-sizes", type=_sizes, help="throughput payloads, bytes (100,3000; quick 100)")
    add("--cpu-payload-sizes", type=_sizes, help="CPU payloads, bytes (default 100,3000)")
    add("--ttl", type=int, default=0, help="TTL for every contender (0, pywebpush's default)")
    add("--warmup", type=int, help="untimed warm-up messages per contender (default 32)")
    add(
        "--messages-no-session",
        type=int,
        help="cap for pywebpush without a session (a TLS handshake each; default 1000)",
    )
    add("--cpu-iterations", type=int, help="calls per CPU measurement (2000; quick 200)")
    add("--cpu-repeats", type=int, help="interleaved repeats, best taken (5; quick 3)")
    add("--memory-subscriptions", type=int, help="send_many length for memory (100000)")
    add("--memory-checkpoint", type=int, help="sample memory every N results (10000)")
    add("--memory-time-limit", type=float, default=300.0, help="stop the memory run after s")
    add("--row-time-limit", type=float, default=120.0, help="stop any throughput row after s")
    add(
        "--server",
        choices=["auto", "nginx", "python"],
        default="auto",
        help="stand-in: nginx (installed if missing), the python fallback, or auto",
    )
    add("--nginx-workers", default="1", help="worker_processes: 1 (default) or auto")
    add("--skip", default="", help="comma list of: " + ",".join(SKIPPABLE))
    add(
        "--readme",
        action="store_true",
        help="keep this run as README.md's: benchmarks/readme_run.json and the README summary",
    )
    ns = p.parse_args(argv)
    skip = [x for x in ns.skip.split(",") if x]
    unknown = sorted(set(skip) - set(SKIPPABLE))
    if unknown:
        p.error(f"--skip: unknown {', '.join(unknown)} (one of {', '.join(SKIPPABLE)})")
    quick = bool(ns.quick)
    messages = ns.messages or (300 if quick else 5000)
    return Settings(
        messages=messages,
        subscribers=ns.subscribers or messages,
        in_flight=ns.in_flight,
        rounds=ns.rounds or (1 if quick else 3),
        payload_sizes=ns.payload_sizes or ([100] if quick else [100, 3000]),
        cpu_payload_sizes=ns.cpu_payload_sizes or [100, 3000],
        ttl=ns.ttl,
        warmup=ns.warmup if ns.warmup is not None else 32,
        messages_no_session=ns.messages_no_session or min(messages, 100 if quick else 1000),
        cpu_iterations=ns.cpu_iterations or (200 if quick else 2000),
        cpu_repeats=ns.cpu_repeats or (3 if quick else 5),
        memory_subscriptions=ns.memory_subscriptions or (10_000 if quick else 100_000),
        memory_checkpoint=ns.memory_checkpoint or (2_000 if quick else 10_000),
        memory_time_limit=min(ns.memory_time_limit, 15.0) if quick else ns.memory_time_limit,
        row_time_limit=ns.row_time_limit,
        server=ns.server,
        nginx_workers=ns.nginx_workers,
        skip=skip,
        quick=quick,
        readme=bool(ns.readme),
    )


def command_of(s: Settings) -> str:
    """The exact command, every setting explicit, so a re-run needs no defaults."""
    parts = [".venv/bin/python", "-m", "benchmarks"]
    for flag, value in (
        ("--messages", s.messages),
        ("--subscribers", s.subscribers),
        ("--in-flight", s.in_flight),
        ("--rounds", s.rounds),
        ("--payload-sizes", ",".join(map(str, s.payload_sizes))),
        ("--cpu-payload-sizes", ",".join(map(str, s.cpu_payload_sizes))),
        ("--ttl", s.ttl),
        ("--warmup", s.warmup),
        ("--messages-no-session", s.messages_no_session),
        ("--cpu-iterations", s.cpu_iterations),
        ("--cpu-repeats", s.cpu_repeats),
        ("--memory-subscriptions", s.memory_subscriptions),
        ("--memory-checkpoint", s.memory_checkpoint),
        ("--memory-time-limit", f"{s.memory_time_limit:g}"),
        ("--row-time-limit", f"{s.row_time_limit:g}"),
        ("--server", s.server),
        ("--nginx-workers", s.nginx_workers),
    ):
        parts += [flag, str(value)]
    if s.skip:
        parts += ["--skip", ",".join(s.skip)]
    return shlex.join(parts)


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    settings = parse_args(argv)
    command = command_of(settings)
    # So that the stand-in is stopped on the way out (Ctrl-C raises KeyboardInterrupt).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    started = time.monotonic()
    load = os.getloadavg()[0]
    print(f"$ {command}", flush=True)
    results = run(settings)
    text = render(command, results, settings)
    seconds = time.monotonic() - started
    text += f"\nTotal run time {seconds:.0f} s.\n"
    print()
    print(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.md").write_text(text)
    raw = {
        "command": command,
        "environment": results.environment,
        "throughput": [dict(asdict(t), msgs_per_sec=t.rate) for t in results.throughput],
        "cpu": [asdict(c) for c in results.cpu],
        "memory": [asdict(m) for m in results.memory] if results.memory else None,
        "load_average": round(load, 2),
        "seconds": round(seconds),
    }
    (OUT_DIR / "results.json").write_text(json.dumps(raw, indent=2))
    print(f"written: {OUT_DIR / 'results.md'} and results.json")
    if settings.readme and settings.quick:
        print("--quick: README.md not rewritten (a smoke run is not the README's)")
    elif settings.readme:
        readme.record(raw)
        print(f"written: {readme.RUN} and README.md's benchmark summary")
    return 0


if __name__ == "__main__":
    sys.exit(main())
