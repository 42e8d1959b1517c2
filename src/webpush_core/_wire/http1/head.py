"""The grammar of a response head and of a trailer section (RFC 9112 §4, §5, §7.1.2).

Plain functions over one complete head (the parser finds where it ends):
:func:`head_lines` checks its octets as a whole and cuts it into lines,
:func:`status_line` reads the first, :func:`field_lines` the others
(obs-fold continuations joined to their field once, so a folded head costs
linear work), :func:`trailer_field` one line of a trailer section (checked,
counted, not kept) once :data:`CONTROL` found no control octet in it.
Anything outside the grammar is an :class:`.limits.HTTPProtocolError`.
"""

from __future__ import annotations

import re

from .limits import HTTPProtocolError

__all__ = ["CONTROL", "field_lines", "head_lines", "status_line", "trailer_field"]

# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ],
# reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). RFC 9110 §15: 100-599.
_STATUS_LINE = re.compile(rb"HTTP/1\.([0-9]) ([1-5][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?")
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; the name is a
# token (RFC 9110 §5.6.2); the value's octets are HTAB, SP, VCHAR, obs-text.
# The token characters (RFC 9110 §5.6.2): a name with any other octet is refused.
_TCHAR = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Field values are HTAB, SP, VCHAR and obs-text: any other octet (NUL, CR,
# LF, DEL, the other controls) makes the head invalid.
CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEAD_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")  # the same, LF aside (line ends)
_OWS = b" \t"
_FOLD_START = (b" ", b"\t")  # a line starting so continues the previous field (obs-fold)


def head_lines(head: bytes) -> list[bytes]:
    """One head's lines (the status line first), its octets validated as a whole:
    no NUL, bare CR or other control octet (HTAB aside) anywhere.

    ``head`` is the status line and fields without the empty line that ends
    them; a line ends with CRLF or a bare LF (RFC 9112 §2.2).
    """
    text = head.replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]  # the CR of the line end the search stopped at
    if _HEAD_CONTROL.search(text) is not None:
        raise HTTPProtocolError("a control character in the response head")
    return text.split(b"\n")


def status_line(line: bytes) -> tuple[int, int, str]:
    """The status line's HTTP minor version, status code and reason phrase."""
    m = _STATUS_LINE.fullmatch(line)
    if m is None:
        raise HTTPProtocolError("malformed status line")
    return int(m.group(1)), int(m.group(2)), (m.group(3) or b"").decode("latin-1").strip(" \t")


def field_lines(lines: list[bytes], max_fields: int) -> list[tuple[str, str]]:
    """The (name, value) fields of a head's field ``lines``, as received; at most
    ``max_fields`` lines."""
    if len(lines) > max_fields:
        # Every field line counts, obs-fold continuations too: each costs
        # a turn of the loop below, whatever it adds to a value.
        raise HTTPProtocolError(
            f"more than {max_fields} response header fields (lines, continuations included)"
        )
    fields: list[tuple[str, str]] = []
    append = fields.append
    # obs-fold lines of the last field, joined to it once: appending each
    # to the value as it came would copy the value per line (quadratic).
    folds: list[str] = []
    for line in lines:
        if line[:1] in _FOLD_START:
            if not fields:
                raise HTTPProtocolError("malformed header line")
            folds.append(line.strip(_OWS).decode("latin-1"))
            continue
        if folds:
            _unfold(fields, folds)
            folds = []
        # trailer_field's common case, inline (a push service's head is a few fields).
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TCHAR):
            raise HTTPProtocolError("malformed header line")
        append((name.decode("ascii"), value.strip(_OWS).decode("latin-1")))
    if folds:
        _unfold(fields, folds)
    return fields


def trailer_field(line: bytes, fields: list[tuple[str, str]]) -> None:
    """Check one trailer field line (or an obs-fold continuation) and append it
    to ``fields``, where the lines are counted against ``max_fields``.

    Its octets must already be known to be HTAB, SP, VCHAR or obs-text
    (:data:`CONTROL`); the name must be a token. Trailers are dropped (RFC
    9110 §6.5.1), so a continuation is only checked to follow a field and
    counted as one of its lines: nothing is appended to the value, whose
    copies would cost as much as the continuations squared.
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
