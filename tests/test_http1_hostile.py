"""The HTTP/1.1 response parser against a hostile push service.

Two properties: the work is linear in the octets received, however the
stream is cut (measured: CPU per octet for 1 MiB of each hostile stream
against 64 KiB of the same), and the grammar is RFC 9112's: anything else
is an HTTPProtocolError, after which the connection is dropped.
"""

from __future__ import annotations

import time

import pytest

from http1_cases import (
    INSIDE_THE_GRAMMAR,
    OUTSIDE_THE_GRAMMAR,
    STREAMS,
    chunk_extensions,
    interim_flood,
    long_field,
    one_octet_chunks,
    trailers,
    wide_fields,
)
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
