"""The HTTP/1.1 response parser against a hostile push service.

Two properties: the work is linear in the octets received, however the
stream is cut (measured: CPU per octet for 1 MiB of each hostile stream
against 64 KiB of the same), and the grammar is RFC 9112's: anything else
is an HTTPProtocolError, after which the connection is dropped.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from webpush_core._wire.http1 import (
    MAX_CHUNK_LINE,
    MAX_HEAD,
    MAX_INTERIM,
    HTTPProtocolError,
    ResponseParser,
)

KIB = 1024
MIB = 1024 * KIB


def feed_all(parser: ResponseParser, data: bytes, piece: int) -> None:
    for i in range(0, len(data), piece):
        parser.feed(data[i : i + piece])
        if parser.done:
            return


# --------------------------------------------------------------------------
# Linear work. Each stream is built to `size` octets and parsed with limits
# raised above it, so the whole stream is parsed (the default limits would
# stop it early, which proves nothing about the cost per octet).


def interim_flood(size: int) -> bytes:
    one = b"HTTP/1.1 100 Continue\r\n\r\n"
    return one * (size // len(one)) + b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"


def long_field(size: int) -> bytes:
    return b"HTTP/1.1 201 Created\r\nX-Drip: " + b"a" * size + b"\r\nContent-Length: 0\r\n\r\n"


def wide_fields(size: int) -> bytes:
    each = size // 90
    lines = b"".join(b"X-%d: %s\r\n" % (i, b"b" * each) for i in range(90))
    return b"HTTP/1.1 201 Created\r\n" + lines + b"Content-Length: 0\r\n\r\n"


def one_octet_chunks(size: int) -> bytes:
    head = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"1\r\nx\r\n" * (size // 6) + b"0\r\n\r\n"


def chunk_extensions(size: int) -> bytes:
    head = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
    one = b"1;e=" + b"v" * 4000 + b"\r\nx\r\n"
    return head + one * (size // len(one)) + b"0\r\n\r\n"


def trailers(size: int) -> bytes:
    head = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n"
    one = b"X-Trailer: " + b"t" * 50 + b"\r\n"
    return head + one * (size // len(one)) + b"\r\n"


def until_close(size: int) -> bytes:
    return b"HTTP/1.1 500 Oops\r\n\r\n" + b"z" * size


STREAMS: dict[str, Callable[[int], bytes]] = {
    "interim-flood": interim_flood,
    "long-field": long_field,
    "wide-fields": wide_fields,
    "one-octet-chunks": one_octet_chunks,
    "chunk-extensions": chunk_extensions,
    "trailers": trailers,
    "until-close": until_close,
}


def cpu_per_octet(data: bytes, piece: int) -> float:
    piece = piece or len(data)
    best = float("inf")
    for _ in range(3):
        parser = ResponseParser(
            4 * MIB, max_head=4 * MIB, max_interim=1 << 30, max_chunks=1 << 30, max_fields=1 << 30
        )
        start = time.process_time()
        feed_all(parser, data, piece)
        if not parser.done:
            parser.feed_eof()
        best = min(best, time.process_time() - start)
        assert parser.done
    return best / len(data)


# Pieces of 7 octets (a drip: lines span many reads) and the whole stream in one
# read (many lines and chunks in one buffer). 0 stands for the whole stream.
@pytest.mark.parametrize("piece", [7, 0], ids=["drip", "one-read"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_cpu_per_octet_is_flat_from_64_kib_to_1_mib(name: str, piece: int) -> None:
    small = cpu_per_octet(STREAMS[name](64 * KIB), piece)
    large = cpu_per_octet(STREAMS[name](MIB), piece)
    # Linear work gives a ratio near 1; re-searching or re-copying the
    # buffer per line, chunk or read gives ~16 (the size ratio) or more.
    assert large <= 3 * small + 1e-8, f"{name}: {large / small:.1f}x the CPU per octet"


# --------------------------------------------------------------------------
# Caps at the default limits: each hostile stream ends in an error early.


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (interim_flood(MIB), "interim"),
        (long_field(MIB), "longer than"),
        (wide_fields(MIB), "longer than"),
        (chunk_extensions(MIB), "chunk extensions longer"),
        (one_octet_chunks(MIB), "chunks"),
        (trailers(MIB), "trailer fields"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 5000, "chunk size"),
    ],
    ids=["interim", "field", "fields", "extensions", "chunks", "trailers", "chunk-line"],
)
def test_default_limits_stop_a_hostile_stream(data: bytes, match: str) -> None:
    parser = ResponseParser(65536)
    with pytest.raises(HTTPProtocolError, match=match):
        feed_all(parser, data, 4096)
    # It stopped at the limit, not at the end of the stream.
    assert parser.received <= MAX_HEAD + MAX_CHUNK_LINE + 2 * 4096


def test_interim_responses_up_to_the_limit_are_skipped() -> None:
    data = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" * MAX_INTERIM
    parser = ResponseParser(100)
    parser.feed(data + b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert parser.done and parser.status == 201 and parser.headers == [("Content-Length", "0")]


def test_the_head_budget_covers_interim_responses_too() -> None:
    interim = b"HTTP/1.1 100 Continue\r\nX: " + b"p" * 20000 + b"\r\n\r\n"
    parser = ResponseParser(100)
    with pytest.raises(HTTPProtocolError, match="longer than"):
        parser.feed(interim * 4)


def test_one_octet_chunks_end_at_the_body_cap() -> None:
    parser = ResponseParser(1000, max_chunks=2000)
    feed_all(parser, one_octet_chunks(MIB), 4096)
    assert parser.done and not parser.complete and not parser.keep_alive
    assert parser.body == b"x" * 1000
    assert parser.received < 16 * KIB  # it stopped reading there


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
