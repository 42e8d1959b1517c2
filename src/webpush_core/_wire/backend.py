"""Where PushClient's bytes go: the one place its event loop opens a stream.

The pool (:mod:`.pool`) asks a :class:`Backend` for a stream to one address
and port, handing it the protocol that will run on it (:class:`.tls.Connection`:
TLS, if any, runs inside that protocol, over memory BIOs). :data:`TCP` opens a
TCP connection with the loop. A test can pass another backend whose streams
are scripted bytes in memory: the exchange's state machine, the pool's reuse,
the stale-connection resend, the client's slots, retries and breaker then run
as they do over sockets, with none.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Protocol

__all__ = ["TCP", "Backend", "TCPBackend"]


class Backend(Protocol):
    async def open(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: Callable[[], asyncio.Protocol],
        address: str,
        port: int,
    ) -> asyncio.Transport:
        """A stream to ``address`` (an IP the endpoint policy checked) and ``port``,
        run by ``protocol()``; raises OSError when none can be opened."""
        ...


class TCPBackend:
    """Streams are TCP connections opened by the event loop."""

    async def open(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: Callable[[], asyncio.Protocol],
        address: str,
        port: int,
    ) -> asyncio.Transport:
        transport, _ = await loop.create_connection(protocol, address, port)
        return transport


TCP = TCPBackend()
