"""``webpush-core send`` prints nothing a push service wrote as it was written.

A hostile push service on loopback answers with terminal escapes (a window
title ``ESC ]0;...BEL``, a screen clear ``ESC [2J``, an OSC 52 clipboard
write) and invisible text in its reason phrase and body. Whatever the CLI
prints of it, on stdout (a 2xx) or stderr (a refusal, ``--verbose`` lines),
holds no character of the categories Cc, Cf, Zl, Zp (or a lone surrogate).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import pathlib
import socket
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from webpush_core._cli import main
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

REMOVED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
ESCAPES = (
    "\x1b]0;you have been owned\x07"  # set the window title
    "\x1b[2J\x1b[H"  # clear the screen
    "\x1b]52;c;cm0gLXJmIH4=\x07"  # OSC 52: write "rm -rf ~" to the clipboard
    "\x9b31m"  # C1 CSI: red, on terminals that read 8-bit controls
)
INVISIBLE = "\u202e\u061c\u200b\ufeff\u206a\U000e0041\u2028\u2029"
BODY = f"queued {ESCAPES} for {INVISIBLE} delivery"
# A reason phrase may hold only obs-text beyond ASCII: the invisible text, as UTF-8.
REASON = f"Created {INVISIBLE} fine"


def safe(printed: str) -> bool:
    """No removed character in any printed line (print's own line ends aside;
    split on "\n" only, as str.splitlines would hide U+2028 and friends)."""
    lines = printed.split("\n")
    return not any(unicodedata.category(c) in REMOVED for line in lines for c in line)


class Hostile:
    """One status line, header section and body for every request, on loopback."""

    def __init__(self, status: int) -> None:
        body = BODY.encode()
        self.answer = (
            f"HTTP/1.1 {status} ".encode() + REASON.encode()
            + b"\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close"
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )  # fmt: skip
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.served = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                # Counted before answering: once the answer is out, the test may
                # read the count before this thread runs again.
                self.served += 1
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def files(tmp_path: pathlib.Path) -> Iterator[dict[str, str]]:
    vapid = Vapid.generate()
    key = tmp_path / "private_key.pem"
    vapid.save_key(key)
    with LocalPushService() as service:  # only for a subscription's keys
        sub: dict[str, Any] = service.subscribe()
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"sub": "mailto:ops@example.com"}))
    yield {"key": str(key), "claims": str(claims), "sub": json.dumps(sub), "dir": str(tmp_path)}


def run_send(files: dict[str, str], port: int, *extra: str) -> tuple[int, str, str]:
    sub = json.loads(files["sub"])
    sub["endpoint"] = f"http://127.0.0.1:{port}/push/x"
    info = pathlib.Path(files["dir"]) / "subscription.json"
    info.write_text(json.dumps(sub))
    argv = ["send", "--info", str(info), "--key", files["key"], "--claims", files["claims"]]
    argv += ["--allow-private", "--message", "hi", *extra]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv, out=out)
    return status, out.getvalue(), err.getvalue()


def test_send_prints_a_2xx_reason_and_body_without_escapes_or_invisible_text(
    files: dict[str, str],
) -> None:
    server = Hostile(201)
    try:
        status, out, err = run_send(files, server.port)
    finally:
        server.close()
    assert status == 0, err
    assert server.served == 1
    assert out.startswith("201 Created") and "fine" in out
    assert "queued" in out and "delivery" in out  # the words, without what hid in them
    assert safe(out), ascii(out)
    assert safe(err), ascii(err)


def test_send_prints_a_refusal_without_escapes_or_invisible_text(files: dict[str, str]) -> None:
    server = Hostile(400)
    try:
        status, out, err = run_send(files, server.port)
    finally:
        server.close()
    assert status == 1
    assert "400" in err and "queued" in err
    assert safe(out) and safe(err), ascii(err)


def test_send_verbose_log_lines_hold_no_escapes_or_invisible_text(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # basicConfig only configures a root logger without handlers (as in a real shell).
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    server = Hostile(201)
    try:
        status, out, err = run_send(files, server.port, "--verbose")
    finally:
        server.close()
        for handler in root.handlers:
            handler.close()
    assert status == 0
    assert "answered 201" in err, err  # the verbose lines were printed
    assert safe(out) and safe(err), ascii(err)
