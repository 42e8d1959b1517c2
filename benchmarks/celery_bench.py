#!/usr/bin/env python3
"""Scaling out: in-process ``PushClient.send_many`` vs Celery workers (webpush_core.celery).

One run on one machine, the same TLS stand-in as benchmarks/run.py (nginx, one
worker, ``201`` to every POST), a real ``redis-server`` on loopback as broker
and report store:

1. messages/second and CPU per message, N distinct subscriptions:
   ``send_many`` in this process (with and without its helper process), then
   ``WebPushTasks.fan_out`` to ``celery worker --pool=prefork -c 1`` and ``-c 2``
   (time from the first enqueue to the complete report; CPU of the worker's
   processes, of this dispatcher and of redis-server, each per message);
2. the dispatcher's peak RSS for ``fan_out`` over a generator of 10,000 and of
   1,000,000 subscriptions (each in a fresh process, batches parked in a queue
   no worker reads, then dropped).

Reproduce::

    .venv/bin/python benchmarks/celery_bench.py --messages 10000 --rounds 3 --memory 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (
    PushServiceStandIn,
    free_port,
    helper_processes_cpu,
    new_user_agent,
    new_vapid_keys,
    payload_of,
    proc_cpu_seconds,
    proc_tree,
)

APP = """\
import os
from celery import Celery
from webpush_core import EndpointPolicy
from webpush_core.celery import WebPushTasks

