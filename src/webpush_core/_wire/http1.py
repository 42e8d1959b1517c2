"""HTTP/1.1 for push messages, sans-IO (RFC 9112): request bytes, a response parser.

What a Web Push sender needs and no more: one ``POST`` with a
Content-Length body per request, and a response framed by Content-Length,
the chunked transfer coding or the end of the connection (RFC 9112 §6.3).
:class:`ResponseParser` is fed whatever the socket returned and says when
the response is complete and whether the connection can carry the next
request. It never reads, writes or waits: :mod:`.exchange` does.

The peer may be hostile (a subscription's endpoint is anyone's server), so:

* the work is linear in the octets received: one buffer with a read
  offset, compacted only when most of it is consumed, and a line search
  that resumes where the last one stopped (nothing is searched or copied
  twice, however the socket cuts the stream);
* everything has a cap: the heads of a response (interim ones included)
  ``max_head`` octets and ``max_fields`` field lines each (obs-fold
  continuations included; the trailers too), at most
  ``max_interim`` interim 1xx responses, a chunk-size line
  :data:`MAX_CHUNK_LINE` octets and all chunk extensions together
  ``max_head``, at most ``max_chunks`` chunks, the trailer section
  ``max_head``, the body ``max_body`` (a longer one ends the response
  early, cut, and the connection is not reused);
* the grammar is RFC 9112's, and anything else is one
  :class:`HTTPProtocolError` (the connection is then dropped). The only
  leniencies are those RFC 9112 allows a recipient: a bare LF as a line
  end (§2.2), obs-fold replaced by a space (§5.2), a reason phrase left
  out with its space, and a list of identical Content-Length values
  (§6.3).

Nearly every answer to a push message is the same shape: a final ``2xx``
head (``201 Created``, a few fields, ``Content-Length: 0``) alone in the
first read. :meth:`ResponseParser.feed` recognises that shape with one
regular expression (:data:`_PLAIN_HEAD`: HTTP/1.1, CRLF line ends, a
status line and ``token: value`` fields in RFC 9112's octets, nothing
else) and three substring tests (one ``Content-Length: 0``, no
``Transfer-Encoding``, no ``close`` anywhere), and splits the fields.
Anything else (a head cut over reads, bytes after it, a bare LF, obs-fold,
a control octet, a 1xx, another status or framing, a head over a limit) is
left to the full parser, which reads it as if the shortcut did not exist:
the shortcut only ever gives the result the full parser gives
(tests/adversarial/test_parser_fast_path_never_accepts_what_the_full_parser_refuses.py
feeds every input to both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Optional

__all__ = [
    "MAX_CHUNKS",
    "MAX_CHUNK_LINE",
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_INTERIM",
    "HTTPProtocolError",
    "ResponseParser",
    "encode_request",
]

MAX_HEAD = 65536  # octets: every head of one response together; the trailers; the chunk exts
MAX_HEADERS = 100  # field lines in one head (as http.client), continuations included
MAX_INTERIM = 10  # 1xx responses before the final one
MAX_CHUNK_LINE = 4096  # one chunk-size line, extensions included
# Chunks in one body. A push service's answer is a few hundred octets; a peer
# sending one-octet chunks costs ~6 µs of the I/O thread each, so this bounds
# what one response can take from every other origin to a few milliseconds.
MAX_CHUNKS = 1024
_COMPACT = 65536  # consumed octets kept in the buffer before it is compacted

# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ],
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). RFC 9110 §15: 100-599.
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([1-5][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?")
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; the name is a
# token (RFC 9110 §5.6.2); the value's octets are HTAB, SP, VCHAR, obs-text.
# The token characters (RFC 9110 §5.6.2): a name with any other octet is refused.
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Field values are HTAB, SP, VCHAR and obs-text: any other octet (NUL, CR,
# LF, DEL, the other controls) makes the head invalid.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_END_OF_HEAD = re.compile(rb"\n\r?\n")  # the empty line (CRLF, or a bare LF: RFC 9112 §2.2)
_HEAD_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")  # the same, LF aside (line ends)
_OWS = b" \t"
_FOLD_START = (b" ", b"\t")  # a line starting so continues the previous field (obs-fold)
_DIGITS = re.compile(r"[0-9]{1,18}")
# RFC 9112 §7.1: chunk-size [ chunk-ext ]; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS val ] )
# One way to match each octet (no backtracking over a long line): BWS after the
# size, then everything from ";" on is the extensions (BWS inside them included).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,15})[\t ]*(;[\t\x20-\x7e\x80-\xff]*)?")
# The fast path's whole input: one final 2xx head of HTTP/1.1 and nothing after
# it, every line ended by CRLF. The status line as _STATUS_LINE reads it (for
# version 1.1 and a 2xx status only); each
# field a token, ":", then the octets a value may hold (no CR, LF or other
# control but HTAB); then the empty line. A value's class has no CR and a
# name's no ":", so each octet can be matched one way only: linear, however
# the match fails. Inside such a head every LF follows a CR and is followed by
# a token octet or by the final CRLF, so the empty line the full parser looks
# for (_END_OF_HEAD) is the last two line ends, at the end of the input.
_PLAIN_HEAD = re.compile(
    rb"HTTP/1\.1 (2[0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)


class HTTPProtocolError(Exception):
    """The bytes received are not an HTTP/1.1 response we accept."""


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
            return  # the first read was one plain 2xx head (the module's docstring)
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
        """The fast path: the connection's first read ``data`` taken as the whole
        response if it is one plain final 2xx head (:data:`_PLAIN_HEAD`) framed by
        ``Content-Length: 0`` alone and within the limits; False, with nothing
        changed, for anything else (the full parser then reads it).

        The result is what the full parser makes of such a head: the fields as
        :meth:`_parse_head` splits them, and :meth:`_frame`'s verdict for one
        Content-Length of 0 and no Transfer-Encoding in HTTP/1.1: done, no body,
        the connection reusable unless a Connection field says ``close`` (any
        "close" anywhere in the fields sends the head to the full parser, which
        reads the tokens).
        """
        if len(data) > self.max_head or not data.endswith(b"\r\n\r\n"):
            return False  # over the limit (refused by the same rule), or not all a head
        m = _PLAIN_HEAD.fullmatch(data)
        if m is None:
            return False
        text = m.group(3).decode("latin-1")
        low = text.lower()
        # Every field line starts the block or follows a CRLF: a name is found
        # at such a place, and a name that is not found is not there.
        at = low.find("content-length:")
        if (
            at < 0
            or (at > 0 and low[at - 2 : at] != "\r\n")
            or low.find("content-length:", at + 15) >= 0
            or low[at + 15 : low.index("\r\n", at)].strip(" \t") != "0"
            or "transfer-encoding:" in low
            or "close" in low
        ):
            return False
        lines = text.split("\r\n")
        lines.pop()  # the empty string after the last field's CRLF
        if len(lines) > self.max_fields:
            return False
        fields = []
        for line in lines:
            name, _, value = line.partition(":")
            fields.append((name, value.strip(" \t")))
        self.status = int(m.group(1))
        self.reason = (m.group(2) or b"").decode("latin-1").strip(" \t")
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
        """One head, validated as a whole: no NUL, bare CR or other control octet
        (HTAB aside) anywhere; then the status line and each field line."""
        text = head.replace(b"\r\n", b"\n")
        if text.endswith(b"\r"):
            text = text[:-1]  # the CR of the line end the search stopped at
        if _HEAD_CONTROL.search(text) is not None:
            raise HTTPProtocolError("a control character in the response head")
        lines = text.split(b"\n")
        self._status_line(lines[0])
        if len(lines) - 1 > self.max_fields:
            # Every field line counts, obs-fold continuations too: each costs
            # a turn of the loop below, whatever it adds to a value.
            raise HTTPProtocolError(
                f"more than {self.max_fields} response header fields "
                "(lines, continuations included)"
            )
        fields = self._fields
        append = fields.append
        # obs-fold lines of the last field, joined to it once: appending each
        # to the value as it came would copy the value per line (quadratic).
        folds: list[str] = []
        for line in lines[1:]:
            if line[:1] in _FOLD_START:
                if not fields:
                    raise HTTPProtocolError("malformed header line")
                folds.append(line.strip(_OWS).decode("latin-1"))
                continue
            if folds:
                _unfold(fields, folds)
                folds = []
            # _field's common case, inline (a push service's head is a few fields).
            name, colon, value = line.partition(b":")
            if not colon or not name or name.translate(None, _TCHAR):
                raise HTTPProtocolError("malformed header line")
            append((name.decode("ascii"), value.strip(_OWS).decode("latin-1")))
        if folds:
            _unfold(fields, folds)
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
                    if _CONTROL.search(line) is not None:
                        raise HTTPProtocolError("malformed trailer line")
                    _field(line, self._fields)
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

    def _status_line(self, line: bytes) -> None:
        m = _STATUS_LINE.fullmatch(line)
        if m is None:
            raise HTTPProtocolError("malformed status line")
        self.status = int(m.group(2))
        self.reason = (m.group(3) or b"").decode("latin-1").strip(" \t")
        self._version_minor = int(m.group(1))
        self._fields = []

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
        """How the body ends (RFC 9112 §6.3), and whether the connection stays open."""
        connection: list[str] = []
        transfer_encoding: Optional[list[str]] = None
        lengths: list[str] = []
        for name, value in self.headers:
            if name[0] not in "cCtT":
                continue  # none of the three that frame the body
            lower = name.lower()
            if lower == "connection":
                connection += [t.strip(" \t").lower() for t in value.split(",")]
            elif lower == "transfer-encoding":
                codings = [t.strip(" \t").lower() for t in value.split(",")]
                transfer_encoding = (transfer_encoding or []) + [c for c in codings if c]
            elif lower == "content-length":
                lengths += [v.strip(" \t") for v in value.split(",")]
        self.keep_alive = self._version_minor >= 1 and "close" not in connection
        if self.status in (204, 304):
            self._finish()
        elif transfer_encoding is not None:
            if not transfer_encoding:
                raise HTTPProtocolError("empty Transfer-Encoding")
            if transfer_encoding.count("chunked") > 1 or (
                "chunked" in transfer_encoding and transfer_encoding[-1] != "chunked"
            ):
                raise HTTPProtocolError("chunked is not the final transfer coding, once")
            if lengths or self._version_minor == 0:
                # Both framings (§6.3 item 3), or Transfer-Encoding in HTTP/1.0
                # (§6.1): read by the transfer coding, then close.
                self.keep_alive = False
            if transfer_encoding[-1] == "chunked":
                self._state = _CHUNK_HEAD
            else:
                self._until_close()
        elif lengths:
            if any(_DIGITS.fullmatch(v) is None for v in lengths) or len(set(lengths)) > 1:
                raise HTTPProtocolError("invalid Content-Length")
            self._left = int(lengths[0])
            self._state = _LENGTH
            if self._left == 0:
                self._finish()
        else:
            self._until_close()

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


def _field(line: bytes, fields: list[tuple[str, str]]) -> None:
    """Check one trailer field line (or an obs-fold continuation) and append it
    to ``fields``, where the lines are counted against ``max_fields``.

    Its octets must already be known to be HTAB, SP, VCHAR or obs-text; the
    name must be a token. Trailers are dropped (RFC 9110 §6.5.1), so a
    continuation is only checked to follow a field and counted as one of its
    lines: nothing is appended to the value, whose copies would cost as much
    as the continuations squared.
    """
    if line[:1] in _FOLD_START:
        if not fields:
            raise HTTPProtocolError("malformed header line")
        fields.append((fields[-1][0], ""))  # counted as a line of that field
        return
    raw_name, colon, raw_value = line.partition(b":")
    if not colon or not raw_name or raw_name.translate(None, _TCHAR):
        raise HTTPProtocolError("malformed header line")
    fields.append((raw_name.decode("ascii"), raw_value.strip(_OWS).decode("latin-1")))


def _unfold(fields: list[tuple[str, str]], folds: list[str]) -> None:
    """Join the obs-fold continuation lines ``folds`` to the last of ``fields``.

    RFC 9112 §5.2: a user agent replaces each obs-fold with SP. An empty
    value takes the first non-empty continuation as it is (no leading SP).
    """
    name, value = fields[-1]
    parts = [value, *folds]
    first = 0
    while first < len(parts) - 1 and not parts[first]:
        first += 1
    fields[-1] = (name, " ".join(parts[first:]))
