"""Hostile push services: handlers for :class:`servers.loopback.Server` that misbehave exactly.

Each function here makes a handler (one connection's behaviour, requests
answered in turn on a kept-alive connection):

``octets(data)``      these octets as they are, any framing or none (``None``:
                      never answer; ending in ``CLOSE``: close after them)
``stream(head, unit)`` after each request ``head``, then ``unit`` without end:
                      a flood (``every=0``) or a trickle (one unit per ``every`` s)
``drip(data, every)`` ``data`` one octet per ``every`` seconds
``reset``             read the request, then reset the connection (RST)
``early``             a 201 as soon as the connection opens, before any request

``silent_listener`` (servers.loopback) is the slowest peer of all: the kernel
accepts, nobody ever reads.

Run as ``python -m servers.hostile MODE[:tls] ...`` (with tests/ on the path)
it serves the named :data:`MODES` from a process of its own, one listener
per mode on 127.0.0.1, so the servers never take the GIL from the client
under test: a JSON line ``{"MODE": port, ...}`` on stdout once they listen,
served until stdin closes. ``.N`` after a mode makes another origin of that
kind; ``:tls`` serves it over TLS 1.2 (certificate: $PEER_CERT, $PEER_KEY).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from typing import Callable, Optional, Union

from servers.loopback import Conn, Handler, Request, Server

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
CLOSE = b"<close>"  # at the end of scripted octets: close the connection after them

Octets = Union[Optional[bytes], Callable[[Request], Optional[bytes]]]


def octets(answer: Octets) -> Handler:
    """Each request gets ``answer`` (or ``answer(request)``) written as it is.

    ``None``: the request is read and never answered (the connection stays
    open); octets ending in :data:`CLOSE`: the connection closes after the
    rest (``CLOSE`` alone: closed without a word).
    """

    def handler(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            data = answer(request) if callable(answer) else answer
            if data is None:
                continue  # hold: never answer
            if data.removesuffix(CLOSE):
                conn.write(data.removesuffix(CLOSE))
            if data.endswith(CLOSE):
                return

    return handler


def stream(head: bytes, unit: bytes, *, every: float = 0.0, total: Optional[int] = None) -> Handler:
    """After each request: ``head``, then ``unit`` over and over.

    ``every`` 0 floods (64 KiB blocks as fast as the client takes them),
    otherwise one unit per ``every`` seconds; ``total`` stops after that
    many octets of units. Ends when the client goes away or the server stops.
    """

    def handler(conn: Conn) -> None:
        while conn.read_request() is not None:
            conn.write(head)
            if every:
                sent = 0
                while not conn.wait(every) and (total is None or sent < total):
                    conn.write(unit)
                    sent += len(unit)
            elif total is None:
                conn.flood(unit)
            else:
                block = unit * max(1, 65536 // len(unit))
                for _ in range(total // len(block)):
                    if conn.server.stopping.is_set():
                        return
                    conn.write(block)

    return handler


def drip(data: bytes, every: float, *, head: bytes = b"", prompt_first: int = 0) -> Handler:
    """Each request: ``head`` at once, then ``data`` one octet per ``every`` seconds.

    The first ``prompt_first`` requests on a connection get a prompt 201
    instead (a connection that behaves until it has been reused).
    """

    def handler(conn: Conn) -> None:
        while (request := conn.read_request()) is not None:
            if request.index < prompt_first:
                conn.write(CREATED)
                continue
            if head:
                conn.write(head)
            if not conn.drip(data, every):
                return

    return handler


def reset(conn: Conn) -> None:
    """Read a request, then reset the connection."""
    if conn.read_request() is not None:
        conn.reset()


def early(conn: Conn) -> None:
    """A 201 before any request, then 201 for each request."""
    conn.write(CREATED)
    octets(CREATED)(conn)


MODES: dict[str, Handler] = {
    "good": octets(CREATED),
    "interim-flood": stream(b"", b"HTTP/1.1 100 Continue\r\n\r\n"),
    "drip": drip(CREATED, 0.1),
    "chunks": stream(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\nx\r\n"),
    "endless-headers": stream(b"HTTP/1.1 201 Created\r\n", b"X-More: yes\r\n"),
    "body-flood": stream(b"HTTP/1.1 500 Oops\r\n\r\n", b"z"),
    "garbage-after": octets(CREATED + b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n\x00junk"),
    "reset": reset,
    "early": early,
}


def _peer_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.environ["PEER_CERT"], os.environ["PEER_KEY"])
    return context


def main(specs: list[str]) -> None:
    servers: dict[str, Server] = {}
    for spec in specs:
        name, _, tls = spec.partition(":")
        mode = name.split(".")[0]  # "good.2": a second origin of the same kind
        context = _peer_tls() if tls == "tls" else None
        servers[spec] = Server(MODES[mode], tls=context, backlog=512)
    print(json.dumps({spec: s.port for spec, s in servers.items()}), flush=True)
    sys.stdin.read()  # until the test closes stdin
    for server in servers.values():
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
