"""webpush_core.celery against a real redis-server and real Celery worker processes.

Never eager mode, never a fake Redis: the harness starts ``redis-server`` on a
free loopback port (no persistence, a temp dir) and ``celery worker
--pool=prefork`` processes running tests/celery_worker_app.py. Deliveries go to
LocalPushService stand-ins (one over TLS) in this process; results are checked
against what they recorded. Where redis-server is missing these tests skip
(``make test`` installs it as root); with CI=true they fail instead.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Optional

import pytest
import trustme

from webpush_core import Subscription, Vapid
from webpush_core.testing import LocalPushService

TESTS = pathlib.Path(__file__).parent
IN_CI = os.environ.get("CI") == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}: the Celery tests must run in CI")
    pytest.skip(reason)


def test_import_webpush_core_loads_neither_celery_nor_redis() -> None:
    script = textwrap.dedent(
        """
        import sys, webpush_core
        for name in ("PushClient", "webpush", "Subscription", "build_request"):
            getattr(webpush_core, name)
        print(sorted({m.split(".")[0] for m in sys.modules}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.replace("'", '"')))
    assert "webpush_core" in loaded
    assert not {"celery", "kombu", "billiard", "redis"} & loaded


# --------------------------------------------------------------------------
# Checks made before anything is enqueued (no broker needed)


def _celery() -> ModuleType:
    try:
        return importlib.import_module("webpush_core.celery")
    except ImportError as e:
        _unavailable(f"the celery extra is not installed ({e}); pip install -e '.[celery]'")
        raise


def test_bad_arguments_are_refused_before_anything_is_enqueued() -> None:
    from celery import Celery

    from webpush_core import InvalidInput, InvalidRequest, PayloadTooLarge

    wpc = _celery()
    app = Celery("checks", broker="redis://127.0.0.1:1/0")  # never reached
    with pytest.raises(InvalidInput, match="concurency") as info:
        wpc.WebPushTasks(app, concurency=4)
    assert info.value.field == "concurency"
    with pytest.raises(InvalidInput, match="together"):
        wpc.WebPushTasks(app, vapid_private_key="k.pem")
    with pytest.raises(InvalidInput, match="batch_size"):
        wpc.WebPushTasks(app, batch_size=0)
    push = wpc.WebPushTasks(app, name="checks")
    sub = {"endpoint": "https://push.example/x", "keys": {"p256dh": "x", "auth": "y"}}
    with pytest.raises(InvalidRequest, match="ttl"):
        push.fan_out([sub], "x", ttl=-1)
    with pytest.raises(InvalidRequest, match="urgency"):
        push.fan_out([sub], "x", urgency="asap")
    with pytest.raises(PayloadTooLarge):
        push.fan_out([sub], b"x" * 5000)
    with pytest.raises(InvalidInput, match="batch_size"):
        push.fan_out([sub], "x", batch_size=0)
    rabbit = wpc.WebPushTasks(Celery("rabbit", broker="amqp://127.0.0.1:1//"), name="rabbit")
    with pytest.raises(InvalidInput, match="redis_url"):
        rabbit.fan_out([sub], "x")


def test_outcome_is_the_results_own_reason_and_action() -> None:
    from webpush_core import ExpiredSubscription, SendResult, ServerError

    outcome = _celery().outcome
    assert outcome(SendResult(None, ok=True, status_code=201)) == (None, None)
    gone = SendResult(None, ok=False, status_code=410, expired=True, error=ExpiredSubscription(""))
    assert outcome(gone) == (gone.reason, gone.action) == ("unsubscribed", "delete")
    # An action of None (the TTL ran out) is kept: nothing to do, not a retry.
    late = SendResult(None, ok=False, error=ServerError(""), reason="ttl-expired", action=None)
    assert outcome(late) == ("ttl-expired", None)


def test_outcome_of_a_result_without_reason_and_action() -> None:
    """A SendResult of an older webpush_core: derived from the error's class."""
    from webpush_core import (
        EndpointNotAllowed,
        ExpiredSubscription,
        PushRejected,
        PushTimeout,
        RateLimited,
        ServerError,
        Unauthorized,
        WebPushException,
    )

    outcome = _celery().outcome

    class Old:
        ok = False

        def __init__(self, error: WebPushException, expired: bool = False) -> None:
            self.error = error
            self.expired = expired

    class Bare(WebPushException):  # an error without reason/action attributes
        reason = None
        action = None

    cases = [
        (Old(Bare(""), expired=True), ("unsubscribed", "delete")),
        (Old(ExpiredSubscription("")), ("unsubscribed", "delete")),
        (Old(RateLimited("")), ("rate-limited", "retry")),
        (Old(ServerError("")), ("service-error", "retry")),
        (Old(PushTimeout("")), ("timeout", "retry")),
        (Old(Unauthorized("")), ("unauthorized", "fix-credentials")),
        (Old(PushRejected("")), ("rejected", "fix-request")),
        (Old(EndpointNotAllowed("")), ("invalid-input", "fix-request")),
        (Old(Bare("")), ("unknown", "fix-request")),
    ]
    for result, expected in cases:
        assert outcome(result) == expected, result.error


_ENDPOINT = "https://fcm.googleapis.com/fcm/send/cKx9-SECRETPATH:APA91b"
_P256DH = "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
_AUTH = "tBHItJI5svbpez7KI4CCXg"
_ITEMS = [[7, _ENDPOINT, _P256DH, _AUTH]]
_PEM_TEXT = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"