app = Celery("bench", broker=os.environ["BENCH_REDIS"])
app.conf.worker_prefetch_multiplier = 1
app.conf.worker_hijack_root_logger = False
push = WebPushTasks(
    app,
    vapid_private_key=os.environ["BENCH_VAPID"],
    vapid_claims={"sub": "mailto:bench@example.com"},
    queue="bench",
    endpoint_policy=EndpointPolicy(
        allow_private=True, allowed_ports=(443, int(os.environ["BENCH_PORT"]))
    ),
    ca_certs=os.environ["BENCH_CA"],
    concurrency=32,
)
"""


def start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: apt-get install -y redis-server (make services)")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit("redis-server did not start")


def start_worker(tmp: Path, env: dict[str, str], procs: int) -> subprocess.Popen[bytes]:
    log = tmp / f"worker-{procs}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench_celery_app",
            "worker",
            "--pool=prefork",
            "-c",
            str(procs),
            "-Q",
            "bench",
            "-n",
            f"bench{procs}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        cwd=tmp,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def tree_cpu(root: int) -> float:
    return sum(proc_cpu_seconds(pid) for pid in proc_tree(root))


def row(name: str, n: int, seconds: float, cpu: dict[str, float], ok: int) -> dict[str, Any]:
    return {
        "name": name,
        "messages": n,
        "ok": ok,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(n / seconds, 1),
        "cpu_us_per_msg": {k: round(v / n * 1e6, 1) for k, v in cpu.items()},
    }


def bench_send_many(
    subs: list[Any], data: bytes, args: Any, server: Any, helper: bool
) -> dict[str, Any]:
    from webpush_core import EndpointPolicy, PushClient

    client = PushClient(
        args.vapid,
        {"sub": "mailto:bench@example.com"},
        endpoint_policy=EndpointPolicy(allow_private=True, allowed_ports=(443, server.port)),
        ca_certs=server.ca_path,
        concurrency=32,
        helper_process=helper,
    )
    with client:
        list(client.send_many(subs[:64], data))  # warm-up: connections, token
        helpers0 = helper_processes_cpu()
        srv0, cpu0, t0 = server.cpu_seconds(), time.process_time(), time.perf_counter()
        ok = sum(r.ok for r in client.send_many(subs, data))
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        cpu += sum(c - helpers0.get(p, 0.0) for p, c in helper_processes_cpu().items())
        srv = server.cpu_seconds() - srv0
    label = "send_many in-process" + ("" if helper else ", helper_process=False")
    return row(label, len(subs), seconds, {"client": cpu, "stand-in": srv}, ok)


def bench_celery(
    subs: list[Any],
    data: bytes,
    push: Any,
    worker: subprocess.Popen[bytes],
    redis_pid: int,
    server: Any,
    procs: int,
) -> dict[str, Any]:
    push.fan_out(subs[:200], data, batch_size=100).wait(60)  # warm-up: each process's client
    w0, r0, d0 = tree_cpu(worker.pid), proc_cpu_seconds(redis_pid), time.process_time()
    srv0, t0 = server.cpu_seconds(), time.perf_counter()
    report = push.fan_out(subs, data).wait(600, interval=0.02)
    seconds = time.perf_counter() - t0
    cpu = {
        "workers": tree_cpu(worker.pid) - w0,
        "dispatcher": time.process_time() - d0,
        "redis": proc_cpu_seconds(redis_pid) - r0,
        "stand-in": server.cpu_seconds() - srv0,
    }
    return row(
        f"Celery, {procs} worker process{'es' if procs > 1 else ''}",
        len(subs),
        seconds,
        cpu,
        report.ok,
    )


def dispatch_only(n: int) -> None:
    """Child mode: fan_out over a generator of n subscriptions, then print the peak RSS."""
    sys.path.insert(0, os.getcwd())
    import bench_celery_app as app

    agents = [new_user_agent() for _ in range(16)]
    port = int(os.environ["BENCH_PORT"])

    def subscriptions() -> Any:
        for i in range(n):
            yield agents[i % 16].subscription(f"https://localhost:{port}/push/m{i}")

    t0 = time.perf_counter()
    handle = app.push.fan_out(subscriptions(), payload_of(100), queue="parked")
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {"n": n, "seconds": seconds, "peak_rss_kib": rss, "total": handle.progress().total}
        )
    )


def median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = sorted(rows, key=lambda r: r["msgs_per_s"])
    mid = dict(rows[len(rows) // 2])
    mid["rounds_msgs_per_s"] = [r["msgs_per_s"] for r in rows]
    return mid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--payload", type=int, default=100)
    parser.add_argument("--memory", type=int, default=1_000_000, help="0: skip the memory rows")
    parser.add_argument("--dispatch-only", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dispatch_only:
        dispatch_only(args.dispatch_only)
        return 0
    command = ".venv/bin/python benchmarks/celery_bench.py " + shlex.join(
        [
            f"--messages={args.messages}",
            f"--rounds={args.rounds}",
            f"--payload={args.payload}",
            f"--memory={args.memory}",
        ]
    )
    print(command, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="webpush-celery-bench-"))
    server = PushServiceStandIn(tmp, "auto", "1")
    server.start()
    redis_proc, redis_url = start_redis(tmp)
    vapid = new_vapid_keys()
    args.vapid = vapid.private_b64
    (tmp / "bench_celery_app.py").write_text(APP)
    env = dict(
        os.environ,
        BENCH_REDIS=redis_url,
        BENCH_VAPID=vapid.private_b64,
        BENCH_CA=server.ca_path,
        BENCH_PORT=str(server.port),
    )
    os.environ.update({k: env[k] for k in ("BENCH_REDIS", "BENCH_VAPID", "BENCH_CA", "BENCH_PORT")})
    sys.path.insert(0, str(tmp))
    import bench_celery_app

    agents = [new_user_agent() for _ in range(min(args.messages, 2000))]
    subs = [
        agents[i % len(agents)].subscription(server.endpoint(f"s{i}")) for i in range(args.messages)
    ]
    data = payload_of(args.payload)
    results: list[dict[str, Any]] = []
    try:
        for helper in (True, False):
            results.append(
                median(
                    [bench_send_many(subs, data, args, server, helper) for _ in range(args.rounds)]
                )
            )
            print(json.dumps(results[-1]), flush=True)
        for procs in (1, 2):
            worker = start_worker(tmp, env, procs)
            try:
                results.append(
                    median(
                        [
                            bench_celery(
                                subs,
                                data,
                                bench_celery_app.push,
                                worker,
                                redis_proc.pid,
                                server,
                                procs,
                            )
                            for _ in range(args.rounds)
                        ]
                    )
                )
            finally:
                stop_worker(worker)
            print(json.dumps(results[-1]), flush=True)
        memory = []
        if args.memory:
            import redis

            for n in (args.memory // 100, args.memory):
                out = subprocess.run(
                    [sys.executable, __file__, f"--dispatch-only={n}"],
                    env=env,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                memory.append(json.loads(out.stdout.strip().splitlines()[-1]))
                redis.Redis.from_url(redis_url).delete("parked")
                print(json.dumps(memory[-1]), flush=True)
    finally:
        redis_proc.kill()
        server.stop()
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
    out_dir = Path(__file__).resolve().parent / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "celery.json").write_text(
        json.dumps({"command": command, "rows": results, "memory": memory}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
