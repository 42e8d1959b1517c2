"""HTTP/1.1 for push messages, sans-IO (RFC 9112): request bytes, a response parser.

What a Web Push sender needs and no more: one ``POST`` with a
Content-Length body per request, and a response framed by Content-Length,
the chunked transfer coding or the end of the connection (RFC 9112 §6.3).
:class:`ResponseParser` is fed whatever the socket returned and says when
the response is complete and whether the connection can carry the next
request. It never reads, writes or waits: :mod:`._connections` does.

Limits: the status line and headers at most 64 KiB and 100 fields (as
http.client); the body is kept up to ``max_body`` octets, and a longer one
ends the response early (its connection is then not reused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Optional

__all__ = ["MAX_HEAD", "MAX_HEADERS", "HTTPProtocolError", "ResponseParser", "encode_request"]

MAX_HEAD = 65536
MAX_HEADERS = 100
_MAX_CHUNK_LINE = 4096

# RFC 9112 §4: HTTP-version SP 3DIGIT SP reason-phrase (the reason may be empty).
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: ([^\r\n]*))?")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[ \t]*(?:;[^\r\n]*)?")


class HTTPProtocolError(Exception):
    """The bytes received are not an HTTP/1.1 response we can read."""


def encode_request(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The request's octets: request line, Host, the headers, Content-Length, body.

    Header names and values must already be valid (build_request checks
    callers' headers; the computed ones are ours). One buffer, so the
    request leaves in one write (one TLS record for a push message).
    """
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(lines).encode("latin-1") + body