# (text, what clean_detail makes of it with _ITEMS)
CLEAN_CASES = [
    ("endpoint refused: host '127.0.0.1' is an IP address literal",
     "endpoint refused: host '127.0.0.1' is an IP address literal"),
    (f"failed for {_ENDPOINT} today", "failed for https://fcm.googleapis.com/... today"),
    (f"auth={_AUTH} p256dh={_P256DH}", "auth=[key] p256dh=[key]"),
    (f"bad key {_PEM_TEXT} here", "bad key [key] here"),
    (f"cut {_PEM_TEXT[:40]}", "cut [key]"),
    ("raw yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw.", "raw [key]."),
    ("A1b" * 13, "A1b" * 13),  # 39: shorter than any key
    ("A1b" * 13 + "c", "[key]"),  # 40
    ("No such file: '/srv/deploy/secrets/vapid_private_key_production.pem'",
     "No such file: '/srv/deploy/secrets/vapid_private_key_production.pem'"),
    # Controls break words (a space), format characters such as U+202E vanish.
    ("a\x1b[31mb\r\nc\u202ed\x00e", "a [31mb cd e"),
    ("token eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln end", "token [token] end"),
    ("x" * 300, "x" * 300),  # MAX_DETAIL
    ("x" * 301, "x" * 297 + "..."),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CLEAN_CASES)
def test_clean_detail(text: str, expected: str) -> None:
    from webpush_core.celery._report import clean_detail

    assert clean_detail(text, _ITEMS) == expected


def test_describe_a_failed_result() -> None:
    from webpush_core import EndpointNotAllowed, RateLimited, SendResult
    from webpush_core.celery._report import describe

    refused = SendResult(None, ok=False, error=EndpointNotAllowed("endpoint refused: http"))
    assert describe(refused) == "endpoint refused: http"
    # The reason the client decided (the TTL ran out): the last attempt's error follows.
    late = SendResult(
        None, ok=False, error=RateLimited("Push failed: 429"), reason="ttl-expired", action=None
    )
    assert describe(late) == "last attempt: Push failed: 429"
    assert describe(SendResult(None, ok=False, detail="its words", reason="unknown")) == (
        "its words"
    )


