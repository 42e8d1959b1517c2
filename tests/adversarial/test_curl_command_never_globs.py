"""A printed curl command sends one request to the endpoint as written, never a glob of them.

curl reads ``[1-50]`` and ``{a,b}`` in a URL as a pattern: without
``--globoff`` an endpoint whose path holds one (a subscriber chooses the
endpoint) turns one pasted command into 50 POSTs, to URLs nobody checked. The
command from ``webpush(curl=True)`` and ``WebPusher.as_curl()`` is run here
with the real curl against a loopback server that counts what arrives.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webpush_core import EndpointPolicy, WebPusher, webpush
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
GLOBS = ["/push/x[1-50]", "/push/{a,b,c}", "/push/[0-9]{x,y}"]


class Counter:
    """Counts the POSTs that arrive and the paths they name."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                counter.paths.append(self.path)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counter() -> Iterator[Counter]:
    c = Counter()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def sub() -> dict[str, Any]:
    with LocalPushService() as service:
        return service.subscribe()


def run(command: str) -> None:
    for tool in ("curl", "bash", "base64"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed to run the printed command")
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=60)


@pytest.mark.parametrize("path", GLOBS)
@pytest.mark.parametrize("data", ["hello", None])
def test_webpush_curl_command_sends_one_request_to_the_literal_path(
    counter: Counter, sub: dict[str, Any], path: str, data: str
) -> None:
    info = {**sub, "endpoint": counter.url + path}
    command = webpush(info, data, curl=True, endpoint_policy=LOCAL)
    run(command)
    assert counter.paths == [path], f"{len(counter.paths)} requests"
    assert "--globoff" in command.split()


@pytest.mark.parametrize("path", GLOBS)
def test_webpusher_as_curl_sends_one_request_to_the_literal_path(
    counter: Counter, sub: dict[str, Any], path: str
) -> None:
    info = {**sub, "endpoint": counter.url + path}
    pusher = WebPusher(info)
    encoded = pusher.encode("hello")
    headers = {"Content-Encoding": "aes128gcm", "TTL": "0"}
    command = pusher.as_curl(info["endpoint"], encoded["body"], headers)
    run(command)
    assert counter.paths == [path], f"{len(counter.paths)} requests"
    assert "--globoff" in command.split()
