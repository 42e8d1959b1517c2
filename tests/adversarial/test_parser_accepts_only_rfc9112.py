"""The HTTP/1.1 response parser accepts RFC 9112's grammar and nothing else.

Anything outside it is an HTTPProtocolError (after which the connection is
dropped), whether it comes in one read or one octet at a time; octets after
a complete response mean the connection is never reused.
"""

from __future__ import annotations

import pytest

from webpush_core._wire.http1 import HTTPProtocolError, ResponseParser


def feed_all(parser: ResponseParser, data: bytes, piece: int) -> None:
    for i in range(0, len(data), piece):
        parser.feed(data[i : i + piece])
        if parser.done:
            return


# --------------------------------------------------------------------------
# Grammar (RFC 9112): everything else is an error.

OK = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 000 Zero\r\n\r\n",
        b"HTTP/1.1 099 Low\r\n\r\n",
        b"HTTP/1.1 600 High\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x00K\r\n\r\n",  # NUL in the reason
        b"HTTP/1.1 200 O\rK\r\n\r\n",  # bare CR in the reason
        b"HTTP/1.1 200 O\x1bK\r\n\r\n",  # ESC in the reason
        b"HTTP/1.11 200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        OK + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n",  # NUL in a value
        OK + b"X-A: a\rb\r\nContent-Length: 0\r\n\r\n",  # bare CR in a value
        OK + b"X-A: a\x7fb\r\nContent-Length: 0\r\n\r\n",  # DEL in a value
        OK + b"X-A: a\x1bb\r\nContent-Length: 0\r\n\r\n",  # ESC in a value
        OK + b"X\x00A: a\r\nContent-Length: 0\r\n\r\n",  # NUL in a name
        OK + b"X A: a\r\nContent-Length: 0\r\n\r\n",  # space in a name
        OK + b"X-A : a\r\nContent-Length: 0\r\n\r\n",  # space before the colon
        OK + b": a\r\nContent-Length: 0\r\n\r\n",  # empty name
        OK + b"X(A): a\r\nContent-Length: 0\r\n\r\n",  # a delimiter in a name
        OK + b"Content-Length: \x0b5\r\n\r\nhello",  # VT is not OWS
        OK + b"Content-Length: 5\x0b\r\n\r\nhello",
        OK + b"Content-Length: 5\x0c\r\n\r\nhello",  # nor FF
        OK + b"Content-Length: +5\r\n\r\nhello",
        OK + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        OK + b"Content-Length: 1" + b"0" * 18 + b"\r\n\r\n",
        OK + b"Transfer-Encoding: \r\nContent-Length: 2\r\n\r\nok",  # empty TE beside CL
        OK + b"Transfer-Encoding: ,\r\n\r\nok",
        OK + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        OK + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        OK + b"Transfer-Encoding: chunked\r\n\r\n1 ;\x00\r\nx\r\n0\r\n\r\n",  # NUL in an ext
        OK + b"Transfer-Encoding: chunked\r\n\r\n-1\r\n",
        OK + b"Transfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n",
        OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX\x00: t\r\n\r\n",  # bad trailer
        OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: t\x00\r\n\r\n",
    ],
)
def test_outside_the_grammar_is_an_error(data: bytes) -> None:
    for piece in (len(data), 1):
        with pytest.raises(HTTPProtocolError):
            feed_all(ResponseParser(100), data, piece)


@pytest.mark.parametrize(
    ("data", "status", "reason", "headers", "body", "keep_alive"),
    [
        # A reason phrase may be empty, or left out with its space.
        (
            b"HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n",
            201,
            "",
            [("Content-Length", "0")],
            b"",
            True,
        ),
        (
            b"HTTP/1.1 201 \r\nContent-Length: 0\r\n\r\n",
            201,
            "",
            [("Content-Length", "0")],
            b"",
            True,
        ),
        # obs-text in a reason or a value is kept (latin-1), HTAB is whitespace.
        (
            b"HTTP/1.1 404 Nicht gefunden \xe4\r\nX-A:\t v \t\r\nContent-Length: 0\r\n\r\n",
            404,
            "Nicht gefunden \xe4",
            [("X-A", "v"), ("Content-Length", "0")],
            b"",
            True,
        ),
        # A later minor version is read as 1.1 (RFC 9110 §2.5).
        (
            b"HTTP/1.2 201 OK\r\nContent-Length: 1\r\n\r\nx",
            201,
            "OK",
            [("Content-Length", "1")],
            b"x",
            True,
        ),
        # Transfer-Encoding in HTTP/1.0: read, never reused (RFC 9112 §6.1).
        (
            b"HTTP/1.0 500 X\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
            500,
            "X",
            [("Transfer-Encoding", "chunked")],
            b"x",
            False,
        ),
        # A coding other than chunked last: the body runs until the close.
        (
            b"HTTP/1.1 500 X\r\nTransfer-Encoding: gzip\r\n\r\nzz",
            500,
            "X",
            [("Transfer-Encoding", "gzip")],
            b"zz",
            False,
        ),
    ],
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
