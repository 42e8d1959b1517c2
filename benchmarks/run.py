#!/usr/bin/env python3
"""Fan-out benchmark: webpush_core vs pywebpush vs node web-push (issue 5).

One run on one machine measures, side by side:

1. messages/second through a local TLS push-service stand-in (nginx from Debian's
   packages answering ``201``, a ``trustme`` certificate, HTTP/1.1 keep-alive,
   127.0.0.1 only), N messages to N distinct subscriptions with real P-256 keys:
   ``webpush_core.PushClient.send_many``, pywebpush ``webpush()`` per message
   without and with a ``requests.Session``, node web-push ``sendNotification``
   with 32 in flight (``tests/node/bench_send.js``);
2. per-message CPU cost, single thread, no network: ours (encryption, whole
   request build), pywebpush's ``WebPusher(sub).encode(data)``, pywebpush's whole
   one-call ``webpush()`` with the network mocked out, and the bare primitives;
3. memory of ``send_many`` over 100,000 lazily generated subscriptions.

Rows for parts of webpush_core that do not exist yet print "not available yet".

Reproduce (the full run: ~8 minutes on 2 cores, most of it the 100,000-subscription
memory run under tracemalloc, capped by --memory-time-limit)::

    .venv/bin/python benchmarks/run.py --messages 5000 --subscribers 5000 --in-flight 32 --rounds 3

(``make bench`` runs the same; ``make bench BENCH_ARGS=--quick`` the smoke run.)

``--quick`` is a ~20 s smoke run. Results go to stdout and
``benchmarks/out/results.md`` (+ ``results.json``), with the exact command.

Why one nginx worker (``--nginx-workers 1``, the default): the client under test
and the stand-in share the machine's 2 cores. One worker caps the stand-in at one
core whatever the contender does, the same for every contender, and leaves the
other core to the client (which may use threads). Answering 201 is cheap, so one
worker is not the bottleneck; the stand-in's own CPU time is measured and
reported for every row, and a row is flagged if the worker was busy most of the
time. ``--nginx-workers auto`` (2 workers here) is there to check that claim.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import hashlib
import hmac
import http.client
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Optional

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

try:
    import http_ece
    import pywebpush
    import requests
    import trustme
except ImportError as exc:  # pragma: no cover - set-up problem, say how to fix it
    sys.exit(f"missing benchmark dependency ({exc}); run: .venv/bin/pip install -e '.[bench]'")

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "benchmarks" / "out"
NODE_DIR = ROOT / "tests" / "node"
NODE_SCRIPT = NODE_DIR / "bench_send.js"
VAPID_SUB = "mailto:bench@example.com"

Sub = dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload_of(size: int) -> bytes:
    """A deterministic message of exactly ``size`` bytes (printable, like JSON)."""
    unit = b'{"title":"Order update","body":"Your parcel is on its way"} '
    return (unit * (size // len(unit) + 1))[:size]


# --------------------------------------------------------------------------------------
# Keys and subscriptions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserAgent:
    """One browser's side of a subscription: what it publishes and what it keeps."""

    p256dh: bytes  # 65-byte uncompressed point (RFC 8291 §3.1 ua_public)
    auth: bytes  # 16-byte auth secret (RFC 8291 §3.2)
    private_key: ec.EllipticCurvePrivateKey  # kept to check bodies decrypt

    def subscription(self, endpoint: str) -> Sub:
        return {
            "endpoint": endpoint,
            "keys": {"p256dh": b64url(self.p256dh), "auth": b64url(self.auth)},
        }


def new_user_agent() -> UserAgent:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return UserAgent(p256dh=point, auth=os.urandom(16), private_key=key)


@dataclass(frozen=True)
class VapidKeys:
    private_b64: str  # raw 32-byte scalar, base64url: the form all three libraries accept
    public_b64: str  # 65-byte uncompressed point, base64url (applicationServerKey)


def new_vapid_keys() -> VapidKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(private_b64=b64url(scalar), public_b64=b64url(point))


def decrypts_to(ua: UserAgent, body: bytes, expected: bytes) -> bool:
    """Independent check (http_ece) that a contender's body is a valid message for ua."""
    try:
        plain = http_ece.decrypt(
            body, private_key=ua.private_key, dh=None, auth_secret=ua.auth, version="aes128gcm"
        )
    except Exception:
        return False
    return bool(plain == expected)


# --------------------------------------------------------------------------------------
# The push-service stand-in
# --------------------------------------------------------------------------------------

NGINX_CONF = """\
# Generated by benchmarks/run.py: a push-service stand-in answering 201.
worker_processes {workers};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # Keep-alive like a real push service; no forced reconnects mid-run.
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_buffer_size 16k;
    server {{
        listen 127.0.0.1:{port} ssl;  # HTTP/1.1 (no http2), loopback only
        server_name localhost;
        ssl_certificate {tmp}/server.pem;
        ssl_certificate_key {tmp}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location /push/ {{
            if ($request_method != POST) {{ return 405; }}
            add_header Location /message/$request_id;
            return 201;
        }}
        location / {{ return 404; }}
    }}
}}
"""

