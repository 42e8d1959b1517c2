"""HTTP/1.1 responses the parser tests share: each table is read by the test that
states its rule (unit/test_http1.py, adversarial/test_parser_accepts_only_rfc9112.py,
adversarial/test_parser_work_is_linear_and_capped.py) and, whole, by the fast
path's differential test
(adversarial/test_parser_fast_path_never_accepts_what_the_full_parser_refuses.py),
which feeds every entry through the fast path and through the full parser alone.
"""

from __future__ import annotations

from typing import Callable

CREATED = b"HTTP/1.1 201 Created\r\nLocation: /m/1\r\nContent-Length: 0\r\n\r\n"

CHUNKED = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
)

# (response, whether the connection may carry the next request), body "ok" each.
KEEP_ALIVE: list[tuple[bytes, bool]] = [
    (b"HTTP/1.1 201 OK\r\nContent-Length: 2\r\n\r\nok", True),
    (b"HTTP/1.1 201 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
    (b"HTTP/1.1 201 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", False),
    (b"HTTP/1.0 201 OK\r\nContent-Length: 2\r\n\r\nok", False),
    # Both framings: a smuggling pattern; read by the chunks, never reused.
    (
        b"HTTP/1.1 201 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n",
        False,
    ),
    # Bytes after the response nobody asked for: not reused.
    (b"HTTP/1.1 201 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200", False),
]

# (response, words of the HTTPProtocolError), from the parser's own tests.
MALFORMED: list[tuple[bytes, str]] = [
    (b"HTTP/2 200 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 20 OK\r\n\r\n", "status line"),
    (b"SPDY/3 200 OK\r\n\r\n", "status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", "header line"),  # space before the colon
    (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than"),
]

OK = b"HTTP/1.1 200 OK\r\n"

# RFC 9112's grammar, from the hostile-peer tests: each of these is an error.
OUTSIDE_THE_GRAMMAR: list[bytes] = [
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
]

# ... and each of these is read, as (response, status, reason, headers, body, keep_alive).
INSIDE_THE_GRAMMAR: list[tuple[bytes, int, str, list[tuple[str, str]], bytes, bool]] = [
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
]


# --------------------------------------------------------------------------
# Hostile streams of any size (adversarial/test_parser_work_is_linear_and_capped.py:
# the parser's work per octet must not grow with it). Each is a response the
# parser reads.


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


def late_fold(size: int) -> bytes:
    """Many fields, the last one folded: the fast path's expression fails only at
    the fold, after matching everything before it; the full parser reads it."""
    lines = b"X-Field: value\r\n" * (size // 16)
    return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n" + lines + b"X-Last: a\r\n b\r\n\r\n"


def late_close(size: int) -> bytes:
    """Many fields, then Connection: close: the expression matches it all, the
    fast path then leaves it to the full parser (a "close" token may be there)."""
    lines = b"X-Field: value\r\n" * (size // 16)
    return b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n" + lines + b"Connection: close\r\n\r\n"


STREAMS: dict[str, Callable[[int], bytes]] = {
    "interim-flood": interim_flood,
    "long-field": long_field,
    "wide-fields": wide_fields,
    "one-octet-chunks": one_octet_chunks,
    "chunk-extensions": chunk_extensions,
    "trailers": trailers,
    "until-close": until_close,
    "late-fold": late_fold,
    "late-close": late_close,
}
