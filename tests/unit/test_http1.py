"""The sans-IO HTTP/1.1 layer PushClient sends with (webpush_core._wire.http1).

Responses are fed as bytes, whole, split at every point, or byte by byte:
the parse must not depend on how the socket happened to cut them. The
oracle for status, headers and body is the response the test built.
"""

from __future__ import annotations

import tracemalloc
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from http1_cases import CHUNKED, CREATED, KEEP_ALIVE, MALFORMED
from webpush_core._wire.http1.limits import (
    MAX_CHUNK_LINE,
    MAX_CHUNKS,
    MAX_HEAD,
    MAX_HEADERS,
    MAX_INTERIM,
    HTTPProtocolError,
)
from webpush_core._wire.http1.parser import ResponseParser
from webpush_core._wire.http1.request import encode_request


def parse(chunks: list[bytes], limit: int = 65536, eof: bool = False) -> ResponseParser:
    parser = ResponseParser(limit)
    for chunk in chunks:
        if chunk:
            parser.feed(chunk)
    if eof:
        parser.feed_eof()
    return parser


def splits(data: bytes) -> list[list[bytes]]:
    """The data whole, cut at every point in two, and byte by byte."""
    cuts = [[data]] + [[data[:i], data[i:]] for i in range(1, len(data))]
    return [*cuts, [data[i : i + 1] for i in range(len(data))]]


# --------------------------------------------------------------------------
# Requests


def test_encode_request_is_one_buffer_with_host_and_length() -> None:
    data = encode_request(
        "POST", "/push/abc?x=1", "push.example.net", {"TTL": "60", "Urgency": "high"}, b"\x00\xff"
    )
    assert data == (
        b"POST /push/abc?x=1 HTTP/1.1\r\nHost: push.example.net\r\nTTL: 60\r\n"
        b"Urgency: high\r\nContent-Length: 2\r\n\r\n\x00\xff"
    )


def test_encode_request_empty_body_says_zero() -> None:
    data = encode_request("POST", "/p", "h:8443", {}, b"")
    assert data.endswith(b"Host: h:8443\r\nContent-Length: 0\r\n\r\n")


# --------------------------------------------------------------------------
# Framing


@pytest.mark.parametrize("chunks", splits(CREATED))
def test_content_length_zero(chunks: list[bytes]) -> None:
    p = parse(chunks)
    assert p.done and p.status == 201 and p.reason == "Created"
    assert p.headers == [("Location", "/m/1"), ("Content-Length", "0")]
    assert p.body == b"" and p.complete and p.keep_alive


@pytest.mark.parametrize("chunks", splits(CHUNKED))
def test_chunked_after_an_interim_response(chunks: list[bytes]) -> None:
    p = parse(chunks)
    assert p.done and p.status == 410 and p.body == b"hello world"
    assert ("Content-Type", "text/plain") in p.headers and p.keep_alive


def test_until_close_body_needs_the_eof() -> None:
    p = parse([b"HTTP/1.1 500 Oops\r\n\r\npart one ", b"part two"])
    assert not p.done
    p.feed_eof()
    assert p.done and p.body == b"part one part two" and not p.keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    p = parse([f"HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n".encode()])
    assert p.done and p.body == b"" and p.keep_alive


@pytest.mark.parametrize(("head", "keep_alive"), KEEP_ALIVE)
def test_keep_alive_decision(head: bytes, keep_alive: bool) -> None:
    p = parse([head])
    assert p.done and p.body == b"ok" and p.keep_alive is keep_alive


def test_bare_lf_line_ends_and_obs_fold() -> None:
    p = parse([b"HTTP/1.1 400 Bad\nX-Long: one\n  two\nContent-Length: 1\n\nx"])
    assert p.done and p.headers[0] == ("X-Long", "one two") and p.body == b"x"


