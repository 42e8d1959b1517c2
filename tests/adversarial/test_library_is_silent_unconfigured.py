"""A library prints nothing unless the application configured logging.

A hostile push service answering 429 with ``Retry-After`` makes the client log
a warning (the origin is paused). In a program that never configured logging,
that warning must not reach stderr through logging's last-resort handler: the
``webpush_core`` logger has a NullHandler. Run in a fresh interpreter, so that
nothing (pytest's own capture) has configured logging.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_throttle_warning_prints_nothing_without_logging_configured() -> None:
    script = textwrap.dedent(
        """
        import socket, threading
        from webpush_core import EndpointPolicy, PushClient
        from webpush_core.testing import LocalPushService

        server = socket.create_server(("127.0.0.1", 0))

        def serve():
            while True:
                conn, _ = server.accept()
                with conn:
                    data = b""
                    while b"\\r\\n\\r\\n" not in data:
                        data += conn.recv(65536)
                    conn.sendall(
                        b"HTTP/1.1 429 Too Many Requests\\r\\nRetry-After: 1\\r\\n"
                        b"Content-Length: 0\\r\\nConnection: close\\r\\n\\r\\n"
                    )

        threading.Thread(target=serve, daemon=True).start()
        with LocalPushService() as service:
            sub = service.subscribe()
        sub["endpoint"] = f"http://127.0.0.1:{server.getsockname()[1]}/push/x"
        with PushClient(endpoint_policy=EndpointPolicy.for_testing(), max_retries=0) as client:
            result = client.send(sub, b"x")
        assert result.reason == "rate-limited", result.reason
        print("reason:", result.reason)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "reason: rate-limited"
    assert done.stderr == "", done.stderr


def test_the_warning_reaches_a_handler_the_application_configures() -> None:
    script = textwrap.dedent(
        """
        import logging
        import webpush_core

        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("webpush_core.anything").warning("visible")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr.strip() == "webpush_core.anything: visible"
