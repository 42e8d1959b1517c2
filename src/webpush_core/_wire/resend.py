"""The one resend a transport makes on its own: a request that met a closed connection.

A push service closes an idle keep-alive connection whenever it likes (RFC
9112 §9.3); the next request sent on it then fails before a single octet of
response arrives: reset, a broken pipe, a TLS EOF, or a clean close. Nothing
was answered, so nothing is known to be lost, and the same request goes once
more, on a new connection, within the same attempt's deadline: it costs the
subscription neither an attempt nor a backoff. Anything else (a second such
failure, a failure after response octets, a timeout) ends the attempt, and
the retry policy decides.

Both transports follow this rule: PushClient's own (:mod:`.exchange`) and the
urllib3 one (:mod:`.urllib3_transport`), each with the root cause of its
failure.
"""

from __future__ import annotations

import ssl

from .http1.limits import HTTPProtocolError

__all__ = ["STALE", "resend_on_new_connection"]

# How a connection the server had closed fails under a request (plain or TLS).
# http.client's RemoteDisconnected is a ConnectionResetError; our parser says
# HTTPProtocolError at an EOF before the response.
STALE = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    HTTPProtocolError,
)


def resend_on_new_connection(
    cause: BaseException, *, sends: int, response_octets: int, time_left: float
) -> bool:
    """Whether a request that failed with ``cause`` (the root cause) is sent again.

    ``sends``: how often it was sent in this attempt (the resend is made once);
    ``response_octets``: octets of response received before the failure (the
    resend is made only before the first); ``time_left``: seconds left of the
    attempt's deadline (the resend shares it).
    """
    return sends == 1 and response_octets == 0 and time_left > 0 and isinstance(cause, STALE)