def test_repeated_identical_content_length_is_one() -> None:
    p = parse([b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"])
    assert p.done and p.body == b"abc"


# --------------------------------------------------------------------------
# Limits


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_body_over_the_limit_is_cut_and_the_connection_not_reused(framing: str) -> None:
    body = b"y" * 1000
    if framing == "length":
        data = b"HTTP/1.1 500 X\r\nContent-Length: 1000\r\n\r\n" + body
    elif framing == "chunked":
        head = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n"
        data = head + b"3e8\r\n" + body + b"\r\n0\r\n\r\n"
    else:
        data = b"HTTP/1.1 500 X\r\n\r\n" + body
    for chunks in ([data], [data[i : i + 7] for i in range(0, len(data), 7)]):
        p = parse(chunks, limit=100)
        assert p.done, framing  # no need to read the rest
        assert p.body == body[:100] and not p.complete and not p.keep_alive


def test_head_longer_than_the_limit() -> None:
    p = ResponseParser(100)
    with pytest.raises(HTTPProtocolError, match="headers longer"):
        p.feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_HEAD + 10))


def test_too_many_header_fields() -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1))
    with pytest.raises(HTTPProtocolError, match="header fields"):
        parse([b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n"])


# --------------------------------------------------------------------------
# Malformed


@pytest.mark.parametrize(("data", "match"), MALFORMED)
def test_malformed(data: bytes, match: str) -> None:
    with pytest.raises(HTTPProtocolError, match=match):
        parse([data])


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        ([], "before the response"),
        ([b"HTTP/1.1 201 Cre"], "mid-response"),
        ([b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nab"], "mid-response"),
        ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"], "mid-response"),
    ],
)
def test_eof_before_the_end(chunks: list[bytes], match: str) -> None:
    parser = parse(chunks)
    with pytest.raises(HTTPProtocolError, match=match):
        parser.feed_eof()
    assert parser.received == sum(len(c) for c in chunks)


# --------------------------------------------------------------------------
# Property: any response, any cut


_token = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=12)
_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    status=st.integers(200, 599).filter(lambda s: s not in (204, 304)),
    headers=st.lists(
        st.tuples(_token, _value).filter(
            lambda h: h[0].lower() not in ("content-length", "transfer-encoding", "connection")
        ),
        max_size=6,
    ),
    body=st.binary(max_size=300),
    chunked=st.booleans(),
    chunk_size=st.integers(1, 50),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    limit=st.one_of(st.none(), st.integers(0, 300)),
)
def test_any_response_any_cut(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    chunked: bool,
    chunk_size: int,
    cuts: list[int],
    limit: Optional[int],
) -> None:
    lines = [f"HTTP/1.1 {status} Reason Phrase"] + [f"{n}: {v}" for n, v in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        pieces = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
        payload = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    cap = 65536 if limit is None else limit
    p = parse(chunks, limit=cap)
    assert p.done and p.status == status and p.reason == "Reason Phrase"
    assert p.headers[: len(headers)] == [(n, v.strip()) for n, v in headers]
    assert p.body == body[:cap]
    assert p.complete == (len(body) <= cap)
    assert p.keep_alive == (len(body) <= cap)


# --------------------------------------------------------------------------
# Every limit at the limit and one past it, whole and dripped (7 octets a read)


def drips(data: bytes) -> list[list[bytes]]:
    return [[data], [data[i : i + 7] for i in range(0, len(data), 7)]]


def head_of(size: int) -> bytes:
    """A head of exactly ``size`` octets, empty line included."""
    start, end = b"HTTP/1.1 201 Created\r\nX-Pad: ", b"\r\nContent-Length: 0\r\n\r\n"
    return start + b"p" * (size - len(start) - len(end)) + end


def feed(parser: ResponseParser, chunks: list[bytes]) -> ResponseParser:
    for chunk in chunks:
        parser.feed(chunk)
    return parser


@pytest.mark.parametrize("max_head", [MAX_HEAD, 300])
def test_the_head_at_its_cap_and_one_past(max_head: int) -> None:
    for chunks in drips(head_of(max_head)):
        p = feed(ResponseParser(10, max_head=max_head), chunks)
        assert p.done and p.status == 201 and p.headers[0][0] == "X-Pad"
    for chunks in drips(head_of(max_head + 1)):
        with pytest.raises(
            HTTPProtocolError, match=f"^response headers longer than {max_head} octets$"
        ):
            feed(ResponseParser(10, max_head=max_head), chunks)


def test_the_head_cap_counts_a_bare_lf_end_as_sent() -> None:
    head = b"HTTP/1.1 201 Created\nX-Pad: " + b"p" * 50 + b"\nContent-Length: 0\n\n"
    assert ResponseParser(10, max_head=len(head)).feed(head) is None
    with pytest.raises(HTTPProtocolError, match="headers longer than"):
        ResponseParser(10, max_head=len(head) - 1).feed(head)


def test_interim_heads_count_against_the_same_cap() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    p = ResponseParser(10, max_head=len(interim) * 2 + len(final))
    p.feed(interim * 2 + final)
    assert p.done and p.status == 201
    with pytest.raises(HTTPProtocolError, match="headers longer than"):
        ResponseParser(10, max_head=len(interim) * 2 + len(final) - 1).feed(interim * 2 + final)


def fields(count: int) -> bytes:
    return b"".join(b"X-%d: v\r\n" % i for i in range(count))


def test_header_fields_at_the_cap_and_one_past() -> None:
    p = parse([b"HTTP/1.1 200 OK\r\n" + fields(MAX_HEADERS - 1) + b"Content-Length: 0\r\n\r\n"])
    assert p.done and len(p.headers) == MAX_HEADERS
    with pytest.raises(
        HTTPProtocolError,
        match=rf"^more than {MAX_HEADERS} response header fields "
        r"\(lines, continuations included\)$",
    ):
        parse([b"HTTP/1.1 200 OK\r\n" + fields(MAX_HEADERS) + b"Content-Length: 0\r\n\r\n"])
    p = ResponseParser(10, max_fields=3)
    p.feed(b"HTTP/1.1 200 OK\r\n" + fields(2) + b"Content-Length: 0\r\n\r\n")
    assert p.done and len(p.headers) == 3
    with pytest.raises(
        HTTPProtocolError,
        match=r"^more than 3 response header fields \(lines, continuations included\)$",
    ):
        ResponseParser(10, max_fields=3).feed(b"HTTP/1.1 200 OK\r\n" + fields(4) + b"\r\n")


@pytest.mark.parametrize("max_interim", [MAX_INTERIM, 2])
def test_interim_responses_at_the_cap_and_one_past(max_interim: int) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    p = ResponseParser(10, max_interim=max_interim)
    p.feed(interim * max_interim + final)
    assert p.done and p.status == 201 and p.headers == [("Content-Length", "0")]
    with pytest.raises(
        HTTPProtocolError, match=rf"^more than {max_interim} interim \(1xx\) responses$"
    ):
        ResponseParser(10, max_interim=max_interim).feed(interim * (max_interim + 1) + final)


def test_until_the_final_head_the_status_is_not_an_interim_ones() -> None:
    # A 100 Continue is not an answer: a timeout now is "waiting for" the push service.
    p = ResponseParser(10)
    p.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2")
    assert (p.done, p.status, p.reason, p.headers) == (False, 0, "", [])


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_a_chunk_size_line_at_its_cap_and_one_past(ending: bytes) -> None:
    at_cap = b"1;e=" + b"v" * (MAX_CHUNK_LINE - 4)  # MAX_CHUNK_LINE octets, line end aside
    data = CHUNKED_HEAD + at_cap + ending + b"x\r\n0\r\n\r\n"
    for chunks in drips(data):
        p = parse(chunks)
        assert p.done and p.body == b"x"
    for chunks in drips(CHUNKED_HEAD + at_cap + b"v" + ending + b"x\r\n0\r\n\r\n"):
        with pytest.raises(
            HTTPProtocolError, match=f"^chunk size line longer than {MAX_CHUNK_LINE} octets$"
        ):
            parse(chunks)


def test_a_chunk_size_line_is_refused_as_soon_as_it_cannot_fit() -> None:
    # The limit, then the CR of its line end: still waiting for the LF ...
    p = ResponseParser(10)
    p.feed(CHUNKED_HEAD + b"1;e=" + b"v" * (MAX_CHUNK_LINE - 4) + b"\r")
    assert not p.done
    p.feed(b"\nx\r\n0\r\n\r\n")
    assert p.done and p.body == b"x"
    # ... one octet more and no LF can make it a line of the limit: refused now.
    p = ResponseParser(10)
    with pytest.raises(HTTPProtocolError, match="chunk size line longer than"):
        p.feed(CHUNKED_HEAD + b"1;e=" + b"v" * (MAX_CHUNK_LINE - 3) + b"\r")


def test_chunk_extensions_at_their_cap_and_one_past() -> None:
    # All the chunk extensions of a body together count against max_head.
    line = b"1;" + b"e" * 48  # 49 octets of extension each
    body = (line + b"\r\nx\r\n") * 2 + b"0;ee\r\n\r\n"  # 49 + 49 + 3 = 101
    p = ResponseParser(10, max_head=101)
    p.feed(CHUNKED_HEAD + body)
    assert p.done and p.body == b"xx"
    with pytest.raises(HTTPProtocolError, match=r"^chunk extensions longer than 100 octets$"):
        ResponseParser(10, max_head=100).feed(CHUNKED_HEAD + body)


@pytest.mark.parametrize("max_chunks", [MAX_CHUNKS, 3])
def test_chunks_at_the_cap_and_one_past(max_chunks: int) -> None:
    # The last chunk (size 0) is a chunk too.
    def body(count: int) -> bytes:
        return CHUNKED_HEAD + b"1\r\nx\r\n" * (count - 1) + b"0\r\n\r\n"

    p = ResponseParser(10 * max_chunks, max_chunks=max_chunks)
    p.feed(body(max_chunks))
    assert p.done and p.body == b"x" * (max_chunks - 1)
    with pytest.raises(HTTPProtocolError, match=f"^more than {max_chunks} chunks$"):
        ResponseParser(10 * max_chunks, max_chunks=max_chunks).feed(body(max_chunks + 1))


def trailer_section(size: int) -> bytes:
    """Trailer lines and the empty line, ``size`` octets as counted (every line end as CRLF)."""
    return b"X-T: " + b"t" * (size - 9) + b"\r\n\r\n"


@pytest.mark.parametrize("max_head", [MAX_HEAD, 100])
def test_the_trailer_section_at_its_cap_and_one_past(max_head: int) -> None:
    start = CHUNKED_HEAD + b"1\r\nx\r\n0\r\n"
    for chunks in drips(start + trailer_section(max_head)):
        p = feed(ResponseParser(10, max_head=max_head), chunks)
        assert p.done and p.body == b"x" and p.headers == [("Transfer-Encoding", "chunked")]
    for chunks in drips(start + trailer_section(max_head + 1)):
        with pytest.raises(
            HTTPProtocolError, match=f"^trailer section longer than {max_head} octets$"
        ):
            feed(ResponseParser(10, max_head=max_head), chunks)


def test_the_trailer_budget_is_shared_by_all_its_lines() -> None:
    start = CHUNKED_HEAD + b"1\r\nx\r\n0\r\n"
    lines = b"A: 1234\r\n" * 9 + b"\r\n"  # 9 * 9 + 2 = 83 octets
    p = ResponseParser(10, max_head=83)
    p.feed(start + lines)
    assert p.done
    with pytest.raises(HTTPProtocolError, match=r"^trailer section longer than 82 octets$"):
        ResponseParser(10, max_head=82).feed(start + lines)
    # A trailer line that cannot fit what is left is refused before its end arrives.
    p = ResponseParser(10, max_head=83)
    p.feed(start + b"A: 1234\r\n" * 8)  # 72 counted, 11 left
    p.feed(b"B: 12345678\r")  # 11 octets and a CR: the LF could still come
    assert not p.done
    with pytest.raises(HTTPProtocolError, match=r"^trailer section longer than 83 octets$"):
        p.feed(b"9")  # no line of 11 octets or less can end here


def test_trailer_fields_at_the_cap_and_one_past() -> None:
    start = CHUNKED_HEAD + b"1\r\nx\r\n0\r\n"
    p = ResponseParser(10, max_fields=3)
    p.feed(CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\nA: 1\r\nB: 2\r\n\r\n") + b"0\r\n")
    p.feed(fields(3) + b"\r\n")  # the trailers have a budget of their own
    assert p.done and len(p.headers) == 3
    with pytest.raises(
        HTTPProtocolError, match=r"^more than 3 trailer fields \(lines, continuations included\)$"
    ):
        ResponseParser(10, max_fields=3).feed(start + fields(4) + b"\r\n")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_a_body_of_exactly_max_body_is_complete(framing: str) -> None:
    body = b"y" * 100
    if framing == "length":
        data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body
    elif framing == "chunked":
        data = CHUNKED_HEAD + b"64\r\n" + body + b"\r\n0\r\n\r\n"
    else:
        data = b"HTTP/1.1 200 OK\r\n\r\n" + body
    for chunks in drips(data):
        p = parse(chunks, limit=100, eof=framing == "close")
        assert p.done and p.body == body and p.complete
        assert p.keep_alive is (framing != "close")


# --------------------------------------------------------------------------
# Past the compaction threshold: the buffer is compacted between reads, and
# whatever the cut, the rest of the response is found.


@pytest.mark.parametrize("ending", [b"0\r\n\r\n", b"0\n\n", b"0\r\nX-T: t\r\n\r\n"])
def test_a_long_chunked_body_then_its_end_in_any_later_reads(ending: bytes) -> None:
    big = 70_000  # over the 64 KiB the parser consumes before compacting its buffer
    first = CHUNKED_HEAD + b"%x\r\n" % big + b"z" * big + b"\r\n"
    for cut in range(len(ending) + 1):
        for second in (
            [ending[:cut], ending[cut:]],
            [ending[i : i + 1] for i in range(len(ending))],
        ):
            p = ResponseParser(big)
            p.feed(first)
            for chunk in second:
                if chunk:
                    p.feed(chunk)
            assert p.done and len(p.body) == big and p.complete and p.keep_alive


def test_an_empty_chunk_size_line_after_a_compaction_is_an_error() -> None:
    big = 70_000
    p = ResponseParser(big)
    p.feed(CHUNKED_HEAD + b"%x\r\n" % big + b"z" * big + b"\r\n")
    with pytest.raises(HTTPProtocolError, match=r"^malformed chunk size line$"):
        p.feed(b"\n")


# --------------------------------------------------------------------------
# Each error says which rule the response broke (the message reaches the
# sender's logs through TransportError).

OK_HEAD = b"HTTP/1.1 200 OK\r\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 2OO OK\r\n\r\n", "malformed status line"),
        (OK_HEAD + b"X-A: a\x01b\r\n\r\n", "a control character in the response head"),
        (OK_HEAD + b"X-A: a\rb\r\n\r\n", "a control character in the response head"),
        (OK_HEAD + b"X A: v\r\n\r\n", "malformed header line"),
        (OK_HEAD + b"X-A\r\n\r\n", "malformed header line"),
        (OK_HEAD + b" fold\r\n\r\n", "malformed header line"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            "unexpected 101 Switching Protocols",
        ),
        (OK_HEAD + b"Transfer-Encoding: ,\r\n\r\n", "empty Transfer-Encoding"),
        (
            OK_HEAD + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
            "chunked is not the final transfer coding, once",
        ),
        (
            OK_HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "chunked is not the final transfer coding, once",
        ),
        (OK_HEAD + b"Content-Length: 1, 2\r\n\r\n", "invalid Content-Length"),
        (CHUNKED_HEAD + b"g\r\n", "malformed chunk size line"),
        (CHUNKED_HEAD + b"1\r\nxy", "a chunk is longer than its size"),
        (CHUNKED_HEAD + b"0\r\nX-T: a\x7f\r\n\r\n", "malformed trailer line"),
        (CHUNKED_HEAD + b"0\r\nX T: a\r\n\r\n", "malformed header line"),
    ],
)
def test_each_error_names_the_rule(data: bytes, message: str) -> None:
    for chunks in drips(data):
        with pytest.raises(HTTPProtocolError) as caught:
            parse(chunks)
        assert str(caught.value) == message


