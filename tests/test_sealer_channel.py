"""The channel to the helper process that encrypts long fan-outs (``_sealer``).

* a stopped helper (SIGSTOP: alive, silent, its pipe full) never blocks the
  thread that runs ``send_many``: batches go out through a bounded buffer
  drained by a writer thread, and the stall fallback encrypts them here;
* a batch is answered exactly once, even when the helper's answer and the
  failure path (a stall, a dead helper) race for it;
* the helper imports the standard library before anything that sits next to
  webpush_core (site-packages, or an application's vendor directory), and
  webpush_core from that very directory.

The fan-out runs against a plain-HTTP push-service stand-in on 127.0.0.1
that keeps every body; the test decrypts them all. Times are generous bounds
that catch a hang, never performance claims.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from webpush_core import ece
from webpush_core._b64 import b64url_encode
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._delivery.sealer import Bodies, Sealer
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
UA_KEY = generate_private_key()
AUTH = bytes(range(16))
POINT = uncompressed_point(UA_KEY.public_key())
KEYS = {"p256dh": b64url_encode(POINT), "auth": b64url_encode(AUTH)}
PIPE_SIZE = 65536  # Linux's default pipe capacity

needs_helper = pytest.mark.skipif(
    _sealer.cores() < 2 or _sealer._python_executable() is None,
    reason="the helper process is only used with 2 or more cores and a Python executable",
)


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Collector:
    """A push service stand-in: 201 to every POST, every body kept by path."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = collections.defaultdict(list)
        self.lock = threading.Lock()
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._loop.run_until_complete(main())
        self._loop.run_forever()

    def sub(self, name: str) -> dict[str, Any]:
        return {"endpoint": f"{self.url}/push/{name}", "keys": dict(KEYS)}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                body = await reader.readexactly(length)
                with self.lock:
                    self.bodies[path].append(body)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed, or stop(): ends without an error to log
        finally:
            writer.close()

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            handlers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    svc = Collector()
    yield svc
    svc.stop()


# --------------------------------------------------------------------------
# A stopped helper does not hang send_many


