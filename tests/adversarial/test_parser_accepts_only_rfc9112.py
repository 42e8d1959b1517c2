"""The HTTP/1.1 response parser accepts RFC 9112's grammar and nothing else.

Anything outside it is an HTTPProtocolError (after which the connection is
dropped), whether it comes in one read or one octet at a time; octets after
a complete response mean the connection is never reused.
"""

from __future__ import annotations

import pytest

from http1_cases import INSIDE_THE_GRAMMAR, OUTSIDE_THE_GRAMMAR
from webpush_core._wire.http1.limits import HTTPProtocolError
from webpush_core._wire.http1.parser import ResponseParser


def feed_all(parser: ResponseParser, data: bytes, piece: int) -> None:
    for i in range(0, len(data), piece):
        parser.feed(data[i : i + piece])
        if parser.done:
            return


# --------------------------------------------------------------------------
# Grammar (RFC 9112): everything else is an error.


@pytest.mark.parametrize("data", OUTSIDE_THE_GRAMMAR)
def test_outside_the_grammar_is_an_error(data: bytes) -> None:
    for piece in (len(data), 1):
        with pytest.raises(HTTPProtocolError):
            feed_all(ResponseParser(100), data, piece)


@pytest.mark.parametrize(
    ("data", "status", "reason", "headers", "body", "keep_alive"), INSIDE_THE_GRAMMAR
)
def test_inside_the_grammar(
    data: bytes,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    body: bytes,
    keep_alive: bool,
) -> None:
    for piece in (len(data), 1):
        parser = ResponseParser(100)
        feed_all(parser, data, piece)
        if not parser.done:
            parser.feed_eof()
        assert (parser.status, parser.reason, parser.headers) == (status, reason, headers)
        assert parser.body == body and parser.keep_alive is keep_alive


def test_octets_after_the_response_mean_no_reuse_even_in_a_later_read() -> None:
    parser = ResponseParser(100)
    parser.feed(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert parser.done and parser.keep_alive
    parser.feed(b"HTTP/1.1 201 Created\r\n")
    assert not parser.keep_alive