# --------------------------------------------------------------------------
# Framing details


@pytest.mark.parametrize(
    ("fields_", "keep_alive"),
    [
        (b"Connection: keep-alive,close\r\n", False),  # a list without spaces
        (b"Connection: close\r\nConnection: keep-alive\r\n", False),  # close in any line
        (b"connection: close\r\n", False),  # names are case-insensitive
        (b"Connection: Xclose\r\n", True),  # another token
        (b"Connection: close\xa0\r\n", True),  # obs-text is not whitespace
        (b"Connection: \tclose \t\r\n", False),
    ],
)
def test_connection_tokens(fields_: bytes, keep_alive: bool) -> None:
    p = parse([OK_HEAD + fields_ + b"Content-Length: 2\r\n\r\nok"])
    assert p.done and p.body == b"ok" and p.keep_alive is keep_alive


@pytest.mark.parametrize(
    "head",
    [
        b"content-length: 2\r\n",
        b"cONTENT-lENGTH: 2\r\n",
        b"Content-Length:\t2 \t\r\n",
        b"Content-Length: 2, 2\r\nContent-Length: 2\r\n",
    ],
)
def test_content_length_spellings(head: bytes) -> None:
    p = parse([OK_HEAD + head + b"\r\nokEXTRA"])
    assert p.done and p.body == b"ok" and not p.keep_alive  # (EXTRA: not reused)