PY_SERVER = """\
# Generated by benchmarks/run.py: FALLBACK push-service stand-in (nginx unavailable).
import ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(201 if self.path.startswith("/push/") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu_seconds(pid: int) -> float:
    """utime+stime of one process from /proc (0.0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_tree(root: int) -> list[int]:
    """root and its direct children (nginx master + workers)."""
    pids = [root]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root:
            pids.append(int(entry.name))
    return pids


def ensure_nginx() -> Optional[str]:
    """Path to nginx, installing Debian's package if missing; None if that fails."""
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found:
        return found
    print("nginx not found: installing Debian's package (apt-get install -y nginx) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx"]):
            subprocess.run(cmd, check=True, env=env, timeout=300, capture_output=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  apt-get failed: {exc}", flush=True)
        return None
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


class PushServiceStandIn:
    """nginx (or, loudly, a Python fallback) answering 201 to POST /push/..., over TLS."""

    def __init__(self, tmp: Path, mode: str, workers: str) -> None:
        self.tmp = tmp
        self.mode = mode  # "auto" | "nginx" | "python"
        self.workers = workers
        self.port = free_port()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.kind = ""
        self.version = ""
        self.ca_path = str(tmp / "ca.pem")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        ca.cert_pem.write_to_path(self.ca_path)
        cert.private_key_pem.write_to_path(str(tmp / "server.key"))
        cert.cert_chain_pems[0].write_to_path(str(tmp / "server.pem"))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(tmp / "server.pem"), append=True)

    def start(self) -> None:
        nginx = ensure_nginx() if self.mode in ("auto", "nginx") else None
        if nginx:
            self._start_nginx(nginx)
        elif self.mode == "nginx":
            raise SystemExit("nginx requested (--server nginx) but it could not be installed")
        else:
            self._start_python()
        self._wait_ready()

    def _start_nginx(self, nginx: str) -> None:
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=self.workers, tmp=self.tmp, port=self.port))
        out = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False)
        self.version = (out.stderr or out.stdout).strip()
        self.kind = f"nginx (worker_processes {self.workers})"
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.tmp), "-e", str(self.tmp / "error.log"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # our Ctrl-C is handled here, then we stop it
        )

    def _start_python(self) -> None:
        banner = "!" * 78
        print(
            f"{banner}\n!! WARNING: using the Python FALLBACK stand-in (nginx unavailable or\n"
            "!! --server python).\n"
            "!! It is far slower than nginx and may be the bottleneck: throughput numbers\n"
            f"!! below are NOT comparable with nginx runs.\n{banner}",
            flush=True,
        )
        script = self.tmp / "py_server.py"
        script.write_text(PY_SERVER)
        self.kind = "PYTHON FALLBACK (ThreadingHTTPServer) - not comparable with nginx runs"
        self.version = f"Python {platform.python_version()}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(self.port),
                str(self.tmp / "server.pem"),
                str(self.tmp / "server.key"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        """Until a real HTTPS POST gets its 201 (which also proves the certificate set-up)."""
        assert self.proc is not None
        ctx = ssl.create_default_context(cafile=self.ca_path)
        deadline = time.monotonic() + 15
        last: Exception = RuntimeError("not started")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise SystemExit(f"push-service stand-in exited at start: {err.strip()}")
            try:
                conn = http.client.HTTPSConnection("localhost", self.port, context=ctx, timeout=2)
                conn.request("POST", "/push/ready", body=b"x")
                status = conn.getresponse().status
                conn.close()
                if status == 201:
                    return
                last = RuntimeError(f"status {status}")
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise SystemExit(f"push-service stand-in did not become ready: {last}")

    def endpoint(self, ident: str) -> str:
        return f"https://localhost:{self.port}/push/{ident}"

    def cpu_seconds(self) -> float:
        if self.proc is None:
            return 0.0
        return sum(proc_cpu_seconds(pid) for pid in proc_tree(self.proc.pid))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # nginx: SIGQUIT is a graceful shutdown of master + workers; python: SIGTERM.
        proc.send_signal(signal.SIGQUIT if self.kind.startswith("nginx") else signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --------------------------------------------------------------------------------------
# webpush_core adapters: the ONLY places that know our (still growing) API.
# --------------------------------------------------------------------------------------


def our_endpoint_policy(port: int) -> Any:
    """Loopback on a high port: allow_private, and the port if the policy takes one."""
    import webpush_core

    policy_cls = getattr(webpush_core, "EndpointPolicy")  # noqa: B009 - may not exist yet
    try:
        return policy_cls(allow_http=False, allow_private=True, allowed_ports=(443, port))
    except TypeError:
        return policy_cls(allow_http=False, allow_private=True)


def make_our_client(vapid: VapidKeys, ca_path: str, port: int, in_flight: int, ttl: int) -> Any:
    """webpush_core.PushClient as issue 5 specifies it. Adjust here if the API moves."""
    import webpush_core

    client_cls = getattr(webpush_core, "PushClient")  # noqa: B009 - may not exist yet
    return client_cls(
        vapid_private_key=vapid.private_b64,
        vapid_claims={"sub": VAPID_SUB},
        ttl=ttl,
        concurrency=in_flight,
        ca_certs=ca_path,
        endpoint_policy=our_endpoint_policy(port),
    )


def our_push_client_missing() -> Optional[str]:
    try:
        import webpush_core
    except ImportError as exc:
        return f"not available yet (cannot import webpush_core: {exc})"
    if not hasattr(webpush_core, "PushClient"):
        return "not available yet (webpush_core.PushClient)"
    if not hasattr(webpush_core, "EndpointPolicy"):
        return "not available yet (webpush_core.EndpointPolicy)"
    return None


# Parameter names our ece.encrypt_message might use (its signature is not fixed yet).
_ENCRYPT_ALIASES: dict[str, tuple[str, ...]] = {
    "data": ("data", "content", "plaintext", "message", "payload"),
    "ua_public": ("ua_public", "dh", "p256dh", "receiver_key", "ua_public_key", "user_agent_key"),
    "auth": ("auth_secret", "auth", "auth_key"),
}


def our_encrypt_fn() -> tuple[Optional[Callable[[UserAgent, bytes], bytes]], str]:
    """Ours, encryption only: ece.encrypt_message if present, else the http_ece-shaped encrypt.

    Returns (fn, label) or (None, reason). The fn must produce a body that http_ece
    decrypts (checked by the caller), so a wrong guess here shows up, never lies.
    """
    try:
        ece = importlib.import_module("webpush_core.ece")
    except ImportError as exc:
        return None, f"not available yet (webpush_core.ece: {exc})"
    fn = getattr(ece, "encrypt_message", None)
    if callable(fn):
        params = inspect.signature(fn).parameters
        names: dict[str, str] = {}
        for role, aliases in _ENCRYPT_ALIASES.items():
            found = [a for a in aliases if a in params]
            if found:
                names[role] = found[0]
        if len(names) == 3:
            enc = fn

            def via_encrypt_message(ua: UserAgent, data: bytes) -> bytes:
                out = enc(
                    **{names["data"]: data, names["ua_public"]: ua.p256dh, names["auth"]: ua.auth}
                )
                return bytes(getattr(out, "body", out))

            return via_encrypt_message, "ece.encrypt_message"
        # Positional (data, ua_public, auth_secret) as a last guess; verified by the caller.
        enc = fn

        def positional(ua: UserAgent, data: bytes) -> bytes:
            out = enc(data, ua.p256dh, ua.auth)
            return bytes(getattr(out, "body", out))

        return positional, "ece.encrypt_message (positional)"
    generic = getattr(ece, "encrypt", None)
    if callable(generic):
        enc2 = generic

        def via_encrypt(ua: UserAgent, data: bytes) -> bytes:
            # Issue 2's http_ece-compatible API: the ephemeral key is the caller's job.
            eph = ec.generate_private_key(ec.SECP256R1())
            return bytes(enc2(data, private_key=eph, dh=ua.p256dh, auth_secret=ua.auth))

        return via_encrypt, "ece.encrypt (+ ephemeral key)"
    return None, "not available yet (webpush_core.ece.encrypt_message)"


def our_build_request_fn(
    vapid: VapidKeys, ttl: int
) -> tuple[Optional[Callable[[Sub, bytes], bytes]], str]:
    """Ours, the whole per-message request build (issue 4's sans-IO build_request)."""
    try:
        import webpush_core
    except ImportError as exc:
        return None, f"not available yet ({exc})"
    build = getattr(webpush_core, "build_request", None)
    if not callable(build):
        return None, "not available yet (webpush_core.build_request)"
    claims = {"sub": VAPID_SUB}
    # The endpoints are on loopback (a high port); build_request checks them by default.
    policy = webpush_core.EndpointPolicy(allow_private=True)

    def via_build_request(sub: Sub, data: bytes) -> bytes:
        req = build(
            sub,
            data,
            vapid_private_key=vapid.private_b64,
            vapid_claims=claims,
            ttl=ttl,
            endpoint_policy=policy,
        )
        return bytes(req.body)

    return via_build_request, "build_request"


def our_fan_out_fns(
    vapid: VapidKeys, ttl: int, data: bytes, subs: list[Sub]
) -> tuple[Optional[tuple[Callable[[int], bytes], Callable[[int], bytes]]], str]:
    """Ours, per message inside send_many (informational, next to the target rows).

    send_many checks the message and loads the VAPID key once (``prepare_message``),
    then per subscription parses it and builds the request. The second function
    takes Subscription objects parsed beforehand, as an application can keep them
    between fan-outs (then, like the floor's peers, each key is loaded once).
    Private names: adjust here if they move.
    """
    try:
        from webpush_core._request import prepare_message
        from webpush_core._subscription import Subscription
    except ImportError as exc:
        return None, f"not available ({exc})"
    plan = prepare_message(data, vapid.private_b64, {"sub": VAPID_SUB}, "aes128gcm", ttl)
    parsed = [Subscription.from_info(sub) for sub in subs]
    n = len(subs)

    def parse_and_build(i: int) -> bytes:
        return bytes(plan.build(Subscription.from_info(subs[i % n])).body)

    def build_parsed(i: int) -> bytes:
        return bytes(plan.build(parsed[i % n]).body)

    return (parse_and_build, build_parsed), "prepare_message + MessagePlan.build"


# --------------------------------------------------------------------------------------
# Throughput
# --------------------------------------------------------------------------------------


@dataclass
class Throughput:
    name: str
    payload: int
    messages: int = 0
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    note: str = ""
    first_error: str = ""
    available: bool = True
    round_rates: list[float] = field(default_factory=list)  # msgs/s of every round

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def valid(self) -> bool:
        """Fit for a ratio: it ran, and every message got its 201."""
        return self.available and self.messages > 0 and self.failed == 0


def median_round(rows: list[Throughput]) -> Throughput:
    """The round with the median rate stands for the contender; all rates are kept."""
    done = [r for r in rows if r.available]
    if not done:
        return rows[0]
    done.sort(key=lambda r: r.rate)
    mid = done[len(done) // 2]
    mid.round_rates = [round(r.rate, 1) for r in rows if r.available]
    return mid


@dataclass
class Bench:
    """What every throughput contender shares."""

    server: PushServiceStandIn
    args: Args
    vapid: VapidKeys
    subs: list[Sub]  # one per timed message, distinct endpoints
    warm: list[Sub]  # untimed warm-up (first few of subs)
    tmp: Path


class Measure:
    """Wall time, our process CPU (all threads) and the stand-in's CPU over a block."""

    def __init__(self, server: PushServiceStandIn, row: Throughput) -> None:
        self.server, self.row = server, row

    def __enter__(self) -> Measure:
        gc.collect()
        self.srv0 = self.server.cpu_seconds()
        self.cpu0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.row.seconds = time.perf_counter() - self.t0
        self.row.client_cpu_s = time.process_time() - self.cpu0
        self.row.server_cpu_s = self.server.cpu_seconds() - self.srv0


def helper_processes_cpu() -> dict[int, float]:
    """CPU seconds of our helper processes (PushClient encrypts long fan-outs in one):
    their work is the client's, so it is added to the client's CPU."""
    found: dict[int, float] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != me:
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"webpush_core._delivery.sealer" in cmdline:
            found[int(entry.name)] = proc_cpu_seconds(int(entry.name))
    return found


def our_client_or_reason(b: Bench) -> tuple[Any, str]:
    """(our PushClient, "") or (None, why it is not available)."""
    missing = our_push_client_missing()
    if missing:
        return None, missing
    try:
        return make_our_client(
            b.vapid, b.server.ca_path, b.server.port, b.args.in_flight, b.args.ttl
        ), ""
    except Exception as exc:
        return None, f"construction failed: {exc!r} (adjust make_our_client)"


def run_ours(b: Bench, data: bytes) -> Throughput:
    server, args, subs, warm = b.server, b.args, b.subs, b.warm
    row = Throughput("webpush_core PushClient.send_many", len(data))
    client, why_not = our_client_or_reason(b)
    if client is None:
        row.available, row.note = False, why_not
        return row
    deadline = time.monotonic() + args.row_time_limit
    try:
        for _ in client.send_many(warm, data):
            pass
        helpers_before = helper_processes_cpu()
        with Measure(server, row):
            results = client.send_many(subs, data)
            for result in results:
                row.messages += 1
                if result.ok:
                    row.ok += 1
                else:
                    row.failed += 1
                    row.first_error = row.first_error or f"{result.status_code} {result.error!r}"
                if time.monotonic() > deadline:
                    row.note = f"stopped at the {args.row_time_limit:.0f} s row limit"
                    close = getattr(results, "close", None)
                    if close:
                        close()
                    break
        helpers = helper_processes_cpu()
        helper_cpu = sum(cpu - helpers_before.get(pid, 0.0) for pid, cpu in helpers.items())
        if helpers:
            row.client_cpu_s += helper_cpu
            row.note = (row.note + "; " if row.note else "") + (
                f"client CPU includes its encryption helper process ({helper_cpu:.2f} s)"
            )
    except Exception as exc:  # a crash of ours is a result to report, not a reason to stop
        row.available, row.note = False, f"send_many raised {exc!r}"
    finally:
        close_client = getattr(client, "close", None)
        if close_client:
            close_client()
    return row


def run_pywebpush(b: Bench, data: bytes, *, with_session: bool) -> Throughput:
    server, args, vapid, subs = b.server, b.args, b.vapid, b.subs
    # Without a session every message pays a TLS handshake: a short warm-up is enough.
    warm = b.warm if with_session else b.warm[:4]
    label = "with requests.Session" if with_session else "no session"
    row = Throughput(f"pywebpush webpush() per message, {label}", len(data))
    session: Optional[requests.Session] = None
    if with_session:
        session = requests.Session()
        session.verify = server.ca_path
    limit = args.messages_no_session if not with_session else len(subs)
    todo = subs[:limit]
    if limit < len(subs):
        row.note = f"first {limit} of {len(subs)} subscriptions (a TLS handshake per message)"
    deadline = time.monotonic() + args.row_time_limit

    def send(sub: Sub) -> None:
        # What the pywebpush README shows: key string + claims per call, one call per message.
        webpush_kwargs: dict[str, Any] = {
            "vapid_private_key": vapid.private_b64,
            "vapid_claims": {"sub": VAPID_SUB},
            "ttl": args.ttl,
            "timeout": 10,
        }
        if session is not None:
            webpush_kwargs["requests_session"] = session
        try:
            pywebpush.webpush(sub, data, **webpush_kwargs)
            row.ok += 1
        except Exception as exc:  # WebPushException or a transport error
            row.failed += 1
            row.first_error = row.first_error or repr(exc)[:300]

    try:
        for sub in warm:
            send(sub)
        row.ok = row.failed = 0
        row.first_error = ""
        with Measure(server, row):
            for sub in todo:
                send(sub)
                row.messages += 1
                if time.monotonic() > deadline:
                    row.note = f"stopped at the {args.row_time_limit:.0f} s row limit"
                    break
    finally:
        if session is not None:
            session.close()
    return row


def run_node(b: Bench, data: bytes) -> Throughput:
    server, args, vapid, subs, tmp = b.server, b.args, b.vapid, b.subs, b.tmp
    row = Throughput(f"node web-push sendNotification, {args.in_flight} in flight", len(data))
    node = shutil.which("node")
    if not node or not (NODE_DIR / "node_modules" / "web-push").is_dir():
        row.available, row.note = (
            False,
            "skipped: node or tests/node/node_modules/web-push missing (make node)",
        )
        return row
    spec = tmp / f"node_input_{len(data)}.json"
    spec.write_text(
        json.dumps(
            {
                "subscriptions": subs,
                "vapid": {
                    "subject": VAPID_SUB,
                    "publicKey": vapid.public_b64,
                    "privateKey": vapid.private_b64,
                },
                "payload_b64": base64.b64encode(data).decode(),
                "in_flight": args.in_flight,
                "ttl": args.ttl,
                "warmup": args.warmup,
            }
        )
    )
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=server.ca_path)
    srv0 = server.cpu_seconds()
    try:
        proc = subprocess.run(
            [node, str(NODE_SCRIPT), str(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=args.row_time_limit + 60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        row.available, row.note = False, f"node run exceeded {args.row_time_limit + 60:.0f} s"
        return row
    server_cpu = server.cpu_seconds() - srv0
    if proc.returncode != 0:
        row.available, row.note = False, f"node failed: {proc.stderr.strip()[-300:]}"
        return row
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    row.messages, row.seconds = int(out["sent"]), float(out["seconds"])
    row.ok, row.failed = int(out["ok"]), int(out["failed"])
    row.client_cpu_s = float(out["cpu_user_s"]) + float(out["cpu_system_s"])
    # The stand-in's CPU includes node's untimed warm-up; scale it to the timed part.
    total = row.messages + min(args.warmup, row.messages)
    row.server_cpu_s = server_cpu * row.messages / total
    row.first_error = out.get("first_error") or ""
    return row


# --------------------------------------------------------------------------------------
# Per-message CPU (single thread, no network)
# --------------------------------------------------------------------------------------


@dataclass
class CpuCost:
    name: str
    payload: int
    us_per_msg: float = 0.0
    runs_us: list[float] = field(default_factory=list)
    note: str = ""
    available: bool = True


def ours_cpu_row(
    name: str,
    measured_name: str,
    size: int,
    label: str,
    per_call: Optional[Callable[[int], bytes]],
    ua: UserAgent,
    data: bytes,
    iters: int,
    reps: int,
    adapter: str,
) -> CpuCost:
    """A CPU row for one of our functions, once its first body decrypts (http_ece)."""
    if per_call is None:
        return CpuCost(name, size, note=label, available=False)
    try:
        if not decrypts_to(ua, per_call(0), data):
            raise ValueError("its body does not decrypt with http_ece")
        return cpu_cost(measured_name, size, per_call, iters, reps)
    except Exception as exc:
        return CpuCost(
            name,
            size,
            available=False,
            note=f"adapter failed ({label}): {exc!r}; adjust {adapter}",
        )


def cpu_cost(
    name: str, payload: int, fn: Callable[[int], object], iterations: int, repeats: int
) -> CpuCost:
    """Best of ``repeats`` runs of ``iterations`` calls, thread CPU time per call.

    Thread CPU (not wall) so that other processes on the 2 cores do not count;
    best-of because interference only ever adds time.
    """
    for i in range(min(50, iterations)):  # warm caches and lazy imports
        fn(i)
    runs = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.thread_time()
        for i in range(iterations):
            fn(i)
        runs.append((time.thread_time() - t0) / iterations * 1e6)
    return CpuCost(name, payload, us_per_msg=min(runs), runs_us=[round(r, 2) for r in runs])


class _Mocked201:
    status_code = 201
    reason = "Created"
    text = ""
    headers: dict[str, str] = {}  # noqa: RUF012 - a read-only stand-in


class _NoNetworkSession:
    """Stands in for requests.Session: pywebpush's whole one-call path minus the socket."""

    def post(self, url: str, **kwargs: Any) -> _Mocked201:
        return _Mocked201()


def run_cpu(
    uas: list[UserAgent], subs: list[Sub], vapid: VapidKeys, data: bytes, args: Args
) -> list[CpuCost]:
    n_sub = len(subs)
    size = len(data)
    iters, reps = args.cpu_iterations, args.cpu_repeats
    rows: list[CpuCost] = []
    peers = [ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua.p256dh) for ua in uas]
    curve = ec.SECP256R1()
    ecdh = ec.ECDH()

    # The floor (issue 5): one ephemeral key pair, one ECDH, the HKDF steps as 4 HMACs
    # (RFC 8291 §3.4: PRK_key, IKM; RFC 8188 §2.2: PRK, then CEK and NONCE), one AES-GCM seal.
    def floor(i: int) -> bytes:
        eph = ec.generate_private_key(curve)
        secret = eph.exchange(ecdh, peers[i % n_sub])
        prk_key = hmac.digest(b"auth-secret-0123", secret, hashlib.sha256)
        ikm = hmac.digest(prk_key, b"WebPush: info\x00" + b"k" * 130 + b"\x01", hashlib.sha256)
        prk = hmac.digest(b"salt-salt-salt-1", ikm, hashlib.sha256)
        cek = hmac.digest(prk, b"Content-Encoding: aes128gcm\x00\x01", hashlib.sha256)[:16]
        nonce = hmac.digest(prk, b"Content-Encoding: nonce\x00\x01", hashlib.sha256)[:12]
        return AESGCM(cek).encrypt(nonce, data + b"\x02", None)

    base = cpu_cost("bare primitives (the floor)", size, floor, iters, reps)
    base.note = "generate_private_key + exchange + 4x hmac.digest + AESGCM.encrypt"
    rows.append(base)

    # Parts the floor leaves out, for reading the others (informational).
    eph0 = ec.generate_private_key(curve)
    vkey = ec.derive_private_key(int.from_bytes(b64url_decode(vapid.private_b64), "big"), curve)
    from cryptography.hazmat.primitives import hashes

    extras: list[tuple[str, Callable[[int], object]]] = [
        (
            "  part: ephemeral public_bytes (X9.62)",
            lambda i: eph0.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            ),
        ),
        (
            "  part: load ua_public (from_encoded_point)",
            lambda i: ec.EllipticCurvePublicKey.from_encoded_point(curve, uas[i % n_sub].p256dh),
        ),
        (
            "  part: ES256 sign (a VAPID JWT; cached by ours)",
            lambda i: vkey.sign(b"header.claims", ec.ECDSA(hashes.SHA256())),
        ),
    ]
    for name, fn in extras:
        part = cpu_cost(name, size, fn, iters, reps)
        part.note = "informational"
        rows.append(part)

    # Ours, encryption only, then the whole request build.
    enc, label = our_encrypt_fn()
    rows.append(
        ours_cpu_row(
            "webpush_core encryption",
            f"webpush_core encryption ({label})",
            size,
            label,
            None if enc is None else (lambda i, f=enc: f(uas[i % n_sub], data)),
            uas[0],
            data,
            iters,
            reps,
            "our_encrypt_fn",
        )
    )
    build, label = our_build_request_fn(vapid, args.ttl)
    rows.append(
        ours_cpu_row(
            "webpush_core build_request (whole request)",
            "webpush_core build_request (whole request)",
            size,
            label,
            None if build is None else (lambda i, f=build: f(subs[i % n_sub], data)),
            uas[0],
            data,
            iters,
            reps,
            "our_build_request_fn",
        )
    )

    # pywebpush: encode, then the whole one-call path with the network mocked out.
    def pwp_encode(i: int) -> bytes:
        return bytes(pywebpush.WebPusher(subs[i % n_sub]).encode(data)["body"])

    assert decrypts_to(uas[0], pwp_encode(0), data)
    rows.append(cpu_cost("pywebpush WebPusher(sub).encode(data)", size, pwp_encode, iters, reps))

    session = _NoNetworkSession()
    claims = {"sub": VAPID_SUB}

    def pwp_one_call(i: int) -> object:
        return pywebpush.webpush(
            subs[i % n_sub],
            data,
            vapid_private_key=vapid.private_b64,
            vapid_claims=claims,
            ttl=args.ttl,
            requests_session=session,
        )

    one = cpu_cost("pywebpush webpush() one call, network mocked", size, pwp_one_call, iters, reps)
    one.note = "VAPID key parse + JWT sign + encode + headers; session.post mocked"
    rows.append(one)

    # Ours inside send_many (informational; the target rows above are the one-call path).
    fan, label = our_fan_out_fns(vapid, args.ttl, data, subs)
    if fan is not None:
        pwp_encode_row = next(r for r in rows if r.name.startswith("pywebpush WebPusher"))
        for name, fn in (
            ("  ours per message in send_many (dict subscription)", fan[0]),
            ("  ours per message in send_many (Subscription kept)", fan[1]),
        ):
            if not decrypts_to(uas[0], fn(0), data):
                rows.append(CpuCost(name, size, available=False, note=f"{label}: bad body"))
                continue
            row = cpu_cost(name, size, fn, iters, reps)
            row.note = (
                f"informational ({label}): {row.us_per_msg / base.us_per_msg:.2f}x the floor, "
                f"{row.us_per_msg / pwp_encode_row.us_per_msg:.2f}x pywebpush encode, "
                f"{row.us_per_msg / one.us_per_msg:.2f}x its one call"
            )
            rows.append(row)
    return rows


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


@dataclass
class MemoryPoint:
    sent: int
    maxrss_mib: float  # ru_maxrss so far (high-water mark)
    rss_mib: float  # current RSS
    traced_mib: float  # tracemalloc current
    traced_peak_mib: float  # tracemalloc peak within this window


@dataclass
class MemoryResult:
    total: int
    available: bool = True
    note: str = ""
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    points: list[MemoryPoint] = field(default_factory=list)
    rss_start_mib: float = 0.0  # current RSS before the run

    @property
    def traced_peak_mib(self) -> float:
        """tracemalloc's peak over the whole run (the max of the window peaks)."""
        return max((p.traced_peak_mib for p in self.points), default=0.0)

    @property
    def maxrss_end_mib(self) -> float:
        return self.points[-1].maxrss_mib if self.points else 0.0


def current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def lazy_subscriptions(pool: list[Sub], total: int, server: PushServiceStandIn) -> Iterator[Sub]:
    """``total`` distinct endpoints made one at a time (keys reused round-robin):
    what a database cursor feeding send_many looks like. Never a list."""
    for i in range(total):
        keys = pool[i % len(pool)]["keys"]
        yield {"endpoint": server.endpoint(f"mem-{i}"), "keys": keys}


def run_memory(b: Bench, pool: list[Sub], data: bytes, total: int) -> MemoryResult:
    """One send_many over ``total`` lazy subscriptions, sampled every checkpoint."""
    server, args = b.server, b.args
    res = MemoryResult(total=total)
    client, why_not = our_client_or_reason(b)
    if client is None:
        res.available, res.note = False, why_not
        return res
    deadline = time.monotonic() + args.memory_time_limit
    gc.collect()
    res.rss_start_mib = current_rss_mib()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        results = client.send_many(lazy_subscriptions(pool, res.total, server), data)
        for n, result in enumerate(results, 1):
            if result.ok:
                res.ok += 1
            else:
                res.failed += 1
            if n % args.memory_checkpoint == 0 or n == res.total:
                cur, peak = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                res.points.append(
                    MemoryPoint(n, maxrss_mib(), current_rss_mib(), cur / 2**20, peak / 2**20)
                )
                if time.monotonic() > deadline and n < res.total:
                    res.note = f"stopped at {n} after the {args.memory_time_limit:.0f} s limit"
                    close = getattr(results, "close", None)
                    if close:
                        close()
                    break
    except Exception as exc:  # report, do not crash the whole run
        res.note = f"send_many raised {exc!r}"
    finally:
        res.seconds = time.perf_counter() - t0
        tracemalloc.stop()
        close_client = getattr(client, "close", None)
        if close_client:
            close_client()
    return res


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def environment(server: PushServiceStandIn) -> dict[str, str]:
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node_v = "absent"
    webpush_v = "absent"
    if shutil.which("node"):
        node_v = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    with contextlib.suppress(OSError, ValueError):
        webpush_v = json.loads((NODE_DIR / "node_modules/web-push/package.json").read_text())[
            "version"
        ]
    try:
        import webpush_core

        ours = webpush_core.__version__
    except Exception as exc:
        ours = f"unavailable ({exc})"
    return {
        "cpu": f"{cpu} x {os.cpu_count()} (available to us: {len(os.sched_getaffinity(0))})",
        "os": platform.platform(),
        "python": platform.python_version(),
        "cryptography": f"{cryptography.__version__} ({backend.openssl_version_text()})",
        "urllib3": importlib.metadata.version("urllib3"),
        "webpush_core": ours,
        "pywebpush": importlib.metadata.version("pywebpush"),
        "requests": importlib.metadata.version("requests"),
        "node": node_v,
        "web-push (node)": webpush_v,
        "stand-in": f"{server.kind}: {server.version}",
    }


def memory_report(runs: Optional[list[MemoryResult]], args: Args) -> list[str]:
    lines = ["## Memory: send_many over lazily generated subscriptions", ""]
    if runs is None:
        return [*lines, "skipped (--skip memory)", ""]
    if not runs[-1].available:
        return [*lines, f"webpush_core PushClient.send_many: {runs[-1].note}", ""]
    lines += [
        f"Subscriptions come from a generator (distinct endpoints, {args.subscribers} key sets "
        "reused round-robin); tracemalloc is on, so these runs are slower than the ones above. "
        "A run 10x longer must not need more memory: a client that materialized its input "
        "or kept its results would.",
        "",
        md_row(
            "subscriptions",
            "ok/failed",
            "seconds",
            "tracemalloc peak MiB",
            "ru_maxrss after MiB",
            "RSS before MiB",
            "note",
        ),
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            md_row(
                f"{r.total:,}",
                f"{r.ok}/{r.failed}",
                f"{r.seconds:.1f}",
                f"{r.traced_peak_mib:.2f}",
                f"{r.maxrss_end_mib:.1f}",
                f"{r.rss_start_mib:.1f}",
                r.note,
            )
        )
    small, big = runs[0], runs[-1]
    if len(runs) >= 2 and small.points and big.points:
        rss_growth = big.maxrss_end_mib - small.maxrss_end_mib
        traced_ratio = big.traced_peak_mib / small.traced_peak_mib if small.traced_peak_mib else 0
        flat = rss_growth < 5 and big.traced_peak_mib < 1.5 * small.traced_peak_mib + 1
        lines += [
            "",
            f"{small.total:,} vs {big.total:,}: peak RSS +{rss_growth:.1f} MiB, tracemalloc peak "
            f"x{traced_ratio:.2f}: **{'flat' if flat else 'NOT flat'}** (flat = peak RSS grows "
            "< 5 MiB and the tracemalloc peak < 1.5x + 1 MiB).",
        ]
    lines += [
        "",
        f"Samples over the {big.total:,} run:",
        "",
        md_row(
            "sent",
            "ru_maxrss MiB",
            "RSS now MiB",
            "tracemalloc now MiB",
            "tracemalloc peak in window MiB",
        ),
        "|---:|---:|---:|---:|---:|",
    ]
    for p in big.points:
        lines.append(
            md_row(
                f"{p.sent:,}",
                f"{p.maxrss_mib:.1f}",
                f"{p.rss_mib:.1f}",
                f"{p.traced_mib:.2f}",
                f"{p.traced_peak_mib:.2f}",
            )
        )
    return [*lines, ""]


def md_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def fmt_ratio(ours: Optional[float], other: Optional[float]) -> str:
    if ours is None or other is None or other == 0:
        return "n/a"
    return f"{ours / other:.2f}x"


def verdict(ratio: Optional[float], target: float, higher_is_better: bool) -> str:
    if ratio is None:
        return "-"
    good = ratio >= target if higher_is_better else ratio <= target
    return "met" if good else "NOT met"


def report(
    command: str,
    env: dict[str, str],
    *,
    args: Args,
    throughput: list[Throughput],
    cpu: list[CpuCost],
    memory: Optional[list[MemoryResult]],
) -> str:
    lines: list[str] = [
        "# webpush_core fan-out benchmark",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    if "FALLBACK" in env.get("stand-in", ""):
        lines += [
            "**WARNING: the Python fallback stand-in served this run, not nginx; "
            "throughput is not comparable with nginx runs.**",
            "",
        ]
    lines += ["| environment | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in env.items()] + [""]

    # Throughput
    lines += [
        "## Messages per second (local TLS stand-in, HTTP/1.1 keep-alive)",
        "",
        f"{args.subscribers} distinct subscriptions (real P-256 keys), aes128gcm + VAPID, "
        f"TTL {args.ttl}; {args.warmup} untimed warm-up messages per contender. "
        "Client CPU = the contender's process "
        "CPU (all threads) per message; stand-in CPU = nginx's per message.",
        "",
    ]
    for size in sorted({t.payload for t in throughput}):
        rows = [t for t in throughput if t.payload == size]
        ours = next((t for t in rows if t.name.startswith("webpush_core") and t.valid), None)
        ours_rate = ours.rate if ours else None
        lines += [
            f"### payload {size} bytes",
            "",
            md_row(
                "contender",
                "msgs/s",
                "ours / this",
                "target",
                "client CPU µs/msg",
                "stand-in CPU µs/msg",
                "ok/failed",
                "note",
            ),
            "|---|---:|---:|---|---:|---:|---|---|",
        ]
        for t in rows:
            target = ""
            vs = ours_rate / t.rate if ours_rate and t.valid else None
            if "Session" in t.name:
                target = ">= 4x: " + verdict(vs, 4, True)
            elif t.name.startswith("node"):
                target = ">= 2x: " + verdict(vs, 2, True)
            if not t.available:
                lines.append(f"| {t.name} | {t.note} | | {target} | | | | |")
                continue
            note = t.note
            if len(t.round_rates) > 1:
                spread = " / ".join(f"{r:,.0f}" for r in t.round_rates)
                note = (note + "; " if note else "") + f"rounds: {spread}"
            if t.seconds and t.server_cpu_s / t.seconds > 0.8:
                note = (note + "; " if note else "") + "stand-in busy >80%: may be server-bound"
            if t.failed:
                note = (note + "; " if note else "") + "FAILURES: rate not comparable, no ratio"
            if t.first_error:
                note = (note + "; " if note else "") + f"first error: {t.first_error[:120]}"
            ratio = "-" if t is ours else fmt_ratio(ours_rate, t.rate if t.valid else None)
            lines.append(
                f"| {t.name} | {t.rate:,.0f} | {ratio} | {target} | "
                f"{t.client_cpu_s / max(t.messages, 1) * 1e6:,.0f} | "
                f"{t.server_cpu_s / max(t.messages, 1) * 1e6:,.0f} | {t.ok}/{t.failed} | {note} |"
            )
        lines.append("")

    # CPU
    lines += [
        "## Per-message CPU (one thread, no network; thread CPU time, best of "
        f"{args.cpu_repeats} x {args.cpu_iterations} calls over distinct subscriptions)",
        "",
    ]
    targets = {
        "pywebpush WebPusher": ("<= 0.6x", 0.6),
        "pywebpush webpush()": ("<= 0.35x", 0.35),
        "bare primitives": ("<= 1.25x", 1.25),
    }
    for size in sorted({c.payload for c in cpu}):
        rows_c = [c for c in cpu if c.payload == size]
        build = next((c for c in rows_c if "build_request" in c.name and c.available), None)
        enc = next((c for c in rows_c if "encryption" in c.name and c.available), None)
        lines += [
            f"### payload {size} bytes",
            "",
            md_row(
                "what",
                "µs/msg",
                "ours (build_request) / this",
                "ours (encryption) / this",
                "target (whole request)",
                "note",
            ),
            "|---|---:|---:|---:|---|---|",
        ]
        for c in rows_c:
            if not c.available:
                lines.append(f"| {c.name} | {c.note} | | | | |")
                continue
            target = ""
            for key, (text, limit) in targets.items():
                if c.name.startswith(key):
                    r = build.us_per_msg / c.us_per_msg if build else None
                    target = f"{text}: {verdict(r, limit, False)}"
            informational = c.note.startswith("informational") or "webpush_core" in c.name
            r_build = (
                ""
                if informational
                else fmt_ratio(build.us_per_msg if build else None, c.us_per_msg)
            )
            r_enc = (
                "" if informational else fmt_ratio(enc.us_per_msg if enc else None, c.us_per_msg)
            )
            note = "" if c.note == "informational" else c.note.replace("informational ", "")
            lines.append(
                f"| {c.name} | {c.us_per_msg:,.1f} | {r_build} | {r_enc} | {target} | {note} |"
            )
        lines.append("")

    lines += memory_report(memory, args)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


@dataclass
class Args:
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
    quick: bool


def parse_args(argv: Optional[list[str]] = None) -> tuple[Args, str]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)

    def sizes(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x]

    p.add_argument(
        "--quick", action="store_true", help="smoke run (~20 s): small N, one payload size"
    )
    p.add_argument("--messages", type=int, help="messages per contender (default 5000; quick 300)")
    p.add_argument("--subscribers", type=int, help="distinct subscriptions (default = --messages)")
    p.add_argument("--in-flight", type=int, default=32, help="concurrency for ours and node (32)")
    p.add_argument(
        "--rounds", type=int, help="interleaved rounds, median kept (default 3; quick 1)"
    )
    p.add_argument(
        "--payload-sizes",
        type=sizes,
        help="throughput payloads, bytes (default 100,3000; quick 100)",
    )
    p.add_argument("--cpu-payload-sizes", type=sizes, help="CPU payloads, bytes (default 100,3000)")
    p.add_argument(
        "--ttl", type=int, default=0, help="TTL header for every contender (0, pywebpush's default)"
    )
    p.add_argument("--warmup", type=int, help="untimed warm-up messages per contender (default 32)")
    p.add_argument(
        "--messages-no-session",
        type=int,
        help="cap for pywebpush without a session (a TLS handshake each; default 1000)",
    )
    p.add_argument(
        "--cpu-iterations", type=int, help="calls per CPU measurement (default 2000; quick 200)"
    )
    p.add_argument("--cpu-repeats", type=int, help="repeats, best taken (default 5; quick 3)")
    p.add_argument(
        "--memory-subscriptions", type=int, help="send_many length for memory (default 100000)"
    )
    p.add_argument(
        "--memory-checkpoint", type=int, help="sample memory every N results (default 10000)"
    )
    p.add_argument(
        "--memory-time-limit", type=float, default=300.0, help="stop the memory run after s (300)"
    )
    p.add_argument(
        "--row-time-limit", type=float, default=120.0, help="stop any throughput row after s (120)"
    )
    p.add_argument(
        "--server",
        choices=["auto", "nginx", "python"],
        default="auto",
        help="stand-in: nginx (installed if missing), python fallback, or auto",
    )
    p.add_argument(
        "--nginx-workers", default="1", help="worker_processes: 1 (default, see docstring) or auto"
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma list of: ours,pywebpush-nosession,pywebpush-session,node,cpu,memory",
    )
    ns = p.parse_args(argv)
    quick = bool(ns.quick)
    messages = ns.messages or (300 if quick else 5000)
    args = Args(
        messages=messages,
        subscribers=ns.subscribers or messages,
        in_flight=ns.in_flight,
        rounds=ns.rounds or (1 if quick else 3),
        payload_sizes=ns.payload_sizes or ([100] if quick else [100, 3000]),
        cpu_payload_sizes=ns.cpu_payload_sizes or [100, 3000],
        ttl=ns.ttl,
        warmup=ns.warmup if ns.warmup is not None else 32,
        messages_no_session=ns.messages_no_session or min(messages, 100 if quick else 1000),
        cpu_iterations=ns.cpu_iterations or (200 if quick else 2000),
        cpu_repeats=ns.cpu_repeats or (3 if quick else 5),
        memory_subscriptions=ns.memory_subscriptions or (10_000 if quick else 100_000),
        memory_checkpoint=ns.memory_checkpoint or (2_000 if quick else 10_000),
        memory_time_limit=ns.memory_time_limit if not quick else min(ns.memory_time_limit, 15.0),
        row_time_limit=ns.row_time_limit,
        server=ns.server,
        nginx_workers=ns.nginx_workers,
        skip=[s for s in ns.skip.split(",") if s],
        quick=quick,
    )
    # The exact command, with every setting explicit, so a re-run needs no defaults.
    parts = [
        ".venv/bin/python",
        "benchmarks/run.py",
        "--messages",
        str(args.messages),
        "--subscribers",
        str(args.subscribers),
        "--in-flight",
        str(args.in_flight),
        "--rounds",
        str(args.rounds),
        "--payload-sizes",
        ",".join(map(str, args.payload_sizes)),
        "--cpu-payload-sizes",
        ",".join(map(str, args.cpu_payload_sizes)),
        "--ttl",
        str(args.ttl),
        "--warmup",
        str(args.warmup),
        "--messages-no-session",
        str(args.messages_no_session),
        "--cpu-iterations",
        str(args.cpu_iterations),
        "--cpu-repeats",
        str(args.cpu_repeats),
        "--memory-subscriptions",
        str(args.memory_subscriptions),
        "--memory-checkpoint",
        str(args.memory_checkpoint),
        "--memory-time-limit",
        f"{args.memory_time_limit:g}",
        "--row-time-limit",
        f"{args.row_time_limit:g}",
        "--server",
        args.server,
        "--nginx-workers",
        args.nginx_workers,
    ]
    if args.skip:
        parts += ["--skip", ",".join(args.skip)]
    return args, " ".join(shlex.quote(x) for x in parts)


def _terminate(signum: int, frame: Optional[FrameType]) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: Optional[list[str]] = None) -> int:
    args, command = parse_args(argv)
    # So the finally below stops the stand-in (Ctrl-C raises KeyboardInterrupt already).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    started = time.monotonic()
    print(f"$ {command}", flush=True)

    with tempfile.TemporaryDirectory(prefix="webpush-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = PushServiceStandIn(tmp, args.server, args.nginx_workers)
        # requests prefers REQUESTS_CA_BUNDLE over Session.verify: point it at our CA too.
        saved_env = {
            k: os.environ.get(k)
            for k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NO_PROXY", "no_proxy")
        }
        os.environ.update(
            REQUESTS_CA_BUNDLE=server.ca_path,
            CURL_CA_BUNDLE=server.ca_path,
            NO_PROXY="localhost,127.0.0.1",
            no_proxy="localhost,127.0.0.1",
        )
        throughput: list[Throughput] = []
        cpu: list[CpuCost] = []
        memory: Optional[list[MemoryResult]] = None
        try:
            server.start()
            print(
                f"stand-in: {server.kind} on https://localhost:{server.port}/push/...", flush=True
            )
            print(
                f"generating {args.subscribers} subscriptions (P-256 key pairs + auth secrets) ...",
                flush=True,
            )
            uas = [new_user_agent() for _ in range(args.subscribers)]
            vapid = new_vapid_keys()
            subs = [
                uas[i % len(uas)].subscription(server.endpoint(f"sub-{i}"))
                for i in range(args.messages)
            ]
            bench = Bench(server, args, vapid, subs, subs[: args.warmup], tmp)

            for size in args.payload_sizes:
                data = payload_of(size)
                contenders: list[tuple[str, Callable[[Bench, bytes], Throughput]]] = [
                    ("ours", run_ours),
                    ("pywebpush-nosession", partial(run_pywebpush, with_session=False)),
                    ("pywebpush-session", partial(run_pywebpush, with_session=True)),
                    ("node", run_node),
                ]
                # Rounds interleave the contenders so slow drift on the machine hits all alike.
                rounds: dict[str, list[Throughput]] = {}
                for r in range(args.rounds):
                    for key, run in contenders:
                        if key in args.skip:
                            continue
                        print(
                            f"[throughput {size} B, round {r + 1}] {key} ...", end=" ", flush=True
                        )
                        row = run(bench, data)
                        rounds.setdefault(key, []).append(row)
                        print(f"{row.rate:,.0f} msgs/s" if row.available else row.note, flush=True)
                throughput += [median_round(rows) for rows in rounds.values()]

            if "cpu" not in args.skip:
                for size in args.cpu_payload_sizes:
                    print(f"[cpu {size} B] measuring ...", flush=True)
                    cpu += run_cpu(uas, subs, vapid, payload_of(size), args)

            if "memory" not in args.skip:
                pool = subs[: args.subscribers]
                memory = []
                big = args.memory_subscriptions
                for total in (max(big // 10, 1), big):
                    print(f"[memory] send_many over {total:,} lazy subscriptions ...", flush=True)
                    mem_run = run_memory(bench, pool, payload_of(args.payload_sizes[0]), total)
                    memory.append(mem_run)
                    print(f"  {mem_run.note or 'done'}", flush=True)
                    if not mem_run.available:
                        break
            env = environment(server)
        finally:
            server.stop()
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    text = report(command, env, args=args, throughput=throughput, cpu=cpu, memory=memory)
    text += f"\nTotal run time {time.monotonic() - started:.0f} s.\n"
    print()
    print(text)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.md").write_text(text)
    raw = {
        "command": command,
        "environment": env,
        "throughput": [dict(asdict(t), msgs_per_sec=t.rate) for t in throughput],
        "cpu": [asdict(c) for c in cpu],
        "memory": [asdict(m) for m in memory] if memory else None,
    }
    (OUT_DIR / "results.json").write_text(json.dumps(raw, indent=2))
    print(f"written: {OUT_DIR / 'results.md'} and results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
