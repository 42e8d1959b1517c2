"""VAPID signing cost per push message: our cached sign() vs py_vapid per call.

pywebpush's ``webpush()`` parses the key string and signs a fresh token for
every message (``Vapid.from_string(key).sign(claims)``). We parse the key
once and reuse the signed token until an hour before it expires, so a
fan-out pays a dict lookup per message.

Run: .venv/bin/python -m benchmarks.vapid_sign [--seconds 1.0]
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import base64
import time
from typing import Callable

from cryptography.hazmat.primitives import serialization

from webpush_core.vapid import Vapid


def per_call(fn: Callable[[], object], seconds: float) -> float:
    """Best-of-5 seconds per call, each round running about ``seconds / 5``."""
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < 0.05:  # calibrate a batch size
        fn()
        n += 1
    batch = max(1, int(n * seconds / 5 / 0.05))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) / batch)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.vapid_sign", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    args = parser.parse_args()

    import py_vapid

    ours = Vapid.generate()
    assert ours.private_key is not None
    key_string = (
        base64.urlsafe_b64encode(
            ours.private_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        .rstrip(b"=")
        .decode()
    )
    claims = {"sub": "mailto:ops@example.com", "aud": "https://push.example.net"}

    cached = per_call(lambda: ours.sign(claims), args.seconds)
    pv = per_call(lambda: py_vapid.Vapid.from_string(key_string).sign(dict(claims)), args.seconds)
    pv_sign_only_key = py_vapid.Vapid.from_string(key_string)
    pv_sign = per_call(lambda: pv_sign_only_key.sign(dict(claims)), args.seconds)
    uncached = per_call(lambda: Vapid.from_string(key_string).sign(claims), args.seconds)

    print(f"webpush_core cached sign()                 {cached * 1e6:9.2f} us/call")
    print(f"webpush_core from_string()+sign() (miss)   {uncached * 1e6:9.2f} us/call")
    print(f"py_vapid sign() (key parsed once)          {pv_sign * 1e6:9.2f} us/call")
    print(f"py_vapid from_string()+sign() (pywebpush)  {pv * 1e6:9.2f} us/call")
    print(f"ratio py_vapid from_string+sign / cached:  {pv / cached:9.1f}x")


if __name__ == "__main__":
    main()
