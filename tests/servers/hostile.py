"""Push services on loopback, honest and hostile, in a process of their own.

Run as ``python hostile.py MODE[:tls] ...``: one listener per mode on
127.0.0.1, a JSON line ``{"MODE": port, ...}`` on stdout once they listen,
served until stdin closes. A process of its own, so the servers never take
the GIL from the client under test: what the test measures is the client.

Modes (each answers every request on a connection, keep-alive):

``good``             201 Created at once (the origin whose deliveries are timed)
``interim-flood``    1xx responses without end
``drip``             a valid response, one octet every 100 ms
``chunks``           a chunked body of one-octet chunks without end
``endless-headers``  header fields without end
``body-flood``       a body that runs until the close, without end
``garbage-after``    a 201, then octets no request asked for
``reset``            reads the request, then resets the connection (RST)
``early``            a 201 as soon as the connection opens, before any request
``.N`` after a mode makes another origin of that kind; ``:tls`` serves it over
TLS 1.2 (certificate: $PEER_CERT, $PEER_KEY).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import struct
import sys
from typing import Callable, Optional

CREATED = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
FLOOD = 64 * 1024


async def read_request(reader: asyncio.StreamReader) -> bool:
    """One request (head and Content-Length body); False at the end of the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    try:
        await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError):
        return False
    return True


async def flood(writer: asyncio.StreamWriter, first: bytes, unit: bytes) -> None:
    writer.write(first)
    block = unit * max(1, FLOOD // len(unit))
    while not writer.is_closing():
        writer.write(block)
        await writer.drain()


async def serve(mode: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if mode == "early":
            writer.write(CREATED)
            await writer.drain()
        while await read_request(reader):
            if mode in ("good", "early"):
                writer.write(CREATED)
            elif mode == "interim-flood":
                await flood(writer, b"", b"HTTP/1.1 100 Continue\r\n\r\n")
            elif mode == "drip":
                for octet in CREATED:
                    writer.write(bytes((octet,)))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            elif mode == "chunks":
                head = b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n"
                await flood(writer, head, b"1\r\nx\r\n")
            elif mode == "endless-headers":
                await flood(writer, b"HTTP/1.1 201 Created\r\n", b"X-More: yes\r\n")
            elif mode == "body-flood":
                await flood(writer, b"HTTP/1.1 500 Oops\r\n\r\n", b"z")
            elif mode == "garbage-after":
                writer.write(CREATED + b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n\x00junk")
            elif mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            await writer.drain()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass  # the client dropped the connection (or the peer is stopping)
    finally:
        writer.transport.abort()


def tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(os.environ["PEER_CERT"], os.environ["PEER_KEY"])
    return context


async def main(modes: list[str]) -> None:
    ports: dict[str, int] = {}
    for spec in modes:
        name, _, tls = spec.partition(":")
        mode = name.split(".")[0]  # "good.2": a second origin of the same kind
        context: Optional[ssl.SSLContext] = tls_context() if tls == "tls" else None

        def handler(mode: str = mode) -> Callable[..., object]:
            return lambda r, w: serve(mode, r, w)

        server = await asyncio.start_server(handler(), "127.0.0.1", 0, ssl=context, backlog=512)
        ports[spec] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes stdin


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
