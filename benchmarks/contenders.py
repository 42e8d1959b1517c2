"""The fan-out contenders, each sending the same messages through the stand-in.

* ours: ``PushClient.send_many`` (its own HTTP/1.1 client by default; with
  ``pool_manager=make_pool_manager(...)`` the urllib3 transport), and the
  one-call ``webpush()`` per message;
* pywebpush ``webpush()`` per message, without and with a ``requests.Session``
  (it has no batch or concurrent API: the loop its README shows);
* node web-push ``sendNotification`` with ``in_flight`` requests in flight
  (``tests/node/bench_send.js``, a keep-alive agent).

Each returns one :class:`~benchmarks.measure.Throughput` row (one round).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pywebpush
import requests

import webpush_core
from webpush_core import EndpointPolicy, PushClient, make_pool_manager

from .keys import VAPID_SUB, Sub, VapidKeys
from .measure import MemoryResult, MemoryRun, Throughput, Window
from .server import PushServiceStandIn

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
NODE_SCRIPT = NODE_DIR / "bench_send.js"

ClientOptions = Callable[[], Mapping[str, Any]]  # fresh options for each client made


@dataclass(frozen=True)
class Bench:
    """What every contender shares."""

    server: PushServiceStandIn
    vapid: VapidKeys
    subs: list[Sub]  # one per timed message, distinct endpoints
    warm: list[Sub]  # untimed warm-up
    tmp: Path
    in_flight: int = 32
    ttl: int = 0
    row_time_limit: float = 120.0
    messages_no_session: int = 1000  # cap for pywebpush without a session
    services: tuple[int, ...] = ()  # processes that are not the client, besides the stand-in

    def window(self, row: Throughput) -> Window:
        return Window(row, self.server.cpu_seconds, (self.server.pid, *self.services))

    def over_time(self, row: Throughput, started: float) -> bool:
        if time.monotonic() - started <= self.row_time_limit:
            return False
        row.add_note(f"stopped at the {self.row_time_limit:.0f} s row limit")
        return True


@contextlib.contextmanager
def client_environment(ca_path: str) -> Iterator[None]:
    """The stand-in's CA for requests (which prefers REQUESTS_CA_BUNDLE over
    ``Session.verify``), and no proxy for loopback; restored afterwards."""
    names = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy")
    saved = {k: os.environ.get(k) for k in names}
    loopback = "localhost,127.0.0.1"
    os.environ.update(
        REQUESTS_CA_BUNDLE=ca_path, CURL_CA_BUNDLE=ca_path, NO_PROXY=loopback, no_proxy=loopback
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- ours ------------------------------------------------------------------------------


def our_policy(port: int) -> EndpointPolicy:
    """Loopback on a high port: what the stand-in needs let through."""
    return EndpointPolicy(allow_private=True, allowed_ports=(443, port))


def our_client(b: Bench, **options: Any) -> PushClient:
    kw: dict[str, Any] = {
        "ttl": b.ttl,
        "concurrency": b.in_flight,
        "ca_certs": b.server.ca_path,
        "endpoint_policy": our_policy(b.server.port),
    }
    kw.update(options)
    return PushClient(b.vapid.private_b64, {"sub": VAPID_SUB}, **kw)


def urllib3_transport(b: Bench) -> dict[str, Any]:
    """Options for ``our_client``: the urllib3 transport instead of the own client."""
    return {"pool_manager": make_pool_manager(maxsize=b.in_flight, ca_certs=b.server.ca_path)}


def run_ours(
    b: Bench,
    data: bytes,
    name: str = "webpush_core PushClient.send_many",
    options: Optional[ClientOptions] = None,
    warm: Optional[list[Sub]] = None,
) -> Throughput:
    """One ``send_many`` over ``b.subs`` with a new client (its helper process, if it
    starts one, starts inside the timed run); its warm-up first, untimed (``warm``:
    other subscriptions than ``b.warm``, e.g. enough to start sender processes)."""
    row = Throughput(name, len(data))
    started = time.monotonic()
    try:
        with our_client(b, **(options() if options else {})) as client:
            for _ in client.send_many(b.warm if warm is None else warm, data):
                pass
            with b.window(row):
                for result in client.send_many(b.subs, data):
                    row.messages += 1
                    if result.ok:
                        row.ok += 1
                    else:
                        row.failed += 1
                        row.first_error = (
                            row.first_error or f"{result.status_code} {result.error!r}"
                        )
                    if b.over_time(row, started):
                        break
    except Exception as exc:  # a crash of ours is a result to report, not a reason to stop
        row.available, row.note = False, f"raised {exc!r}"
        return row
    if row.children_cpu_s:
        row.add_note(f"client CPU includes its child processes ({row.children_cpu_s:.2f} s)")
    return row


def run_our_webpush(b: Bench, data: bytes) -> Throughput:
    """``webpush_core.webpush()`` per message over one pool (pywebpush's loop, ours)."""
    row = Throughput("webpush_core webpush() per message, one PoolManager", len(data))
    pool = make_pool_manager(maxsize=1, ca_certs=b.server.ca_path)
    policy = our_policy(b.server.port)
    claims = {"sub": VAPID_SUB}

    def send(sub: Sub) -> None:
        try:
            webpush_core.webpush(
                sub,
                data,
                vapid_private_key=b.vapid.private_b64,
                vapid_claims=claims,
                ttl=b.ttl,
                timeout=10,
                endpoint_policy=policy,
                pool_manager=pool,
            )
            row.ok += 1
        except Exception as exc:  # WebPushException: a result to report
            row.failed += 1
            row.first_error = row.first_error or repr(exc)[:300]

    _sequential(b, row, send, b.warm, b.subs)
    pool.clear()
    return row


# -- pywebpush -------------------------------------------------------------------------


def run_pywebpush(b: Bench, data: bytes, *, with_session: bool) -> Throughput:
    label = "with requests.Session" if with_session else "no session"
    row = Throughput(f"pywebpush webpush() per message, {label}", len(data))
    session: Optional[requests.Session] = None
    if with_session:
        session = requests.Session()
        session.verify = b.server.ca_path
    # Without a session every message pays a TLS handshake: fewer of them, a short warm-up.
    limit = len(b.subs) if with_session else b.messages_no_session
    if limit < len(b.subs):
        row.note = f"first {limit} of {len(b.subs)} subscriptions (a TLS handshake per message)"
    kwargs: dict[str, Any] = {
        # What the pywebpush README shows: key string + claims per call, one call per message.
        "vapid_private_key": b.vapid.private_b64,
        "vapid_claims": {"sub": VAPID_SUB},
        "ttl": b.ttl,
        "timeout": 10,
    }
    if session is not None:
        kwargs["requests_session"] = session

    def send(sub: Sub) -> None:
        try:
            pywebpush.webpush(sub, data, **kwargs)
            row.ok += 1
        except Exception as exc:  # WebPushException or a transport error
            row.failed += 1
            row.first_error = row.first_error or repr(exc)[:300]

    try:
        _sequential(b, row, send, b.warm if with_session else b.warm[:4], b.subs[:limit])
    finally:
        if session is not None:
            session.close()
    return row


def _sequential(
    b: Bench, row: Throughput, send: Callable[[Sub], None], warm: list[Sub], todo: list[Sub]
) -> None:
    """One call per message, in order: the warm-up untimed, then ``todo`` timed."""
    for sub in warm:
        send(sub)
    row.ok = row.failed = 0
    row.first_error = ""
    started = time.monotonic()
    with b.window(row):
        for sub in todo:
            send(sub)
            row.messages += 1
            if b.over_time(row, started):
                break


# -- node web-push ---------------------------------------------------------------------


def run_node(b: Bench, data: bytes) -> Throughput:
    row = Throughput(f"node web-push sendNotification, {b.in_flight} in flight", len(data))
    node = shutil.which("node")
    if not node or not (NODE_DIR / "node_modules" / "web-push").is_dir():
        row.available = False
        row.note = "skipped: node or tests/node/node_modules/web-push missing (make node)"
        return row
    spec = b.tmp / f"node_input_{len(data)}.json"
    vapid = {
        "subject": VAPID_SUB,
        "publicKey": b.vapid.public_b64,
        "privateKey": b.vapid.private_b64,
    }
    spec.write_text(
        json.dumps(
            {
                "subscriptions": b.subs,
                "vapid": vapid,
                "payload_b64": base64.b64encode(data).decode(),
                "in_flight": b.in_flight,
                "ttl": b.ttl,
                "warmup": len(b.warm),
            }
        )
    )
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=b.server.ca_path)
    limit = b.row_time_limit + 60
    srv0 = b.server.cpu_seconds()
    try:
        proc = subprocess.run(
            [node, str(NODE_SCRIPT), str(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        row.available, row.note = False, f"node run exceeded {limit:.0f} s"
        return row
    server_cpu = b.server.cpu_seconds() - srv0
    if proc.returncode != 0:
        row.available, row.note = False, f"node failed: {proc.stderr.strip()[-300:]}"
        return row
    # node measures itself (process.cpuUsage() over the timed part, its warm-up excluded).
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    row.messages, row.seconds = int(out["sent"]), float(out["seconds"])
    row.ok, row.failed = int(out["ok"]), int(out["failed"])
    row.client_cpu_s = float(out["cpu_user_s"]) + float(out["cpu_system_s"])
    # The stand-in's CPU includes node's untimed warm-up; scale it to the timed part.
    total = row.messages + min(len(b.warm), row.messages)
    row.server_cpu_s = server_cpu * row.messages / total
    row.first_error = out.get("first_error") or ""
    return row


# -- memory ----------------------------------------------------------------------------


def lazy_subscriptions(pool: list[Sub], total: int, server: PushServiceStandIn) -> Iterator[Sub]:
    """``total`` distinct endpoints made one at a time (keys reused round-robin):
    what a database cursor feeding send_many looks like. Never a list."""
    for i in range(total):
        yield {"endpoint": server.endpoint(f"mem-{i}"), "keys": pool[i % len(pool)]["keys"]}


def run_ours_memory(
    b: Bench, pool: list[Sub], data: bytes, total: int, checkpoint: int, time_limit: float
) -> MemoryResult:
    """One ``send_many`` over ``total`` lazy subscriptions, memory sampled every checkpoint."""
    res = MemoryResult(total=total)
    with our_client(b) as client:
        try:
            with MemoryRun(res, checkpoint, time_limit) as run:
                results = client.send_many(lazy_subscriptions(pool, total, b.server), data)
                for n, result in enumerate(results, 1):
                    if not run.record(n, result.ok):
                        break
        except Exception as exc:  # report, do not crash the whole run
            res.note = f"send_many raised {exc!r}"
    return res