def test_a_worker_that_cannot_load_its_key_says_so_once(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """At start (celeryd_after_setup, in the worker's main process) and then per
    batch: one log record for as long as the reason stays the same."""
    from celery import Celery

    from webpush_core import VapidError

    wpc = _celery()
    app = Celery("nokey", broker="redis://127.0.0.1:1/0")  # never reached
    missing = tmp_path / "vapid.pem"
    push = wpc.WebPushTasks(
        app,
        vapid_private_key=missing.read_text,
        vapid_claims={"sub": "mailto:ops@example.com"},
        name="nokey",
    )
    caplog.set_level("INFO", logger="webpush_core.celery")

    class OtherWorker:  # a worker of another app: not ours to check
        app = Celery("other", broker="redis://127.0.0.1:1/0")

    push._check_at_start(instance=OtherWorker())
    assert caplog.records == []

    class Worker:
        pass

    Worker.app = app  # type: ignore[attr-defined]
    push._check_at_start(instance=Worker())
    reasons = []
    for _ in range(3):  # three batches
        with pytest.raises(VapidError) as info:
            push._client()
        reasons.append(push._cannot_send(info.value))
    [record] = caplog.records
    assert record.levelname == "ERROR" and record.name == "webpush_core.celery"
    message = record.getMessage()
    assert "cannot send: vapid_private_key: calling it in this worker process raised " in message
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'" in message
    assert message.endswith("every batch it takes fails with reason invalid-vapid")
    assert {reason for reason, _ in reasons} == {"invalid-vapid"}
    assert message.startswith(reasons[0][1])  # the report's detail is the log's words
    # Another reason is said again; a key that is no key is not echoed.
    missing.write_text("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBROKEN")
    with pytest.raises(VapidError) as info:
        push._client()
    reason, text = push._cannot_send(info.value)
    assert len(caplog.records) == 2 and reason == "invalid-vapid"
    assert "BROKEN" not in caplog.text and "MIGHAgEA" not in caplog.text and "BROKEN" not in text
    # Once the key loads, the client is made and the next failure would be said again.
    Vapid().save_key(missing)
    assert push._client() is push._client()
    assert push._said is None
    push._shutdown()


# --------------------------------------------------------------------------
# Real services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed (make test installs it when run as root)")
    try:
        import celery  # noqa: F401
        import redis
    except ImportError as e:
        _unavailable(f"the celery extra is not installed ({e}); pip install -e '.[celery]'")
    workdir = tmp_path_factory.mktemp("redis")
    port = _free_port()
    server = subprocess.Popen(
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
            str(workdir),
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        server.kill()
        server.wait(10)


class ScriptedClient:
    """Stands for a worker's PushClient: each subscription gets the answer scripted
    for its endpoint, as the result the client would report."""

    def __init__(self, answers: dict[str, tuple[int, dict[str, str]]]) -> None:
        self.answers = answers

    def send_many(self, subscriptions: Any, data: bytes, **options: Any) -> Iterator[Any]:
        from webpush_core import PushResponse, SendResult
        from webpush_core._classify import error_for_response

        for sub in subscriptions:
            status, headers = self.answers[sub["endpoint"]]
            response = PushResponse(status, "", headers, b"", sub["endpoint"])
            error = error_for_response(response, sub["endpoint"])
            yield SendResult(
                sub,
                ok=error is None,
                status_code=status,
                retry_after=response.retry_after,
                attempts=1,
                error=error,
                response=response,
            )


def test_batches_are_retried_as_the_retry_policy_decides(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fleet's retries follow the client's RetryPolicy: backoff from
    retry_backoff (half of it drawn), Retry-After as a floor capped at
    retry_backoff_max, retries bounded, the TTL's end, the throttle's pause."""
    import redis
    from celery import Celery

    from webpush_core._delivery import retry

    wpc = _celery()
    app = Celery("policy", broker="redis://127.0.0.1:1/0")  # never reached: enqueues captured
    push = wpc.WebPushTasks(
        app, redis_url=redis_url, name="policy", retries=2, retry_backoff=2, retry_backoff_max=10
    )
    assert push._retry == retry.RetryPolicy(
        max_retries=2, backoff_base=2.0, backoff_cap=10.0, retry_after_cap=10.0, jitter=0.5
    )
    r = redis.Redis.from_url(redis_url)
    enqueued: list[tuple[dict[str, Any], float]] = []

    def enqueue(fan_out_id: str, batch: dict[str, Any], countdown: float = 0.0) -> None:
        enqueued.append((batch, countdown))

    monkeypatch.setattr(push, "_enqueue", enqueue)
    draws = iter([0.0, 0.999, 0.0, 0.0])
    monkeypatch.setattr(retry.random, "random", lambda: next(draws))

    def run(answers: dict[str, tuple[int, dict[str, str]]], attempt: int, **extra: Any) -> str:
        """Run a batch of one endpoint per answer ("/500": at this run's own origin,
        as fan_out() groups them), in a report of that many; returns its fan-out id."""
        origin = f"https://policy-{len(enqueued)}-{attempt}.example"
        scripted = {origin + path: answer for path, answer in answers.items()}
        monkeypatch.setattr(push, "_client", lambda: ScriptedClient(scripted))
        items = [[i, endpoint, "p", "a"] for i, endpoint in enumerate(scripted)]
        batch = {"o": origin, "a": attempt, "s": items, "d": "", "ttl": None, **extra}
        batch.update(urgency=None, topic=None)
        fan_out_id = uuid.uuid4().hex
        r.hset(wpc.Keys(fan_out_id).counts, "total", len(items))  # as fan_out() announces
        push._run_batch(fan_out_id, batch)
        return fan_out_id

    def entries(fan_out_id: str) -> dict[bytes, bytes]:
        return r.hgetall(wpc.Keys(fan_out_id).counts)  # type: ignore[no-any-return]

    # First retry: the backoff is 2 s, its later half drawn (draw 0: 1 s; 0.999: ~2 s).
    run({"/500": (500, {}), "/410": (410, {})}, attempt=0)
    batch, countdown = enqueued[-1]
    assert countdown == 1.0 and batch["a"] == 1
    assert [i[1] for i in batch["s"]] == [f"{batch['o']}/500"]
    run({"/500": (500, {})}, attempt=1)
    assert enqueued[-1][1] == pytest.approx(4.0 * (0.5 + 0.5 * 0.999))  # doubled
    # Retry-After is a floor, capped at retry_backoff_max (10 s), and a 503 with one
    # pauses the origin for every worker.
    run({"/503": (503, {"Retry-After": "3600"})}, attempt=0)
    batch, countdown = enqueued[-1]
    assert countdown == 10.0
    assert 9000 < r.pttl(f"{wpc.PREFIX}:throttle:{batch['o']}") <= 10000
    # Retries bounded: after retries=2 the failure is final, with its own reason.
    before = len(enqueued)
    final = run({"/500": (500, {})}, attempt=2)
    assert len(enqueued) == before
    assert entries(final)[b"r:service-error"] == b"1"
    # A retry that would start after the TTL's end is not made.
    late = run({"/429": (429, {"Retry-After": "5"})}, attempt=0, x=time.time() + 4)
    assert len(enqueued) == before
    assert entries(late)[b"r:ttl-expired"] == b"1"


class Worker:
    """One ``celery worker --pool=prefork`` (a main process and its pool children)."""

    def __init__(
        self,
        env: dict[str, str],
        name: str,
        queue: str,
        log: pathlib.Path,
        app: str = "celery_worker_app",
        extra: tuple[str, ...] = (),
    ) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "--pool=prefork",
                "-c",
                "2",
                "-Q",
                queue,
                "-n",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                *extra,
            ],
            cwd=env.get("PYTHONPATH", str(TESTS)).split(os.pathsep)[0],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"celery worker did not start:\n{self.tail()}")
            time.sleep(0.1)

    def children(self) -> list[int]:
        pid = self.process.pid
        text = pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: the pool closes its clients
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture(scope="module")
def env(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The workers' environment; this process gets it too, to import the same app."""
    folder = tmp_path_factory.mktemp("celery")
    ca = trustme.CA()
    ca_path = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    vapid = Vapid()
    key_file = folder / "vapid.pem"
    key_file.write_bytes(vapid.private_pem())
    values = {
        "WEBPUSH_TEST_REDIS": redis_url,
        "WEBPUSH_TEST_VAPID_KEY_FILE": str(key_file),
        "WEBPUSH_TEST_CA": str(ca_path),
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), full.get("PYTHONPATH")]))
    _STATE["ca"] = ca
    _STATE["vapid"] = vapid
    _STATE["folder"] = folder
    yield full
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


_STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def app_module(env: dict[str, str]) -> ModuleType:
    sys.path.insert(0, str(TESTS))
    return importlib.import_module("celery_worker_app")


@pytest.fixture(scope="module")
def worker(env: dict[str, str], app_module: ModuleType) -> Iterator[Worker]:
    w = Worker(env, "main", "webpush-tests", _STATE["folder"] / "worker-main.log")
    try:
        yield w
    finally:
        w.stop()


class StandIn(LocalPushService):
    """The local push service, plus: TLS, a delay per push, scripted answers, held requests.

    ``script[sub_id]`` lists (status, headers) to answer first, before the real
    handling; ``hold[sub_id]`` blocks that subscription's first push until set.
    ``log`` has (monotonic time, sub_id, status) per push, in the order answered.
    """

    def __init__(self, tls: Optional[trustme.CA] = None, delay: float = 0.0) -> None:
        super().__init__()
        self.tls = tls
        self.delay = delay
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.hold: dict[str, threading.Event] = {}
        self.arrived: dict[str, threading.Event] = {}
        self.log: list[tuple[float, str, int]] = []
        self.guard = threading.Lock()

    def start(self) -> StandIn:
        super().start()
        if self.tls is not None and self._httpd is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.issue_cert("127.0.0.1").configure_cert(context)
            # Same descriptor, now TLS; the handshake runs in each connection's thread.
            self._httpd.socket = context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            self._url = "https://" + self._url[len("http://") :]
        return self

    def sub(self, vapid: Vapid) -> dict[str, Any]:
        return self.subscribe(application_server_key=vapid.application_server_key)

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        sub_id = path.rsplit("/", 1)[-1]
        with self.guard:
            scripted = self.script.get(sub_id)
            answer = scripted.pop(0) if scripted else None
            held = self.hold.pop(sub_id, None)
        if held is not None:
            self.arrived[sub_id].set()
            held.wait(30)
        if self.delay:
            time.sleep(self.delay)
        if answer is not None:
            status, extra = answer
            result = (status, extra, b'{"code": %d}' % status)
        else:
            result = super()._handle(method, path, headers, body)
        with self.guard:
            self.log.append((time.monotonic(), sub_id, result[0]))
        return result


def sub_id(sub: dict[str, Any]) -> str:
    return str(sub["endpoint"]).rsplit("/", 1)[-1]


@pytest.fixture
def stand_ins(env: dict[str, str]) -> Iterator[tuple[StandIn, StandIn]]:
    plain, tls = StandIn().start(), StandIn(tls=_STATE["ca"]).start()
    try:
        yield plain, tls
    finally:
        plain.stop()
        tls.stop()


# --------------------------------------------------------------------------
# Fan-out end to end


def test_fan_out_delivers_once_and_reports_one_entry_each(
    worker: Worker, app_module: ModuleType, stand_ins: tuple[StandIn, StandIn]
) -> None:
    plain, tls = stand_ins
    vapid = _STATE["vapid"]
    push = app_module.push
    import redis

    r = redis.Redis.from_url(os.environ["WEBPUSH_TEST_REDIS"])
    r.delete(app_module.EXPIRED_KEY)
    subs = [plain.sub(vapid) for _ in range(25)] + [tls.sub(vapid) for _ in range(25)]
    gone = [subs[3], subs[10], subs[30]]
    for sub in gone:
        (plain if sub in subs[:25] else tls).expire(sub)
    bad_shape = {"endpoint": plain.url + "/push/nokeys"}  # refused by the dispatcher
    bad_key = {"endpoint": subs[0]["endpoint"], "keys": {"p256dh": "AAAA", "auth": "AAAA"}}
    as_object = Subscription.from_info(subs[49])
    inputs: list[Any] = [*subs[:49], as_object, bad_shape, bad_key]
    found: list[list[str]] = []

    handle = push.fan_out(
        iter(inputs), "hello from a worker", ttl=60, batch_size=7, on_expired=found.append
    )
    report = handle.wait(timeout=60)

    assert report.complete and report.dispatched
    assert report.total == 52
    assert (report.ok, report.failed) == (47, 5)
    assert report.failures == {"unsubscribed": 3, "invalid-input": 2}
    # One sample detail per reason: the push service's words, or why it was refused
    # (by the dispatcher: no keys; or by the worker: a p256dh that is no P-256 point).
    assert set(report.details) == set(report.failures)
    assert report.details["unsubscribed"].startswith("Push failed: 410 Gone")
    assert report.details["invalid-input"] in (
        "subscription #50: keys is not a mapping",
        "keys.p256dh must decode to a 65-byte uncompressed P-256 point, got 3 bytes",
    ), report.details["invalid-input"]
    for detail in report.details.values():  # no endpoint path, no key
        for sub in subs:
            assert sub_id(sub) not in detail and sub["keys"]["auth"] not in detail
    assert sorted(report.to_delete) == sorted(s["endpoint"] for s in gone)
    # Dispatcher-side callback: every endpoint once, in batches.
    assert sorted(e for batch in found for e in batch) == sorted(report.to_delete)
    # Worker-side callback: at least once each.
    worker_found = {e.decode() for e in r.lrange(app_module.EXPIRED_KEY, 0, -1)}
    assert worker_found == set(report.to_delete)
    # What the push services recorded: one decrypted message per live subscription,
    # VAPID-signed by the key only the workers read (the services check it).
    for sub in subs:
        service = plain if sub in subs[:25] else tls
        messages = service.messages(sub)
        if sub in gone:
            assert messages == []
        else:
            assert [m.plaintext for m in messages] == [b"hello from a worker"]
            assert 55 <= messages[0].ttl <= 60  # counted from the fan-out
    # Requests made: the 50 well-formed ones (the two refused before any request).
    assert report.sent == 50
    assert report == handle.progress()  # nothing changes once complete


