"""A user's script type-checks against the installed package (``py.typed`` in effect).

``mypy --strict`` runs on a small script that uses the API the way an app does;
a second script with a type error must fail, which shows the package's
annotations are read (an untyped package would make everything ``Any``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

GOOD = """
    import asyncio
    from webpush_core import PushClient, PushResponse, WebPushException, webpush, webpush_async

    def send(sub: dict[str, object]) -> int:
        try:
            return webpush(sub, "hi", ttl=60).status_code   # PushResponse without curl
        except WebPushException as ex:
            if ex.response and ex.response.json():
                return -1
            raise

    def command(sub: dict[str, object]) -> str:
        return webpush(sub, "hi", curl=True).upper()           # str with curl=True

    def positional(sub: dict[str, object]) -> str:
        return webpush(sub, "hi", None, None, "aes128gcm", True)

    async def later(sub: dict[str, object]) -> PushResponse:
        return await webpush_async(sub, "hi", proxy=False, endpoint_policy=None)

    def fan_out(subs: list[dict[str, object]]) -> list[bool]:
        with PushClient(proxy="http://proxy.example:3128") as client:
            return [r.ok for r in client.send_many(subs, b"x")]

    asyncio.run  # referenced, not run
"""

BAD = """
    from webpush_core import webpush

    def send(sub: dict[str, object]) -> str:
        return webpush(sub, "hi").status_code
"""


def mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_user_script_passes_mypy_strict(tmp_path: Path) -> None:
    done = mypy(tmp_path, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_user_type_error_is_caught(tmp_path: Path) -> None:
    done = mypy(tmp_path, BAD)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Incompatible return value type (got "int", expected "str")' in done.stdout
