"""Another party's text reaches errors, logs and reprs without invisible or control characters.

One function (``webpush_core._text.clean``) cleans every display of it. Here:
that function over every code point of the categories it removes (Cc, Cf, Zl,
Zp, and Cs), at its clip limit and one past; then each place that shows
another party's words, driven by a hostile peer on loopback: a push service's
reason phrase and body on both transports, a forward proxy's answer to
CONNECT on both transports, and a request path in the local test service.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest

from webpush_core import EndpointPolicy, PushClient, WebPushException, _reasons, webpush
from webpush_core._reasons import MAX_DETAIL
from webpush_core._wire import proxy as _proxy
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
# What must never be shown: the categories of control, format and separator
# characters, and lone surrogates (they cannot be written as UTF-8).
REMOVED = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
CATEGORIES = sorted(REMOVED)


def clean(text: str, limit: int) -> str:
    from webpush_core._text import clean as the_function

    return the_function(text, limit)


# Every cleaning entry point the library has: all of them are that one function.
CLEANERS = {
    "clean": clean,
    "_reasons.clip": _reasons.clip,
    "_wire.proxy.clip": lambda text, limit: _proxy.clip(text),
}


def code_points(category: str) -> list[str]:
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == category]


# The characters a reviewer found passing the old cleaning, by name: each must go too.
NAMED = {
    "ARABIC LETTER MARK": "\u061c",
    "ZERO WIDTH SPACE": "\u200b",
    "ZERO WIDTH JOINER": "\u200d",
    "RIGHT-TO-LEFT OVERRIDE": "\u202e",
    "ZERO WIDTH NO-BREAK SPACE": "\ufeff",
    "INHIBIT SYMMETRIC SWAPPING": "\u206a",
    "NOMINAL DIGIT SHAPES": "\u206f",
    "TAG LATIN SMALL LETTER A": "\U000e0061",
    "CANCEL TAG": "\U000e007f",
    "LINE SEPARATOR": "\u2028",
    "PARAGRAPH SEPARATOR": "\u2029",
    "NEXT LINE (C1)": "\x85",
    "CONTROL SEQUENCE INTRODUCER (C1)": "\x9b",
    "ESCAPE": "\x1b",
    "DELETE": "\x7f",
    "SOFT HYPHEN": "\xad",
}
# One string holding all of them between visible words, as a hostile server would.
HOSTILE = "start " + " ".join(f"w{i}{c}x" for i, c in enumerate(NAMED.values())) + " end"


def shown_safely(text: str) -> bool:
    return not any(unicodedata.category(c) in REMOVED for c in text)


@pytest.mark.parametrize("cleaner", sorted(CLEANERS))
@pytest.mark.parametrize("category", CATEGORIES)
def test_cleaning_removes_every_code_point_of_the_category(category: str, cleaner: str) -> None:
    function = CLEANERS[cleaner]
    chars = code_points(category)
    assert chars, category
    for char in chars:
        out = function(f"a{char}b", 100)
        assert out in ("ab", "a b"), (hex(ord(char)), out)
    # Many at once, in pieces the clip never cuts.
    step = 20
    for start in range(0, len(chars), step):
        out = function("".join(chars[start : start + step]) + "visible", 100)
        assert out == "visible", (category, start)


def test_the_reviewers_characters_are_in_the_removed_categories() -> None:
    from webpush_core._text import REMOVED as removed_by_the_library

    assert removed_by_the_library == REMOVED
    for name, char in NAMED.items():
        assert unicodedata.category(char) in REMOVED, name


def test_clean_keeps_visible_text_and_joins_words() -> None:
    out = clean(HOSTILE, 10_000)
    assert shown_safely(out)
    assert out.startswith("start w0") and out.endswith(" end")
    assert "w1x" in out  # a format character vanishes inside a word
    assert (
        clean("\u00e9t\u00e9\n\u4e2d\u6587\t\U0001f600", 50)
        == "\u00e9t\u00e9 \u4e2d\u6587 \U0001f600"
    )


@pytest.mark.parametrize("limit", [10, 100, MAX_DETAIL])
def test_clean_clips_at_the_limit_and_one_past(limit: int) -> None:
    exact = "x" * limit
    assert clean(exact, limit) == exact
    over = clean(exact + "y", limit)
    assert len(over) == limit and over.endswith("...")
    # Invisible characters do not count toward the limit, and cannot hide the cut.
    padded = "\u200b".join(exact)
    assert clean(padded, limit) == exact


def test_clean_work_is_bounded_by_the_limit() -> None:
    huge = "\u202e" * 5_000_000 + "tail"
    assert clean(huge, 100) == ""  # only the first 400 characters are looked at
    assert clean("a" * 5_000_000, 100) == "a" * 97 + "..."


# --------------------------------------------------------------------------
# Every place that shows a server's words, with a hostile server on loopback


class OneAnswer:
    """Answers every request with the same bytes, then closes; on loopback."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
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
                self.heads.append(data)
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sub() -> Iterator[dict[str, Any]]:
    with LocalPushService() as service:
        yield service.subscribe()


