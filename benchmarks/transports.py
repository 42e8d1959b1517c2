#!/usr/bin/env python3
"""PushClient's two transports side by side: its own HTTP/1.1 client vs urllib3.

One run, one machine, the same TLS stand-in as benchmarks/run.py (nginx, one
worker, keep-alive, 127.0.0.1), N messages to N distinct subscriptions,
interleaved rounds, median reported:

* ``PushClient(...)``: the default, its own client on one event-loop thread;
* ``PushClient(..., pool_manager=make_pool_manager(...))``: urllib3 from
  ``concurrency`` worker threads.

Messages per second and client CPU per message (all our processes: the
helper process that encrypts long fan-outs included), and the ratios.
Not part of ``make test``::

    .venv/bin/python benchmarks/transports.py --messages 3000 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench

from webpush_core import EndpointPolicy, PushClient
from webpush_core._wire.urllib3_transport import make_pool_manager


def one_round(client: PushClient, subs: list[dict[str, Any]], data: bytes) -> tuple[float, float]:
    """(messages per second, client CPU µs per message) for one fan-out."""
    helpers_before = bench.helper_processes_cpu()
    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = sum(1 for result in client.send_many(subs, data) if result.ok)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    helpers = bench.helper_processes_cpu()
    cpu += sum(c - helpers_before.get(pid, 0.0) for pid, c in helpers.items())
    if ok != len(subs):
        raise SystemExit(f"only {ok} of {len(subs)} delivered")
    return len(subs) / seconds, cpu / len(subs) * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--in-flight", type=int, default=32)
    p.add_argument("--payload", type=int, default=100)
    args = p.parse_args()
    print(f"command: {' '.join([sys.executable, *sys.argv])}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = bench.PushServiceStandIn(Path(tmp), "auto", "1")
        server.start()
        try:
            vapid = bench.new_vapid_keys()
            agents = [bench.new_user_agent() for _ in range(64)]
            subs = [
                agents[i % len(agents)].subscription(server.endpoint(f"sub-{i}"))
                for i in range(args.messages)
            ]
            data = bench.payload_of(args.payload)
            policy = EndpointPolicy(allow_private=True, allowed_ports=(443, server.port))
            common: dict[str, Any] = {
                "vapid_private_key": vapid.private_b64,
                "vapid_claims": {"sub": bench.VAPID_SUB},
                "ttl": 0,
                "concurrency": args.in_flight,
                "ca_certs": server.ca_path,
                "endpoint_policy": policy,
            }
            rows: dict[str, list[tuple[float, float]]] = {"own": [], "urllib3": []}
            for _ in range(args.rounds):
                for name, runs in rows.items():
                    extra: dict[str, Any] = {}
                    if name == "urllib3":
                        extra["pool_manager"] = make_pool_manager(
                            maxsize=args.in_flight, ca_certs=server.ca_path
                        )
                    with PushClient(**common, **extra) as client:
                        for _ in client.send_many(subs[:32], data):  # warm-up, untimed
                            pass
                        runs.append(one_round(client, subs, data))
        finally:
            server.stop()
    print(
        f"stand-in: {server.kind} {server.version}; {args.messages} messages, "
        f"{args.in_flight} in flight, {args.payload} B, {args.rounds} rounds (median)"
    )
    print("| transport | msgs/s | client CPU µs/msg |")
    print("|---|---:|---:|")
    med = {
        name: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
        for name, runs in rows.items()
    }
    for name, (rate, cpu) in med.items():
        print(f"| {name} | {rate:,.0f} | {cpu:.0f} |")
    own, other = med["own"], med["urllib3"]
    print(f"own / urllib3: {own[0] / other[0]:.2f}x the msgs/s at {own[1] / other[1]:.2f}x the CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