@pytest.mark.parametrize("value", [b"X2", b"2\xa0", b"\xa02"])
def test_content_length_is_digits_and_ows_only(value: bytes) -> None:
    with pytest.raises(HTTPProtocolError, match=r"^invalid Content-Length$"):
        parse([OK_HEAD + b"Content-Length: " + value + b"\r\n\r\nok"])


@pytest.mark.parametrize(
    ("value", "chunked"),
    [
        (b"transfer-encoding: chunked", True),
        (b"Transfer-Encoding: gzip, \t chunked \t", True),
        (b"Transfer-Encoding: Xchunked", False),  # another coding: read until the close
        (b"Transfer-Encoding: chunked\xa0", False),
    ],
)
def test_transfer_coding_tokens(value: bytes, chunked: bool) -> None:
    data = OK_HEAD + value + b"\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    p = parse([data], eof=not chunked)
    assert p.done and p.body == (b"ok" if chunked else b"2\r\nok\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HTTP/1.1 404 Not Found\xa0", "Not Found\xa0"),  # obs-text kept, even at the end
        (b"HTTP/1.1 404 \t Not Found \t", "Not Found"),
        (b"HTTP/1.1 404 \x85x", "\x85x"),
    ],
)
def test_the_reason_phrase_loses_only_spaces_and_tabs(line: bytes, reason: str) -> None:
    p = parse([line + b"\r\nContent-Length: 0\r\n\r\n"])
    assert p.done and p.reason == reason


