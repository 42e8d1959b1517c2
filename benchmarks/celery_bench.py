"""Scaling out: in-process ``PushClient.send_many`` vs Celery workers (webpush_core.celery).

One run on one machine, the fan-out benchmark's TLS stand-in (nginx, one worker,
``201`` to every POST), a real ``redis-server`` on loopback as broker and report
store, the app in ``benchmarks/celery_app.py``:

1. messages/second and CPU per message, N distinct subscriptions:
   ``send_many`` in this process (with and without its helper process, interleaved
   rounds), then ``WebPushTasks.fan_out`` to ``celery worker --pool=prefork -c 1``
   and ``-c 2`` (time from the first enqueue to the complete report; CPU of the
   worker's processes, of this dispatcher and of redis-server, each per message);
2. the dispatcher's peak RSS for ``fan_out`` over a generator of ``--memory / 100``
   and of ``--memory`` subscriptions (each in a fresh process, batches parked in a
   queue no worker reads, then dropped).

Reproduce::

    .venv/bin/python -m benchmarks.celery_bench --messages=10000 --rounds=3 --memory=1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Optional

from .contenders import ROOT, Bench, client_environment, run_ours
from .keys import new_user_agent, new_vapid_keys, payload_of, subscriptions
from .measure import Throughput, interleaved, median_round, proc_cpu_seconds, tree_cpu_seconds
from .server import PushServiceStandIn, start_redis

OUT_DIR = Path(__file__).resolve().parent / "out"
APP = "benchmarks.celery_app"


def start_worker(tmp: Path, env: dict[str, str], procs: int) -> subprocess.Popen[bytes]:
    """``celery worker --pool=prefork -c procs`` on the bench queue, once it says ready."""
    log = tmp / f"worker-{procs}.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", APP, "worker", "--pool=prefork"),
            *("-c", str(procs), "-Q", "bench", "-n", f"bench{procs}@%h", "--loglevel=INFO"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat"),
        ],
        cwd=ROOT,  # where `benchmarks` is importable from
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker(proc)
            raise SystemExit(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def row(name: str, n: int, seconds: float, cpu: dict[str, float], ok: int) -> dict[str, Any]:
    return {
        "name": name,
        "messages": n,
        "ok": ok,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(n / seconds, 1),
        "cpu_us_per_msg": {k: round(v / n * 1e6, 1) for k, v in cpu.items()},
    }


def send_many_row(t: Throughput) -> dict[str, Any]:
    cpu = {"client": t.client_cpu_s, "stand-in": t.server_cpu_s}
    out = row(t.name, t.messages, t.seconds, cpu, t.ok)
    out["rounds_msgs_per_s"] = t.round_rates
    return out


def bench_celery(
    subs: list[Any], data: bytes, worker: subprocess.Popen[bytes], redis_pid: int, b: Bench
) -> dict[str, Any]:
    from .celery_app import push

    push.fan_out(subs[:200], data, batch_size=100).wait(60)  # warm-up: each process's client
    w0, r0, d0 = tree_cpu_seconds(worker.pid), proc_cpu_seconds(redis_pid), time.process_time()
    srv0, t0 = b.server.cpu_seconds(), time.perf_counter()
    report = push.fan_out(subs, data).wait(600, interval=0.02)
    seconds = time.perf_counter() - t0
    cpu = {
        "workers": tree_cpu_seconds(worker.pid) - w0,
        "dispatcher": time.process_time() - d0,
        "redis": proc_cpu_seconds(redis_pid) - r0,
        "stand-in": b.server.cpu_seconds() - srv0,
    }
    return row("", len(subs), seconds, cpu, report.ok)


def dispatch_only(n: int) -> None:
    """Child mode: fan_out over a generator of n subscriptions, then print the peak RSS."""
    from .celery_app import push

    agents = [new_user_agent() for _ in range(16)]
    port = int(os.environ["BENCH_PORT"])

    def subscriptions() -> Any:
        for i in range(n):
            yield agents[i % 16].subscription(f"https://localhost:{port}/push/m{i}")

    t0 = time.perf_counter()
    handle = push.fan_out(subscriptions(), payload_of(100), queue="parked")
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = handle.progress().total
    print(json.dumps({"n": n, "seconds": seconds, "peak_rss_kib": rss, "total": total}))


def median_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["msgs_per_s"])
    mid = dict(rows[len(rows) // 2])
    mid["rounds_msgs_per_s"] = [r["msgs_per_s"] for r in rows]
    return mid


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.celery_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--memory", type=int, default=1_000_000, help="0: skip the memory rows")
    parser.add_argument("--dispatch-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dispatch_only:
        dispatch_only(args.dispatch_only)
        return 0
    command = ".venv/bin/python -m benchmarks.celery_bench " + shlex.join(
        [
            f"--messages={args.messages}",
            f"--rounds={args.rounds}",
            f"--payload={args.payload}",
            f"--memory={args.memory}",
        ]
    )
    print(command, flush=True)
    with tempfile.TemporaryDirectory(prefix="webpush-celery-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = PushServiceStandIn(tmp)
        try:
            server.start()
            with client_environment(server.ca_path):
                results, memory = _run(args, server, tmp)
        finally:
            server.stop()
    _print(command, server, results, memory)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "celery.json").write_text(
        json.dumps({"command": command, "rows": results, "memory": memory}, indent=1)
    )
    return 0


def _run(
    args: argparse.Namespace, server: PushServiceStandIn, tmp: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    redis_proc, redis_url = start_redis(tmp)
    vapid = new_vapid_keys()
    env = dict(
        os.environ,
        BENCH_REDIS=redis_url,
        BENCH_VAPID=vapid.private_b64,
        BENCH_CA=server.ca_path,
        BENCH_PORT=str(server.port),
    )
    os.environ.update({k: env[k] for k in ("BENCH_REDIS", "BENCH_VAPID", "BENCH_CA", "BENCH_PORT")})
    agents = [new_user_agent() for _ in range(min(args.messages, 2000))]
    subs = subscriptions(agents, server.endpoint, args.messages)
    data = payload_of(args.payload)
    b = Bench(server, vapid, subs, subs[:64], tmp, services=(redis_proc.pid,))
    results: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    try:
        in_process = {
            "send_many in-process": partial(run_ours, b, data, "send_many in-process"),
            "send_many in-process, helper_process=False": partial(
                run_ours,
                b,
                data,
                "send_many in-process, helper_process=False",
                lambda: {"helper_process": False},
            ),
        }
        rounds = interleaved(list(in_process.items()), args.rounds, "send_many", _rate)
        for done in rounds.values():
            results.append(send_many_row(median_round(done)))
            print(json.dumps(results[-1]), flush=True)
        for procs in (1, 2):
            worker = start_worker(tmp, env, procs)
            try:
                runs = [
                    bench_celery(subs, data, worker, redis_proc.pid, b) for _ in range(args.rounds)
                ]
            finally:
                stop_worker(worker)
            results.append(median_row(runs))
            results[-1]["name"] = f"Celery, {procs} worker process{'es' if procs > 1 else ''}"
            print(json.dumps(results[-1]), flush=True)
        if args.memory:
            import redis

            for n in (args.memory // 100, args.memory):
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.celery_bench", f"--dispatch-only={n}"],
                    env=env,
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                memory.append(json.loads(out.stdout.strip().splitlines()[-1]))
                redis.Redis.from_url(redis_url).delete("parked")
                print(json.dumps(memory[-1]), flush=True)
    finally:
        redis_proc.kill()
        redis_proc.wait(10)
    return results, memory


def _rate(t: Throughput) -> str:
    return f"{t.rate:,.0f} msgs/s" if t.available else t.note


def _print(
    command: str,
    server: PushServiceStandIn,
    results: list[dict[str, Any]],
    memory: list[dict[str, Any]],
) -> None:
    print()
    print(
        f"`{command}`  ({platform.python_version()}, {os.cpu_count()} cores, "
        f"stand-in: {server.kind})"
    )
    print()
    print(
        "| how | msgs/s (median; rounds) | CPU µs/msg: sending processes "
        "| dispatcher | redis | stand-in |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        c = r["cpu_us_per_msg"]
        sending = c.get("client", c.get("workers"))
        rounds = ", ".join(f"{x:,.0f}" for x in r["rounds_msgs_per_s"])
        print(
            f"| {r['name']} | {r['msgs_per_s']:,.0f} ({rounds}) | {sending} | "
            f"{c.get('dispatcher', '-')} | {c.get('redis', '-')} | {c['stand-in']} |"
        )
    for m in memory:
        print(
            f"\ndispatcher, {m['n']:,} subscriptions from a generator: peak RSS "
            f"{m['peak_rss_kib'] / 1024:.1f} MiB, {m['seconds']:.1f} s "
            f"({m['n'] / m['seconds']:,.0f} subscriptions/s enqueued)"
        )


if __name__ == "__main__":
    sys.exit(main())