# Parser states.
_HEAD, _LENGTH, _CHUNK_HEAD, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """One response, parsed incrementally: :meth:`feed` bytes, then :meth:`feed_eof` if the
    connection ends.

    When :attr:`done`: ``status``, ``reason``, ``headers`` (name, value)
    pairs as received, ``body`` (at most ``max_body`` octets), ``complete``
    (False if the body was longer and cut) and ``keep_alive`` (the
    connection may carry another request). Interim 1xx responses are
    skipped. Raises :class:`HTTPProtocolError` on anything malformed.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_left",
        "_size",
        "_state",
        "_version_minor",
        "complete",
        "headers",
        "keep_alive",
        "max_body",
        "reason",
        "received",
        "status",
    )

    def __init__(self, max_body: int) -> None:
        self.max_body = max_body
        self.received = 0  # octets fed so far (0: the peer has not answered at all)
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.complete = True
        self.keep_alive = False
        self._buf = b""
        self._body: list[bytes] = []
        self._size = 0  # octets in _body
        self._left = 0  # octets left in the Content-Length body or the current chunk
        self._state = _HEAD
        self._version_minor = 1

    @property
    def done(self) -> bool:
        return self._state == _DONE

    @property
    def body(self) -> bytes:
        return b"".join(self._body)

    def feed(self, data: bytes) -> None:
        """Take the next octets from the connection (not empty)."""
        self.received += len(data)
        self._buf = self._buf + data if self._buf else data
        self._advance()

    def feed_eof(self) -> None:
        """The peer closed the connection: ends an until-close body, else it is an error."""
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
            self.keep_alive = False
            return
        if self._state != _DONE:
            where = "before the response" if self.received == 0 else "mid-response"
            raise HTTPProtocolError(f"the connection closed {where}")

    # -- internals ---------------------------------------------------------

    def _take_body(self) -> bool:
        """Move up to ``_left`` buffered body octets out; False if none are buffered."""
        if not self._buf:
            return False
        take = self._buf[: self._left]
        self._buf = self._buf[len(take) :]
        self._left -= len(take)
        self._keep(take)
        return True

    def _advance(self) -> None:
        while self._state != _DONE:
            state = self._state
            if state == _HEAD:
                if not self._head():
                    return
            elif state == _LENGTH:
                if not self._take_body():
                    return
                if self._left == 0 and self._state != _DONE:
                    self._finish()
            elif state == _CHUNK_HEAD:
                line = self._line(_MAX_CHUNK_LINE, "chunk size line")
                if line is None:
                    return
                m = _CHUNK_SIZE.fullmatch(line)
                if m is None:
                    raise HTTPProtocolError("malformed chunk size line")
                self._left = int(m.group(1), 16)
                self._state = _CHUNK_DATA if self._left else _TRAILERS
            elif state == _CHUNK_DATA:
                if not self._take_body():
                    return
                if self._left == 0 and self._state != _DONE:
                    self._state = _CHUNK_END
            elif state == _CHUNK_END:
                line = self._line(2, "chunk end")
                if line is None:
                    return
                if line:
                    raise HTTPProtocolError("a chunk is longer than its size")
                self._state = _CHUNK_HEAD
            elif state == _TRAILERS:
                line = self._line(MAX_HEAD, "trailer")
                if line is None:
                    return
                if not line:  # the empty line after the trailer fields (ignored)
                    self._finish()
                    continue
                # _left (0 after the last chunk) counts the trailer octets: the
                # section is held to the head's limit, not read until the deadline.
                self._left += len(line) + 2
                if self._left > MAX_HEAD:
                    raise HTTPProtocolError(f"trailer fields longer than {MAX_HEAD} octets")
            else:  # _UNTIL_CLOSE
                data, self._buf = self._buf, b""
                self._keep(data)
                return

    def _line(self, limit: int, what: str) -> Optional[bytes]:
        """The next CRLF- (or LF-) terminated line without its ending, or None if incomplete."""
        end = self._buf.find(b"\n", 0, limit + 2)
        if end < 0:
            if len(self._buf) > limit + 1:
                raise HTTPProtocolError(f"{what} too long")
            return None
        line = self._buf[:end]
        self._buf = self._buf[end + 1 :]
        return line[:-1] if line.endswith(b"\r") else line

    def _head(self) -> bool:
        buf = self._buf
        end, skip = buf.find(b"\r\n\r\n"), 4
        bare = buf.find(b"\n\n")  # bare LF line ends (tolerated, as http.client does)
        if bare >= 0 and (end < 0 or bare < end):
            end, skip = bare, 2
        if end < 0:
            if len(buf) > MAX_HEAD:
                raise HTTPProtocolError(f"response headers longer than {MAX_HEAD} octets")
            return False
        if end > MAX_HEAD:
            raise HTTPProtocolError(f"response headers longer than {MAX_HEAD} octets")
        head, self._buf = buf[:end], buf[end + skip :]
        lines = head.split(b"\n")
        m = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
        if m is None:
            raise HTTPProtocolError("malformed status line")
        status = int(m.group(2))
        headers: list[tuple[str, str]] = []
        for raw in lines[1:]:
            line = raw.rstrip(b"\r").decode("latin-1")
            if line[:1] in (" ", "\t"):
                # obs-fold (RFC 9112 §5.2): a continuation of the previous value.
                if not headers:
                    raise HTTPProtocolError("malformed header line")
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HTTPProtocolError("malformed header line")
            headers.append((name, value.strip()))
            if len(headers) > MAX_HEADERS:
                raise HTTPProtocolError(f"more than {MAX_HEADERS} response header fields")
        if 100 <= status < 200:
            if status == 101:
                raise HTTPProtocolError("unexpected 101 Switching Protocols")
            return True  # interim response: the final one follows
        self.status = status
        self.reason = (m.group(3) or b"").decode("latin-1").strip()
        self.headers = headers
        self._version_minor = int(m.group(1))
        self._frame()
        return True

    def _frame(self) -> None:
        """How the body ends (RFC 9112 §6.3), and whether the connection stays open."""
        connection: list[str] = []
        transfer_encoding: list[str] = []
        lengths: list[str] = []
        for name, value in self.headers:
            lower = name.lower()
            if lower == "connection":
                connection += [t.strip().lower() for t in value.split(",")]
            elif lower == "transfer-encoding":
                transfer_encoding += [t.strip().lower() for t in value.split(",") if t.strip()]
            elif lower == "content-length":
                lengths += [v.strip() for v in value.split(",")]
        self.keep_alive = self._version_minor >= 1 and "close" not in connection
        if self.status in (204, 304):
            self._finish()
        elif transfer_encoding:
            if lengths:
                # Both: a smuggling pattern (§6.3 item 3). Read it, never reuse.
                self.keep_alive = False
            if transfer_encoding[-1] == "chunked":
                self._state = _CHUNK_HEAD
            else:
                self._state = _UNTIL_CLOSE
                self.keep_alive = False
        elif lengths:
            if any(_CONTENT_LENGTH.fullmatch(v) is None for v in lengths) or len(set(lengths)) > 1:
                raise HTTPProtocolError("invalid Content-Length")
            self._left = int(lengths[0])
            self._state = _LENGTH
            if self._left == 0:
                self._finish()
        else:
            self._state = _UNTIL_CLOSE
            self.keep_alive = False

    def _keep(self, data: bytes) -> None:
        """Keep body octets up to max_body; past it the response ends here, cut."""
        room = self.max_body - self._size
        if len(data) > room:
            data = data[:room]
            self.complete = False
            self.keep_alive = False  # the rest is dropped with the connection
            self._state = _DONE
        if data:
            self._body.append(data)
            self._size += len(data)

    def _finish(self) -> None:
        self._state = _DONE
        if self._buf:
            # Octets after the response that nobody asked for: do not reuse.
            self.keep_alive = False
