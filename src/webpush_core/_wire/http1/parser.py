"""The response parser: one response, fed as it arrives, in explicit states (RFC 9112).

:class:`ResponseParser` keeps one buffer with a read offset and moves through
explicit states: the head (:mod:`.head` reads its grammar; :mod:`.fast`
reads the common plain ``2xx`` head in one step), then the body as the head
frames it (:mod:`.framing`, RFC 9112 §6.3): Content-Length, the chunked
transfer coding (chunk-size lines, chunk data, the trailer section), or
until the connection closes. Every step is bounded by a cap (:mod:`.limits`) and
linear in the octets received (the package's docstring says how).
"""

from __future__ import annotations

import re
from typing import Optional

from .fast import plain_head
from .framing import CHUNKED, CONTENT_LENGTH, UNTIL_CLOSE, body_framing
from .head import CONTROL, field_lines, head_lines, status_line, trailer_field
from .limits import (
    MAX_CHUNK_LINE,
    MAX_CHUNKS,
    MAX_HEAD,
    MAX_HEADERS,
    MAX_INTERIM,
    HTTPProtocolError,
)

__all__ = ["ResponseParser"]

_COMPACT = 65536  # consumed octets kept in the buffer before it is compacted

_END_OF_HEAD = re.compile(rb"\n\r?\n")  # the empty line (CRLF, or a bare LF: RFC 9112 §2.2)
# RFC 9112 §7.1: chunk-size [ chunk-ext ]; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS val ] )
# One way to match each octet (no backtracking over a long line): BWS after the
# size, then everything from ";" on is the extensions (BWS inside them included).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[\t ]*(;[\t\x20-\x7e\x80-\xff]*)?")

# Parser states.
_STATUS, _LENGTH, _CHUNK_HEAD, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


