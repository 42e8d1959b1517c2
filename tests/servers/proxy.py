"""A real forward proxy on loopback for the proxy tests: Debian's tinyproxy.

``make test`` installs it (``make proxy``: apt-get, as root, bounded in time)
when it is missing. Each :func:`tinyproxy` call starts one on 127.0.0.1 on a
free port with a config file of its own in a temporary directory, in the
foreground (``-d``), and stops it afterwards. With ``CI=true`` a missing
tinyproxy fails the test (the proxy tests must run there); elsewhere it skips,
saying how to install it.

Also here: :func:`refusing_proxy`, a stand-in that answers every request with
one canned reply (e.g. ``502 Bad Gateway``), and :func:`tls_push_service`, an
https stand-in push service that answers 201 and records what it received.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import pytest

START_TIMEOUT = 10.0


def require_tinyproxy() -> str:
    path = shutil.which("tinyproxy") or (
        "/usr/bin/tinyproxy" if os.path.exists("/usr/bin/tinyproxy") else None
    )
    if path is None:
        reason = "tinyproxy is not installed (`make proxy` installs it with apt-get, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ": the proxy tests must run in CI")
        pytest.skip(reason)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ForwardProxy:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]
    user: Optional[str] = None
    password: Optional[str] = None

    @property
    def url(self) -> str:
        """The proxy's URL, with the credentials when it wants them."""
        if self.user is None:
            return f"http://127.0.0.1:{self.port}"
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}"

    @property
    def bare_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged ("CONNECT host:port HTTP/1.1", "POST http://...")."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            _, sep, rest = line.partition("): ")
            if "Request (file descriptor" in line and sep:
                lines.append(rest.strip())
        return lines


@contextlib.contextmanager
def tinyproxy(auth: Optional[tuple[str, str]] = None) -> Iterator[ForwardProxy]:
    """A tinyproxy process on 127.0.0.1 (Basic authentication when ``auth`` is given)."""
    binary = require_tinyproxy()
    with tempfile.TemporaryDirectory(prefix="webpush-proxy-") as tmp:
        for _ in range(5):  # the free port may be taken between the probe and the bind
            port = _free_port()
            log_path = Path(tmp) / "tinyproxy.log"
            conf = [
                f"Port {port}",
                "Listen 127.0.0.1",
                "Timeout 20",
                "MaxClients 64",
                "LogLevel Info",
                f'LogFile "{log_path}"',
                "Allow 127.0.0.1",
                "DisableViaHeader Yes",
            ]
            if auth is not None:
                conf.append(f"BasicAuth {auth[0]} {auth[1]}")
            conf_path = Path(tmp) / "tinyproxy.conf"
            conf_path.write_text("\n".join(conf) + "\n")
            process = subprocess.Popen(
                [binary, "-d", "-c", str(conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_TIMEOUT
            ready = False
            while time.monotonic() < deadline and process.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=1),
                ):
                    ready = True
                    break
                time.sleep(0.05)
            if ready:
                break
            process.kill()
            process.wait(timeout=5)
        else:
            pytest.fail("tinyproxy did not start on 127.0.0.1")
        proxy = ForwardProxy(port, log_path, process, *(auth or (None, None)))
        try:
            yield proxy
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@contextlib.contextmanager
def refusing_proxy(reply: bytes) -> Iterator[str]:
    """A stand-in proxy on loopback answering every request with ``reply``; yields its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    data = b""
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@dataclass
class TLSPushService:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@contextlib.contextmanager
def tls_push_service(ca: Any, name: str = "localhost") -> Iterator[TLSPushService]:
    """An https stand-in push service on 127.0.0.1 with a certificate for ``name``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    record = TLSPushService("")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            record.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    record.url = f"https://localhost:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield record
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
