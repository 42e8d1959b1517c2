"""The fan-out against a git revision's, each side in its own process, and what
this machine allows.

One stand-in (nginx, one worker, as ``make bench``), N distinct subscriptions
per side. Each pair runs ``python -m benchmarks.versus --side`` twice, one side
with ``PYTHONPATH`` at the revision's ``src`` (``git archive``), the other at
this tree's, alternating which goes first: the default ``PushClient`` (its own
client, its helper process) over the N subscriptions, warmed up untimed, as
``run_ours``. Each side reports messages per second and its CPU per message,
split into its main process, its helper process and the stand-in.

The bound is the machine's: every message costs its client CPU and the
stand-in's, all of it on these cores, so no fan-out can go faster than
``cores / (client + stand-in CPU per message)``. The report gives, for twice
the revision's median rate, the CPU per message that rate leaves the client,
beside what the helper process alone spends per message (the encryption)::

    .venv/bin/python -m benchmarks.versus --baseline 88ebb13 --messages 20000 --pairs 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from .baseline import ROOT, resolve
from .measure import Throughput, median

SIDE = "side"


def _side(argv: list[str]) -> int:
    """One fan-out with whichever ``webpush_core`` this process imports: a JSON line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.versus --side")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--messages", type=int, required=True)
    p.add_argument("--payload", type=int, default=100)
    args = p.parse_args(argv)

    import webpush_core

    from .contenders import Bench, client_environment, run_ours
    from .keys import new_user_agent, new_vapid_keys, payload_of, subscriptions
    from .measure import tree_cpu_seconds

    class Server:  # what run_ours reads of the stand-in the parent started
        port, ca_path, pid = args.port, args.ca, args.server_pid

        def endpoint(self, ident: str) -> str:
            return f"https://localhost:{self.port}/push/{ident}"

        def cpu_seconds(self) -> float:
            return tree_cpu_seconds(self.pid)

    server: Any = Server()
    with client_environment(args.ca):
        subs = subscriptions([new_user_agent() for _ in range(64)], server.endpoint, args.messages)
        b = Bench(server, new_vapid_keys(), subs, subs[:32], Path(tempfile.gettempdir()), 32)
        row = run_ours(b, payload_of(args.payload), "own")
    out = asdict(row)
    out["package"] = str(Path(webpush_core.__file__).parent)
    print(json.dumps(out))
    return 0


def _extract(rev: str, into: Path) -> Path:
    """``src/`` at ``rev`` under ``into`` (``git archive``)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _run_side(src: Path, server: Any, messages: int, payload: int) -> Throughput:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "benchmarks.versus", "--side"]
    cmd += ["--port", str(server.port), "--ca", server.ca_path, "--server-pid", str(server.pid)]
    cmd += ["--messages", str(messages), "--payload", str(payload)]
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"side at {src} failed: {done.stderr.strip()[-2000:]}")
    raw = json.loads(lines[-1])
    if Path(raw.pop("package")).resolve() != (src / "webpush_core").resolve():
        raise SystemExit(f"side at {src} imported another webpush_core")
    return Throughput(**raw)


def _split(row: Throughput) -> tuple[float, float, float, float]:
    """µs per message: client (all), its main process, its helper, the stand-in."""
    n = max(row.messages, 1)
    main = (row.client_cpu_s - row.children_cpu_s) / n * 1e6
    return row.client_us_per_msg, main, row.children_cpu_s / n * 1e6, row.server_us_per_msg


def report(rows: dict[str, list[Throughput]], cores: int) -> list[str]:
    """The medians, the ratio per pair, and the machine's bound for twice the baseline."""
    lines = [
        "| side | msgs/s | client CPU µs/msg | main process | helper process | stand-in |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    med: dict[str, dict[str, float]] = {}
    for name, done in rows.items():
        splits = [_split(r) for r in done]
        med[name] = {
            "rate": median([r.rate for r in done]),
            **{
                k: median([s[i] for s in splits])
                for i, k in enumerate(("cpu", "main", "helper", "stand-in"))
            },
        }
        m = med[name]
        lines.append(
            f"| {name} | {m['rate']:,.0f} | {m['cpu']:.0f} | {m['main']:.0f} | "
            f"{m['helper']:.0f} | {m['stand-in']:.0f} |"
        )
    base, new = list(rows)
    pairs = [n.rate / b.rate for b, n in zip(rows[base], rows[new]) if b.rate]
    lines += [
        "",
        f"{new} / {base}, per pair: "
        + ", ".join(f"{r:.2f}x" for r in pairs)
        + f" (median {median(pairs):.2f}x); CPU per message "
        f"{med[new]['cpu'] / med[base]['cpu']:.2f}x",
    ]
    target = 2 * med[base]["rate"]
    budget = cores * 1e6 / target  # µs of CPU per message on every core, for everything
    left = budget - med[new]["stand-in"]
    lines += [
        "",
        f"Twice {base}'s median is {target:,.0f} msgs/s. On {cores} cores that leaves "
        f"{budget:.0f} µs of CPU per message for everything, {left:.0f} µs for the client "
        f"after the stand-in's {med[new]['stand-in']:.0f} µs, if every core were busy all "
        "the time.",
        f"The helper process alone (the encryption) spends {med[new]['helper']:.0f} µs per "
        f"message, leaving {left - med[new]['helper']:.0f} µs for the main process "
        f"(reading, HTTP, TLS, sockets, results), which spends {med[new]['main']:.0f} µs.",
    ]
    return lines


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [f"--{SIDE}"]:
        return _side(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.versus", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--baseline", default="main", help="git revision to compare with (main)")
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--payload", type=int, default=100)
    args = p.parse_args(argv)
    from .server import PushServiceStandIn

    commit = resolve(args.baseline)
    cores = len(os.sched_getaffinity(0))
    print(f"command: {sys.executable} -m benchmarks.versus {' '.join(argv)}")
    print(f"baseline {args.baseline} = {commit[:12]}; {cores} cores", flush=True)
    base, new = f"at {commit[:10]}", "this tree"
    with tempfile.TemporaryDirectory(prefix="webpush-versus-") as tmp:
        sides = {base: _extract(commit, Path(tmp)), new: ROOT / "src"}
        server = PushServiceStandIn(Path(tmp))
        rows: dict[str, list[Throughput]] = {base: [], new: []}
        try:
            server.start()
            for i in range(args.pairs):
                order = [base, new] if i % 2 == 0 else [new, base]
                for name in order:
                    row = _run_side(sides[name], server, args.messages, args.payload)
                    if not row.valid:
                        raise SystemExit(f"{name}: {row.ok} of {row.messages} delivered {row.note}")
                    rows[name].append(row)
                    print(
                        f"[pair {i + 1}] {name}: {row.rate:,.0f} msgs/s, "
                        f"{row.client_us_per_msg:.0f} µs CPU/msg",
                        flush=True,
                    )
        finally:
            server.stop()
    print()
    print("\n".join(report(rows, cores)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