@pytest.mark.parametrize(
    ("fold", "value"),
    [
        (b"X-A: one\r\n two\r\n", "one two"),
        (b"X-A:\r\n two\r\n", "two"),  # an empty value continued: no leading space
        (b"X-A: one\r\n\t two \t\r\n", "one two"),
    ],
)
def test_obs_fold_in_the_head(fold: bytes, value: str) -> None:
    p = parse([OK_HEAD + fold + b"Content-Length: 0\r\n\r\n"])
    assert p.done and p.headers[0] == ("X-A", value)


@pytest.mark.parametrize(
    "trailers",
    [
        b"X-T: a:b\r\n",  # a colon in the value
        b"X-T: one\r\n two\r\n",  # obs-fold
        b"X-T: one\r\n two\r\n\tthree\r\n",  # a continuation of a continuation
        b"X-T:\r\n",
        b"X-T: \xe4\r\n",
    ],
)
def test_trailers_inside_the_grammar_are_read_and_dropped(trailers: bytes) -> None:
    for chunks in drips(CHUNKED_HEAD + b"1\r\nx\r\n0\r\n" + trailers + b"\r\n"):
        p = parse(chunks)
        assert p.done and p.body == b"x" and p.headers == [("Transfer-Encoding", "chunked")]


@pytest.mark.parametrize(
    "trailers",
    [b"nocolon\r\n", b": v\r\n", b"X T: v\r\n", b"X(T): v\r\n", b" fold first\r\n"],
)
def test_trailers_outside_the_grammar_are_errors(trailers: bytes) -> None:
    with pytest.raises(HTTPProtocolError, match=r"^malformed header line$"):
        parse([CHUNKED_HEAD + b"1\r\nx\r\n0\r\n" + trailers + b"\r\n"])


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([], "the connection closed before the response"),
        ([b"H"], "the connection closed mid-response"),
    ],
)
def test_eof_messages(chunks: list[bytes], message: str) -> None:
    parser = parse(chunks)
    with pytest.raises(HTTPProtocolError) as caught:
        parser.feed_eof()
    assert str(caught.value) == message