def test_task_messages_carry_no_key_and_the_payload_once_per_batch(
    env: dict[str, str], app_module: ModuleType
) -> None:
    """Published to a queue no worker reads, then read back raw from Redis."""
    import redis

    r = redis.Redis.from_url(os.environ["WEBPUSH_TEST_REDIS"])
    queue = "webpush-nobody"
    r.delete(queue)
    vapid: Vapid = _STATE["vapid"]
    origins = ["https://push-a.example", "https://push-b.example:8443", "http://127.0.0.1:9"]
    keys = {"p256dh": "BPk" + "A" * 84, "auth": "c2VjcmV0LXNlY3JldC0xMg"}
    subs = [{"endpoint": f"{origins[i % 3]}/push/{i}", "keys": keys} for i in range(50)]
    data = "payload-marker-%s" % ("x" * 40)

    handle = app_module.push.fan_out(iter(subs), data, batch_size=8, queue=queue)

    raw = r.lrange(queue, 0, -1)
    assert raw, "nothing was published"
    secrets_ = [
        vapid.private_pem().decode(),
        "".join(vapid.private_pem().decode().splitlines()[1:-1]),  # the PEM's base64
    ]
    private_numbers = vapid.private_key.private_numbers().private_value.to_bytes(32, "big")
    der = base64.b64decode(secrets_[1])
    secrets_ += [
        base64.urlsafe_b64encode(private_numbers).decode().rstrip("="),
        base64.b64encode(private_numbers).decode().rstrip("="),
        private_numbers.hex(),
        base64.urlsafe_b64encode(der).decode().rstrip("="),
    ]
    seen: list[int] = []
    marker = base64.b64encode(data.encode()).decode()
    for envelope_bytes in raw:
        envelope = json.loads(envelope_bytes)
        body = base64.b64decode(envelope["body"]).decode()
        for text in (envelope_bytes.decode(), body, json.dumps(envelope["headers"])):
            for secret in secrets_:
                assert secret not in text
        args, kwargs, _ = json.loads(body)
        fan_out_id, batch = args
        assert fan_out_id == handle.id and kwargs == {}
        assert body.count(marker) == 1  # the message once per batch
        # One origin per batch, at most batch_size subscriptions.
        batch_origins = {origins[i % 3] for i, *_ in batch["s"]}
        assert batch_origins == {batch["o"]} and 1 <= len(batch["s"]) <= 8
        seen += [i for i, *_ in batch["s"]]
        # Logs and monitors see a summary, not the subscriptions' auth secrets.
        assert keys["auth"] not in envelope["headers"]["argsrepr"]
    assert sorted(seen) == list(range(50))
    assert handle.progress().total == 50 and not handle.progress().complete
    r.delete(queue)
    # Nothing to send: complete at once, with no message published.
    empty = app_module.push.fan_out(iter(()), data, queue=queue)
    assert empty.wait(timeout=5).total == 0 and r.llen(queue) == 0


