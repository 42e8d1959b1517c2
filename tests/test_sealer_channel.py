"""The channel to the helper process that encrypts long fan-outs (``_sealer``).

* a stopped helper (SIGSTOP: alive, silent, its pipe full) never blocks the
  thread that runs ``send_many``: batches go out through a bounded buffer
  that the client's event loop writes out, and the stall fallback encrypts them here;
* the pipes need no thread of their own, and a frame the pipe takes in parts
  arrives whole and in order;
* a batch is answered exactly once, even when the helper's answer and the
  failure path (a stall, a dead helper) race for it;
* the helper imports the standard library before anything that sits next to
  webpush_core (site-packages, or an application's vendor directory) or in
  the working directory, and webpush_core from that very directory;
* the helper ends with its parent, even when a forked child holds its pipe.

The fan-out runs against the shared plain-HTTP push-service stand-in on 127.0.0.1
that keeps every body; the test decrypts them all. Times are generous bounds
that catch a hang, never performance claims.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from servers.push_service import PushService
from webpush_core import ece
from webpush_core._b64 import b64url_encode
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery import spawn as _spawn
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
    _spawn.cores() < 2 or _spawn._python_executable() is None,
    reason="the helper process is only used with 2 or more cores and a Python executable",
)


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def collector() -> Iterator[PushService]:
    """A push service stand-in: 201 to every POST, every request (and body) kept."""
    with PushService(keys=KEYS) as service:
        yield service


def bodies_by_path(service: PushService) -> dict[str, list[bytes]]:
    bodies: dict[str, list[bytes]] = collections.defaultdict(list)
    for request in service.requests:
        bodies[request.path].append(request.body)
    return bodies


# --------------------------------------------------------------------------
# A stopped helper does not hang send_many


@needs_helper
def test_a_stopped_helper_at_concurrency_256_does_not_block_the_fan_out(
    collector: PushService, monkeypatch: pytest.MonkeyPatch
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
    assert len(results) == count and all(r.ok for r in results), [r for r in results if not r.ok][
        :3
    ]
    # Every subscription got exactly one body, and every body decrypts:
    # those sealed before the stop by the helper, the rest here.
    received = bodies_by_path(collector)
    assert sorted(received) == sorted(f"/push/s{i}" for i in range(count))
    for bodies in received.values():
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
# The pipes on the event loop


def _answered(answers: list[tuple[int, Bodies]], n: int, bodies: Bodies) -> None:
    answers.append((n, bodies))


@needs_helper
def test_frames_the_pipe_takes_in_parts_arrive_whole_and_in_order() -> None:
    # Frames of ~6.6 KB, submitted faster than the helper reads: the pipe takes
    # some in parts (a non-blocking write of what fits), the rest waits for
    # the loop. Each batch's answer must be its own plaintext's, in order.
    sealer = started(Sealer())
    answers: list[tuple[int, Bodies]] = []
    keys = [(POINT, AUTH)] * _sealer.BATCH
    submitted = 0
    try:
        while submitted < 200:
            plaintext = submitted.to_bytes(2, "big") * 2000  # 4,000 octets, its own
            if not sealer.submit(
                plaintext, 0, keys, functools.partial(_answered, answers, submitted)
            ):
                break
            submitted += 1
        assert submitted * (8 + 4000 + 81 * len(keys)) > PIPE_SIZE  # some waited for room
        assert wait_until(lambda: len(answers) == submitted, 60)
    finally:
        sealer.close()
    assert [n for n, _ in answers] == list(range(submitted))
    for n, bodies in answers:
        assert bodies is not None and len(bodies) == len(keys)
        plain = ece.decrypt(bodies[-1] or b"", private_key=UA_KEY, auth_secret=AUTH)
        assert plain == n.to_bytes(2, "big") * 2000


@needs_helper
def test_a_fan_out_through_the_helper_starts_no_thread_for_its_pipes(
    collector: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    before = {t.ident for t in threading.enumerate()}
    seen: list[str] = []
    with PushClient(concurrency=8, endpoint_policy=LOCAL, timeout=30) as client:

        def source() -> Iterator[dict[str, Any]]:
            for i in range(300):
                if i == 150:
                    assert wait_until(lambda: client._res.sealer.ready), "no helper"
                if i == 160:  # batches have gone through it
                    seen.extend(t.name for t in threading.enumerate() if t.ident not in before)
                yield collector.sub(f"s{i}")

        results = list(client.send_many(source(), b"hello"))
        sealer = client._res.sealer
        assert sealer.ready and sealer.pid is not None  # the helper did encrypt
    assert len(results) == 300 and all(r.ok for r in results)
    assert "webpush_core-io" in seen
    assert not [name for name in seen if "sealer" in name], seen


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


def test_the_helper_imports_our_copy_not_one_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -m` puts the working directory first on sys.path: a
    # webpush_core (or any module it imports) there ran in the helper, which
    # is handed every plaintext and auth secret.
    marker = tmp_path / "hijacked"
    fake = tmp_path / "webpush_core"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "_delivery").mkdir()
    (fake / "_delivery" / "__init__.py").write_text("")
    (fake / "_delivery" / "helper.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "struct.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    sealer = Sealer()
    try:
        sealer.start()
        assert wait_until(lambda: sealer.ready or sealer.failed or marker.exists())
        answers: list[Bodies] = []
        point = uncompressed_point(generate_private_key().public_key())
        assert sealer.submit(b"hi", 0, [(point, b"a" * 16)], answers.append)
        assert wait_until(lambda: bool(answers))
    finally:
        sealer.close()
    assert not marker.exists()
    assert answers[0] is not None and len(answers[0]) == 1 and answers[0][0] is not None


# --------------------------------------------------------------------------
# The helper does not outlive its parent


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (PID 1 here may not reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.exists("/proc/self/stat"), reason="fork and /proc"
)
def test_the_helper_ends_when_its_parent_dies_even_after_a_fork() -> None:
    # The helper ended on its stdin's EOF only: a child forked from the
    # parent (multiprocessing, a pre-forking server) holds that pipe open, so
    # the helper outlived the parent for as long as such a child lived.
    script = (
        "import os, sys, time, warnings\n"
        "from webpush_core._delivery.sealer import Sealer\n"
        "s = Sealer(); s.start()\n"
        "end = time.monotonic() + 10\n"
        "while not s.ready and time.monotonic() < end: time.sleep(0.01)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "print(s.pid if s.ready else 0, pid, flush=True)\n"
        "os._exit(0)\n"  # dies without closing anything
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # not to the EOF: the forked child holds stdout
        assert proc.wait(timeout=30) == 0
    helper, child = (int(v) for v in line.split())
    try:
        assert helper and _running(child)
        assert wait_until(lambda: not _running(helper), 10.0), "the helper outlived its parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)
