"""The one resend a transport makes on its own (webpush_core._wire.resend), as a table.

A request that met a closed keep-alive connection is sent once more: only for
the failures such a connection shows, only once, only before the first octet
of response, only within the attempt's deadline. (Over scripted streams:
test_pool_mock_backend; over sockets: test_client, test_transport.)
"""

from __future__ import annotations

import socket
import ssl

import pytest

from webpush_core._wire.http1.limits import HTTPProtocolError
from webpush_core._wire.resend import STALE, resend_on_new_connection

CLOSED = [
    ConnectionResetError(104, "Connection reset by peer"),
    BrokenPipeError(32, "Broken pipe"),
    ConnectionAbortedError(103, "Software caused connection abort"),
    ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
    ssl.SSLZeroReturnError(6, "TLS/SSL connection has been closed"),
    HTTPProtocolError("the connection closed before the response"),
]
NOT_CLOSED = [
    ConnectionRefusedError(111, "Connection refused"),  # never connected: nothing was stale
    socket.timeout("timed out"),
    socket.gaierror(-2, "Name or service not known"),
    ssl.SSLCertVerificationError(1, "certificate verify failed"),
    OSError(113, "No route to host"),
    ValueError("not a network failure"),
]


def test_the_table_is_the_rule() -> None:
    assert {type(e) for e in CLOSED} == set(STALE)


@pytest.mark.parametrize("cause", CLOSED, ids=lambda e: type(e).__name__)
def test_a_closed_connection_is_resent_once(cause: BaseException) -> None:
    assert resend_on_new_connection(cause, sends=1, response_octets=0, time_left=1.0)
    assert not resend_on_new_connection(cause, sends=2, response_octets=0, time_left=1.0)


@pytest.mark.parametrize("cause", NOT_CLOSED, ids=lambda e: type(e).__name__)
def test_other_failures_are_not_resent(cause: BaseException) -> None:
    assert not resend_on_new_connection(cause, sends=1, response_octets=0, time_left=1.0)


@pytest.mark.parametrize(("octets", "resent"), [(0, True), (1, False), (65536, False)])
def test_only_before_the_first_response_octet(octets: int, resent: bool) -> None:
    reset = ConnectionResetError(104, "reset")
    assert resend_on_new_connection(reset, sends=1, response_octets=octets, time_left=1.0) is resent


@pytest.mark.parametrize(("left", "resent"), [(0.001, True), (0.0, False), (-1.0, False)])
def test_only_within_the_attempts_deadline(left: float, resent: bool) -> None:
    reset = ConnectionResetError(104, "reset")
    assert resend_on_new_connection(reset, sends=1, response_octets=0, time_left=left) is resent
