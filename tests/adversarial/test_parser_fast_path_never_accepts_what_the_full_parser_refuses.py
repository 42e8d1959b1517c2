"""The response parser's fast path against the full parser alone (webpush_core._wire.http1).

``ResponseParser.feed`` reads a connection's first read in one step when it is
one plain final 2xx head framed by ``Content-Length: 0``. The rule it must
keep: every input either takes that path and comes out exactly as the full
parser reads it (status, reason, headers, body, complete, keep-alive, what
later octets do to the connection, the octets counted), or is left to the
full parser untouched. The fast path never accepts what the full parser
refuses.

Each test feeds the same reads to ``ResponseParser`` and to ``FullParser``
(the same class with the fast path turned off) and compares everything: over
every table of the parser's own tests (tests/http1_cases.py: the malformed and
hostile inputs among them), over every one-octet change of the heads the fast
path takes, over heads generated around its boundary (hypothesis), and at
each limit and one past it.
"""

from __future__ import annotations

from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from http1_cases import (
    CHUNKED,
    CREATED,
    INSIDE_THE_GRAMMAR,
    KEEP_ALIVE,
    MALFORMED,
    OUTSIDE_THE_GRAMMAR,
    STREAMS,
)
from webpush_core._wire.http1.limits import HTTPProtocolError
from webpush_core._wire.http1.parser import ResponseParser


class FullParser(ResponseParser):
    """The validating parser alone: the fast path is never taken."""

    def _plain_head(self, data: bytes) -> bool:
        return False


Outcome = tuple[object, ...]
LATER = b"HTTP/1.1 201 Created\r\n"  # octets after the response that nobody asked for


def outcome(
    parser_class: type[ResponseParser],
    reads: list[bytes],
    *,
    eof: bool = False,
    max_body: int = 100,
    **limits: int,
) -> Outcome:
    """Everything a caller can see after the reads (and the end of the connection)."""
    parser = parser_class(max_body, **limits)
    try:
        for data in reads:
            if data:
                parser.feed(data)
        if eof:
            parser.feed_eof()
    except HTTPProtocolError as exc:
        return ("refused", str(exc), parser.received)
    seen = (
        parser.done,
        parser.status,
        parser.reason,
        parser.headers,
        parser.body,
        parser.complete,
        parser.keep_alive,
        parser.received,
    )
    if not parser.done:
        return ("waiting", *seen)
    parser.feed(LATER)  # must mean: not reused
    return ("read", *seen, parser.keep_alive, parser.received)


def takes_fast_path(data: bytes, **limits: int) -> bool:
    return ResponseParser(100, **limits)._plain_head(data)


def same(reads: list[bytes], *, eof: bool = False, **limits: int) -> bool:
    """Both parsers give the same outcome; True if the first read took the fast path."""
    fast = outcome(ResponseParser, reads, eof=eof, **limits)
    full = outcome(FullParser, reads, eof=eof, **limits)
    assert fast == full, reads
    taken = bool(reads) and takes_fast_path(reads[0], **limits)
    if taken:
        # Never accepts what the full parser refuses: the full parser reads the
        # first read alone as a whole response, no body, the connection reusable.
        alone = outcome(FullParser, reads[:1], **limits)
        assert alone[0] == "read", reads
        done, body, keep_alive = alone[1], alone[5], alone[7]
        assert (done, body, keep_alive) == (True, b"", True), reads
    return taken


def ways_to_read(data: bytes) -> list[list[bytes]]:
    """Whole, and cut after each empty line (a head alone in the first read)."""
    ways = [[data]]
    at = data.find(b"\r\n\r\n")
    while at >= 0:
        ways.append([data[: at + 4], data[at + 4 :]])
        at = data.find(b"\r\n\r\n", at + 1)
    return ways


def check_table_entry(data: bytes) -> None:
    for reads in ways_to_read(data):
        for eof in (False, True):
            same(reads, eof=eof)


# --------------------------------------------------------------------------
# Every table of the parser's tests, fed through both.


@pytest.mark.parametrize("data", [CREATED, CHUNKED], ids=["created", "chunked"])
def test_framing_tables(data: bytes) -> None:
    check_table_entry(data)


@pytest.mark.parametrize(("data", "keep_alive"), KEEP_ALIVE)
def test_keep_alive_table(data: bytes, keep_alive: bool) -> None:
    check_table_entry(data)


@pytest.mark.parametrize(("data", "match"), MALFORMED)
def test_malformed_table(data: bytes, match: str) -> None:
    for reads in ways_to_read(data):
        assert not takes_fast_path(reads[0])
        same(reads)
        with pytest.raises(HTTPProtocolError, match=match):
            read_all(reads)


