"""Per-message CPU for *dict* subscriptions (what a Celery worker gets from the broker).

One thread, no network, thread CPU time, best of ``--repeats`` interleaved runs
of ``--iterations`` calls, every call on a different subscription (``--subscribers``
distinct key pairs), 100-byte message, aes128gcm. Rows:

* the floor for one distinct dict subscription, straight on the primitives
  (``floor.from_dict``: base64url-decode both keys, load the point, keygen, ECDH,
  the five HMACs, one AES-GCM seal);
* ours: ``WebPusher(sub).encode(data)``; one-call ``build_request`` with a
  ``Vapid`` whose token cache is warm; inside ``send_many`` (``MessagePlan.build``)
  for a dict and for a ``Subscription`` parsed beforehand;
* pywebpush: ``WebPusher(sub).encode(data)`` + ``Vapid.from_string(key).sign(claims)``.

Every body is first checked to decrypt (http_ece). Reproduce::

    .venv/bin/python -m benchmarks.dict_subscription --iterations=2000 --repeats=5
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Optional

from webpush_core import EndpointPolicy, Vapid

from . import floor, per_call
from .keys import new_user_agent, new_vapid_keys, payload_of
from .measure import PerCall, per_call_runs, ratios

# (target, top row, bottom row, at most)
TARGETS = [
    ("`WebPusher(sub).encode` / floor", 1, 0, 1.2),
    ("one-call `build_request` / floor", 2, 0, 1.3),
    ("one-call `build_request` / pywebpush one call", 2, 5, 0.45),
    ("in `send_many`: dict / `Subscription` kept", 3, 4, 1.2),
]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dict_subscription", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=2000)
    args = parser.parse_args(argv)
    command = ".venv/bin/python -m benchmarks.dict_subscription " + shlex.join(
        [
            f"--iterations={args.iterations}",
            f"--repeats={args.repeats}",
            f"--subscribers={args.subscribers}",
        ]
    )
    print(command, flush=True)

    uas = [new_user_agent() for _ in range(args.subscribers)]
    subs = [ua.subscription(f"https://push.example.net/push/{i}") for i, ua in enumerate(uas)]
    data = payload_of(100)
    keys = new_vapid_keys()
    vapid = Vapid.from_raw(keys.private_b64)
    in_send_many = per_call.ours_in_send_many(subs, data, vapid, 0)
    rows: list[tuple[str, PerCall]] = [
        (floor.DICT_NAME, floor.from_dict(subs, data)),
        ("ours WebPusher(sub).encode(data)", per_call.ours_encode(subs, data)),
        (
            "ours build_request one call (token cached)",
            per_call.ours_build_request(subs, data, vapid, 0, EndpointPolicy()),
        ),
        ("ours in send_many, dict subscription", in_send_many[0]),
        ("ours in send_many, Subscription kept", in_send_many[1]),
        (
            "pywebpush WebPusher.encode + Vapid.from_string().sign()",
            per_call.pywebpush_encode_and_sign(
                subs, data, keys.private_b64, "https://push.example.net"
            ),
        ),
    ]
    for name, fn in rows[1:]:  # the floor's body is not a whole message: not checked
        per_call.checked(name, fn, uas[0], data)
    runs = per_call_runs(rows, args.iterations, args.repeats)
    best = {name: min(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(f"{name}: {best[name]:.1f} us (runs {[round(v, 1) for v in values]})")

    names = [name for name, _ in rows]
    print()
    print(f"`{command}`")
    print()
    print("| target | best runs | median of per-repeat ratios | met (both) |")
    print("|---|---:|---:|---|")
    for label, top, bottom, limit in TARGETS:
        best_ratio, med = ratios(runs[names[top]], runs[names[bottom]])
        met = "yes" if max(best_ratio, med) <= limit else "NO"
        print(f"| {label} <= {limit}x | {best_ratio:.2f}x | {med:.2f}x | {met} |")
    print()
    print("| row | µs/msg |")
    print("|---|---:|")
    for name, value in best.items():
        print(f"| {name} | {value:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
