#!/usr/bin/env python3
"""The cost of one new origin to PushClient's per-origin state, first vs last.

A fan-out to hostile subscriptions can name a new origin per subscription,
each one failing once. This feeds N distinct failing origins straight into
``Origins`` (the pause and breaker state, no I/O) and reports the mean time
per new origin (and the median, which a garbage collection in the middle
of a block does not move) for the first and the last 1,000, and their
ratio: the
housekeeping must not grow with the number of origins kept (a ratio near 1;
a scan of every state per new origin made it grow linearly). Not part of
``make test`` (tests/unit/test_origins_bounded.py counts the same work instead)::

    .venv/bin/python benchmarks/origin_state.py --origins 30000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from webpush_core._delivery.origins import Origins
from webpush_core._origin import origin_of


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--origins", type=int, default=30_000)
    p.add_argument("--block", type=int, default=1_000)
    args = p.parse_args()
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    origins = [origin_of(f"https://h{i}.example/push") for i in range(args.origins)]
    state = Origins()
    costs = []
    for origin in origins:
        t = time.perf_counter()
        state.failed(origin, state.begin(origin))
        costs.append(time.perf_counter() - t)
    head, tail = costs[: args.block], costs[-args.block :]
    print(f"{args.origins} distinct failing origins, {len(state)} states kept; per new origin:")
    for name, measure in (("mean", statistics.fmean), ("median", statistics.median)):
        first, last = measure(head) * 1e6, measure(tail) * 1e6
        print(
            f"  {name}: first {args.block} {first:.2f} µs, last {args.block} {last:.2f} µs, "
            f"ratio {last / first:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
