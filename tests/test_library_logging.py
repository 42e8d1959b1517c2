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
from pathlib import Path

import webpush_core

SCRIPT = textwrap.dedent(
    """
    import sys

    if sys.argv[1] == "configured":
        import logging
        logging.basicConfig()

    from servers.push_service import Answer, PushService
    from webpush_core import EndpointPolicy, PushClient

    with PushService() as service:
        sub = service.script("1", Answer(429, {"Retry-After": "1"}), Answer(201))
        with PushClient(endpoint_policy=EndpointPolicy.for_testing(), helper_process=False) as c:
            result = c.send(sub, "hello")
    assert result.ok and result.attempts == 2, result
    print("sent")
    """
)


def _run(mode: str) -> subprocess.CompletedProcess[str]:
    # The script runs from tests/, so it imports the shared servers as the tests do.
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parent,
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
