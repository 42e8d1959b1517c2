"""Every message that carries a batch shows a summary, never the message or the keys.

Real redis-server, real ``celery worker --pool=prefork`` (the harness of
tests/test_celery.py), task events on (``-E``), its log at DEBUG, ``task_repr_maxlevels=10``
(deep enough that Celery's own ``saferepr`` would show the subscriptions'
auth secrets). Each path that publishes a batch is forced:

* the library's own: ``fan_out``, a retry after a 503, a batch put back
  while its origin is paused after a 429;
* Celery's: ``autoretry_for=(redis.RedisError,)`` republishing through
  ``Task.retry`` when the worker cannot reach the report's Redis.

Everything the broker's Redis executes is read with MONITOR (celery_tap.py):
every message's headers (``argsrepr``, ``kwargsrepr``) and properties, every
task event's body, and the worker's log, are scanned for the plaintext (and
its base64), each subscription's auth secret and p256dh. Only a task
message's own body may hold the batch (that is the message).
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from adversarial.celery_tap import BrokerTap, Envelope, envelopes, events
from test_celery import _STATE, StandIn, Worker, _free_port, env, redis_url, sub_id

__all__ = ["env", "redis_url"]  # the harness's fixtures, used here by name

TASK = "webpush_core.send_batch"
SUMMARY = re.compile(r"\('[0-9a-f]{32}', <\d+ subscriptions at [^<>]*, attempt \d+>\)\Z")
WORKER_OPTIONS = ("-E", "--loglevel=DEBUG")  # task events on, every log record


@pytest.fixture(scope="module")
def app_module(env: dict[str, str]) -> Iterator[ModuleType]:
    """tests/celery_worker_app.py, imported afresh against this module's Redis."""
    sys.modules.pop("celery_worker_app", None)
    module = importlib.import_module("celery_worker_app")
    yield module
    sys.modules.pop("celery_worker_app", None)


