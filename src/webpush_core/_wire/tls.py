"""One connection to a push service (or a proxy): TLS run over memory BIOs, a CONNECT tunnel.

asyncio's TLS transport would keep a 256 KiB read buffer per connection and
add a layer of calls to every read and write; here the protocol runs the TLS
object itself (``ssl.SSLContext.wrap_bio``), which checks the certificate and
the host name as :func:`tls_context` says: the system CA store (or
``ca_certs``), TLS 1.2 or later, ALPN ``http/1.1``. Through a forward proxy
the connection first carries a CONNECT (its answer parsed with the caps of
:func:`.proxy.parse_connect_head`), then TLS with the push service's name.

A connection carries at most one exchange (:mod:`.exchange`) at a time and
hands it what arrives; the pool (:mod:`.pool`) keeps it between exchanges.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Callable, Optional

from .._endpoint import EndpointPolicy
from .proxy import parse_connect_head

if TYPE_CHECKING:
    from .exchange import Exchange

__all__ = ["Connection", "Key", "tls_context"]

# The pool key of a connection: (scheme, or scheme and proxy; host; port).
Key = tuple[str, str, int]


def tls_context(ca_certs: Optional[str] = None) -> ssl.SSLContext:
    """The context every https connection is checked with (reads the CA store:
    make it off the event loop)."""
    context = ssl.create_default_context(cafile=ca_certs)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    return context


class Connection(asyncio.Protocol):
    """One keep-alive connection; at most one exchange on it at a time.

    For https it runs TLS itself, over memory BIOs (the TLS object checks
    the certificate and the host name as ``ssl.create_default_context``
    says): asyncio's TLS transport would keep a 256 KiB read buffer per
    connection and add a layer of calls to every read and write.
    """

    def __init__(
        self,
        on_lost: Callable[[Connection], object],
        key: Key,
        policy: EndpointPolicy,
        ready: asyncio.Future[Connection],
        context: Optional[ssl.SSLContext] = None,
        server_hostname: Optional[str] = None,
    ) -> None:
        self.on_lost = on_lost  # the pool forgets it (it may be idle there)
        self.key = key
        self.policy = policy  # the policy its address passed: reused only under an equal one
        self.ready = ready
        self.transport: Optional[asyncio.Transport] = None
        self.exchange: Optional[Exchange] = None
        self.closed = False
        self.tls_in = ssl.MemoryBIO()  # what the peer sent, still encrypted
        self.tls_out = ssl.MemoryBIO()  # what to send, encrypted
        self.tls: Optional[ssl.SSLObject] = None
        if context is not None:
            self.tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=server_hostname)
        # While a CONNECT is under way: the proxy's answer so far, and who waits for it.
        self.tunnel: Optional[asyncio.Future[tuple[int, str]]] = None
        self.tunnel_head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.tls is None:
            self.ready.set_result(self)
        else:
            self._handshake()

    def _handshake(self) -> None:
        tls = self.tls
        if tls is None:  # pragma: no cover - only called for TLS
            return
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # the alert, if any
            self.abort()
            if not self.ready.done():
                self.ready.set_exception(exc)
            return
        self._flush()
        if not self.ready.done():
            self.ready.set_result(self)

    def _flush(self) -> None:
        data = self.tls_out.read()
        if data and self.transport is not None:
            self.transport.write(data)

    def write(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.write(data)  # into the BIO: never blocks
            self._flush()
        elif self.transport is not None:
            self.transport.write(data)

    def open_tunnel(self, request: bytes) -> asyncio.Future[tuple[int, str]]:
        """Send a CONNECT; the future gets the proxy's (status, reason)."""
        loop = asyncio.get_running_loop()
        self.tunnel = loop.create_future()
        self.tunnel_head = b""
        self.write(request)
        return self.tunnel

    def _tunnel_data(self, data: bytes) -> None:
        tunnel = self.tunnel
        if tunnel is None or tunnel.done():  # pragma: no cover - guarded by the caller
            return
        self.tunnel_head += data
        try:
            head = parse_connect_head(self.tunnel_head)  # linear, capped
        except ValueError as exc:
            self.abort()
            tunnel.set_exception(exc)
            return
        if head is None:
            return
        status, reason, length = head
        if 200 <= status <= 299 and len(self.tunnel_head) > length:
            # Bytes after the answer, before our ClientHello: not a TLS server's.
            self.abort()
            tunnel.set_exception(ValueError("the proxy sent data after its answer to CONNECT"))
            return
        self.tunnel, self.tunnel_head = None, b""
        tunnel.set_result((status, reason))

    def start_tls(
        self, context: ssl.SSLContext, server_hostname: str
    ) -> asyncio.Future[Connection]:
        """TLS over the open tunnel, with the push service's name; the future when done."""
        self.tls = context.wrap_bio(self.tls_in, self.tls_out, server_hostname=server_hostname)
        self.ready = asyncio.get_running_loop().create_future()
        self._handshake()
        return self.ready

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self._tunnel_data(data)
            return
        tls = self.tls
        if tls is not None:
            self.tls_in.write(data)
            if not self.ready.done():
                self._handshake()
                if not self.ready.done() or self.closed:
                    return
            plain = []
            eof = False
            tls_in = self.tls_in
            try:
                # One record per read; stop once the BIO and the TLS object hold
                # nothing more, instead of reading until SSLWantReadError (an
                # exception per arrival). A partial record left in the BIO still
                # ends in SSLWantReadError, once: the rest comes with more data.
                while True:
                    chunk = tls.read(65536)
                    if not chunk:
                        eof = True
                        break
                    plain.append(chunk)
                    if not tls_in.pending and not tls.pending():
                        break
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:  # close_notify
                eof = True
            except (ssl.SSLError, OSError) as exc:
                self._lost_with(exc)
                return
            self._flush()  # e.g. a TLS 1.3 key update answer
            data = b"".join(plain)
            if eof:
                if data:
                    self._deliver(data)
                self._lost_with(None)
                return
            if not data:
                return
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            # Unasked-for bytes: on an idle connection, or on a new one before
            # the request was written (e.g. with the server's TLS Finished).
            # Whatever the server meant, they answer no request: drop it.
            self.abort()
            return
        exchange.received(data)

    def _lost_with(self, exc: Optional[Exception]) -> None:
        """The peer ended the TLS session (or broke it): as if the connection closed."""
        exchange, self.exchange = self.exchange, None
        self.abort()
        if exchange is not None:
            exchange.lost(exc)

    def eof_received(self) -> bool:
        return False  # close; connection_lost follows

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        self.on_lost(self)
        tunnel, self.tunnel = self.tunnel, None
        if tunnel is not None and not tunnel.done():
            tunnel.set_exception(exc or ConnectionResetError("closed before answering CONNECT"))
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionResetError("closed during the TLS handshake"))
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.lost(exc)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
