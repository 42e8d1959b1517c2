"""A real forward proxy on loopback for the proxy tests: Debian's tinyproxy.

``make test`` installs it (``make proxy``: apt-get, as root, bounded in time)
when it is missing. Each :func:`tinyproxy` call starts one on 127.0.0.1 on a
free port with a config file of its own in a temporary directory, in the
foreground (``-d``), and stops it afterwards. With ``CI=true`` a missing
tinyproxy fails the test (the proxy tests must run there); elsewhere it skips,
saying how to install it.

Also here: :func:`refusing_proxy`, a stand-in that answers every request with
one canned reply (e.g. ``502 Bad Gateway``) and closes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from servers.loopback import Conn, Server, free_port

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
            port = free_port()
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

    def answer(conn: Conn) -> None:
        conn.read_head()
        conn.write(reply)

    with Server(answer) as server:
        yield server.url
