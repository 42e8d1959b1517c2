"""How a final response's body ends, and whether its connection stays open (RFC 9112 §6.3).

One pure decision from the head alone: :func:`body_framing` reads the
three fields that frame a body (Connection, Transfer-Encoding,
Content-Length) and the status, and says how :class:`.parser.ResponseParser`
reads what follows.
"""

from __future__ import annotations

import re
from typing import Optional

from .limits import HTTPProtocolError

__all__ = ["CHUNKED", "CONTENT_LENGTH", "NO_BODY", "UNTIL_CLOSE", "body_framing"]

NO_BODY = "no body"  # 204, 304 (RFC 9110 §15.3.5, §15.4.5)
CHUNKED = "chunked"  # the chunked transfer coding is the last one
CONTENT_LENGTH = "content-length"  # that many octets
UNTIL_CLOSE = "until close"  # the body runs until the peer closes the connection

_DIGITS = re.compile(r"[0-9]{1,18}")


def body_framing(
    status: int, version_minor: int, headers: list[tuple[str, str]]
) -> tuple[str, int, bool]:
    """How the body ends, its Content-Length (else 0), and whether the connection
    may carry another request (keep-alive; never after an until-close body).

    ``headers`` are the (name, value) fields of a final response's head, as
    received. Anything RFC 9112 §6.3 says a recipient must refuse is an
    :class:`.limits.HTTPProtocolError`.
    """
    connection: list[str] = []
    transfer_encoding: Optional[list[str]] = None
    lengths: list[str] = []
    for name, value in headers:
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
    keep_alive = version_minor >= 1 and "close" not in connection
    if status in (204, 304):
        return NO_BODY, 0, keep_alive
    if transfer_encoding is not None:
        if not transfer_encoding:
            raise HTTPProtocolError("empty Transfer-Encoding")
        if transfer_encoding.count("chunked") > 1 or (
            "chunked" in transfer_encoding and transfer_encoding[-1] != "chunked"
        ):
            raise HTTPProtocolError("chunked is not the final transfer coding, once")
        if lengths or version_minor == 0:
            # Both framings (§6.3 item 3), or Transfer-Encoding in HTTP/1.0
            # (§6.1): read by the transfer coding, then close.
            keep_alive = False
        if transfer_encoding[-1] == "chunked":
            return CHUNKED, 0, keep_alive
        return UNTIL_CLOSE, 0, False
    if lengths:
        if any(_DIGITS.fullmatch(v) is None for v in lengths) or len(set(lengths)) > 1:
            raise HTTPProtocolError("invalid Content-Length")
        return CONTENT_LENGTH, int(lengths[0]), keep_alive
    return UNTIL_CLOSE, 0, False
