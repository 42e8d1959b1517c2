"""One message's CPU per call, this tree against a git revision, in one run.

The per-call rows of the fan-out benchmark (``per_call``: one-call
``build_request`` with a dict subscription and a VAPID key string, as
pywebpush's callers write it; the same through ``webpush()``, all but the
socket, answered by a ``MockPushService``; ``WebPusher(sub).encode(data)``;
the step per message inside ``send_many``), each run twice: on this tree's ``webpush_core``
("after") and on a copy of it at ``--baseline`` ("before", ``baseline.load``),
beside the crypto floors (``floor``) and pywebpush's one call (session mocked,
``per_call``). One thread, no network, thread CPU time, every row once per
repeat (interleaved), each call on another of ``--subscribers`` distinct
subscriptions, 100-byte message, aes128gcm; every body is first checked to
decrypt (http_ece). Each ratio is given twice: of the best runs, and the
median of the per-repeat ratios (the machine is shared: read the medians).

    .venv/bin/python -m benchmarks.calls --baseline main --iterations 2000 --repeats 9
"""

from __future__ import annotations

import argparse
import shlex
import sys
from types import ModuleType
from typing import Optional

import webpush_core

from . import baseline, floor, per_call
from .keys import Sub, decrypts_to, new_user_agent, new_vapid_keys, payload_of
from .measure import PerCall, median, per_call_runs, ratios

KEPT_FLOOR = "floor (points loaded beforehand)"
DICT_FLOOR = floor.DICT_NAME
PYWEBPUSH = "pywebpush webpush() one call, session mocked"
BUILD = "build_request one call (dict, key string)"
ENCODE = "WebPusher(sub).encode(data)"
SEND_MANY = "per message in send_many (dict)"
WEBPUSH = "webpush() one call (dict, key string), MockPushService"
OURS = [BUILD, WEBPUSH, ENCODE, SEND_MANY]
# The mock answers any endpoint but its own subscriptions' with 201 and no checks.
MOCK_ORIGIN = "https://mock.example.org"


def contender(name: str, lib: ModuleType, subs: list[Sub], data: bytes, key: str) -> PerCall:
    """Our row ``name`` on the package ``lib`` (this tree's or the baseline's)."""
    if name == WEBPUSH:
        return per_call.ours_webpush(subs, data, key, 0, lib)
    if name == BUILD:
        return per_call.ours_build_request(subs, data, key, 0, lib.EndpointPolicy(), lib)
    if name == ENCODE:
        return per_call.ours_encode(subs, data, lib)
    return per_call.ours_in_send_many(subs, data, key, 0, lib)[0]


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.calls", description=__doc__.split("\n")[0]
    )
    p.add_argument("--baseline", default="main", help="git revision to compare with (main)")
    p.add_argument("--iterations", type=int, default=2000, help="calls per timed run")
    p.add_argument("--repeats", type=int, default=9, help="interleaved repeats")
    p.add_argument("--subscribers", type=int, default=1000, help="distinct subscriptions")
    p.add_argument("--payload", type=int, default=100, help="message size, bytes")
    args = p.parse_args(argv)
    commit = baseline.resolve(args.baseline)
    command = ".venv/bin/python -m benchmarks.calls " + shlex.join(
        [
            f"--baseline={args.baseline}",
            f"--iterations={args.iterations}",
            f"--repeats={args.repeats}",
            f"--subscribers={args.subscribers}",
            f"--payload={args.payload}",
        ]
    )
    print(f"$ {command}", flush=True)
    before = baseline.load(commit)

    uas = [new_user_agent() for _ in range(args.subscribers)]
    subs = [ua.subscription(f"https://push.example.net/push/{i}") for i, ua in enumerate(uas)]
    data = payload_of(args.payload)
    key = new_vapid_keys().private_b64  # a raw base64url scalar: what node's generator gives
    rows: list[tuple[str, PerCall]] = [
        (KEPT_FLOOR, floor.kept(uas, data)),
        (DICT_FLOOR, floor.from_dict(subs, data)),
        (PYWEBPUSH, per_call.pywebpush_one_call(subs, data, key, 0)),
    ]
    # Each side's webpush() answered by its own MockPushService (no network).
    mocks = {
        lib: baseline.submodule(lib, "testing").MockPushService(MOCK_ORIGIN).start()
        for lib in (before, webpush_core)
    }
    for name in OURS:  # before and after of a row next to each other
        for side, lib in (("before", before), ("after", webpush_core)):
            label = f"{side}: {name}"
            fn = contender(name, lib, subs, data, key)
            if name == WEBPUSH:
                fn(0)
                if not decrypts_to(uas[0], mocks[lib].requests[-1].body, data):
                    raise SystemExit(f"{label}: its body does not decrypt (http_ece)")
            else:
                fn = per_call.checked(label, fn, uas[0], data)
            rows.append((label, fn))
    try:
        runs = per_call_runs(rows, args.iterations, args.repeats, alternate=True)
    finally:
        for mock in mocks.values():
            mock.stop()

    def pair(top: str, bottom: str) -> str:
        best, med = ratios(runs[top], runs[bottom])
        return f"{med:.2f}x ({best:.2f}x)"

    print()
    print(f"`{command}` (baseline {args.baseline} = {commit[:12]})")
    print()
    print("Ratios: median of the per-repeat ratios (ratio of the best runs).")
    print()
    print(
        "| row | before µs | after µs | after / before | before / floor | after / floor "
        "| before / dict floor | after / dict floor | before / pywebpush | after / pywebpush |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in OURS:
        b, a = f"before: {name}", f"after: {name}"
        cells = [
            name,
            f"{median(runs[b]):.1f}",
            f"{median(runs[a]):.1f}",
            pair(a, b),
            pair(b, KEPT_FLOOR),
            pair(a, KEPT_FLOOR),
            pair(b, DICT_FLOOR),
            pair(a, DICT_FLOOR),
            pair(b, PYWEBPUSH),
            pair(a, PYWEBPUSH),
        ]
        print("| " + " | ".join(cells) + " |")
    print()
    print("| reference row | median µs | best µs |")
    print("|---|---:|---:|")
    for name in (KEPT_FLOOR, DICT_FLOOR, PYWEBPUSH):
        print(f"| {name} | {median(runs[name]):.1f} | {min(runs[name]):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
