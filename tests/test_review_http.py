"""Review of PushClient's own HTTP/1.1 client, its connections and its helper process.

Each test here stood for a problem found in review (it failed before the
fix next to it), or for a guarantee checked end to end against real TLS
servers and the node peer.
"""

from __future__ import annotations

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
