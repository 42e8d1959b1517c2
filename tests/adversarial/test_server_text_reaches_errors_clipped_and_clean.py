"""What a hostile server writes in its status line never reaches a log as it was sent.

The reason phrase is the server's text: 60 KB of it, with ESC, BEL, NUL,
NEL (U+0085), U+2028 or bidi controls, must come out of every transport
(PushClient's own client, urllib3's through ``webpush()``) clipped and
without control characters, in ``response.reason`` and in the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from servers.hostile import CLOSE, octets
from servers.loopback import Server
from webpush_core import EndpointPolicy, PushClient, WebPushException, webpush
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def one_answer(answer: bytes) -> Server:
    """Answers every request on loopback with the same octets, then closes."""
    return Server(octets(answer + CLOSE))


@pytest.fixture
def sub() -> Iterator[dict[str, Any]]:
    with LocalPushService() as service:
        yield service.subscribe()


REASONS = {
    # About 50 KB each: under both clients' limits for a status line (64 KiB).
    "c0": b"\x1b[31mPWNED\x07\x00" * 4500,
    "c1": b"\x85\x9b2J" * 12500,  # obs-text: valid octets, C1 controls in latin-1
    "unicode": "\u2028\u202eevil\u2066".encode() * 3500,  # UTF-8 octets, obs-text
}


@pytest.mark.parametrize("kind", sorted(REASONS))
@pytest.mark.parametrize("transport", ["own", "urllib3"])
def test_reason_phrase_is_clipped_and_clean(sub: dict[str, Any], kind: str, transport: str) -> None:
    server = one_answer(
        b"HTTP/1.1 400 " + REASONS[kind] + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    endpoint = f"http://127.0.0.1:{server.port}/push/x"
    info = {**sub, "endpoint": endpoint}
    try:
        if transport == "own":
            with PushClient(endpoint_policy=LOCAL, max_retries=0) as client:
                result = client.send(info, b"hi")
            error = result.error
            response = result.response
        else:
            with pytest.raises(WebPushException) as excinfo:
                webpush(info, "hi", endpoint_policy=LOCAL, timeout=5)
            error = excinfo.value
            response = excinfo.value.response
    finally:
        server.stop()
    assert error is not None
    text = str(error)
    assert len(text) < 1000 and not UNSAFE.search(text), text[:200]
    if response is not None:  # the own client refuses C0 in a status line outright
        assert len(response.reason) <= 100 and not UNSAFE.search(response.reason)
    else:
        assert transport == "own" and kind == "c0" and "control character" in text


def test_status_line_controls_do_not_reach_urllib3_errors(sub: dict[str, Any]) -> None:
    # urllib3's error for a bad status line (http.client.BadStatusLine) is the
    # line as received: it was clipped and its whitespace collapsed, but ESC,
    # BEL and other C0 controls were kept, so a server wrote terminal escapes
    # into errors and logs.
    server = one_answer(b"HTTP/1.1 2\x1b]0;owned\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n")
    try:
        with pytest.raises(WebPushException) as caught:
            info = {**sub, "endpoint": f"http://127.0.0.1:{server.port}/push/x"}
            webpush(info, "hi", endpoint_policy=LOCAL, timeout=5)
    finally:
        server.stop()
    text = str(caught.value)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text), repr(text)