def _send(transport: str, info: dict[str, Any], **options: Any) -> WebPushException:
    if transport == "own":
        with PushClient(endpoint_policy=LOCAL, max_retries=0, **options) as client:
            error = client.send(info, b"hi").error
        assert isinstance(error, WebPushException)
        return error
    with pytest.raises(WebPushException) as info_:
        webpush(info, "hi", endpoint_policy=LOCAL, **options)
    return info_.value


@pytest.mark.parametrize("transport", ["own", "urllib3"])
@pytest.mark.parametrize("shape", ["json", "text"])
def test_push_service_reason_and_body_reach_errors_clean(
    sub: dict[str, Any], transport: str, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The reason phrase: invisible text as UTF-8 octets (obs-text, RFC 9110 §5.5);
    # ASCII controls in it are refused by the grammar (test_hostile_reason.py).
    words = "".join(c for c in HOSTILE if not (c < " " or c == "\x7f")).encode()
    if shape == "json":  # autopush's dialect: the message member is the detail
        import json

        body = json.dumps({"code": 400, "errno": 999, "message": HOSTILE}).encode()
        kind = b"application/json"
    else:
        body, kind = HOSTILE.encode(), b"text/plain; charset=utf-8"
    server = OneAnswer(
        b"HTTP/1.1 400 " + words + b"\r\nContent-Type: " + kind
        + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
    )  # fmt: skip
    info = {**sub, "endpoint": f"http://127.0.0.1:{server.port}/push/x"}
    try:
        with caplog.at_level(logging.DEBUG):
            error = _send(transport, info)
    finally:
        server.close()
    assert error.response is not None, error
    assert error.response.status_code == 400
    texts = [str(error), error.detail, error.response.reason, repr(error)]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        assert shown_safely(text), ascii(text)
    assert "start" in error.detail and "end" in error.detail  # the words themselves remain


@pytest.mark.parametrize("transport", ["own", "urllib3"])
def test_a_proxys_answer_to_connect_reaches_the_error_clean(
    sub: dict[str, Any], transport: str
) -> None:
    # latin-1 is how a status line's octets are read: C1 controls and the soft
    # hyphen (Cf) are what invisible text becomes there.
    reason = b"Denied \x9b2J\x1b]52;c;cHduZWQ=\x07 by\xad policy\x85 ok"
    proxy = OneAnswer(b"HTTP/1.1 403 " + reason + b"\r\nContent-Length: 0\r\n\r\n")
    info = {**sub, "endpoint": "https://push.example.com/push/x"}
    try:
        error = _send(transport, info, proxy=f"http://127.0.0.1:{proxy.port}")
    finally:
        proxy.close()
    assert proxy.heads and proxy.heads[0].startswith(b"CONNECT push.example.com:443")
    text = str(error)
    assert "403" in text and "Denied" in text and "policy" in text, text
    assert shown_safely(text), ascii(text)


def test_the_local_test_service_shows_a_request_path_clean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with LocalPushService() as service, caplog.at_level(logging.DEBUG, "webpush_core.testing"):
        host, port = service.url.split("//", 1)[1].split(":")
        with socket.create_connection((host, int(port))) as conn:
            # (no tag character: its UTF-8 octets hold 0xA0, which http.server splits on)
            path = "/push/\x1b[2J\x1b]0;owned\x07\u202e\u061c\u200bx".encode()
            conn.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.")
        recorded = service.requests
    assert recorded, "the request was not recorded"
    shown = [repr(r) for r in recorded] + [r.getMessage() for r in caplog.records]
    assert any("/push/" in text for text in shown)
    for text in shown:
        assert shown_safely(text), ascii(text)
