"""What one response may make the parser do, and the one error past it.

The defaults of :class:`.parser.ResponseParser`'s caps (each can be lowered
per parser), and :class:`HTTPProtocolError`: anything over a cap or outside
RFC 9112's grammar, after which the connection is dropped.
"""

from __future__ import annotations

__all__ = [
    "MAX_CHUNKS",
    "MAX_CHUNK_LINE",
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_INTERIM",
    "HTTPProtocolError",
]

MAX_HEAD = 65536  # octets: every head of one response together; the trailers; the chunk exts
MAX_HEADERS = 100  # field lines in one head (as http.client), continuations included
MAX_INTERIM = 10  # 1xx responses before the final one
MAX_CHUNK_LINE = 4096  # one chunk-size line, extensions included
# Chunks in one body. A push service's answer is a few hundred octets; a peer
# sending one-octet chunks costs ~6 µs of the I/O thread each, so this bounds
# what one response can take from every other origin to a few milliseconds.
MAX_CHUNKS = 1024


class HTTPProtocolError(Exception):
    """The bytes received are not an HTTP/1.1 response we accept."""
