"""_wire.tls.Connection over memory BIOs: what arrives is read record by record
and handed on whole, whatever the segmentation, without reading past the end."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import trustme

from webpush_core._endpoint import EndpointPolicy
from webpush_core._wire.tls import Connection


class _Transport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.out.append(data)

    def abort(self) -> None:
        self.aborted = True

    def take(self) -> bytes:
        data, self.out = b"".join(self.out), []
        return data


class _Exchange:
    def __init__(self) -> None:
        self.got: list[bytes] = []  # each hand-over of plaintext
        self.lost_with: list[Optional[Exception]] = []

    def received(self, data: bytes) -> None:
        self.got.append(data)

    def lost(self, exc: Optional[Exception]) -> None:
        self.lost_with.append(exc)


class _CountingTLS:
    """The client's SSLObject, with its reads counted (and the SSLWantReadErrors)."""

    def __init__(self, tls: ssl.SSLObject) -> None:
        self.tls = tls
        self.reads = 0
        self.wants = 0

    def read(self, n: int) -> bytes:
        self.reads += 1
        try:
            return self.tls.read(n)
        except ssl.SSLWantReadError:
            self.wants += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tls, name)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(params=[ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["tls1.2", "tls1.3"])
def pair(request: Any, ca: trustme.CA) -> Iterator[tuple[Connection, Any, _Transport, _Exchange]]:
    """A connection after its handshake with a server SSLObject, an exchange on it."""
    loop = asyncio.new_event_loop()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    client_ctx.maximum_version = request.param
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("push.example").configure_cert(server_ctx)
    s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    lost: list[Connection] = []
    conn = Connection(
        lost.append,
        ("https", "push.example", 443),
        EndpointPolicy(),
        loop.create_future(),
        client_ctx,
        "push.example",
    )
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(10):
        s_in.write(transport.take())
        with contextlib.suppress(ssl.SSLWantReadError):
            server.do_handshake()
        data = s_out.read()
        if data:
            conn.data_received(data)
        if conn.ready.done():
            break
    assert conn.ready.done() and conn.ready.exception() is None
    s_in.write(transport.take())  # the client's Finished
    with contextlib.suppress(ssl.SSLWantReadError):
        server.read(1)  # processes it (and, TLS 1.3, sends tickets)
    exchange = _Exchange()
    conn.exchange = exchange  # type: ignore[assignment]
    tickets = s_out.read()  # TLS 1.3 session tickets, before any answer
    if tickets:
        conn.data_received(tickets)
    assert exchange.got == []
    counting = _CountingTLS(conn.tls)  # type: ignore[arg-type]
    conn.tls = counting  # type: ignore[assignment]
    yield conn, (server, s_out), transport, exchange
    loop.close()


def _records(server: ssl.SSLObject, s_out: ssl.MemoryBIO, *parts: bytes) -> bytes:
    for part in parts:
        server.write(part)  # one record each (up to 16 KiB)
    return s_out.read()


def test_records_arriving_together_are_read_without_a_read_past_the_end(
    pair: tuple[Connection, Any, _Transport, _Exchange],
) -> None:
    conn, (server, s_out), _, exchange = pair
    parts = (b"HTTP/1.1 201 Created\r\n", b"Content-Length: 0\r\n", b"\r\n")
    conn.data_received(_records(server, s_out, *parts))
    assert exchange.got == [b"".join(parts)]  # one hand-over, whole
    counting: Any = conn.tls
    assert counting.reads == len(parts)  # one read per record, none to find the end
    assert counting.wants == 0


def test_a_large_answer_in_many_records_is_read_whole(
    pair: tuple[Connection, Any, _Transport, _Exchange],
) -> None:
    conn, (server, s_out), _, exchange = pair
    body = bytes(range(256)) * 300  # 76,800 octets: five records
    conn.data_received(_records(server, s_out, body))
    assert b"".join(exchange.got) == body
    counting: Any = conn.tls
    assert counting.wants == 0


@pytest.mark.parametrize("cut", [1, 4, 5, 6, 20, -17, -1])
def test_a_record_cut_anywhere_is_held_until_it_is_whole(
    pair: tuple[Connection, Any, _Transport, _Exchange], cut: int
) -> None:
    conn, (server, s_out), _, exchange = pair
    wire = _records(server, s_out, b"HTTP/1.1 201 Created\r\n\r\n")
    conn.data_received(wire[:cut])
    assert exchange.got == []
    conn.data_received(wire[cut:])
    assert exchange.got == [b"HTTP/1.1 201 Created\r\n\r\n"]


def test_every_segmentation_gives_the_same_octets(
    pair: tuple[Connection, Any, _Transport, _Exchange],
) -> None:
    conn, (server, s_out), _, exchange = pair
    parts = (b"HTTP/1.1 201 Created\r\n", b"Location: /m/1\r\n", b"\r\n")
    wire = _records(server, s_out, *parts)
    for at in range(0, len(wire), 7):  # 7-octet arrivals: every boundary falls mid-record
        conn.data_received(wire[at : at + 7])
    assert b"".join(exchange.got) == b"".join(parts)


def test_data_then_close_notify_in_one_arrival_delivers_then_ends(
    pair: tuple[Connection, Any, _Transport, _Exchange],
) -> None:
    conn, (server, s_out), transport, exchange = pair
    server.write(b"HTTP/1.1 201 Created\r\n\r\n")
    with pytest.raises(ssl.SSLWantReadError):
        server.unwrap()  # close_notify, after the data
    conn.data_received(s_out.read())
    assert exchange.got == [b"HTTP/1.1 201 Created\r\n\r\n"]
    assert exchange.lost_with == [None]
    assert transport.aborted
