"""PushClient(processes=N): a fan-out sharded over N sender processes.

* every subscription gets exactly one result, carrying the caller's own
  object, whatever the mix of valid and invalid input; the invalid ones get
  the very error a single process reports;
* a sender killed in the middle of a fan-out: still exactly one result per
  subscription, and no message sent twice;
* settings changed between calls (the endpoint policy) reach the senders;
* the argument is checked, with a clear error, before anything starts.

Against the shared plain-HTTP push-service stand-in on 127.0.0.1 (it keeps
every request); times are generous bounds that catch a hang.
"""

from __future__ import annotations

import collections
import gc
import os
import signal
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from servers.push_service import PushService
from webpush_core import EndpointPolicy, PushClient, Vapid
from webpush_core._b64 import b64url_decode, b64url_encode
from webpush_core._delivery import spawn as _spawn
from webpush_core._delivery.shard import SHARD_AFTER as _SHARD_AFTER
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._subscription import Subscription
from webpush_core.errors import EndpointNotAllowed, InvalidRequest

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
UA_KEY = generate_private_key()
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(UA_KEY.public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
CLAIMS = {"sub": "mailto:ops@example.com"}

needs_cores = pytest.mark.skipif(
    _spawn._python_executable() is None, reason="sender processes need a Python executable"
)


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService(keys=KEYS) as s:
        yield s


class _Keys(Mapping[str, Any]):
    """A subscription that is a Mapping, not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def _mixed(service: PushService, count: int) -> list[Any]:
    """Valid subscriptions of every shape, and invalid ones of several kinds."""
    subs: list[Any] = []
    for i in range(count):
        sub = service.sub(f"m{i}")
        kind = i % 10
        if kind == 1:
            subs.append(Subscription.from_info(sub))
        elif kind == 2:
            subs.append(_Keys({**sub, "keys": _Keys(dict(sub["keys"]))}))
        elif kind == 3 and i % 30 == 3:
            subs.append({"endpoint": sub["endpoint"]})  # no keys: data cannot be sent
        elif kind == 4 and i % 30 == 4:
            subs.append({"endpoint": "ftp://push.example/x", "keys": KEYS})
        elif kind == 5 and i % 30 == 5:
            subs.append(["not", "a", "mapping"])
        elif kind == 6 and i % 30 == 6:
            point = b64url_decode(KEYS["p256dh"])
            off_curve = point[:-1] + bytes([point[-1] ^ 1])
            subs.append({**sub, "keys": {**KEYS, "p256dh": b64url_encode(off_curve)}})
        else:
            subs.append(sub)
    return subs


def _outcome(result: Any) -> tuple[Any, ...]:
    error = result.error
    return (result.ok, result.status_code, type(error).__name__, str(error) if error else None)


@needs_cores
def test_every_subscription_gets_one_result_with_its_own_object(service: PushService) -> None:
    subs = _mixed(service, 900)
    with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as client:
        results = list(client.send_many(subs, b"hello"))
        senders = client._res.senders
        assert senders is not None and len(senders._senders) == 2  # it did shard
    assert len(results) == len(subs)
    by_id = collections.Counter(id(r.subscription) for r in results)
    assert set(by_id) == {id(s) for s in subs} and set(by_id.values()) == {1}
    # What one process reports for each, invalid ones included, word for word.
    with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, timeout=30) as single:
        expected = {id(r.subscription): _outcome(r) for r in single.send_many(subs, b"hello")}
    assert {id(r.subscription): _outcome(r) for r in results} == expected
    delivered = [r for r in results if r.ok]
    assert delivered and all(r.reason == "accepted" and r.response for r in delivered)
    # Each valid one reached the service exactly once per run (two runs).
    paths = collections.Counter(request.path for request in service.requests)
    assert len(paths) == len(delivered) and set(paths.values()) == {2}


@needs_cores
def test_one_object_given_many_times_or_with_unpicklable_fields_gets_each_result(
    service: PushService,
) -> None:
    """Pickle sends one object given twice in a batch as one, and an application's
    field may not pickle at all: a sender is handed new plain dicts only."""
    same = service.sub("same")
    row = {**service.sub("row"), "row": threading.Lock()}  # not picklable
    subs: list[Any] = [same] * 150 + [row] * 150
    subs += [service.sub(f"d{i}") for i in range(100)]
    results: list[Any] = []

    def run() -> None:
        with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as c:
            results.extend(c.send_many(subs, b"hello"))
            assert c._res.senders is not None and len(c._res.senders._senders) == 2

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), f"hung after {len(results)} of {len(subs)} results"
    assert len(results) == len(subs)
    assert all(r.ok for r in results), collections.Counter(r.reason for r in results)
    by_id = collections.Counter(id(r.subscription) for r in results)
    assert by_id[id(same)] == 150 and by_id[id(row)] == 150 and len(by_id) == 102


@needs_cores
def test_close_with_a_sharded_fan_out_left_suspended_returns(service: PushService) -> None:
    """A caller that stops iterating holds the senders; close() still returns,
    and the fan-out, iterated again, ends with one result each."""
    subs = [service.sub(f"s{i}") for i in range(_SHARD_AFTER + 72)]
    client = PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30)
    results = client.send_many(subs, b"hello")
    first = [next(results)]
    closer = threading.Thread(target=client.close, daemon=True)
    closer.start()
    closer.join(30)
    assert not closer.is_alive(), "close() hung on the suspended fan-out"
    rest: list[Any] = []
    reader = threading.Thread(target=lambda: rest.extend(results), daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "the fan-out hung after close()"
    by_id = collections.Counter(id(r.subscription) for r in first + rest)
    assert set(by_id) == {id(s) for s in subs} and set(by_id.values()) == {1}


@needs_cores
def test_a_sender_killed_mid_fan_out_still_gives_exactly_one_result_each(
    service: PushService,
) -> None:
    count = 1500
    killed: list[int] = []
    with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as client:

        def source() -> Iterator[dict[str, Any]]:
            for i in range(count):
                if i == 400:
                    senders = client._res.senders
                    assert senders is not None
                    pid = senders._senders[0].proc.pid
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                yield service.sub(f"k{i}")

        results = list(client.send_many(source(), b"hello"))
    assert killed
    assert len(results) == count
    paths = [r.subscription["endpoint"] for r in results]
    assert len(set(paths)) == count  # one result each
    lost = [r for r in results if not r.ok]
    assert all(r.action == "retry" and "sender process ended" in str(r.error) for r in lost)
    assert len(lost) <= 2 * 32 + 64  # at most what the killed one had in flight
    sent = collections.Counter(request.path for request in service.requests)
    assert set(sent.values()) <= {1}  # nothing sent twice
    assert sum(r.ok for r in results) == count - len(lost)


@needs_cores
def test_a_fan_out_left_before_its_end_never_answers_for_the_next(service: PushService) -> None:
    first = [service.sub(f"a{i}") for i in range(600)]
    second = [service.sub(f"b{i}") for i in range(600)]
    with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as client:
        results = client.send_many(first, b"one")
        taken = [next(results) for _ in range(10)]  # then left, mid-call
        del results
        gc.collect()  # the generator's close: its senders stopped
        after = list(client.send_many(second, b"two"))
    assert all(r.subscription in first for r in taken)
    assert len(after) == len(second)
    assert {id(r.subscription) for r in after} == {id(s) for s in second}
    assert all(r.ok for r in after)
    # Each result is its own subscription's: the service saw each of the
    # second call's paths once.
    seen = collections.Counter(q.path for q in service.requests if "/push/b" in q.path)
    assert len(seen) == len(second) and set(seen.values()) == {1}


@needs_cores
def test_settings_changed_between_calls_reach_the_senders(service: PushService) -> None:
    subs = [service.sub(f"p{i}") for i in range(_SHARD_AFTER + 10)]
    with PushClient(Vapid(), CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as client:
        assert all(r.ok for r in client.send_many(subs, b"one"))
        client.endpoint_policy = EndpointPolicy()  # the default: no loopback, no http
        second = list(client.send_many(subs, b"two"))
        assert client._res.senders is not None and len(client._res.senders._senders) == 2
    assert len(second) == len(subs)
    assert all(isinstance(r.error, EndpointNotAllowed) for r in second)
    assert len(service.requests) == len(subs)


@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, "all", "2", None])
def test_processes_must_be_a_positive_integer_or_auto(value: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        PushClient(processes=value)
    assert info.value.field == "processes"
    assert "processes must be an integer >= 1" in str(info.value)


def test_processes_auto_is_the_cores_and_one_is_the_default() -> None:
    assert PushClient(processes="auto").processes == _spawn.cores()
    assert PushClient().processes == 1
    assert PushClient(processes=3).processes == 3


def test_processes_refuse_what_a_sender_process_cannot_be_given() -> None:
    import urllib3

    with pytest.raises(InvalidRequest, match="pool_manager") as info:
        PushClient(processes=2, pool_manager=urllib3.PoolManager())
    assert info.value.field == "processes"

    class Foreign:  # another library's signer
        def sign(self, claims: Mapping[str, Any]) -> dict[str, str]:
            return {"Authorization": "vapid t=x, k=y"}

    with pytest.raises(InvalidRequest, match="signer") as info:
        PushClient(Foreign(), CLAIMS, processes=2)
    assert info.value.field == "processes"
    PushClient(Foreign(), CLAIMS, processes=1)  # one process: any signer


@needs_cores
def test_the_vapid_key_reaches_the_senders_by_pipe_never_by_command_line(
    service: PushService,
) -> None:
    key = Vapid()
    pem = key.private_pem()
    secret = pem.split(b"-----")[2].strip().splitlines()[0]  # a line of the key itself
    subs = [service.sub(f"c{i}") for i in range(_SHARD_AFTER + 10)]
    with PushClient(key, CLAIMS, endpoint_policy=LOCAL, processes=2, timeout=30) as client:
        assert client._sender_config["key"] == ("Vapid", pem)
        results = list(client.send_many(subs, b"hello"))
        senders = client._res.senders
        assert senders is not None and senders._senders
        for sender in senders._senders:
            pid = sender.proc.pid
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
            assert secret not in cmdline and secret not in environ
    assert all(r.ok for r in results)
    # Signed with the caller's key in the senders: its public key in every header.
    public = key.application_server_key
    assert all(public in r.headers.get("authorization", "") for r in service.requests)