def secrets_of(subs: list[dict[str, Any]], message: str) -> dict[str, str]:
    found = {"plaintext": message}
    raw = message.encode()
    found["plaintext, base64"] = base64.b64encode(raw).decode()
    found["plaintext, base64url"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for i, sub in enumerate(subs):
        found[f"auth of {i}"] = sub["keys"]["auth"]
        found[f"p256dh of {i}"] = sub["keys"]["p256dh"]
    return found


def task_messages(commands: list[list[bytes]], fan_out_id: str) -> list[Envelope]:
    out = []
    for message in envelopes(commands):
        if message.headers.get("task") != TASK:
            continue
        args = json.loads(message.body)[0]
        if args and args[0] == fan_out_id:
            out.append(message)
    return out


def check_everything_outside_bodies(
    commands: list[list[bytes]], fan_out_id: str, secrets: dict[str, str], log: str
) -> tuple[list[Envelope], list[dict[str, Any]]]:
    """The assertions every path shares; returns this fan-out's task messages and events."""
    mine = task_messages(commands, fan_out_id)
    assert mine, "no task message of the fan-out reached the broker"
    for message in mine:
        headers = message.headers
        assert SUMMARY.match(headers["argsrepr"]), headers["argsrepr"]
        assert headers["kwargsrepr"] == "{}"
        assert json.loads(message.body)[0][1]["d"] == secrets["plaintext, base64"]  # the body
    texts = [("message headers", m.outside_body) for m in envelopes(commands)]
    # Task events' bodies, and every command argument that is not a message at all.
    texts += [
        ("message body", m.body.decode("utf-8", "replace"))
        for m in envelopes(commands)
        if "task" not in m.headers
    ]
    texts += [
        ("command", b" ".join(c).decode("latin-1"))
        for c in commands
        if not any(a.startswith((b"{", b"[")) for a in c[1:])
    ]
    texts.append(("worker log", log))
    for where, text in texts:
        for name, secret in secrets.items():
            assert secret not in text, f"{name} in {where}: {text[:300]}"
    seen = [e for e in events(commands) if e.get("uuid") in {m.headers["id"] for m in mine}]
    for event in seen:
        if "args" in event:
            assert SUMMARY.match(event["args"]) and event["kwargs"] == "{}", event
    return mine, seen


@pytest.fixture
def tap(redis_url: str) -> Iterator[BrokerTap]:
    monitor = BrokerTap(redis_url)
    try:
        yield monitor
    finally:
        monitor.close()


def test_library_publishes_carry_the_summary_on_first_send_retry_and_pause(
    env: dict[str, str], app_module: ModuleType, tap: BrokerTap
) -> None:
    vapid = _STATE["vapid"]
    queue = "webpush-meta-own"
    worker_env = dict(env, WEBPUSH_TEST_REPR_LEVELS="10")
    log_path = _STATE["folder"] / "worker-meta-own.log"
    w = Worker(worker_env, "meta-own", queue, log_path, extra=WORKER_OPTIONS)
    service = StandIn().start()
    try:
        subs = [service.sub(vapid) for _ in range(3)]
        service.script[sub_id(subs[0])] = [(503, {})]  # a retry: a new batch, attempt 2
        # The origin paused (as after a 429 with Retry-After) before anything is sent:
        # every batch is put back, not counted as an attempt, until the pause ends.
        import redis

        pause = f"webpush_core:throttle:{service.url}"
        redis.Redis.from_url(env["WEBPUSH_TEST_REDIS"]).set(pause, "1", px=1500)
        message = "the message text, not for logs"
        handle = app_module.push.fan_out(subs, message, batch_size=1, queue=queue)
        report = handle.wait(timeout=60)
        assert (report.ok, report.failed) == (3, 0), w.tail()
    finally:
        w.stop()
        service.stop()
    commands = tap.snapshot()
    mine, seen = check_everything_outside_bodies(
        commands, handle.id, secrets_of(subs, message), log_path.read_text()
    )
    attempts = [json.loads(m.body)[0][1]["a"] for m in mine if m.command == b"lpush"]
    assert attempts.count(0) > 3, attempts  # the first sends, and batches put back by the pause
    assert max(attempts) >= 1, attempts  # the retry after the 503
    assert any(e["type"] == "task-received" for e in seen), "no task event was read"


def test_celery_autoretry_when_the_report_redis_is_down_carries_the_summary(
    env: dict[str, str], app_module: ModuleType, tap: BrokerTap
) -> None:
    """Celery's Task.retry republishes the batch: the summary goes with it, every time."""
    vapid = _STATE["vapid"]
    queue = "webpush-meta-autoretry"
    down = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    worker_env = dict(env, WEBPUSH_TEST_REPORT_REDIS=down, WEBPUSH_TEST_REPR_LEVELS="10")
    log_path = _STATE["folder"] / "worker-meta-autoretry.log"
    service = StandIn().start()
    subs = [service.sub(vapid) for _ in range(2)]
    message = "secret news, never in a log"
    w = Worker(worker_env, "meta-retry", queue, log_path, extra=WORKER_OPTIONS)
    try:
        handle = app_module.push.fan_out(subs, message, queue=queue)

        def retried_twice(commands: list[list[bytes]]) -> bool:
            published = [m for m in task_messages(commands, handle.id) if m.command == b"lpush"]
            return len(published) >= 3  # the first message and two of Celery's retries

        assert tap.wait_for(retried_twice, timeout=45), w.tail()
    finally:
        w.stop()
        service.stop()
    assert service.requests == []  # nothing was sent: the report could not be read
    commands = tap.snapshot()
    mine, seen = check_everything_outside_bodies(
        commands, handle.id, secrets_of(subs, message), log_path.read_text()
    )
    retries = [m for m in mine if m.headers.get("retries", 0) >= 1]
    assert len(retries) >= 2, [m.headers.get("retries") for m in mine]
    assert any(e["type"] == "task-retried" for e in seen), "no task-retried event was read"
    assert "retry" in log_path.read_text().lower()
