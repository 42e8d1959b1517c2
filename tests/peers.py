"""Independent peers for interop tests: the web-push-testing push service and node web-push.

``web-push-testing`` (npm, in tests/node/node_modules) is started once per
test session on a free port (``node node_modules/web-push-testing/src/bin/server.js
PORT``: the port is its only argument, parsed as JSON), in its own process
group, and killed with that group at the end.

Use from a test module::

    from peers import webpush_testing_server  # noqa: F401  (a pytest fixture)

    def test_x(webpush_testing_server):
        sub = subscribe(webpush_testing_server, application_server_key=...)
        ...  send to sub["endpoint"] ...
        assert get_notifications(webpush_testing_server, sub["clientHash"]) == ["hello"]

Tests skip (saying why) only where ``node`` is absent; with node present but
the npm packages missing they fail, asking for ``make node``.

What web-push-testing 1.2.2 requires of a push (read from its source):
every route is POST; ``Content-Type: application/octet-stream`` (else the
body is not read and decryption fails: 400); ``Content-Encoding`` aes128gcm
or aesgcm; a ``TTL`` header that parses as an integer; for a subscription
with an applicationServerKey, aes128gcm needs ``Authorization: vapid t=JWT, k=KEY``
and aesgcm needs ``Authorization: WebPush JWT`` + ``Crypto-Key: dh=..;p256ecdsa=..``
(the key must equal the applicationServerKey); aesgcm's ``Encryption``
header must be exactly ``salt=...``. It answers 201 (empty body) on
success, 410 for an expired subscription, 400 for everything else
(including an unknown subscription), with ``{"error": {"message": ...}}``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from servers.loopback import free_port

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
SERVER_SCRIPT = Path("node_modules") / "web-push-testing" / "src" / "bin" / "server.js"
SEND_SCRIPT = NODE_DIR / "send_push.js"
START_TIMEOUT = 15.0


def require_node() -> str:
    """The node executable; skip if node is absent, fail if the npm packages are."""
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node is not installed: the web-push-testing / node web-push peer tests need it"
        )
    if not (NODE_MODULES / "web-push-testing").is_dir() or not (NODE_MODULES / "web-push").is_dir():
        pytest.fail(
            f"node is installed but {NODE_MODULES} lacks web-push or web-push-testing: "
            "run `make node`"
        )
    return node


def _post(url: str, payload: Optional[dict[str, Any]] = None, timeout: float = 5.0) -> Any:
    """POST JSON (or nothing); return the JSON answer, or its text if it is not JSON."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {} if payload is None else {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        is_json = "json" in response.headers.get("Content-Type", "")
    return json.loads(body) if is_json else body.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextlib.contextmanager
def run_webpush_testing() -> Iterator[str]:
    """Start web-push-testing on a free port; yield ``http://localhost:PORT``; kill it after.

    Its endpoints say ``localhost`` (its notify URL is hard-wired to that
    host), so the base URL does too.
    """
    node = require_node()
    with tempfile.TemporaryFile() as output:
        for _attempt in range(3):  # the free port may be taken before node binds it
            port = free_port()
            proc = subprocess.Popen(
                [node, str(SERVER_SCRIPT), str(port)],
                cwd=NODE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole
            )
            base_url = f"http://localhost:{port}"
            try:
                if _wait_ready(proc, base_url):
                    yield base_url
                    return
            finally:
                _kill_group(proc)
        output.seek(0)
        log = output.read()[-2000:].decode("utf-8", "replace")
        pytest.fail(f"web-push-testing did not start; its output:\n{log}")


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False  # exited: port taken, or broken install
        try:
            _post(f"{base_url}/status", timeout=1.0)
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    return False


# One server per test session, shared by every module that imports the
# fixture: pytest makes one session fixture per importing module, so the
# process itself is reference-counted here.
_shared: dict[str, Any] = {"count": 0, "url": None, "ctx": None}


@pytest.fixture(scope="session")
def webpush_testing_server() -> Iterator[str]:
    """Base URL of a running web-push-testing push service (session-wide)."""
    if _shared["count"] == 0:
        ctx = run_webpush_testing()
        _shared["url"] = ctx.__enter__()
        _shared["ctx"] = ctx
    _shared["count"] += 1
    try:
        yield _shared["url"]
    finally:
        _shared["count"] -= 1
        if _shared["count"] == 0:
            ctx, _shared["ctx"], _shared["url"] = _shared["ctx"], None, None
            ctx.__exit__(None, None, None)


# -- web-push-testing's API -----------------------------------------------


def subscribe(
    base_url: str, application_server_key: Optional[str] = None, *, user_visible_only: bool = True
) -> dict[str, Any]:
    """POST /subscribe; return ``{"endpoint", "keys": {"p256dh", "auth"}, "clientHash"}``.

    ``application_server_key`` (base64url public key) makes the peer demand
    VAPID tokens signed by it. web-push-testing wants ``userVisibleOnly`` as
    the *string* "true"/"false" (a JSON boolean is refused).
    """
    options: dict[str, Any] = {"userVisibleOnly": "true" if user_visible_only else "false"}
    if application_server_key is not None:
        options["applicationServerKey"] = application_server_key
    answer = _post(f"{base_url}/subscribe", options)
    data: dict[str, Any] = answer["data"]
    return data


def subscription_info(peer_subscription: dict[str, Any]) -> dict[str, Any]:
    """The browser-shaped part of a peer subscription: endpoint and keys only."""
    return {"endpoint": peer_subscription["endpoint"], "keys": dict(peer_subscription["keys"])}


def get_notifications(base_url: str, client_hash: str) -> list[str]:
    """Decrypted messages the peer received for ``client_hash`` (UTF-8 text), oldest first."""
    answer = _post(f"{base_url}/get-notifications", {"clientHash": client_hash})
    messages: list[str] = answer["data"]["messages"]
    return messages


def expire(base_url: str, client_hash: str) -> None:
    """Mark the subscription expired: later pushes get 410."""
    _post(f"{base_url}/expire-subscription/{client_hash}")


# -- node web-push as a sender ----------------------------------------------


def node_send(
    subscription: dict[str, Any],
    payload: Optional[bytes],
    *,
    vapid: Optional[dict[str, str]] = None,
    content_encoding: str = "aes128gcm",
    ttl: int = 60,
    urgency: Optional[str] = None,
    topic: Optional[str] = None,
) -> dict[str, Any]:
    """Send one push with node web-push (tests/node/send_push.js).

    ``vapid`` is ``{"subject", "publicKey", "privateKey"}`` (base64url raw keys).
    Returns ``{"status", "body", "headers", "request_headers"}``.
    """
    node = require_node()
    spec: dict[str, Any] = {
        "subscription": subscription_info(subscription),
        "payload_b64": base64.b64encode(payload).decode() if payload else None,
        "vapid": vapid,
        "contentEncoding": content_encoding,
        "ttl": ttl,
        "urgency": urgency,
        "topic": topic,
    }
    done = subprocess.run(
        [node, str(SEND_SCRIPT)],
        cwd=NODE_DIR,
        input=json.dumps(spec).encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"send_push.js failed: {done.stderr.decode('utf-8', 'replace')[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
