#!/usr/bin/env python3
"""Per-message CPU for *dict* subscriptions (what a Celery worker gets from the broker).

One thread, no network, thread CPU time, best of ``--repeats`` interleaved runs
of ``--iterations`` calls, every call on a different subscription (``--subscribers``
distinct key pairs), 100-byte message, aes128gcm. Rows:

* the floor for one distinct dict subscription, straight on the primitives:
  base64url-decode keys.p256dh and keys.auth, load the point, then P-256 keygen,
  ECDH, the five HMAC-SHA-256 of RFC 8291 §3.4 / RFC 8188 §2.2 and one AES-GCM
  seal (the ephemeral key's serialization left out, as in benchmarks/run.py);
* ours: ``WebPusher(sub).encode(data)``; one-call ``build_request`` with a
  ``Vapid`` whose token cache is warm; inside ``send_many`` (``MessagePlan.build``)
  for a dict and for a ``Subscription`` parsed beforehand;
* pywebpush: ``WebPusher(sub).encode(data)`` + ``Vapid.from_string(key).sign(claims)``.

Every body is first checked to decrypt (http_ece). Reproduce::

    .venv/bin/python benchmarks/dict_subscription.py --iterations 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from run import decrypts_to, new_user_agent, new_vapid_keys, payload_of

VAPID_SUB = "mailto:bench@example.com"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--subscribers", type=int, default=2000)
    args = parser.parse_args()
    command = "python benchmarks/dict_subscription.py " + shlex.join(
        [
            f"--iterations={args.iterations}",
            f"--repeats={args.repeats}",
            f"--subscribers={args.subscribers}",
        ]
    )
    print(command, flush=True)

    import py_vapid
    import pywebpush

    import webpush_core
    from webpush_core import EndpointPolicy, Vapid, build_request
    from webpush_core._request import prepare_message
    from webpush_core._subscription import Subscription

    uas = [new_user_agent() for _ in range(args.subscribers)]
    subs = [ua.subscription(f"https://push.example.net/push/{i}") for i, ua in enumerate(uas)]
    n = len(subs)
    data = payload_of(100)
    keys = new_vapid_keys()
    vapid = Vapid.from_raw(keys.private_b64)
    claims = {"sub": VAPID_SUB}
    policy = EndpointPolicy()
    curve, ecdh = ec.SECP256R1(), ec.ECDH()

    def b64(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    def floor(i: int) -> bytes:
        sub_keys = subs[i % n]["keys"]
        p256dh, auth = b64(sub_keys["p256dh"]), b64(sub_keys["auth"])
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, p256dh)
        eph = ec.generate_private_key(curve)
        secret = eph.exchange(ecdh, peer)
        prk_key = hmac.digest(auth, secret, hashlib.sha256)
        ikm = hmac.digest(prk_key, b"WebPush: info\x00" + p256dh + b"k" * 65 + b"\x01", "sha256")
        prk = hmac.digest(b"salt-salt-salt-1", ikm, hashlib.sha256)
        cek = hmac.digest(prk, b"Content-Encoding: aes128gcm\x00\x01", hashlib.sha256)[:16]
        nonce = hmac.digest(prk, b"Content-Encoding: nonce\x00\x01", hashlib.sha256)[:12]
        return AESGCM(cek).encrypt(nonce, data + b"\x02", None)

    def ours_encode(i: int) -> bytes:
        return bytes(webpush_core.WebPusher(subs[i % n]).encode(data)["body"])

    def ours_one_call(i: int) -> bytes:
        request = build_request(
            subs[i % n],
            data,
            vapid_private_key=vapid,
            vapid_claims=claims,
            ttl=0,
            endpoint_policy=policy,
        )
        return request.body

    plan = prepare_message(data, vapid, claims, "aes128gcm", 0)
    parsed = [Subscription.from_info(s) for s in subs]

    def in_send_many_dict(i: int) -> bytes:
        return plan.build(Subscription.from_info(subs[i % n])).body

    def in_send_many_kept(i: int) -> bytes:
        return plan.build(parsed[i % n]).body

    def pywebpush_one_call(i: int) -> Any:
        body = pywebpush.WebPusher(subs[i % n]).encode(data)["body"]
        py_vapid.Vapid.from_string(keys.private_b64).sign(
            {**claims, "aud": "https://push.example.net"}
        )
        return body

    rows: list[tuple[str, Callable[[int], Any], bool]] = [
        ("floor: b64 x2 + load point + keygen + ECDH + 5 HMAC + AES-GCM", floor, False),
        ("ours WebPusher(sub).encode(data)", ours_encode, True),
        ("ours build_request one call (token cached)", ours_one_call, True),
        ("ours in send_many, dict subscription", in_send_many_dict, True),
        ("ours in send_many, Subscription kept", in_send_many_kept, True),
        ("pywebpush WebPusher.encode + Vapid.from_string().sign()", pywebpush_one_call, True),
    ]
    for name, fn, check in rows:
        if check:
            assert decrypts_to(uas[0], fn(0), data), f"{name}: body does not decrypt"
        for i in range(50):  # warm caches and lazy imports
            fn(i)
    # Interleaved: each repeat runs every row once, so a noisy spell on the
    # machine hits all rows alike; the best run of each row is kept.
    runs: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for _ in range(args.repeats):
        for name, fn, _ in rows:
            gc.collect()
            t0 = time.thread_time()
            for i in range(args.iterations):
                fn(i)
            runs[name].append((time.thread_time() - t0) / args.iterations * 1e6)
    results = {name: min(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(f"{name}: {results[name]:.1f} us (runs {[round(v, 1) for v in values]})")

    names = [name for name, _, _ in rows]

    def ratio(top: int, bottom: int) -> tuple[float, float]:
        """(ratio of the best runs, median of the per-repeat ratios)."""
        per_round = sorted(a / b for a, b in zip(runs[names[top]], runs[names[bottom]]))
        return results[names[top]] / results[names[bottom]], per_round[len(per_round) // 2]

    print()
    print(f"`{command}`")
    print()
    print("| target | best runs | median of per-repeat ratios | met (both) |")
    print("|---|---:|---:|---|")
    for label, (best, med), limit in (
        ("`WebPusher(sub).encode` / floor", ratio(1, 0), 1.2),
        ("one-call `build_request` / floor", ratio(2, 0), 1.3),
        ("one-call `build_request` / pywebpush one call", ratio(2, 5), 0.45),
        ("in `send_many`: dict / `Subscription` kept", ratio(3, 4), 1.2),
    ):
        met = "yes" if max(best, med) <= limit else "NO"
        print(f"| {label} <= {limit}x | {best:.2f}x | {med:.2f}x | {met} |")
    print()
    print("| row | µs/msg |")
    print("|---|---:|")
    for name, value in results.items():
        print(f"| {name} | {value:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
