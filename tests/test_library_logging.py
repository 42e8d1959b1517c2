"""Library manners: nothing reaches stderr unless the application configured logging.

A script that sets up no logging sends to a push service that throttles it
(429 with Retry-After, then 201): the client logs a warning on
``webpush_core.delivery``, which must go nowhere (Python's last-resort
handler would print it). The same script with ``logging.basicConfig()`` shows
it, so the check can fail.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import webpush_core

SCRIPT = textwrap.dedent(
    """
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if sys.argv[1] == "configured":
        import logging
        logging.basicConfig()

    from webpush_core import EndpointPolicy, PushClient
    from webpush_core.testing import LocalPushService

    answers = [(429, {"Retry-After": "1"}), (201, {})]

    class Throttling(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            status, headers = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with LocalPushService() as svc:
        keys = svc.subscribe()["keys"]
    sub = {"endpoint": f"http://127.0.0.1:{server.server_port}/push/1", "keys": keys}
    with PushClient(endpoint_policy=EndpointPolicy.for_testing(), helper_process=False) as c:
        result = c.send(sub, "hello")
    assert result.ok and result.attempts == 2, result
    print("sent")
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_throttled_send_prints_nothing_without_logging_configured() -> None:
    done = _run("unconfigured")
    assert done.stdout == "sent\n"
    assert done.stderr == ""


def test_the_same_warning_shows_once_the_application_configures_logging() -> None:
    done = _run("configured")
    assert done.stdout == "sent\n"
    assert "WARNING:webpush_core.delivery:push service" in done.stderr
    assert "throttled us" in done.stderr


def test_the_package_logger_has_a_null_handler() -> None:
    handlers = logging.getLogger(webpush_core.__name__).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)
