"""The sans-IO HTTP/1.1 layer PushClient sends with (webpush_core._wire.http1).

Responses are fed as bytes, whole, split at every point, or byte by byte:
the parse must not depend on how the socket happened to cut them. The
oracle for status, headers and body is the response the test built.
"""

from __future__ import annotations

from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from http1_cases import CHUNKED, CREATED, KEEP_ALIVE, MALFORMED
from webpush_core._wire.http1 import (
    MAX_HEAD,
    MAX_HEADERS,
    HTTPProtocolError,
    ResponseParser,
    encode_request,
)


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