@pytest.mark.parametrize("data", OUTSIDE_THE_GRAMMAR)
def test_outside_the_grammar_table(data: bytes) -> None:
    for reads in ways_to_read(data):
        assert not takes_fast_path(reads[0])
        same(reads)
        with pytest.raises(HTTPProtocolError):
            read_all(reads)


def read_all(reads: list[bytes]) -> None:
    parser = ResponseParser(100)
    for piece in reads:
        parser.feed(piece)


@pytest.mark.parametrize("entry", INSIDE_THE_GRAMMAR, ids=lambda e: repr(e[0][:24]))
def test_inside_the_grammar_table(entry: tuple[bytes, int, str, list[tuple[str, str]]]) -> None:
    check_table_entry(entry[0])


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_hostile_streams(name: str) -> None:
    data = STREAMS[name](8192)
    for limits in ({}, {"max_head": 1 << 20, "max_fields": 1 << 20, "max_interim": 1 << 20}):
        for reads in ways_to_read(data)[:3]:
            same(reads, eof=True, **limits)


# Heads from the other tests and from push services' answers.
REAL = [
    b"HTTP/1.1 201 Created\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 14:48:55 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: keep-alive\r\n"
    b"Location: /message/b0d75e92e34e75ddbfbda6578feb828c\r\n\r\n",
    b"HTTP/1.1 2\x1b]0;owned\x07\x1b[2J\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\nHTTP/1.1 410 Gone\r\nContent-Length: 0"
    b"\r\n\r\n\x00junk",
    b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n"
    b"X-Trailer: 1\r\n\r\n",
    b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 201 Created\r\n\r\nuntil the close",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 400 \x1b[31mPWNED\x07\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 400 \x85\x9b2J\r\nContent-Length: 0\r\n\r\n",
]


@pytest.mark.parametrize("data", REAL)
def test_real_heads(data: bytes) -> None:
    check_table_entry(data)


# --------------------------------------------------------------------------
# The heads the fast path takes, and what they read as (the oracle is the table).

NGINX = REAL[0]
TAKEN: list[tuple[bytes, int, str, list[tuple[str, str]]]] = [
    (
        NGINX,
        201,
        "Created",
        [
            ("Server", "nginx/1.22.1"),
            ("Date", "Thu, 03 Dec 2026 14:48:55 GMT"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "0"),
            ("Connection", "keep-alive"),
            ("Location", "/message/b0d75e92e34e75ddbfbda6578feb828c"),
        ],
    ),
    (
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        201,
        "Created",
        [("Content-Length", "0")],
    ),
    (b"HTTP/1.1 201\r\ncontent-length:0\r\n\r\n", 201, "", [("content-length", "0")]),
    (b"HTTP/1.1 202 \r\nCONTENT-LENGTH: \t0 \r\n\r\n", 202, "", [("CONTENT-LENGTH", "0")]),
    (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nTTL: 60\r\nX-Empty:\r\n\r\n",
        204,
        "No Content",
        [("Content-Length", "0"), ("TTL", "60"), ("X-Empty", "")],
    ),
    (
        b"HTTP/1.1 200  \tOK\xe9 \t\r\nX-V: a\xff b\r\nContent-Length: 0\r\n\r\n",
        200,
        "OK\xe9",
        [("X-V", "a\xff b"), ("Content-Length", "0")],
    ),
]


@pytest.mark.parametrize(("data", "status", "reason", "headers"), TAKEN)
def test_what_the_fast_path_takes(
    data: bytes, status: int, reason: str, headers: list[tuple[str, str]]
) -> None:
    assert takes_fast_path(data)
    assert same([data])
    parser = ResponseParser(100)
    parser.feed(data)
    assert (parser.done, parser.status, parser.reason, parser.headers) == (
        True,
        status,
        reason,
        headers,
    )
    assert parser.body == b"" and parser.complete and parser.keep_alive
    assert parser.received == len(data)


