"""PushClient's two transports side by side: its own HTTP/1.1 client vs urllib3.

One run, one machine, the fan-out benchmark's TLS stand-in (nginx, one worker,
keep-alive, 127.0.0.1), N messages to N distinct subscriptions, interleaved
rounds, medians:

* ``own``: ``PushClient(...)``, the default, its own client on one event-loop thread;
* ``urllib3``: ``PushClient(..., pool_manager=make_pool_manager(...))``, urllib3
  from ``concurrency`` worker threads;
* ``webpush`` (only when asked for with ``--contenders``): the one-call
  ``webpush()`` per message over one pool;
* ``processes2`` (only when asked for): ``PushClient(..., processes=2)``, the
  fan-out sharded over two sender processes (started in its warm-up, untimed).

Messages per second and client CPU per message (the client's process and its
children: the helper process that encrypts long fan-outs included), and the
ratio of the first contender to the others. Not part of ``make test``::

    .venv/bin/python -m benchmarks.transports --messages 3000 --rounds 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Callable, Optional

from .contenders import Bench, client_environment, run_our_webpush, run_ours, urllib3_transport
from .keys import new_user_agent, new_vapid_keys, payload_of, subscriptions
from .measure import Throughput, interleaved, median
from .server import PushServiceStandIn


def contenders(b: Bench, data: bytes) -> dict[str, Callable[[], Throughput]]:
    return {
        "own": partial(run_ours, b, data, "own"),
        "urllib3": partial(run_ours, b, data, "urllib3", partial(urllib3_transport, b)),
        "webpush": partial(run_our_webpush, b, data),
        "processes2": partial(
            run_ours, b, data, "processes2", lambda: {"processes": 2}, b.subs[:256]
        ),
    }


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.transports", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--in-flight", type=int, default=32)
    p.add_argument("--payload", type=int, default=100)
    p.add_argument("--contenders", default="own,urllib3", help="of own,urllib3,webpush,processes2")
    args = p.parse_args(argv)
    keys = args.contenders.split(",")
    unknown = [k for k in keys if k not in ("own", "urllib3", "webpush", "processes2")]
    if unknown or len(keys) < 2:
        p.error("--contenders: two or more of own,urllib3,webpush,processes2")
    print(f"command: {' '.join([sys.executable, '-m', 'benchmarks.transports', *sys.argv[1:]])}")
    with tempfile.TemporaryDirectory(prefix="webpush-bench-") as tmp:
        server = PushServiceStandIn(Path(tmp))
        try:
            server.start()
            with client_environment(server.ca_path):
                subs = subscriptions(
                    [new_user_agent() for _ in range(64)], server.endpoint, args.messages
                )
                b = Bench(server, new_vapid_keys(), subs, subs[:32], Path(tmp), args.in_flight)
                runs = contenders(b, payload_of(args.payload))
                chosen = [(k, runs[k]) for k in keys]
                rows = interleaved(chosen, args.rounds, "transports", _summary)
        finally:
            server.stop()
    for name, done in rows.items():
        bad = next((r for r in done if not r.valid), None)
        if bad is not None:
            raise SystemExit(f"{name}: only {bad.ok} of {len(subs)} delivered {bad.note}")
    print(
        f"stand-in: {server.kind} {server.version}; {args.messages} messages, "
        f"{args.in_flight} in flight, {args.payload} B, {args.rounds} rounds (median)"
    )
    print("| transport | msgs/s | client CPU µs/msg |")
    print("|---|---:|---:|")
    med = {
        name: (median([r.rate for r in done]), median([r.client_us_per_msg for r in done]))
        for name, done in rows.items()
    }
    for name, (rate, cpu) in med.items():
        print(f"| {name} | {rate:,.0f} | {cpu:.0f} |")
    first, *others = med
    for other in others:
        (r0, c0), (r1, c1) = med[first], med[other]
        print(f"{first} / {other}: {r0 / r1:.2f}x the msgs/s at {c0 / c1:.2f}x the CPU")
    return 0


def _summary(row: Throughput) -> str:
    return f"{row.rate:,.0f} msgs/s, {row.client_us_per_msg:,.0f} µs CPU/msg"


if __name__ == "__main__":
    raise SystemExit(main())
