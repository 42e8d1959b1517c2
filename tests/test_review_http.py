"""Review of PushClient's own HTTP/1.1 client, its connections and its helper process.

Each test here stood for a problem found in review (it failed before the
fix next to it), or for a guarantee checked end to end against real TLS
servers and the node peer.
"""

from __future__ import annotations

import pytest

from webpush_core._http1 import MAX_HEAD, HTTPProtocolError, ResponseParser


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
