"""Review of PushClient's own HTTP/1.1 client, its connections and its helper process.

Each test here stood for a problem found in review (it failed before the
fix next to it), or for a guarantee checked end to end against real TLS
servers and the node peer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from webpush_core._http1 import MAX_HEAD, HTTPProtocolError, ResponseParser
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._sealer import Bodies, Sealer


def test_trailer_section_is_bounded_like_the_head() -> None:
    # The trailer fields after a chunked body were read and dropped without
    # any limit: a server could stream them until the deadline.
    parser = ResponseParser(1024)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    field = b"X-Trailer: " + b"a" * 100 + b"\r\n"
    with pytest.raises(HTTPProtocolError, match="trailer"):
        for _ in range(MAX_HEAD // len(field) + 2):
            parser.feed(field)
    assert not parser.done


def test_a_short_trailer_section_is_read() -> None:
    parser = ResponseParser(1024)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    parser.feed(b"X-A: 1\r\nX-B: 2\r\n\r\n")
    assert parser.done and parser.body == b"ok" and parser.keep_alive


def _wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


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
    (fake / "_sealer.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "struct.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    sealer = Sealer()
    try:
        sealer.start()
        assert _wait_until(lambda: sealer.ready or sealer.failed or marker.exists())
        answers: list[Bodies] = []
        point = uncompressed_point(generate_private_key().public_key())
        assert sealer.submit(b"hi", 0, [(point, b"a" * 16)], answers.append)
        assert _wait_until(lambda: bool(answers))
    finally:
        sealer.close()
    assert not marker.exists()
    assert answers[0] is not None and len(answers[0]) == 1 and answers[0][0] is not None


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
        "from webpush_core._sealer import Sealer\n"
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
        assert _wait_until(lambda: not _running(helper), 10.0), "the helper outlived its parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)
