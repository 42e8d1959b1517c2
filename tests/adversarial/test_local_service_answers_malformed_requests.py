"""LocalPushService against a client that sends what no push sender would.

Two things went wrong, both reachable by anything that can connect to the
service's loopback port:

* ``Content-Length: ²`` (``str.isdigit()`` says yes, ``int()`` says no) or
  5000 digits (over ``int()``'s limit) raised inside the handler: no answer,
  the connection dropped, and socketserver printed a traceback to stderr (a
  library prints nothing unless the application configured logging). An
  aesgcm ``rs=²`` made a 500 and an ERROR record with a traceback.
* the request line reached the log records as it came: ESC, BEL, C1 controls
  (a terminal's escape sequences), up to 64 KiB of it.

Now a malformed length or rs is a 400, a handler failure is logged (type
only) instead of printed, and a request line is clipped and cleaned.
"""

from __future__ import annotations

import logging
import re
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from webpush_core import webpush
from webpush_core.testing import LocalPushService
from webpush_core.testing._server import MAX_READ
from webpush_core.vapid import Vapid

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture
def service() -> Iterator[LocalPushService]:
    with LocalPushService() as svc:
        yield svc


def exchange(service: LocalPushService, data: bytes) -> bytes:
    """Send ``data`` on a new connection; the answer's status line (b"" if none came)."""
    port = int(service.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        answer = b""
        while b"\r\n" not in answer:
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.partition(b"\r\n")[0]


# Lengths a push service must refuse with 400 (RFC 9110 §8.6: 1*DIGIT), among
# them those str.isdigit() accepts and int() does not (or not in full).
BAD_LENGTHS = [
    "²".encode("latin-1"),
    "٣".encode(),
    b"9" * 5000,
    b"-1",
    b"+5",
    b"0x10",
    b"5 5",
    b"",
]


@pytest.mark.parametrize("length", BAD_LENGTHS, ids=lambda v: repr(v[:8]))
def test_a_malformed_content_length_gets_a_400_and_prints_nothing(
    service: LocalPushService, length: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    status = exchange(
        service, b"POST /push/x HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n" % length
    )
    assert status.startswith(b"HTTP/1.1 400 "), status
    assert capfd.readouterr().err == ""
    assert service.requests[-1].status == 400


def test_content_length_at_the_read_limit_and_one_past(service: LocalPushService) -> None:
    # One past: refused unread (413). At the limit: read (the body's bytes are
    # not sent, so the server waits; the answer to a shorter body shows it read).
    assert exchange(
        service, b"POST /push/x HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (MAX_READ + 1)
    ).startswith(b"HTTP/1.1 413 ")
    port = int(service.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"POST /push/x HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % MAX_READ)
        conn.sendall(b"\0" * MAX_READ)
        assert conn.recv(64).startswith(b"HTTP/1.1 404 ")  # no such subscription, body read


def test_a_reset_mid_request_is_logged_not_printed(
    service: LocalPushService, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = int(service.url.rsplit(":", 1)[1])
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sendall(
        b"POST /push/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
    )
    assert conn.recv(64).startswith(b"HTTP/1.1 100 ")  # the handler is reading the body now
    conn.sendall(b"abc")
    conn.close()  # RST, 97 octets short
    # The handler's failure is a log record (waited for: it is another thread's).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        "ended with" in r.getMessage() for r in caplog.records
    ):
        time.sleep(0.02)
    ended = [r.getMessage() for r in caplog.records if "ended with" in r.getMessage()]
    assert ended and "Error" in ended[0], ended
    assert capfd.readouterr().err == ""


def _latin1(text: str) -> bytes:
    """As the server decodes a head (latin-1), so "²" arrives as "²"; UTF-8 beyond it."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


@pytest.mark.parametrize("rs", ["²", "٣", "9" * 5000, "-5", "0x10"])
def test_a_malformed_aesgcm_rs_gets_a_400(
    service: LocalPushService, rs: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = Vapid.generate()
    sub = service.subscribe(application_server_key=key.application_server_key)
    sent = webpush(
        sub,
        "hi",
        key,
        {"sub": "mailto:ops@example.com"},
        content_encoding="aesgcm",
        endpoint_policy=service.endpoint_policy,
    )
    assert sent.status_code == 201
    recorded = service.messages(sub)[-1]
    headers = dict(recorded.headers)
    headers["encryption"] = re.sub(r"rs=\d+", "", headers["encryption"]) + f";rs={rs}"
    lines = b"".join(
        _latin1(f"{name}: {value}\r\n")
        for name, value in headers.items()
        if name not in ("host", "content-length")
    )
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    path = sub["endpoint"].split(service.url, 1)[1].encode()
    status = exchange(
        service,
        b"POST %s HTTP/1.1\r\nHost: a\r\n%sContent-Length: %d\r\n\r\n%s"
        % (path, lines, len(recorded.body), recorded.body),
    )
    assert status.startswith(b"HTTP/1.1 400 "), status
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# What a request line may carry that a terminal acts on (latin-1: the server
# decodes it so): ESC sequences (a title, a screen clear), BEL, CR, C1 CSI and NEL.
HOSTILE_PATHS = [
    b"/st\x1b]0;pwned\x07atus",
    b"/push/\x1b[2J\x1b[H",
    b"/push/a\x9b2J\x85b",
    b"/push/a\rforged",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS, ids=["osc", "csi", "c1", "cr"])
def test_request_lines_reach_the_log_without_control_characters(
    service: LocalPushService, path: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    exchange(service, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    messages = [r.getMessage() for r in caplog.records if "local push service:" in r.getMessage()]
    assert messages
    for message in messages:
        assert CONTROL.search(message) is None, repr(message)


def test_a_long_request_line_reaches_the_log_clipped(
    service: LocalPushService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    exchange(service, b"GET /" + b"a" * 60000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    messages = [r.getMessage() for r in caplog.records if "local push service:" in r.getMessage()]
    assert messages and all(len(m) < 400 for m in messages), [len(m) for m in messages]


def test_an_honest_push_is_still_logged_and_accepted(
    service: LocalPushService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    sub = service.subscribe()
    webpush(sub, "hello", endpoint_policy=service.endpoint_policy)
    assert service.wait_for_message(sub).text == "hello"
    logged = [r.getMessage() for r in caplog.records]
    assert any('"POST /push/' in m and " 201 " in m for m in logged), logged