@needs_helper
def test_a_stopped_helper_at_concurrency_256_does_not_block_the_fan_out(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches were written to the helper's stdin with a blocking write while
    # holding the sealer's lock. At concurrency 256 the window holds 576
    # subscriptions, 18 batches: ~100 KB of frames with a 3000-byte message,
    # more than the 64 KiB pipe. A SIGSTOPped helper then blocked the thread
    # running send_many in that write, before the stall fallback could run:
    # send_many never returned.
    monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    monkeypatch.setattr(_fanout, "_HELPER_STALL", 1.0)
    data = bytes(range(256)) * 11 + b"x" * 184  # 3000 octets
    count = 1200
    stop_at = 100
    client = PushClient(concurrency=256, endpoint_policy=LOCAL, timeout=30)
    stopped: list[int] = []
    sealers: list[Sealer] = []
    after_stop: list[int] = []  # frame sizes the helper took once stopped
    submit = Sealer.submit

    def counting(self: Sealer, plaintext: bytes, padding: int, keys: Any, done: Any) -> bool:
        taken = submit(self, plaintext, padding, keys, done)
        if taken and stopped:
            after_stop.append(8 + len(plaintext) + 81 * len(keys))
        return taken

    monkeypatch.setattr(Sealer, "submit", counting)

    def source() -> Iterator[dict[str, Any]]:
        for i in range(count):
            if i == stop_at:
                assert wait_until(lambda: client._res.sealer.ready), "the helper did not start"
                pid = client._res.sealer.pid
                assert pid is not None
                os.kill(pid, signal.SIGSTOP)  # alive, silent, its stdin soon full
                stopped.append(pid)
                sealers.append(client._res.sealer)
            yield collector.sub(f"s{i}")

    results: list[SendResult] = []
    errors: list[BaseException] = []

    def fan_out() -> None:
        try:
            results.extend(client.send_many(source(), data))
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    runner = threading.Thread(target=fan_out, daemon=True)
    start = time.monotonic()
    runner.start()
    try:
        runner.join(60)
        elapsed = time.monotonic() - start
        hung = runner.is_alive()
    finally:
        for pid in stopped:  # a hung fan-out ends once the helper is gone
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        runner.join(30)
        client.close()
    assert not hung, f"send_many still blocked after {elapsed:.0f} s with a stopped helper"
    assert not errors, errors
    assert sealers and sealers[0].failed  # given up by the stall timer, not waited on
    # The helper was handed more than its pipe holds after it stopped.
    assert sum(after_stop) > PIPE_SIZE, after_stop
    assert len(results) == count and all(r.ok for r in results), [
        r for r in results if not r.ok
    ][:3]
    # Every subscription got exactly one body, and every body decrypts:
    # those sealed before the stop by the helper, the rest here.
    assert sorted(collector.bodies) == sorted(f"/push/s{i}" for i in range(count))
    for bodies in collector.bodies.values():
        assert len(bodies) == 1
        assert ece.decrypt(bodies[0], private_key=UA_KEY, auth_secret=AUTH) == data


def started(sealer: Sealer) -> Sealer:
    sealer.start()
    assert wait_until(lambda: sealer.ready or sealer.failed), "the helper did not start"
    assert sealer.ready, "the helper did not start"
    return sealer


@needs_helper
def test_submit_never_waits_on_a_stopped_helper_and_refuses_once_the_buffer_is_full() -> None:
    sealer = started(Sealer())
    pid = sealer.pid
    assert pid is not None
    answers: list[Bodies] = []
    plaintext = b"p" * 4000
    keys = [(POINT, AUTH)] * _sealer.BATCH
    frame = 4 + 8 + len(plaintext) + 81 * len(keys)
    os.kill(pid, signal.SIGSTOP)
    try:
        taken = 0
        slowest = 0.0
        while taken < 1000:
            start = time.monotonic()
            accepted = sealer.submit(plaintext, 0, keys, answers.append)
            slowest = max(slowest, time.monotonic() - start)
            if not accepted:
                break
            taken += 1
        # What the pipe and the buffer hold, and not one frame more.
        assert PIPE_SIZE < taken * frame <= _sealer._BUFFERED + PIPE_SIZE + frame, taken
        assert slowest < 1.0, slowest  # a write to the full pipe would block for ever
        assert sealer.ready and not answers  # refused for being full, not failed
        start = time.monotonic()
        sealer.fail()  # what the fan-out's stall timer does
        assert time.monotonic() - start < 10
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
    assert answers == [None] * taken  # every batch back once, to be encrypted here
    assert not sealer.submit(plaintext, 0, keys, answers.append)


class _RacingDeque(collections.deque):  # type: ignore[type-arg]
    """Forces one interleaving of the reader and Sealer.fail (in ``failer``):
    the reader takes the answered batch's callback while fail() is between
    reading the pending callbacks and clearing them. Each side waits a
    bounded time for the other: where the two exclude each other (the fix),
    the wait times out and they run one after the other."""

    def __init__(self, failer: threading.Thread) -> None:
        super().__init__()
        self.failer = failer
        self.snapshot_taken = threading.Event()
        self.popped = threading.Event()

    def popleft(self) -> Any:  # the reader: an answer arrived
        self.failer.start()
        self.snapshot_taken.wait(1.0)
        item = super().popleft()
        self.popped.set()
        return item

    def __iter__(self) -> Iterator[Any]:
        items = list(super().__iter__())
        if threading.current_thread() is self.failer:  # fail() reads the pending ones
            self.snapshot_taken.set()
            self.popped.wait(1.0)
        return iter(items)


@needs_helper
def test_a_batch_answered_while_the_helper_is_given_up_is_delivered_once() -> None:
    # The reader popped a batch's callback outside the lock that fail()
    # held while it copied the pending callbacks and then cleared them: a pop
    # in between gave that batch its bodies *and* None, so send_many sent
    # each of its 32 messages twice and its count of batches went negative.
    sealer = started(Sealer())
    failer = threading.Thread(target=sealer.fail)
    racing = _RacingDeque(failer)
    sealer._pending = racing
    calls: list[Bodies] = []
    answered = threading.Event()

    def done(bodies: Bodies) -> None:
        calls.append(bodies)
        answered.set()

    try:
        assert sealer.submit(b"once", 0, [(POINT, AUTH)] * 2, done)
        assert answered.wait(10)
        assert wait_until(lambda: failer.ident is not None)
        failer.join(10)
        assert not failer.is_alive()
        time.sleep(0.2)  # a second call would be made by now
    finally:
        sealer.close()
    assert racing.snapshot_taken.is_set() and racing.popped.is_set()  # the race was run
    assert len(calls) == 1, [type(c).__name__ for c in calls]
    bodies = calls[0]
    if bodies is not None:  # the answer won: it is the helper's
        assert [ece.decrypt(b or b"", private_key=UA_KEY, auth_secret=AUTH) for b in bodies] == [
            b"once",
            b"once",
        ]


# --------------------------------------------------------------------------
# The helper's imports

# Standard-library modules the helper imports after its start (none of them
# is loaded by the interpreter's own start-up).
STDLIB_NAMES = (
    "base64",
    "collections",
    "contextlib",
    "hmac",
    "runpy",
    "secrets",
    "selectors",
    "struct",
    "subprocess",
    "threading",
    "typing",
    "weakref",
)


@needs_helper
def test_the_helper_imports_the_standard_library_first_and_webpush_core_from_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The helper put the directory holding webpush_core first on sys.path,
    # ahead of the standard library. Installed, that directory is
    # site-packages; vendored, the application's own directory: a module
    # there named like a standard one (an old `typing` backport, an app's
    # `secrets.py`) ran in the process handed every plaintext and auth secret.
    markers = tmp_path / "markers"
    markers.mkdir()
    lib = tmp_path / "lib"  # where this copy of webpush_core is installed or vendored
    package = Path(_sealer.__file__).parent.parent  # webpush_core/_delivery/sealer.py
    shutil.copytree(package, lib / "webpush_core", ignore=shutil.ignore_patterns("__pycache__"))
    with open(lib / "webpush_core" / "__init__.py", "a") as init:
        init.write(f"\nopen({str(markers / 'our copy')!r}, 'w').close()\n")
    for name in STDLIB_NAMES:
        (lib / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n")
    # Another webpush_core earlier on the path must not be the one imported.
    other = tmp_path / "other"
    (other / "webpush_core").mkdir(parents=True)
    (other / "webpush_core" / "__init__.py").write_text(
        f"open({str(markers / 'another copy')!r}, 'w').close()\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(other))
    monkeypatch.setattr(_sealer, "__file__", str(lib / "webpush_core" / "_delivery" / "sealer.py"))
    sealer = Sealer()
    answers: list[Bodies] = []
    try:
        sealer.start()
        assert wait_until(lambda: sealer.ready or sealer.failed, 20)
        if sealer.ready:
            assert sealer.submit(b"hi", 0, [(POINT, AUTH)], answers.append)
            assert wait_until(lambda: bool(answers))
    finally:
        sealer.close()
    assert sorted(p.name for p in markers.iterdir()) == ["our copy"]
    assert answers, "the helper did not start or did not answer"
    assert answers[0] is not None and len(answers[0]) == 1 and answers[0][0] is not None
    assert ece.decrypt(answers[0][0], private_key=UA_KEY, auth_secret=AUTH) == b"hi"
