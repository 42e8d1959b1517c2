"""Review of PushClient's own HTTP/1.1 client, its connections and its helper process.

Each test here stood for a problem found in review (it failed before the
fix next to it), or for a guarantee checked end to end against real TLS
servers and the node peer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import trustme

from peers import (
    get_notifications,
    subscribe,
    subscription_info,
    webpush_testing_server,  # noqa: F401 - pytest fixture
)
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery.sealer import Bodies, Sealer
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._wire.http1 import MAX_HEAD, HTTPProtocolError, ResponseParser
from webpush_core.errors import TransportError
from webpush_core.vapid import Vapid


def test_trailer_section_is_bounded_like_the_head() -> None:
    # The trailer fields after a chunked body were read and dropped without
    # any limit: a server could stream them until the deadline.
    parser = ResponseParser(1024)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    field = b"X-Trailer: " + b"a" * 100 + b"\r\n"
    with pytest.raises(HTTPProtocolError, match="trailer"):
        for _ in range(MAX_HEAD // len(field) + 2):
            parser.feed(field)
    assert not parser.done


def test_a_short_trailer_section_is_read() -> None:
    parser = ResponseParser(1024)
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n")
    parser.feed(b"X-A: 1\r\nX-B: 2\r\n\r\n")
    assert parser.done and parser.body == b"ok" and parser.keep_alive


def _wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_the_helper_imports_our_copy_not_one_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -m` puts the working directory first on sys.path: a
    # webpush_core (or any module it imports) there ran in the helper, which
    # is handed every plaintext and auth secret.
    marker = tmp_path / "hijacked"
    fake = tmp_path / "webpush_core"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "_delivery").mkdir()
    (fake / "_delivery" / "__init__.py").write_text("")
    (fake / "_delivery" / "sealer.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "struct.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    sealer = Sealer()
    try:
        sealer.start()
        assert _wait_until(lambda: sealer.ready or sealer.failed or marker.exists())
        answers: list[Bodies] = []
        point = uncompressed_point(generate_private_key().public_key())
        assert sealer.submit(b"hi", 0, [(point, b"a" * 16)], answers.append)
        assert _wait_until(lambda: bool(answers))
    finally:
        sealer.close()
    assert not marker.exists()
    assert answers[0] is not None and len(answers[0]) == 1 and answers[0][0] is not None


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (PID 1 here may not reap orphans)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(
    not hasattr(os, "fork") or not os.path.exists("/proc/self/stat"), reason="fork and /proc"
)
def test_the_helper_ends_when_its_parent_dies_even_after_a_fork() -> None:
    # The helper ended on its stdin's EOF only: a child forked from the
    # parent (multiprocessing, a pre-forking server) holds that pipe open, so
    # the helper outlived the parent for as long as such a child lived.
    script = (
        "import os, sys, time, warnings\n"
        "from webpush_core._delivery.sealer import Sealer\n"
        "s = Sealer(); s.start()\n"
        "end = time.monotonic() + 10\n"
        "while not s.ready and time.monotonic() < end: time.sleep(0.01)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "print(s.pid if s.ready else 0, pid, flush=True)\n"
        "os._exit(0)\n"  # dies without closing anything
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # not to the EOF: the forked child holds stdout
        assert proc.wait(timeout=30) == 0
    helper, child = (int(v) for v in line.split())
    try:
        assert helper and _running(child)
        assert _wait_until(lambda: not _running(helper), 10.0), "the helper outlived its parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(helper, signal.SIGKILL)


# --------------------------------------------------------------------------
# PushClient's own HTTP/1.1 client end to end, over real TLS

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(os.urandom(16)),
}

# What the server writes back, by request path; the connection stays open
# afterwards unless the answer ends with CLOSE.
CLOSE = b"<close>"
ANSWERS = {
    "/close": b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    "/chunked": b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n",
    "/http10": b"HTTP/1.0 201 Created\r\nContent-Length: 2\r\n\r\nok",
    "/http10-eof": b"HTTP/1.0 201 Created\r\n\r\nuntil the close" + CLOSE,
    "/switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n",
    "/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "/partial": b"HTTP/1.1 20" + CLOSE,
    "/smuggle": b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    "/ok": b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
}


class ScriptedTLSServer:
    """TLS with a certificate from ``ca`` for ``names``; records (connection, path, SNI)."""

    def __init__(self, ca: trustme.CA, *names: str, host: str = "127.0.0.1") -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*(names or (host,))).configure_cert(self.context)
        self.sni: list[Optional[str]] = []

        def on_sni(sock: ssl.SSLObject, name: Optional[str], ctx: ssl.SSLContext) -> None:
            self.sni.append(name)

        self.context.sni_callback = on_sni  # type: ignore[assignment]
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.base = f"https://{host}:{self.port}"
        self.seen: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def sub(self, path: str, i: int = 0) -> dict[str, Any]:
        return {"endpoint": f"{self.base}/push{path}/{i}", "keys": KEYS}

    def _run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                continue
            n += 1
            threading.Thread(target=self._serve, args=(raw, n), daemon=True).start()

    def _serve(self, raw: socket.socket, conn_id: int) -> None:
        raw.settimeout(5)
        try:
            sock = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with sock, contextlib.suppress(OSError, ValueError):
            f = sock.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    return
                path = line.split(b" ")[1].decode().split("/push", 1)[1].rsplit("/", 1)[0]
                length = 0
                while (header := f.readline()) not in (b"\r\n", b""):
                    name, _, value = header.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                f.read(length)
                with self.lock:
                    self.seen.append((conn_id, path))
                answer = ANSWERS[path]
                sock.sendall(answer.replace(CLOSE, b""))
                if answer.endswith(CLOSE):
                    return

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(2)
        self.listener.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_path(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def tls(ca: trustme.CA) -> Iterator[ScriptedTLSServer]:
    server = ScriptedTLSServer(ca)
    yield server
    server.stop()


def _connections_of(server: ScriptedTLSServer, path: str) -> list[int]:
    with server.lock:
        return [c for c, p in server.seen if p == path]


def test_connection_close_answers_are_never_reused(tls: ScriptedTLSServer, ca_path: str) -> None:
    # The server keeps each socket open after "Connection: close": only the
    # client's reading of the header can keep the next request off it.
    subs = [tls.sub("/close", i) for i in range(6)]
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = list(client.send_many(subs, b"x"))
    assert all(r.ok and r.attempts == 1 for r in results), results
    conns = _connections_of(tls, "/close")
    assert len(conns) == 6 and len(set(conns)) == 6


@pytest.mark.parametrize("path", ["/http10", "/http10-eof"])
def test_http_1_0_answers(tls: ScriptedTLSServer, ca_path: str, path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = [client.send(tls.sub(path, i), b"x") for i in range(3)]
    assert all(r.ok and r.status_code == 201 for r in results)
    body = b"ok" if path == "/http10" else b"until the close"
    assert all(r.response is not None and r.response.content == body for r in results)
    conns = _connections_of(tls, path)
    assert len(conns) == 3 and len(set(conns)) == 3  # HTTP/1.0: no keep-alive


def test_chunked_answers_and_keep_alive(tls: ScriptedTLSServer, ca_path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        results = [client.send(tls.sub("/chunked", i), b"x") for i in range(3)]
    assert all(r.ok and r.response is not None and r.response.content == b"abcde" for r in results)
    assert len(set(_connections_of(tls, "/chunked"))) == 1


def test_interim_answers_are_skipped(tls: ScriptedTLSServer, ca_path: str) -> None:
    with PushClient(concurrency=1, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        result = client.send(tls.sub("/interim"), b"x")
    assert result.ok and result.status_code == 201


def test_101_is_an_error_not_a_crash_and_its_connection_is_dropped(
    tls: ScriptedTLSServer, ca_path: str
) -> None:
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        result = c.send(tls.sub("/switch"), b"x")
        after = c.send(tls.sub("/ok"), b"x")
    assert not result.ok and isinstance(result.error, TransportError)
    assert "101" in result.error.message and result.attempts == 1
    assert after.ok
    assert _connections_of(tls, "/switch") != _connections_of(tls, "/ok")


def test_a_partial_answer_is_not_resent(tls: ScriptedTLSServer, ca_path: str) -> None:
    # Some response bytes came: the request reached the service; a resend
    # could deliver the message twice.
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        result = c.send(tls.sub("/partial"), b"x")
    assert not result.ok and isinstance(result.error, TransportError)
    assert len(_connections_of(tls, "/partial")) == 1


def test_unasked_for_bytes_after_an_answer_drop_the_connection(
    tls: ScriptedTLSServer, ca_path: str
) -> None:
    # A second response nobody asked for must not answer the next request.
    with PushClient(concurrency=1, max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as c:
        first = c.send(tls.sub("/smuggle"), b"x")
        second = c.send(tls.sub("/ok"), b"x")
    assert first.ok and second.ok
    assert _connections_of(tls, "/ok") != _connections_of(tls, "/smuggle")


def test_sni_is_the_endpoint_host_name(ca: trustme.CA, ca_path: str) -> None:
    try:
        socket.getaddrinfo("localhost", 443, socket.AF_INET)
    except OSError:
        pytest.skip("no localhost")
    server = ScriptedTLSServer(ca, "localhost", host="localhost")
    try:
        with PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
            result = client.send(server.sub("/ok"), b"x")
        assert result.ok, result.error
        assert server.sni and set(server.sni) == {"localhost"}
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 on purpose
def test_tls_older_than_1_2_is_refused(ca: trustme.CA, ca_path: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    versions: list[Optional[str]] = []
    requests: list[bytes] = []

    def serve() -> None:
        for _ in range(2):
            raw, _ = listener.accept()
            raw.settimeout(5)
            try:
                sock = context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                versions.append(None)
                raw.close()
                continue
            versions.append(sock.version())
            with sock, contextlib.suppress(OSError):
                line = sock.recv(65536)
                if line.startswith(b"POST"):
                    requests.append(line)
                    sock.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        # Control: this server does speak TLS 1.1 to a client that allows it.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(ca_path)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with old.wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=5),
                server_hostname="127.0.0.1",
            ):
                pass
        except ssl.SSLError:
            pytest.skip("this OpenSSL cannot speak TLS 1.1 at all")
        sub = {"endpoint": f"https://127.0.0.1:{port}/push/old", "keys": KEYS}
        with PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
            result = client.send(sub, b"x")
        thread.join(5)
        assert versions[0] in ("TLSv1", "TLSv1.1")
        assert not result.ok and isinstance(result.error, TransportError)
        assert "TLS failure" in result.error.message
        assert versions[1:] == [None] and requests == []
    finally:
        listener.close()


# --------------------------------------------------------------------------
# PushClient's fan-out against the node peer web-push-testing


@pytest.mark.node
@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_send_many_reaches_every_peer_subscription(
    webpush_testing_server: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    coding: str,
) -> None:
    # A fan-out this long encrypts aes128gcm in the helper process too.
    monkeypatch.setattr(_fanout, "_HELPER_AFTER", 4)
    key = Vapid.generate()
    peer_subs = [subscribe(webpush_testing_server, key.application_server_key) for _ in range(20)]
    by_endpoint = {s["endpoint"]: s["clientHash"] for s in peer_subs}
    message = f"fan-out über {coding}"
    claims = {"sub": "mailto:ops@example.com"}
    with PushClient(
        key, claims, content_encoding=coding, ttl=60, concurrency=4, endpoint_policy=LOCAL
    ) as client:
        results = list(client.send_many([subscription_info(s) for s in peer_subs], message))
        helper_started = client._res.sealer.pid is not None
    assert len(results) == 20
    assert all(r.ok and r.status_code == 201 and r.attempts == 1 for r in results), results
    assert sorted(str(r.endpoint) for r in results) == sorted(by_endpoint)
    for client_hash in by_endpoint.values():
        assert get_notifications(webpush_testing_server, client_hash) == [message]
    if coding == "aes128gcm" and _sealer.cores() > 1:
        assert helper_started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads: on purpose
def test_close_in_a_forked_child_leaves_the_parents_loop_alone(
    tls: ScriptedTLSServer, ca_path: str
) -> None:
    # close() in a child stopped the parent's resources: it waited 10 s for
    # a loop thread that does not exist in the child (and for ever when a
    # send was under way in the parent at the fork).
    other = PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path)
    assert other.send(tls.sub("/ok", 3), b"x").ok
    with PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
        assert client.send(tls.sub("/ok"), b"x").ok
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            signal.alarm(30)  # a hang ends the child: the parent then reads no status
            code = 1
            try:
                start = time.monotonic()
                other._finalizer()  # what the child's exit runs for a client it never closed
                client.close()
                code = 0 if time.monotonic() - start < 3.0 else 2
                if code == 0:
                    code = 0 if client.send(tls.sub("/ok", 1), b"x").ok else 3
                    client.close()
            finally:
                os.write(write_end, bytes((code,)))
                os._exit(0)
        os.close(write_end)
        status = os.read(read_end, 1)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert status == b"\x00"
        assert client.send(tls.sub("/ok", 2), b"x").ok  # the parent's still works
    assert other.send(tls.sub("/ok", 4), b"x").ok
    other.close()