class ResponseParser:
    """One response, parsed incrementally: :meth:`feed` bytes, then :meth:`feed_eof` if the
    connection ends.

    When :attr:`done`: ``status``, ``reason``, ``headers`` (name, value)
    pairs as received, ``body`` (at most ``max_body`` octets), ``complete``
    (False if the body was longer and cut) and ``keep_alive`` (the
    connection may carry another request). Interim 1xx responses are
    skipped. Raises :class:`HTTPProtocolError` on anything malformed or
    over a limit; the parser is then unusable.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_chunks",
        "_exts",
        "_fields",
        "_head",
        "_interim",
        "_left",
        "_line_start",
        "_pos",
        "_scan",
        "_size",
        "_state",
        "_version_minor",
        "complete",
        "headers",
        "keep_alive",
        "max_body",
        "max_chunks",
        "max_fields",
        "max_head",
        "max_interim",
        "reason",
        "received",
        "status",
    )

    def __init__(
        self,
        max_body: int,
        *,
        max_head: int = MAX_HEAD,
        max_interim: int = MAX_INTERIM,
        max_chunks: int = MAX_CHUNKS,
        max_fields: int = MAX_HEADERS,
    ) -> None:
        self.max_body = max_body
        self.max_fields = max_fields
        self.max_chunks = max_chunks
        self._chunks = 0
        self.max_head = max_head
        self.max_interim = max_interim
        self.received = 0  # octets fed so far (0: the peer has not answered at all)
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.complete = True
        self.keep_alive = False
        self._buf = bytearray()
        self._pos = 0  # octets of _buf consumed
        self._scan = 0  # where the search for the next LF resumes (>= _pos)
        self._body: list[bytes] = []
        self._size = 0  # octets in _body
        self._left = 0  # octets left in the Content-Length body or the current chunk
        self._head = 0  # head (and then trailer) octets so far, against max_head
        self._exts = 0  # chunk-size line octets beyond the size itself, against max_head
        self._interim = 0  # 1xx responses skipped
        self._fields: list[tuple[str, str]] = []  # of the head being read
        self._state = _STATUS
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
        if self._state == _DONE:
            self.keep_alive = False  # octets after the response: nobody asked for them
            return
        if (
            self.received == len(data)
            and data.endswith(b"\r\n\r\n")  # (the cheapest of _plain_head's tests first)
            and self._plain_head(data)
        ):
            return  # the first read was one plain 2xx head (:mod:`.fast`)
        buf = self._buf
        if self._pos >= _COMPACT and self._pos * 2 >= len(buf):
            # Amortised: each octet is moved at most once per doubling.
            del buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        buf += data
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

    def _plain_head(self, data: bytes) -> bool:
        """The fast path (:func:`.fast.plain_head`): the connection's first read
        ``data`` taken as the whole response if it is one plain final 2xx head
        framed by ``Content-Length: 0`` alone and within the limits; False, with
        nothing changed, for anything else (the full parser then reads it).

        The result is what the full parser makes of such a head: the fields as
        :meth:`_parse_head` splits them, and :meth:`_frame`'s verdict for one
        Content-Length of 0 and no Transfer-Encoding in HTTP/1.1: done, no body,
        the connection reusable unless a Connection field says ``close`` (any
        "close" anywhere in the fields sends the head to the full parser, which
        reads the tokens).
        """
        head = plain_head(data, self.max_head, self.max_fields)
        if head is None:
            return False
        self.status, self.reason, fields = head
        self._fields = self.headers = fields
        self._head = len(data)
        self.keep_alive = True
        self._state = _DONE  # nothing is buffered: the head was all of data
        return True

    def _line(self, limit: int, what: str, cap: Optional[int] = None) -> Optional[bytes]:
        """The next line without its CRLF (or bare LF), or None until it is complete.

        The search resumes where the last one stopped, so a line dripped an
        octet at a time is still scanned once. Over ``limit`` octets: an error
        (naming ``cap``, the whole budget, when ``limit`` is what is left of it).
        """
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", self._scan, pos + limit + 2)
        too_long = f"{what} longer than {limit if cap is None else cap} octets"
        if end < 0:
            self._scan = len(buf)
            if self._scan - pos > limit + 1:
                raise HTTPProtocolError(too_long)
            return None
        line = bytes(buf[pos:end])
        self._pos = self._scan = end + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > limit:
            raise HTTPProtocolError(too_long)
        return line

    def _head_line(self, what: str) -> Optional[bytes]:
        """A line of a head or of the trailers, counted against max_head."""
        line = self._line(self.max_head - self._head, what, self.max_head)
        if line is not None:
            self._head += len(line) + 2
            if self._head > self.max_head:
                raise HTTPProtocolError(f"{what} longer than {self.max_head} octets")
        return line

    def _whole_head(self) -> Optional[bytes]:
        """The next head (status line and fields, without the empty line that ends
        it), or None until it is all here; counted against max_head.

        One search from where the last one stopped (minus the two octets an
        end could straddle), for the earliest end, so the work stays linear
        however the head is dripped, and a head in one read is found in one
        pass.
        """
        buf, pos = self._buf, self._pos
        start = max(pos, self._scan - 2)
        budget = self.max_head - self._head
        m = _END_OF_HEAD.search(buf, start, pos + budget + 3)
        if m is None:
            self._scan = len(buf)
            if self._scan - pos > budget:
                raise HTTPProtocolError(f"response headers longer than {self.max_head} octets")
            return None
        end, after = m.span()
        head = bytes(buf[pos:end])
        self._head += after - pos
        if self._head > self.max_head:
            raise HTTPProtocolError(f"response headers longer than {self.max_head} octets")
        self._pos = self._scan = after
        return head

    def _parse_head(self, head: bytes) -> None:
        """One head (:mod:`.head`), validated as a whole: no NUL, bare CR or other
        control octet (HTAB aside) anywhere; then the status line and each field line."""
        lines = head_lines(head)
        # The status is kept before the fields are read: a proxy's 407 is
        # recognised even when a field of its head is refused.
        self._version_minor, self.status, self.reason = status_line(lines[0])
        self._fields = field_lines(lines[1:], self.max_fields)
        self._end_of_head()

    def _take_body(self) -> bool:
        """Move up to ``_left`` buffered body octets out; False if none are buffered."""
        pos = self._pos
        available = len(self._buf) - pos
        if not available:
            return False
        n = min(available, self._left)
        self._keep(bytes(self._buf[pos : pos + n]))
        self._pos = self._scan = pos + n
        self._left -= n
        return True

    def _advance(self) -> None:
        while self._state != _DONE:
            state = self._state
            if state == _STATUS:
                head = self._whole_head()
                if head is None:
                    return
                self._parse_head(head)
            elif state == _LENGTH:
                if not self._take_body():
                    return
                if self._left == 0 and self._state != _DONE:
                    self._finish()
            elif state == _CHUNK_HEAD:
                line = self._line(MAX_CHUNK_LINE, "chunk size line")
                if line is None:
                    return
                m = _CHUNK_SIZE.fullmatch(line)
                if m is None:
                    raise HTTPProtocolError("malformed chunk size line")
                self._exts += len(line) - len(m.group(1))
                if self._exts > self.max_head:
                    raise HTTPProtocolError(f"chunk extensions longer than {self.max_head} octets")
                self._left = int(m.group(1), 16)
                self._chunks += 1
                if self._chunks > self.max_chunks:
                    raise HTTPProtocolError(f"more than {self.max_chunks} chunks")
                if self._left:
                    self._state = _CHUNK_DATA
                else:
                    # The trailer section has budgets of its own (octets, fields).
                    self._head, self._fields = 0, []
                    self._state = _TRAILERS
            elif state == _CHUNK_DATA:
                if not self._take_body():
                    return
                if self._left == 0 and self._state != _DONE:
                    self._state = _CHUNK_END
            elif state == _CHUNK_END:
                # CRLF (or a bare LF) must follow the chunk's octets at once.
                ending = bytes(self._buf[self._pos : self._pos + 2])
                if ending[:1] == b"\n" or ending == b"\r\n":
                    self._pos = self._scan = self._pos + (1 if ending[:1] == b"\n" else 2)
                    self._state = _CHUNK_HEAD
                elif ending in (b"", b"\r"):
                    return
                else:
                    raise HTTPProtocolError("a chunk is longer than its size")
            elif state == _TRAILERS:
                line = self._head_line("trailer section")
                if line is None:
                    return
                if line:
                    # Checked, then dropped (RFC 9110 §6.5.1); counted like a head's.
                    if CONTROL.search(line) is not None:
                        raise HTTPProtocolError("malformed trailer line")
                    trailer_field(line, self._fields)
                    if len(self._fields) > self.max_fields:
                        raise HTTPProtocolError(
                            f"more than {self.max_fields} trailer fields "
                            "(lines, continuations included)"
                        )
                else:
                    self._finish()
            else:  # _UNTIL_CLOSE
                self._take_body()
                return

    def _end_of_head(self) -> None:
        status = self.status
        if status < 200:
            if status == 101:
                raise HTTPProtocolError("unexpected 101 Switching Protocols")
            # Interim (RFC 9110 §15.2): the final response follows.
            self._interim += 1
            if self._interim > self.max_interim:
                raise HTTPProtocolError(f"more than {self.max_interim} interim (1xx) responses")
            self.status, self.reason = 0, ""
            self._state = _STATUS
            return
        self.headers = self._fields
        self._frame()

    def _frame(self) -> None:
        """How the body ends (:mod:`.framing`), and whether the connection stays open."""
        framing, length, self.keep_alive = body_framing(
            self.status, self._version_minor, self.headers
        )
        if framing == CHUNKED:
            self._state = _CHUNK_HEAD
        elif framing == CONTENT_LENGTH:
            self._left = length
            self._state = _LENGTH
            if length == 0:
                self._finish()
        elif framing == UNTIL_CLOSE:
            self._until_close()
        else:  # NO_BODY
            self._finish()

    def _until_close(self) -> None:
        self._state = _UNTIL_CLOSE
        self._left = self.max_body + 1  # _keep ends the response past max_body
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
        if self._pos < len(self._buf):
            # Octets after the response that nobody asked for: do not reuse.
            self.keep_alive = False
        self._buf = bytearray()
        self._pos = self._scan = 0
