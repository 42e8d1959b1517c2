"""The fan-out benchmark, start to end: stand-in, subscriptions, the contenders in
interleaved rounds, per-call CPU, memory. ``python -m benchmarks`` is its CLI.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Optional

from webpush_core import EndpointPolicy

from . import floor, per_call
from .contenders import (
    Bench,
    client_environment,
    run_node,
    run_ours,
    run_ours_memory,
    run_pywebpush,
)
from .keys import Sub, UserAgent, VapidKeys, new_user_agent, new_vapid_keys, payload_of
from .keys import subscriptions as make_subscriptions
from .measure import (
    CpuCost,
    MemoryResult,
    PerCall,
    Throughput,
    interleaved,
    median_round,
    per_call_runs,
)
from .report import environment
from .server import PushServiceStandIn

# The --skip keys of the throughput contenders, in the order each round runs them.
CONTENDERS: dict[str, Callable[[Bench, bytes], Throughput]] = {
    "ours": run_ours,
    "pywebpush-nosession": partial(run_pywebpush, with_session=False),
    "pywebpush-session": partial(run_pywebpush, with_session=True),
    "node": run_node,
}


@dataclass(frozen=True)
class Settings:
    messages: int
    subscribers: int
    in_flight: int
    rounds: int
    payload_sizes: list[int]
    cpu_payload_sizes: list[int]
    ttl: int
    warmup: int
    messages_no_session: int
    cpu_iterations: int
    cpu_repeats: int
    memory_subscriptions: int
    memory_checkpoint: int
    memory_time_limit: float
    row_time_limit: float
    server: str
    nginx_workers: str
    skip: list[str]
    quick: bool = False  # a smoke run: never the README's
    readme: bool = False  # keep this run as the README's (benchmarks/readme.py)


@dataclass
class Results:
    environment: dict[str, str]
    throughput: list[Throughput]
    cpu: list[CpuCost]
    memory: Optional[list[MemoryResult]]


def run(settings: Settings) -> Results:
    """The whole benchmark; the stand-in is stopped at the end whatever happens."""
    with tempfile.TemporaryDirectory(prefix="webpush-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = PushServiceStandIn(tmp, settings.server, settings.nginx_workers)
        try:
            server.start()
            with client_environment(server.ca_path):
                return _run(settings, server, tmp)
        finally:
            server.stop()


def _run(s: Settings, server: PushServiceStandIn, tmp: Path) -> Results:
    print(f"stand-in: {server.kind} on https://localhost:{server.port}/push/...", flush=True)
    print(
        f"generating {s.subscribers} subscriptions (P-256 key pairs + auth secrets) ...",
        flush=True,
    )
    uas = [new_user_agent() for _ in range(s.subscribers)]
    vapid = new_vapid_keys()
    subs = make_subscriptions(uas, server.endpoint, s.messages)
    bench = Bench(
        server,
        vapid,
        subs,
        subs[: s.warmup],
        tmp,
        in_flight=s.in_flight,
        ttl=s.ttl,
        row_time_limit=s.row_time_limit,
        messages_no_session=s.messages_no_session,
    )
    results = Results(environment(f"{server.kind}: {server.version}"), [], [], None)

    for size in s.payload_sizes:
        data = payload_of(size)
        contenders = [
            (key, partial(run, bench, data)) for key, run in CONTENDERS.items() if key not in s.skip
        ]
        rounds = interleaved(contenders, s.rounds, f"throughput {size} B", _rate)
        results.throughput += [median_round(rows) for rows in rounds.values()]

    if "cpu" not in s.skip:
        for size in s.cpu_payload_sizes:
            print(f"[cpu {size} B] measuring ...", flush=True)
            results.cpu += cpu_rows(uas, subs, vapid, payload_of(size), s)

    if "memory" not in s.skip:
        results.memory = []
        big = s.memory_subscriptions
        for total in (max(big // 10, 1), big):
            print(f"[memory] send_many over {total:,} lazy subscriptions ...", flush=True)
            mem = run_ours_memory(
                bench,
                subs[: s.subscribers],
                payload_of(s.payload_sizes[0]),
                total,
                s.memory_checkpoint,
                s.memory_time_limit,
            )
            results.memory.append(mem)
            print(f"  {mem.note or 'done'}", flush=True)
    return results


def _rate(row: Throughput) -> str:
    return f"{row.rate:,.0f} msgs/s" if row.available else row.note


def cpu_rows(
    uas: list[UserAgent], subs: list[Sub], vapid: VapidKeys, data: bytes, s: Settings
) -> list[CpuCost]:
    """Per-message CPU of the floor, its parts, ours and pywebpush, interleaved.

    Every row that returns a body is first checked to decrypt (http_ece); one that
    does not is reported as such instead of timed.
    """
    size = len(data)
    ua = uas[0]
    # The endpoints are on loopback (a high port); build_request checks them by default.
    policy = EndpointPolicy(allow_private=True)
    in_send_many = per_call.ours_in_send_many(subs, data, vapid.private_b64, s.ttl)
    notes = {
        "bare primitives (the floor)": floor.KEPT_NOTE,
        floor.DICT_NAME: floor.DICT_NOTE,
        "pywebpush webpush() one call, network mocked": (
            "VAPID key parse + JWT sign + encode + headers; session.post mocked"
        ),
    }
    rows: list[tuple[str, PerCall, bool]] = [
        ("bare primitives (the floor)", floor.kept(uas, data), False),
        (floor.DICT_NAME, floor.from_dict(subs, data), False),
        *((name, fn, False) for name, fn in floor.parts(uas, vapid)),
        ("webpush_core encryption (ece.encrypt_message)", per_call.ours_encrypt(uas, data), True),
        (
            "webpush_core build_request (whole request)",
            per_call.ours_build_request(subs, data, vapid.private_b64, s.ttl, policy),
            True,
        ),
        ("pywebpush WebPusher(sub).encode(data)", per_call.pywebpush_encode(subs, data), True),
        (
            "pywebpush webpush() one call, network mocked",
            per_call.pywebpush_one_call(subs, data, vapid.private_b64, s.ttl),
            False,
        ),
        ("  ours per message in send_many (dict subscription)", in_send_many[0], True),
        ("  ours per message in send_many (Subscription kept)", in_send_many[1], True),
    ]
    broken: dict[str, str] = {}
    timed: list[tuple[str, PerCall]] = []
    for name, fn, check in rows:
        try:
            timed.append((name, per_call.checked(name, fn, ua, data) if check else fn))
        except ValueError as exc:
            broken[name] = str(exc)
    runs = per_call_runs(timed, s.cpu_iterations, s.cpu_repeats)
    out: list[CpuCost] = []
    for name, _, _ in rows:
        if name in broken:
            out.append(CpuCost(name, size, available=False, note=broken[name]))
        else:
            note = notes.get(name, "informational" if name.startswith("  part") else "")
            out.append(CpuCost.of(name, size, runs[name], note))
    best = {c.name: c.us_per_msg for c in out if c.available}
    # Each of our rows against the floor for its kind of subscription.
    floors = {
        "  ours per message in send_many (dict subscription)": best.get(floor.DICT_NAME),
        "  ours per message in send_many (Subscription kept)": best.get(
            "bare primitives (the floor)"
        ),
    }
    encode_us = best.get("pywebpush WebPusher(sub).encode(data)")
    one_call_us = best.get("pywebpush webpush() one call, network mocked")
    for c in out:
        if c.available and c.name in floors:
            c.note = "informational (prepare_message + MessagePlan.build)"
            floor_us = floors[c.name]
            if floor_us and encode_us and one_call_us:
                c.note += (
                    f": {c.us_per_msg / floor_us:.2f}x its floor, "
                    f"{c.us_per_msg / encode_us:.2f}x pywebpush encode, "
                    f"{c.us_per_msg / one_call_us:.2f}x its one call"
                )
    return out