def test_before_the_final_head_nothing_is_known() -> None:
    # What a connection reads when it fails or times out before the answer: no status.
    p = ResponseParser(10)
    assert (p.done, p.status, p.reason, p.headers, p.body) == (False, 0, "", [], b"")
    assert (p.received, p.complete, p.keep_alive) == (0, True, False)


def test_received_counts_every_octet_fed() -> None:
    pieces = [b"HTTP/1.1 201 Cre", b"ated\r\nContent-Length: 2\r\n\r\n", b"o", b"k", b"unasked"]
    p = ResponseParser(10)
    for piece in pieces:  # the last one after the end
        p.feed(piece)
    assert p.received == sum(len(piece) for piece in pieces)
    assert p.done and p.body == b"ok" and p.keep_alive is False


@pytest.mark.parametrize(
    "body",
    [
        b"1\nx\n0\n\n",  # bare LF everywhere
        b"1\r\nx\n0\r\n\r\n",  # after the chunk's octets only
        b"2\r\nxy\n3\nabc\r\n0\n\r\n",
    ],
)
def test_chunks_ended_by_a_bare_lf(body: bytes) -> None:
    expected = b"".join(
        part for i, part in enumerate(body.replace(b"\r", b"").split(b"\n")) if i % 2 and part
    )
    for chunks in splits(CHUNKED_HEAD + body):
        p = parse(chunks)
        assert p.done and p.body == expected and p.keep_alive


def test_after_an_interim_head_the_final_one_has_what_is_left_of_the_cap() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"  # 25 octets
    final = head_of(75)
    for chunks in drips(interim + final):
        p = feed(ResponseParser(10, max_head=100), chunks)
        assert p.done and p.status == 201
    # A final head that cannot end within the 75 octets left is refused before its end.
    p = ResponseParser(10, max_head=100)
    p.feed(interim + head_of(76)[:75])  # 75 octets, no end yet: waited on
    assert not p.done
    with pytest.raises(HTTPProtocolError, match=r"^response headers longer than 100 octets$"):
        p.feed(b"X")


def test_the_consumed_part_of_the_buffer_is_freed() -> None:
    # A body passes through the buffer once: parsing 4 MiB does not hold it twice.
    size, piece = 4 << 20, b"z" * (64 << 10)
    p = ResponseParser(size)
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    tracemalloc.start()
    try:
        for _ in range(size // len(piece)):
            p.feed(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert p.done and len(p.body) == size
    assert peak < size + (1 << 20), f"{peak} octets at the peak for a {size}-octet body"
