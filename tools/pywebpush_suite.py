"""Run pywebpush 2.5.0's own test suite against webpush_core (a maintainer's check).

Not part of ``make test``: it downloads pywebpush's source distribution from the
package index. Run it with ``make pywebpush-suite`` (or
``.venv/bin/python tools/pywebpush_suite.py``) after ``make .venv/.installed-test``.

What it does:

``--show`` adds pytest's own report (the tracebacks of the failures).

1. ``pip download --no-deps --no-binary :all: pywebpush==2.5.0`` into a
   temporary directory and unpacks ``pywebpush/tests/test_webpush.py``;
2. writes a shim package named ``pywebpush`` whose ``__init__`` only
   re-exports webpush_core's public names (``from webpush_core import *``),
   and puts its directory first on ``sys.path``, ahead of the real pywebpush
   the test extras install;
3. runs the test file, unchanged, with pytest (its imports: ``http_ece``,
   ``py_vapid``, ``requests``, ``aiohttp``, all in the test extras), and
   prints each test's outcome.

No request leaves the machine: ``HTTPS_PROXY``/``HTTP_PROXY`` point at a
closed loopback port, so a send the suite's mocks do not intercept fails at
once (a ``ProxyError``) instead of reaching example.com.

The tests expected to fail, and why, are :data:`EXPECTED` below; the script
exits 1 when any other test fails (or an expected failure starts passing: then
the table is out of date). At the time of writing 27 of the 42 tests pass
(8 did before base64url ``bytes`` keys, ``WebPusher.send_async``,
``aiohttp_session``, a past ``exp``, ``retry_after`` from any response and
sessions given unresolvable names; 16 before ``webpush()`` sent through
``WebPusher.send`` with the signer given the caller's claims dict, a
subscription without keys was accepted for pushes without data, and the curl
command read like pywebpush's). The 15 others: 12 patch ``requests.post`` or
``aiohttp.ClientSession.post``, 2 assert pywebpush's conversion of the keys
to bytes, 1 wants ``retry_after`` as the raw header. Three of the 27 pass
without their mock being used: ``test_send_bad_vapid_bad_return`` (twice) and
``test_webpush_async_bad_vapid_bad_return`` patch the HTTP library to answer
410 and expect a ``WebPushException``; here the send fails at the closed
proxy instead (a ``ProxyError``, also a ``WebPushException``).
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET

VERSION = "2.5.0"

_PATCHES_REQUESTS = (
    "patches requests.post: webpush_core sends with urllib3, so the mock is never called "
    "and nothing intercepts the request (webpush_core.testing.MockPushService replaces "
    "this pattern)"
)
_PATCHES_AIOHTTP = (
    "patches aiohttp.ClientSession.post: webpush_core sends without aiohttp, so the mock "
    "is never called (webpush_core.testing.MockPushService replaces this pattern)"
)
_KEYS_AS_BYTES = (
    "asserts WebPusher.subscription_info differs from the given dict because pywebpush "
    "converted the keys to bytes (its private conversion); webpush_core keeps the "
    "browser's base64url strings"
)

# test id (Class::test) -> why it fails against webpush_core.
EXPECTED: dict[str, str] = {
    "WebpushTestUtils::test_init": _KEYS_AS_BYTES,
    "WebPusherAsyncTestCase::test_init": _KEYS_AS_BYTES,
    "WebpushTestUtils::test_send": _PATCHES_REQUESTS,
    "WebpushTestUtils::test_send_vapid": _PATCHES_REQUESTS,
    "WebPusherAsyncTestCase::test_send_vapid": _PATCHES_REQUESTS,
    "WebpushTestUtils::test_send_empty": _PATCHES_REQUESTS,
    "WebpushTestUtils::test_send_no_headers": _PATCHES_REQUESTS,
    "WebpushTestUtils::test_timeout": _PATCHES_REQUESTS,
    "WebPusherAsyncTestCase::test_send": _PATCHES_AIOHTTP,
    "WebPusherAsyncTestCase::test_send_empty": _PATCHES_AIOHTTP,
    "WebPusherAsyncTestCase::test_send_no_headers": _PATCHES_AIOHTTP,
    "WebPusherAsyncTestCase::test_timeout": _PATCHES_AIOHTTP,
    "WebPusherAsyncTestCase::test_webpush_async_vapid": _PATCHES_AIOHTTP,
    "WebPusherAsyncTestCase::test_webpush_async_timeout": _PATCHES_AIOHTTP,
    "WebpushExceptionTestCase::test_exception": (
        "asserts retry_after == '120', the raw header; webpush_core's retry_after is "
        "seconds by design (120.0; an HTTP-date turned into the seconds left), as "
        "documented, so that every caller can wait on it without parsing"
    ),
}

SHIM = '''"""pywebpush's names, from webpush_core (nothing else)."""
from webpush_core import *  # noqa: F403
from webpush_core import __all__  # noqa: F401
'''


def _download(into: pathlib.Path) -> pathlib.Path:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", ":all:", f"pywebpush=={VERSION}", "-d", str(into),
        ],
        check=True,
    )  # fmt: skip
    [sdist] = into.glob(f"pywebpush-{VERSION}.tar.gz")
    member = f"pywebpush-{VERSION}/pywebpush/tests/test_webpush.py"
    with tarfile.open(sdist) as tar:
        source = tar.extractfile(member)
        if source is None:
            raise SystemExit(f"{member} is not in {sdist.name}")
        target = into / "suite" / "test_webpush.py"
        target.parent.mkdir()
        target.write_bytes(source.read())
    return target


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    show = "--show" in sys.argv[1:]  # pytest's own report too (tracebacks)
    with tempfile.TemporaryDirectory(prefix="pywebpush-suite-") as tmp:
        work = pathlib.Path(tmp)
        test_file = _download(work)
        shim = work / "shim" / "pywebpush"
        shim.mkdir(parents=True)
        (shim / "__init__.py").write_text(SHIM)
        report = work / "report.xml"
        dead = f"http://127.0.0.1:{_closed_port()}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(shim.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "HTTPS_PROXY": dead,
            "HTTP_PROXY": dead,
            "NO_PROXY": "",
            "https_proxy": dead,
            "http_proxy": dead,
            "no_proxy": "",
        }
        subprocess.run(
            [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--rootdir", str(test_file.parent), f"--junitxml={report}",
                str(test_file),
            ],
            cwd=test_file.parent, env=env, check=False,
            stdout=None if show else subprocess.DEVNULL,
            stderr=None if show else subprocess.DEVNULL,
        )  # fmt: skip
        outcomes: dict[str, str] = {}
        root = ET.parse(report).getroot()  # noqa: S314 - pytest's own report
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
            failed = case.find("failure") is not None or case.find("error") is not None
            outcomes[name] = "failed" if failed else "passed"
    passed = sorted(n for n, o in outcomes.items() if o == "passed")
    failed = sorted(n for n, o in outcomes.items() if o == "failed")
    print(f"pywebpush {VERSION} tests/test_webpush.py against webpush_core (shim module)\n")
    for name in passed:
        print(f"  pass  {name}")
    for name in failed:
        print(f"  FAIL  {name}")
        print(f"        {EXPECTED.get(name, 'NOT EXPECTED')}")
    print(f"\n{len(passed)}/{len(outcomes)} passed")
    unexpected = [n for n in failed if n not in EXPECTED]
    stale = [n for n in EXPECTED if outcomes.get(n) == "passed"]
    if unexpected:
        print("unexpected failures: " + ", ".join(unexpected))
    if stale:
        print("expected to fail but passed (update EXPECTED): " + ", ".join(stale))
    return 1 if unexpected or stale or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
