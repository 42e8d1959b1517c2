"""A batch published by someone else (a broker less trusted than Redis) does no harm.

Real redis-server, real ``celery worker`` processes (tests/test_celery.py's
harness). Without a ``batch_key``, a forged index (at the total, far beyond
it, negative, not an integer) is not recorded: the report does not become
complete, Redis does not grow. With a ``batch_key`` on dispatcher and worker,
a batch that is not authenticated, altered after signing, signed with another
key or replayed under another fan-out is refused before anything is sent or
recorded, counted in the report, and logged with its reason and no secret.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Callable

import pytest
import redis

from test_celery import _STATE, StandIn, Worker, env, redis_url

__all__ = ["env", "redis_url"]  # the harness's fixtures, used here by name

KEY = "batch-key-for-the-forged-batch-tests-0123456789"
OTHER_KEY = "another-batch-key-nobody-configured-9876543210"
# Octets Redis may grow by while refusing forged indexes: the script alone, and
# end to end (a worker's connections cost Redis tens of KiB in buffers); the
# forged index 2^27 would take 16 MiB, 2^32 - 1 (SETBIT's limit) 512 MiB.
GROWTH_LIMIT = 64 * 1024
GROWTH_LIMIT_WITH_WORKER = 1024 * 1024


@pytest.fixture(scope="module")
def app_module(env: dict[str, str]) -> Iterator[ModuleType]:
    """tests/celery_worker_app.py, imported afresh, its dispatcher holding KEY."""
    sys.modules.pop("celery_worker_app", None)
    os.environ["WEBPUSH_TEST_BATCH_KEY"] = KEY
    try:
        yield importlib.import_module("celery_worker_app")
    finally:
        os.environ.pop("WEBPUSH_TEST_BATCH_KEY", None)
        sys.modules.pop("celery_worker_app", None)


@pytest.fixture(scope="module")
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def used_memory(client: redis.Redis) -> int:
    """Redis's used_memory, once the report's script is in its script cache."""
    from webpush_core.celery._report import Keys, record

    record(client, Keys(uuid.uuid4().hex), [], 0, 1)  # for a report that does not exist: a no-op
    return int(client.info("memory")["used_memory"])


def parked_batches(client: redis.Redis, queue: str) -> list[list[Any]]:
    """The (fan_out_id, batch) arguments of every message waiting in ``queue``, removed from it."""
    raw = client.lrange(queue, 0, -1)
    client.delete(queue)
    return [json.loads(base64.b64decode(json.loads(e)["body"]))[0] for e in raw]


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# --------------------------------------------------------------------------
# The report's script, alone: every index outside [0, total) is ignored


def test_the_report_records_only_indexes_from_zero_to_below_the_total(
    env: dict[str, str], client: redis.Redis
) -> None:
    from webpush_core.celery._report import FanOutHandle, Keys, record

    fan_out_id = uuid.uuid4().hex
    keys = Keys(fan_out_id)
    client.hset(keys.counts, mapping={"total": 2, "dispatched": 1})
    before = used_memory(client)
    forged = ["2", "3", "-1", "1.5", "abc", "", "nan", "inf", "1e9", str(2**27), "0x10"]
    for index in forged:
        assert record(client, keys, [index, "rejected", ""], 0, 60) == 0, index
    grown = used_memory(client) - before
    assert grown < GROWTH_LIMIT, grown
    assert int(client.strlen(keys.done)) == 0  # not one bit set
    assert record(client, keys, ["0", "ok", ""], 1, 60) == 1  # the first index
    assert record(client, keys, ["1", "unsubscribed", "https://push.example/1"], 1, 60) == 1
    assert record(client, keys, ["1", "ok", ""], 1, 60) == 0  # once per index
    assert int(client.strlen(keys.done)) == 1
    report = FanOutHandle(lambda: client, fan_out_id).progress()
    assert (report.total, report.ok, report.failed, report.sent) == (2, 1, 1, 3)
    assert report.complete and report.to_delete == ("https://push.example/1",)


def test_the_report_script_creates_nothing_for_a_fan_out_that_does_not_exist(
    env: dict[str, str], client: redis.Redis
) -> None:
    from webpush_core.celery._report import Keys, record

    keys = Keys(uuid.uuid4().hex)
    assert record(client, keys, ["0", "ok", "", "1", "x", "https://e/1"], 5, 60) == 0
    assert not any(client.exists(k) for k in keys.all)


# --------------------------------------------------------------------------
# End to end, a worker without a batch_key: a forged index changes no report


def test_a_forged_index_neither_completes_a_report_nor_grows_redis(
    env: dict[str, str], app_module: ModuleType, client: redis.Redis
) -> None:
    vapid = _STATE["vapid"]
    queue = "webpush-forged-unkeyed"
    folder = _STATE["folder"]
    worker_env = {k: v for k, v in env.items() if k != "WEBPUSH_TEST_BATCH_KEY"}
    w = Worker(worker_env, "unkeyed", queue, folder / "worker-unkeyed.log")
    attacker = StandIn().start()
    try:
        subs = [attacker.sub(vapid) for _ in range(2)]
        parked = "webpush-forged-parked"
        handle = app_module.push.fan_out(subs, "real", queue=parked)  # never sent
        (real_args,) = parked_batches(client, parked)
        assert handle.progress().total == 2
        gone = [attacker.sub(vapid) for _ in range(3)]
        for sub in gone:
            attacker.expire(sub)  # each answers 410: a failure to record
        indexes = [2, 3, 2**27]  # at the total, past it, far past it
        items = [
            [i, s["endpoint"], s["keys"]["p256dh"], s["keys"]["auth"]]
            for i, s in zip(indexes, gone)
        ]
        forged = {k: v for k, v in real_args[1].items() if k != "mac"}
        forged.update(s=items, q=queue)
        before = used_memory(client)

        app_module.push.send_batch.apply_async(args=(handle.id, forged), queue=queue)

        assert wait_until(lambda: handle.progress().sent == 3), w.tail()
        report = handle.progress()
        grown = used_memory(client) - before
    finally:
        w.stop()
        attacker.stop()
    assert len(attacker.requests) == 3  # a worker without a key cannot tell: it sends
    assert (report.ok, report.failed, report.pending) == (0, 0, 2)
    assert not report.complete and report.to_delete == ()
    assert grown < GROWTH_LIMIT_WITH_WORKER, grown
    assert int(client.strlen(f"webpush_core:{{{handle.id}}}:done")) == 0


def test_a_forged_batch_cannot_pause_another_push_service(
    env: dict[str, str], app_module: ModuleType, client: redis.Redis
) -> None:
    """A batch naming a victim's origin, its subscriptions at the forger's service
    (which answers 429 Retry-After): refused, so the victim is not paused for every worker."""
    vapid = _STATE["vapid"]
    queue = "webpush-forged-pause"
    worker_env = {k: v for k, v in env.items() if k != "WEBPUSH_TEST_BATCH_KEY"}
    w = Worker(worker_env, "pause", queue, _STATE["folder"] / "worker-pause.log")
    attacker = StandIn().start()
    try:
        subs = [attacker.sub(vapid) for _ in range(2)]
        for sub in subs:
            attacker.script[sub["endpoint"].rsplit("/", 1)[-1]] = [(429, {"Retry-After": "30"})]
        parked = "webpush-forged-pause-parked"
        handle = app_module.push.fan_out(subs, "real", queue=parked)
        (real_args,) = parked_batches(client, parked)
        victim = "https://fcm.googleapis.com"
        forged = {k: v for k, v in real_args[1].items() if k != "mac"}
        forged.update(o=victim, q=queue)
        log_before = len(w.log.read_bytes())

        app_module.push.send_batch.apply_async(args=(handle.id, forged), queue=queue)

        assert wait_until(lambda: handle.progress().refused_batches == 1), w.tail()
    finally:
        w.stop()
        attacker.stop()
    assert attacker.requests == []
    assert client.pttl(f"webpush_core:throttle:{victim}") < 0  # no pause for the victim
    assert "not all at the push service it names" in w.log.read_text()[log_before:]


# --------------------------------------------------------------------------
# A worker with a batch_key refuses what its dispatcher did not sign


@pytest.fixture(scope="module")
def keyed(env: dict[str, str], app_module: ModuleType) -> Iterator[Worker]:
    worker_env = dict(env, WEBPUSH_TEST_BATCH_KEY=KEY)
    w = Worker(worker_env, "keyed", "webpush-keyed", _STATE["folder"] / "worker-keyed.log")
    try:
        yield w
    finally:
        w.stop()


def test_signed_batches_are_delivered_by_a_worker_with_the_key(
    keyed: Worker, app_module: ModuleType, client: redis.Redis
) -> None:
    service = StandIn().start()
    try:
        subs = [service.sub(_STATE["vapid"]) for _ in range(7)]
        report = app_module.push.fan_out(subs, "signed", batch_size=3, queue="webpush-keyed").wait(
            timeout=60
        )
        assert (report.total, report.ok, report.failed, report.refused_batches) == (7, 7, 0, 0)
        assert all(m.plaintext == b"signed" for s in subs for m in service.messages(s))
    finally:
        service.stop()


def _sign(key: str, fan_out_id: str, batch: dict[str, Any]) -> dict[str, Any]:
    from webpush_core.celery._auth import sign

    return dict(batch, mac=sign(key.encode(), fan_out_id, batch))


FORGERIES: dict[str, Callable[[str, dict[str, Any], str], tuple[str, dict[str, Any]]]] = {
    "unsigned": lambda fid, batch, other: (fid, {k: v for k, v in batch.items() if k != "mac"}),
    "empty mac": lambda fid, batch, other: (fid, dict(batch, mac="")),
    "mac not a string": lambda fid, batch, other: (fid, dict(batch, mac=12345)),
    "message altered": lambda fid, batch, other: (fid, dict(batch, d="ZXZpbA==")),
    "endpoint altered": lambda fid, batch, other: (  # another subscription, same service
        fid,
        dict(batch, s=[[batch["s"][0][0], batch["s"][0][1] + "x", *batch["s"][0][2:]]]),
    ),
    "index altered": lambda fid, batch, other: (  # the other subscription's index
        fid,
        dict(batch, s=[[1 - batch["s"][0][0], *batch["s"][0][1:]]]),
    ),
    "attempt altered": lambda fid, batch, other: (fid, dict(batch, a=1)),
    "another key": lambda fid, batch, other: (fid, _sign(OTHER_KEY, fid, batch)),
    "replayed in another fan-out": lambda fid, batch, other: (other, batch),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_a_worker_with_a_key_refuses_a_forged_batch_and_says_why(
    keyed: Worker, app_module: ModuleType, client: redis.Redis, forgery: str
) -> None:
    service = StandIn().start()
    try:
        subs = [service.sub(_STATE["vapid"]) for _ in range(2)]
        parked = "webpush-keyed-parked"
        handle = app_module.push.fan_out(subs, "the real one", batch_size=1, queue=parked)
        other = app_module.push.fan_out(subs[:1], "another", queue=parked)
        batches = parked_batches(client, parked)
        (fan_out_id, batch), *_ = [b for b in batches if b[0] == handle.id]
        assert isinstance(batch.get("mac"), str) and batch["mac"]  # the dispatcher signed it
        target, forged = FORGERIES[forgery](fan_out_id, batch, other.id)
        victim = handle if target == handle.id else other
        log_before = len(keyed.log.read_bytes())

        app_module.push.send_batch.apply_async(args=(target, forged), queue="webpush-keyed")

        assert wait_until(lambda: victim.progress().refused_batches == 1), keyed.tail()
        report = victim.progress()
        assert (report.ok, report.failed) == (0, 0)
        assert service.requests == []  # nothing sent
        log = keyed.log.read_bytes()[log_before:].decode("utf-8", "replace")
        assert f"refused a batch of fan-out {target}" in log, log
        reason = "not authenticated" if forgery in ("unsigned", "empty mac") else "does not match"
        if forgery == "mac not a string":
            reason = "not authenticated"
        assert reason in log, log
        for secret in [KEY, OTHER_KEY, base64.b64encode(b"the real one").decode()] + [
            s["keys"][k] for s in subs for k in ("auth", "p256dh")
        ]:
            assert secret not in log
        # The real batches, signed, still go through and complete the report.
        for args in batches:
            app_module.push.send_batch.apply_async(args=args, queue="webpush-keyed")
        final = handle.wait(timeout=60)
        assert (final.ok, final.failed) == (2, 0)
        assert final.refused_batches == (1 if victim is handle else 0)
    finally:
        service.stop()


def test_a_batch_with_a_fan_out_id_not_made_by_fan_out_is_refused_uncounted(
    keyed: Worker, app_module: ModuleType, client: redis.Redis
) -> None:
    log_before = len(keyed.log.read_bytes())
    keys_before = set(client.keys("webpush_core:*"))
    batch = {
        "d": "",
        "ttl": None,
        "urgency": None,
        "topic": None,
        "o": "https://x",
        "s": [],
        "a": 0,
    }
    app_module.push.send_batch.apply_async(
        args=("\x1b]0;owned\x07{x}", batch), queue="webpush-keyed"
    )
    assert wait_until(lambda: b"fan-out id is not one" in keyed.log.read_bytes()[log_before:])
    log = keyed.log.read_bytes()[log_before:]
    assert b"\x1b" not in log and b"owned" not in log  # the forged id is not echoed
    assert set(client.keys("webpush_core:*")) == keys_before  # nothing created for it
