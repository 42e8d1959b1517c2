"""The work a hostile push service's answer costs us is linear in its size, and capped.

The HTTP/1.1 response parser's work is linear in the octets received,
however the stream is cut (measured: CPU per octet for 1 MiB of each hostile
stream against 64 KiB of the same), and its default limits end each hostile
stream early, trailers included. Reading the detail of an error body is
linear too, whatever charset the server names.
"""

from __future__ import annotations

import time
from typing import Callable

import pytest

from http1_cases import (
    STREAMS,
    chunk_extensions,
    interim_flood,
    long_field,
    one_octet_chunks,
    trailers,
    wide_fields,
)
from webpush_core._classify import error_for_response
from webpush_core._response import PushResponse
from webpush_core._wire.http1.limits import (
    MAX_CHUNK_LINE,
    MAX_HEAD,
    MAX_INTERIM,
    HTTPProtocolError,
)
from webpush_core._wire.http1.parser import ResponseParser

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
# Trailers and chunk lines

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


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


def test_trailer_fields_are_capped_like_header_fields() -> None:
    # Trailers were capped only by octets: 64 KiB of "a:\n" is ~21,800 field
    # lines parsed one by one, ~40 ms of the I/O thread per response.
    parser = ResponseParser(65536)
    with pytest.raises(HTTPProtocolError):
        parser.feed(CHUNKED_HEAD + b"0\r\n" + b"a:\r\n" * 1000 + b"\r\n")


def _bad_chunk_line(n: int) -> bytes:
    return CHUNKED_HEAD + b"1;" + b" " * n + b"\x00\r\n"


def _cpu_per_octet(fn: Callable[[], object], octets: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, (time.process_time() - start) / rounds)
    return best / octets


def test_a_chunk_size_line_is_parsed_in_linear_time() -> None:
    # The chunk-size line's pattern backtracked: O(n^2) for "1;", spaces and
    # one invalid octet (~0.1-0.2 s of the I/O thread for a 4 KiB line).
    def parse(n: int) -> Callable[[], object]:
        data = _bad_chunk_line(n)

        def run() -> None:
            parser = ResponseParser(65536)
            with pytest.raises(HTTPProtocolError):
                parser.feed(data)

        return run

    small = _cpu_per_octet(parse(256), 256 + 50, 200)
    large = _cpu_per_octet(parse(4080), 4080 + 50, 3)
    assert large < 3 * small, f"a 4 KiB line costs {large / small:.1f}x the CPU per octet"


# --------------------------------------------------------------------------
# The detail of an error body


def test_error_detail_work_is_linear_in_the_body_whatever_its_charset() -> None:
    # The whole body was decoded with the server's charset (punycode:
    # quadratic) before the detail was clipped.
    def detail(n: int) -> Callable[[], object]:
        response = PushResponse(
            503, "x", [("Content-Type", "text/plain; charset=punycode")], b"-" + b"9" * (n - 1)
        )
        return lambda: error_for_response(response, "http://push.test/x")

    small = _cpu_per_octet(detail(4096), 4096, 20)
    large = _cpu_per_octet(detail(65536), 65536, 1)
    assert large < 3 * small, f"64 KiB costs {large / small:.1f}x the CPU per octet of 4 KiB"
