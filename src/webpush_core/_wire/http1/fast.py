"""The shortcut for the answer nearly every push message gets.

Nearly every answer to a push message is the same shape: a final ``2xx``
head (``201 Created``, a few fields, ``Content-Length: 0``) alone in the
first read. :meth:`.parser.ResponseParser.feed` recognises that shape with
:func:`plain_head`: one regular expression (:data:`_PLAIN_HEAD`: HTTP/1.1,
CRLF line ends, a status line and ``token: value`` fields in RFC 9112's
octets, nothing else) and three substring tests (one ``Content-Length: 0``,
no ``Transfer-Encoding``, no ``close`` anywhere), and splits the fields.
Anything else (a head cut over reads, bytes after it, a bare LF, obs-fold,
a control octet, a 1xx, another status or framing, a head over a limit) is
left to the full parser, which reads it as if the shortcut did not exist:
the shortcut only ever gives the result the full parser gives
(tests/adversarial/test_parser_fast_path_never_accepts_what_the_full_parser_refuses.py
feeds every input to both).
"""

from __future__ import annotations

import re
from typing import Optional

__all__ = ["plain_head"]

# The fast path's whole input: one final 2xx head of HTTP/1.1 and nothing after
# it, every line ended by CRLF. The status line as head._STATUS_LINE reads it
# (for version 1.1 and a 2xx status only); each
# field a token, ":", then the octets a value may hold (no CR, LF or other
# control but HTAB); then the empty line. A value's class has no CR and a
# name's no ":", so each octet can be matched one way only: linear, however
# the match fails. Inside such a head every LF follows a CR and is followed by
# a token octet or by the final CRLF, so the empty line the full parser looks
# for (parser._END_OF_HEAD) is the last two line ends, at the end of the input.
_PLAIN_HEAD = re.compile(
    rb"HTTP/1\.1 (2[0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n"
    rb"((?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*)\r\n"
)


def plain_head(
    data: bytes, max_head: int, max_fields: int
) -> Optional[tuple[int, str, list[tuple[str, str]]]]:
    """A connection's first read ``data`` as the whole response, if it is one
    plain final 2xx head (:data:`_PLAIN_HEAD`) framed by ``Content-Length: 0``
    alone and within the limits: its status, reason and fields; None for
    anything else (the full parser then reads it).

    The result is what the full parser makes of such a head: the fields as
    :func:`.head.field_lines` splits them, and :func:`.framing.body_framing`'s
    verdict for one Content-Length of 0 and no Transfer-Encoding in HTTP/1.1:
    done, no body, the connection reusable unless a Connection field says
    ``close`` (any "close" anywhere in the fields sends the head to the full
    parser, which reads the tokens).
    """
    if len(data) > max_head or not data.endswith(b"\r\n\r\n"):
        return None  # over the limit (refused by the same rule), or not all a head
    m = _PLAIN_HEAD.fullmatch(data)
    if m is None:
        return None
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
        return None
    lines = text.split("\r\n")
    lines.pop()  # the empty string after the last field's CRLF
    if len(lines) > max_fields:
        return None
    fields = []
    for line in lines:
        name, _, value = line.partition(":")
        fields.append((name, value.strip(" \t")))
    return int(m.group(1)), (m.group(2) or b"").decode("latin-1").strip(" \t"), fields