def test_each_worker_process_has_its_own_client_after_fork(app_module: ModuleType) -> None:
    push = app_module.push
    parent = push._client()
    assert push._client() is parent  # one per process, kept
    pid = os.fork()
    if pid == 0:  # the child: a new client, not the parent's
        os._exit(0 if push._client() is not parent and push._client() is push._client() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert push._client() is parent


def test_retries_bounded_and_a_429_pauses_the_origin_for_every_worker(
    worker: Worker, app_module: ModuleType
) -> None:
    vapid = _STATE["vapid"]
    # 100 ms per push, 3 per batch: ~1 s of work for 2 worker processes, so without
    # a shared pause the other batches would go on hitting the origin during it.
    busy = StandIn(delay=0.1).start()
    try:
        subs = [busy.sub(vapid) for _ in range(60)]
        first, down = sub_id(subs[0]), sub_id(subs[1])
        busy.script[first] = [(429, {"Retry-After": "3"})]
        busy.script[down] = [(503, {})] * 10  # never recovers within the retries
        retries = app_module.push.retries

        report = app_module.push.fan_out(subs, b"x", batch_size=3).wait(timeout=60)

        assert (report.total, report.ok, report.failed) == (60, 59, 1)
        assert report.failures == {"service-unavailable": 1}  # the 503
        log = sorted(busy.log)
        assert [s for _, s, _ in log].count(down) == retries + 1  # bounded, then final
        assert len(busy.messages(subs[0])) == 1  # sent again after the pause
        paused_at = next(t for t, s, status in log if s == first and status == 429)
        # Requests already under way may still land; none starts during the pause.
        during = [s for t, s, _ in log if paused_at + 0.6 < t < paused_at + 2.7]
        assert during == []
        after = [s for t, s, _ in log if t >= paused_at + 2.7]
        assert first in after and len(after) > 10  # the paused batches, sent afterwards
        assert report.sent == len(log)
    finally:
        busy.stop()


def test_sigkill_of_the_pool_mid_fan_out_redelivers_and_reports_once(
    env: dict[str, str], app_module: ModuleType
) -> None:
    """At-least-once delivery, exactly one final entry each, across a SIGKILL."""
    vapid = _STATE["vapid"]
    slow = StandIn(delay=0.05).start()
    queue = "webpush-kill"
    env = dict(env, WEBPUSH_TEST_CONCURRENCY="4")
    w = Worker(env, "doomed", queue, _STATE["folder"] / "worker-doomed.log")
    try:
        subs = [slow.sub(vapid) for _ in range(60)]
        victim = sub_id(subs[13])  # in the second batch of 10
        slow.hold[victim] = release = threading.Event()
        slow.arrived[victim] = arrived = threading.Event()

        handle = app_module.push.fan_out(subs, "survives", batch_size=10, queue=queue)
        assert arrived.wait(30), w.tail()
        before = w.children()
        for pid in before:  # both pool processes, one of them in the victim's batch
            os.kill(pid, signal.SIGKILL)
        release.set()  # its push lands now, for a client that is gone
        report = handle.wait(timeout=60)

        assert (report.total, report.ok, report.failed) == (60, 60, 0), w.tail()
        counts = [len(slow.messages(s)) for s in subs]
        assert min(counts) >= 1  # every subscription got it
        assert counts[13] >= 2  # the killed batch was sent again
        assert sum(counts) > 60
        assert all(m.plaintext == b"survives" for s in subs for m in slow.messages(s))
        assert not set(before) & set(w.children())  # new pool processes did the rest
    finally:
        w.stop()
        slow.stop()


def test_sigkill_of_a_whole_worker_mid_fan_out_another_takes_over(
    env: dict[str, str], app_module: ModuleType
) -> None:
    """A machine lost: its unacknowledged batches go to another worker (visibility_timeout)."""
    vapid = _STATE["vapid"]
    slow = StandIn(delay=0.05).start()
    queue = "webpush-lost"
    env = dict(env, WEBPUSH_TEST_CONCURRENCY="4", WEBPUSH_TEST_VISIBILITY="3")
    folder = _STATE["folder"]
    lost = Worker(env, "lost", queue, folder / "worker-lost.log")
    heir: Optional[Worker] = None
    try:
        subs = [slow.sub(vapid) for _ in range(40)]
        victim = sub_id(subs[13])
        slow.hold[victim] = release = threading.Event()
        slow.arrived[victim] = arrived = threading.Event()

        handle = app_module.push.fan_out(subs, "moved on", batch_size=10, queue=queue)
        assert arrived.wait(30), lost.tail()
        os.killpg(lost.process.pid, signal.SIGKILL)  # the main process and its pool at once
        lost.process.wait(10)
        release.set()
        heir = Worker(env, "heir", queue, folder / "worker-heir.log")
        report = handle.wait(timeout=60)

        assert (report.total, report.ok, report.failed) == (40, 40, 0), heir.tail()
        counts = [len(slow.messages(s)) for s in subs]
        assert min(counts) >= 1
        assert counts[13] >= 2  # its batch was sent again, by the other worker
    finally:
        lost.stop()
        if heir is not None:
            heir.stop()
        slow.stop()


def test_a_batch_delivered_twice_is_sent_twice_and_reported_once(
    worker: Worker, app_module: ModuleType, stand_ins: tuple[StandIn, StandIn]
) -> None:
    """What a broker's redelivery after a lost acknowledgement does: the same batch twice."""
    import redis

    plain, _ = stand_ins
    r = redis.Redis.from_url(os.environ["WEBPUSH_TEST_REDIS"])
    parked = "webpush-parked"
    r.delete(parked)
    subs = [plain.sub(_STATE["vapid"]) for _ in range(12)]
    push = app_module.push
    handle = push.fan_out(subs, "twice", batch_size=5, queue=parked)
    batches = [
        json.loads(base64.b64decode(json.loads(e)["body"]))[0] for e in r.lrange(parked, 0, -1)
    ]
    r.delete(parked)
    assert len(batches) == 3
    for args in batches + batches:
        push.send_batch.apply_async(args=args, queue="webpush-tests")

    report = handle.wait(timeout=60)
    assert (report.total, report.ok, report.failed) == (12, 12, 0)
    # The report is complete once the first copy of each batch is in; the
    # second copies may still be on their way. Wait (bounded) until every
    # duplicate has been sent and counted, then check nothing was reported twice.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = handle.progress()
        if report.sent >= 24 and all(len(plain.messages(s)) >= 2 for s in subs):
            break
        time.sleep(0.05)

    assert [len(plain.messages(s)) for s in subs] == [2] * 12  # at least once: here twice
    assert report.sent == 24
    assert (report.total, report.ok, report.failed) == (12, 12, 0)  # reported once


README = TESTS.parent / "README.md"


def _readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n### {title}\n")
    return text[start : text.index("\n### ", start + 1)]


def _fenced(section: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", section, re.M | re.S)


class Shell:
    """A README command block run by bash in ``folder``, Redis on ``port`` instead of 6379."""

    def __init__(self, folder: pathlib.Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("BROKER_URL", "VAPID_KEY_FILE", "WEBPUSH_LOCAL_TEST")
            and not k.startswith("WEBPUSH_TEST_")
        }
        # webpush-core, celery and python: this project's environment, as after pip install.
        self.env["PATH"] = os.pathsep.join(
            [str(pathlib.Path(sys.executable).parent), os.environ["PATH"]]
        )
        self.env.pop("PYTHONPATH", None)

    def script(self, block: str) -> str:
        return "set -e\n" + block.replace("6379", str(self.port))

    def run(self, block: str) -> str:
        done = subprocess.run(
            ["bash", "-c", self.script(block)],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, block: str, log: pathlib.Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["bash", "-c", self.script(block)],
            cwd=self.folder,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop(process)
                raise RuntimeError(f"the README's worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
        return process

    @staticmethod
    def stop(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # warm shutdown, as Ctrl+C
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _pieces_in_order(quoted: str, text: str) -> None:
    """Each "..."-separated piece of a README quote appears in ``text``, in order."""
    at = 0
    for piece in (p.strip() for p in quoted.split("...")):
        found = text.find(piece, at)
        assert found >= 0, f"{piece!r} not in:\n{text}"
        at = found + len(piece)


def test_readme_walk_through_runs_as_written(tmp_path: pathlib.Path) -> None:
    """README "A walk-through on one machine": its files and commands, run as written.

    Redis is started by the README's own command (on a free port instead of
    6379), the worker by its command, the dispatcher by ``python send.py``;
    what it prints is the README's. Then the two workers "started wrong" the
    README describes: their reports and logs say what it says they say.
    """
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed (make test installs it when run as root)")
    _celery()
    import redis

    section = _readme_section("A walk-through on one machine")
    setup, worker_block, dispatch = _fenced(section, "sh")
    files = {block.split("\n", 1)[0].lstrip("# "): block for block in _fenced(section, "python")}
    assert sorted(files) == ["send.py", "tasks.py"]
    (expected,) = _fenced(section, "text")
    for name, code in files.items():
        (tmp_path / name).write_text(code)
    shell = Shell(tmp_path, _free_port())
    # The first line is the install, run in a fresh venv by tests/test_packaging.py.
    install, rest = setup.split("\n", 1)
    assert install == "pip install '.[celery]'"
    shell.run(rest)  # redis-server --daemonize, webpush-core keygen
    client = redis.Redis.from_url(f"redis://127.0.0.1:{shell.port}/0")
    try:
        client.ping()
        assert (tmp_path / "vapid.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")

        worker = shell.start(worker_block, tmp_path / "worker.log")
        try:
            out = shell.run(dispatch)
        finally:
            shell.stop(worker)
        assert out == expected, (tmp_path / "worker.log").read_text()[-3000:]
        log = (tmp_path / "worker.log").read_text()
        assert "1 of 200 subscriptions to http://127.0.0.1:" in log  # -l info: the failure
        assert " failed: unsubscribed: 1 (e.g. Push failed: 410 Gone" in log

        # Started wrong, as the README lists: its quotes are what the report says.
        quotes = re.findall(r"`([^`]*\.\.\.[^`]*)`", section)
        policy_quote = next(q for q in quotes if q.startswith("invalid-input:"))
        key_quote = next(q for q in quotes if q.startswith("ERROR/MainProcess]"))

        no_policy = worker_block.replace("WEBPUSH_LOCAL_TEST=1 ", "")
        assert no_policy != worker_block
        worker = shell.start(no_policy, tmp_path / "worker-no-policy.log")
        try:
            out = shell.run(dispatch)
        finally:
            shell.stop(worker)
        lines = out.splitlines()
        assert lines[0] == "0 delivered, 1000 failed" and lines[-1] == "1000 subscriptions kept"
        assert len(lines) == 3
        _pieces_in_order(policy_quote, lines[1])
        log = (tmp_path / "worker-no-policy.log").read_text()
        warned = [
            line
            for line in log.splitlines()
            if "WARNING/ForkPoolWorker" in line
            and "200 of 200 subscriptions to http://127.0.0.1:" in line
            and " failed: invalid-input: 200 (e.g. endpoint refused by EndpointPolicy" in line
        ]
        assert len(warned) == 5, log  # one per batch of 200
        assert all("EndpointPolicy.for_testing()" in line for line in warned)

        no_key = worker_block.replace(" VAPID_KEY_FILE=$PWD/vapid.pem", "")
        assert no_key != worker_block
        worker = shell.start(no_key, tmp_path / "worker-no-key.log")
        try:
            out = shell.run(dispatch)
        finally:
            shell.stop(worker)
        lines = out.splitlines()
        assert lines[0] == "0 delivered, 1000 failed" and len(lines) == 3
        assert lines[1].startswith("  invalid-vapid: 1000, e.g. the worker on ")
        assert "vapid_private_key" in lines[1] and "KeyError: 'VAPID_KEY_FILE'" in lines[1]
        log = (tmp_path / "worker-no-key.log").read_text()
        said = [line for line in log.splitlines() if "cannot send" in line]
        assert len(said) == 1, log  # once, for the worker and both pool processes
        assert "ERROR/MainProcess]" in said[0] and "reason invalid-vapid" in said[0]
        _pieces_in_order(key_quote.replace("<host>", socket.gethostname()), said[0])
        assert log.index("cannot send") < log.index(" ready.")  # said as it started
    finally:
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)


def test_an_unexpected_error_is_logged_and_reported_without_secrets(
    env: dict[str, str], app_module: ModuleType, stand_ins: tuple[StandIn, StandIn]
) -> None:
    """A bug in the worker (here: send_many raises, quoting a subscription):
    logged with its type, message and place, sent again, then final as ``unknown``."""
    plain, _ = stand_ins
    queue = "webpush-bug"
    log = _STATE["folder"] / "worker-bug.log"
    w = Worker(dict(env, WEBPUSH_TEST_BUG="1"), "bug", queue, log)
    try:
        subs = [plain.sub(_STATE["vapid"]) for _ in range(5)]
        handle = app_module.push.fan_out(subs, "never sent", batch_size=3, queue=queue)
        report = handle.wait(timeout=60)
    finally:
        w.stop()
    assert (report.total, report.ok, report.failed, report.sent) == (5, 0, 5, 0)
    assert report.failures == {"unknown": 5}
    origin = plain.url
    detail = report.details["unknown"]
    assert re.fullmatch(
        rf"worker error: RuntimeError: simulated bug for {re.escape(origin)}/\.\.\. "
        r"with \[key\] and \[key\]",
        detail,
    ), detail
    text = log.read_text()
    errors = [line for line in text.splitlines() if "failed in the worker" in line]
    retries = app_module.push.retries
    assert len(errors) == 2 * (retries + 1)  # two batches, each attempt
    for line in errors:
        assert "ERROR/ForkPoolWorker" in line
        assert "RuntimeError: simulated bug for" in line
        assert "(at celery_worker_app.py:" in line and "in _broken_send_many)" in line
    assert sum("go back to the queue" in line for line in errors) == 2 * retries
    assert sum("their entries are final (unknown)" in line for line in errors) == 2
    for sub in subs:  # nowhere in the worker's log: the endpoints' paths, the keys
        for secret in (sub_id(sub), sub["keys"]["auth"], sub["keys"]["p256dh"]):
            assert secret not in text
    assert all(plain.messages(s) == [] for s in subs)


def test_a_reasons_sample_detail_is_the_first_counted(redis_url: str) -> None:
    """record(): a detail is kept for a reason only when that call counted an entry
    of it (not for a redelivered index), and the first one stays."""
    import redis

    from webpush_core.celery._report import FanOutHandle, Keys, record

    client = redis.Redis.from_url(redis_url)
    keys = Keys("sample-test")
    client.delete(*keys.all)
    handle = FanOutHandle(lambda: client, "sample-test")
    client.hset(keys.counts, "total", 5)  # fan_out() announces the indexes a report takes
    record(client, keys, ["0", "rejected", "", "1", "ok", ""], 2, 60, {"rejected": "first"})
    # Index 0 again (a redelivered batch) with another detail: not counted, not kept.
    record(client, keys, ["0", "timeout", ""], 1, 60, {"timeout": "again"})
    # A new entry of a reason already described: counted, the first detail stays.
    record(client, keys, ["2", "rejected", ""], 1, 60, {"rejected": "second"})
    # A detail for a reason with no entry in the call: ignored.
    record(client, keys, ["3", "ok", ""], 1, 60, {"unknown": "no entry"})
    # A reason recorded without a detail has none.
    record(client, keys, ["4", "unsubscribed", "https://push.example/x"], 1, 60)
    report = handle.progress()
    assert report.failures == {"rejected": 2, "unsubscribed": 1}
    assert report.details == {"rejected": "first"}
    assert (report.ok, report.failed, report.sent) == (2, 3, 6)
    assert report.to_delete == ("https://push.example/x",)
    assert all(0 < client.ttl(k) <= 60 for k in keys.all)


def test_batches_queued_or_retried_past_their_ttl_are_not_sent(
    worker: Worker, app_module: ModuleType, stand_ins: tuple[StandIn, StandIn]
) -> None:
    import redis

    plain, _ = stand_ins
    r = redis.Redis.from_url(os.environ["WEBPUSH_TEST_REDIS"])
    push = app_module.push
    vapid = _STATE["vapid"]
    # Queued (here: parked) longer than its TTL before any worker took it.
    parked = "webpush-parked-ttl"
    r.delete(parked)
    late = [plain.sub(vapid) for _ in range(4)]
    handle = push.fan_out(late, "too late", ttl=1, queue=parked)
    time.sleep(1.5)
    for envelope in r.lrange(parked, 0, -1):
        args = json.loads(base64.b64decode(json.loads(envelope)["body"]))[0]
        push.send_batch.apply_async(args=args, queue="webpush-tests")
    r.delete(parked)
    report = handle.wait(timeout=30)
    assert (report.total, report.ok, report.failed) == (4, 0, 4)
    assert report.failures == {"ttl-expired": 4} and report.sent == 0
    assert all(plain.messages(s) == [] for s in late)
    # A retry that would start after the TTL ends is not made. The TTL is long
    # enough for a loaded machine to deliver the other two within it; the
    # Retry-After ends well after it. The 429 is held until the other two are
    # delivered: sent after it, they would wait out the origin's pause instead.
    busy = StandIn().start()
    try:
        subs = [busy.sub(vapid) for _ in range(3)]
        busy.script[sub_id(subs[0])] = [(429, {"Retry-After": "40"})]
        busy.hold[sub_id(subs[0])] = release = threading.Event()
        busy.arrived[sub_id(subs[0])] = threading.Event()

        def release_after_the_others() -> None:
            end = time.monotonic() + 20
            while time.monotonic() < end and not all(busy.messages(s) for s in subs[1:]):
                time.sleep(0.02)
            release.set()

        releaser = threading.Thread(target=release_after_the_others, daemon=True)
        releaser.start()
        report = push.fan_out(subs, "x", ttl=10).wait(timeout=30)
        releaser.join(5)
        assert (report.ok, report.failed) == (2, 1)
        assert report.failures == {"ttl-expired": 1}
        assert busy.messages(subs[0]) == []
    finally:
        busy.stop()