# Near misses: each is left to the full parser (and read the same, or refused).
LEFT: list[tuple[str, list[bytes]]] = [
    ("cut over two reads", [b"HTTP/1.1 201 Created\r\nContent-", b"Length: 0\r\n\r\n"]),
    ("a body in the same read", [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]),
    ("a body later", [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"]),
    ("octets after the head", [CREATED + b"x"]),
    ("no Content-Length", [b"HTTP/1.1 201 Created\r\n\r\n", b"body", b""]),
    (
        "Content-Length twice",
        [b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"],
    ),
    ("Content-Length: 0, 0", [b"HTTP/1.1 201 OK\r\nContent-Length: 0, 0\r\n\r\n"]),
    ("Content-Length: 00", [b"HTTP/1.1 201 OK\r\nContent-Length: 00\r\n\r\n"]),
    ("Content-Length in a value", [b"HTTP/1.1 201 OK\r\nX: content-length: 0\r\n\r\n"]),
    ("Content-Length: 1", [b"HTTP/1.1 201 OK\r\nContent-Length: 1\r\n\r\n", b"x"]),
    (
        "Transfer-Encoding",
        [b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\n\r\n"],
    ),
    ("Connection: close", [b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n"]),
    ("close in a value", [b"HTTP/1.1 201 OK\r\nContent-Length: 0\r\nLocation: /closed\r\n\r\n"]),
    ("HTTP/1.0", [b"HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n"]),
    ("HTTP/1.2", [b"HTTP/1.2 201 Created\r\nContent-Length: 0\r\n\r\n"]),
    ("a 1xx first", [b"HTTP/1.1 100 Continue\r\n\r\n" + CREATED]),
    ("a 3xx", [b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n"]),
    ("bare LF line ends", [b"HTTP/1.1 201 Created\nContent-Length: 0\n\n"]),
    ("a bare LF inside", [b"HTTP/1.1 201 Created\r\nContent-Length: 0\n\r\n"]),
    ("obs-fold", [b"HTTP/1.1 201 Created\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"]),
    ("a control octet", [b"HTTP/1.1 201 Created\r\nX: a\x01\r\nContent-Length: 0\r\n\r\n"]),
    ("a space before the colon", [b"HTTP/1.1 201 Created\r\nX : a\r\nContent-Length: 0\r\n\r\n"]),
    ("a second read after a 1xx", [b"HTTP/1.1 100 Continue\r\n\r\n", CREATED]),
]


@pytest.mark.parametrize("reads", [r for _, r in LEFT], ids=[n for n, _ in LEFT])
def test_near_misses_are_left_to_the_full_parser(reads: list[bytes]) -> None:
    assert not same(reads, eof=True)
    assert not same(reads)


# --------------------------------------------------------------------------
# Limits: at the limit the fast path takes the head; one past, the full parser refuses it.


def test_max_head_at_the_limit_and_one_past() -> None:
    assert same([NGINX], max_head=len(NGINX))
    assert outcome(ResponseParser, [NGINX], max_head=len(NGINX))[0] == "read"
    assert not same([NGINX], max_head=len(NGINX) - 1)
    parser = ResponseParser(100, max_head=len(NGINX) - 1)
    with pytest.raises(HTTPProtocolError, match=f"longer than {len(NGINX) - 1} octets"):
        parser.feed(NGINX)


def test_max_fields_at_the_limit_and_one_past() -> None:
    assert same([NGINX], max_fields=6)
    assert outcome(ResponseParser, [NGINX], max_fields=6)[0] == "read"
    assert not same([NGINX], max_fields=5)
    parser = ResponseParser(100, max_fields=5)
    with pytest.raises(HTTPProtocolError, match="more than 5 response header fields"):
        parser.feed(NGINX)


# --------------------------------------------------------------------------
# Every one-octet change of the heads the fast path takes.

OCTETS = b'\x00\t\n\r \x0b\x1f\x7f\x80\xff:,;"0129aAcCeEz(-/'


def one_octet_changes(data: bytes) -> list[bytes]:
    out = []
    for i in range(len(data) + 1):
        for octet in OCTETS:
            out.append(data[:i] + bytes((octet,)) + data[i:])  # inserted
            if i < len(data):
                out.append(data[:i] + bytes((octet,)) + data[i + 1 :])  # replaced
        if i < len(data):
            out.append(data[:i] + data[i + 1 :])  # deleted
    return out


@pytest.mark.parametrize("data", [t[0] for t in TAKEN], ids=[str(i) for i in range(len(TAKEN))])
def test_every_one_octet_change_of_a_taken_head(data: bytes) -> None:
    taken = left = 0
    for changed in one_octet_changes(data):
        if same([changed]):
            taken += 1
        else:
            left += 1
    # Both sides of the boundary were crossed (the test is not vacuous).
    assert taken > 0 and left > 0


# --------------------------------------------------------------------------
# Heads generated around the boundary.

_TOKEN = st.text(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=10,
).map(str.encode)
_FIELD_VALUE = st.binary(max_size=12).map(
    lambda v: bytes(c for c in v if c in (9, 32) or 0x21 <= c <= 0x7E or c >= 0x80)
)
# One change each, chosen to land near the fast path's boundary.
_CHANGES = st.sampled_from(
    [
        (b"HTTP/1.1 ", b"HTTP/1.0 "),
        (b"HTTP/1.1 ", b"HTTP/1.2 "),
        (b"HTTP/1.1 ", b"http/1.1 "),
        (b"HTTP/1.1 2", b"HTTP/1.1 1"),
        (b"HTTP/1.1 2", b"HTTP/1.1 3"),
        (b"HTTP/1.1 2", b"HTTP/1.1  2"),
        (b"Content-Length: 0", b"Content-Length: 00"),
        (b"Content-Length: 0", b"Content-Length: 0, 0"),
        (b"Content-Length: 0", b"Content-Length: 1"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nContent-Length: 0"),
        (b"Content-Length: 0", b"Content-Length: \xb9"),
        (b"Content-Length: 0", b"Content-Length: +0"),
        (b"Content-Length: 0", b"Content-Length:0"),
        (b"Content-Length: 0", b"content-length: \t0 "),
        (b"Content-Length: 0", b"Content-Length : 0"),
        (b"Content-Length: 0", b"X-Length: 0"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nTransfer-Encoding: chunked"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nTransfer-Encoding: gzip"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nConnection: close"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nConnection: keep-alive, CLOSE"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nConnection: keep-alive"),
        (b"Content-Length: 0", b"Content-Length: 0\r\n folded"),
        (b"Content-Length: 0", b"Content-Length: 0\r\nX-Note: content-length: 1"),
        (b"\r\n", b"\n"),
        (b"\r\n", b"\r"),
        (b"\r\n", b"\r\r\n"),
        (b"\r\n\r\n", b"\r\n"),
        (b"\r\n\r\n", b"\r\n\n"),
        (b": ", b":\x00"),
        (b": ", b":\x7f"),
        (b": ", b" : "),
        (b": ", b"(: "),
    ]
)


@st.composite
def heads(draw: st.DrawFn) -> tuple[bytes, int]:
    """(a response head, its number of field lines): a plain 2xx head framed by
    Content-Length: 0 (the fast path's), then none, one or two changes, each
    chosen to land near the boundary (or a random octet put anywhere)."""
    status = draw(st.sampled_from([b"200", b"201", b"201", b"202", b"204", b"299"]))
    reason = draw(st.sampled_from([b" Created", b"", b" ", b" OK \t", b" \xe9", b"  x"]))
    fields = [
        name + b":" + draw(st.sampled_from([b" ", b"", b"\t"])) + value
        for name, value in draw(st.lists(st.tuples(_TOKEN, _FIELD_VALUE), max_size=5))
    ]
    fields.insert(draw(st.integers(0, len(fields))), b"Content-Length: 0")
    head = (
        b"HTTP/1.1 " + status + reason + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
    )
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.integers(0, 5)) == 0:
            at = draw(st.integers(0, len(head)))
            head = head[:at] + draw(st.binary(min_size=1, max_size=1)) + head[at:]
            continue
        old, new = draw(_CHANGES)
        if old in head:
            at = draw(st.sampled_from([i for i in range(len(head)) if head.startswith(old, i)]))
            head = head[:at] + new + head[at + len(old) :]
    return head, head.count(b"\n") - 2


_AFTER = st.sampled_from([b"", b"", b"", b"ok", b"x" * 10, CREATED, b"\r\n", b"0\r\n\r\n"])


@settings(max_examples=1500, deadline=None)
@given(
    head=heads(),
    after=_AFTER,
    split=st.booleans(),
    eof=st.booleans(),
    head_limit=st.sampled_from([None, -1, 0, 1]),
    field_limit=st.sampled_from([None, -1, 0, 1]),
)
def test_generated_heads(
    head: tuple[bytes, int],
    after: bytes,
    split: bool,
    eof: bool,
    head_limit: Optional[int],
    field_limit: Optional[int],
) -> None:
    data, count = head
    limits = {}
    if head_limit is not None:
        limits["max_head"] = max(1, len(data) + head_limit)
    if field_limit is not None:
        limits["max_fields"] = max(0, count + field_limit)
    reads = [data, after] if split else [data + after]
    same(reads, eof=eof, **limits)


def test_generated_heads_cross_the_boundary() -> None:
    # The strategy above is only a test of the fast path if it reaches both sides.
    taken = left = 0

    @settings(max_examples=400, deadline=None, database=None)
    @given(head=heads())
    def count(head: tuple[bytes, int]) -> None:
        nonlocal taken, left
        if takes_fast_path(head[0]):
            taken += 1
        else:
            left += 1

    count()
    assert taken >= 20 and left >= 20, (taken, left)
