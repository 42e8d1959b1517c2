"""Moving a pywebpush app over: its idioms keep working, refusals say what to do instead.

* ``if ex.response and ex.response.json():`` never raises, whatever the body
  (empty 410, plain-text 400, HTML 502, JSON), and the response stays truthy;
* pywebpush's WNS example headers (``Content-Type``, an integer ``TTL``) are
  accepted where harmless, refused with the fix otherwise;
* a subclass's ``str()`` is its message alone; the base keeps pywebpush's form;
* wrong-typed EndpointPolicy arguments raise InvalidInput naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from servers.loopback import Request
from servers.push_service import Answer, PushService
from webpush_core import (
    EndpointPolicy,
    ExpiredSubscription,
    InvalidInput,
    InvalidRequest,
    PushRejected,
    ServerError,
    WebPushException,
    webpush,
)
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

# Bodies push services and proxies answer with (RFC 8030 §7.3 leaves the 410
# body empty; autopush answers JSON; a load balancer's 502 is HTML).
BODIES = [
    (410, "text/plain", b""),
    (400, "text/plain", b"UnauthorizedRegistration"),
    (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    (404, "application/json", b'{"code": 404, "errno": 102, "error": "Not Found"}'),
]


@pytest.fixture
def canned() -> Iterator[tuple[str, list[tuple[int, str, bytes]]]]:
    """A loopback push service answering each POST with the next (status, type, body)."""
    answers: list[tuple[int, str, bytes]] = []

    def next_answer(request: Request) -> Answer:
        status, ctype, body = answers.pop(0)
        return Answer(status, {"Content-Type": ctype}, body)

    with PushService(responder=next_answer) as server:
        yield server.url, answers


def test_pywebpush_error_idiom_is_safe_for_every_body(
    canned: tuple[str, list[tuple[int, str, bytes]]],
) -> None:
    url, answers = canned
    with LocalPushService() as service:
        sub = {**service.subscribe(), "endpoint": url + "/push/x"}
    for status, ctype, body in BODIES:
        answers.append((status, ctype, body))
        ran_json_branch = None
        try:
            webpush(sub, "x", endpoint_policy=EndpointPolicy.for_testing())
        except WebPushException as ex:
            # pywebpush's README, verbatim (the if statement is the point):
            if ex.response and ex.response.json():  # noqa: SIM108
                ran_json_branch = ex.response.json()
            else:
                ran_json_branch = False
            assert ex.response.status_code == status
            assert bool(ex.response) is True
        if body.startswith(b"{"):
            assert ran_json_branch == json.loads(body)
        else:
            assert ran_json_branch is False


def test_error_classes_and_str(canned: tuple[str, list[tuple[int, str, bytes]]]) -> None:
    url, answers = canned
    with LocalPushService() as service:
        sub = {**service.subscribe(), "endpoint": url + "/push/x"}
    expected = {
        410: ExpiredSubscription,
        400: PushRejected,
        502: ServerError,
        404: ExpiredSubscription,
    }
    for status, ctype, body in BODIES:
        answers.append((status, ctype, body))
        with pytest.raises(expected[status]) as caught:
            webpush(sub, "x", endpoint_policy=EndpointPolicy.for_testing())
        # A subclass reads well in a traceback: its message alone.
        assert str(caught.value) == caught.value.message
        assert str(caught.value).startswith(f"Push failed: {status}")
    # The base class keeps pywebpush's "WebPushException: ..." form.
    assert str(WebPushException("boom")) == "WebPushException: boom"


def test_wns_example_headers(push_service: LocalPushService) -> None:
    key = Vapid.generate()
    sub = push_service.subscribe(key.application_server_key)
    common: dict[str, Any] = {
        "vapid_private_key": key,
        "vapid_claims": {"sub": "mailto:ops@example.com"},
        "endpoint_policy": push_service.endpoint_policy,
    }
    # Harmless: the Content-Type we send anyway, an int TTL (with or without ttl=).
    webpush(sub, "a", headers={"Content-Type": "application/octet-stream", "TTL": 60}, **common)
    webpush(sub, "b", headers={"TTL": 60}, ttl=60, **common)
    webpush(sub, "c", headers={"Content-Encoding": "aes128gcm"}, **common)
    assert [m.ttl for m in push_service.messages(sub)] == [60, 60, 0]
    refusals = [
        ({"Content-Type": "text/plain"}, {}, "always sent as application/octet-stream; drop"),
        ({"Content-Encoding": "aesgcm"}, {}, "content_encoding="),
        ({"Content-Length": 5}, {}, "drop the header"),
        ({"TTL": 60}, {"ttl": 30}, "pass it once"),
    ]
    for headers, extra, words in refusals:
        with pytest.raises(InvalidRequest, match=words):
            webpush(sub, "x", headers=headers, **common, **extra)
    assert len(push_service.messages(sub)) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"allowed_ports": None}, "allowed_ports"),
        ({"allowed_ports": 443}, "allowed_ports"),
        ({"allowed_ports": ["443"]}, "allowed_ports"),
        ({"allowed_hosts": 5}, "allowed_hosts"),
        ({"allowed_hosts": "push.example"}, "allowed_hosts"),
        ({"allow_http": "yes"}, "allow_http"),
        ({"allow_private": 1}, "allow_private"),
    ],
)
def test_endpoint_policy_wrong_types(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        EndpointPolicy(**kwargs)
    assert caught.value.field == field and field in str(caught.value)


@pytest.mark.parametrize(
    ("url", "fix"),
    [
        ("http://127.0.0.1:8080/push/x", "EndpointPolicy.for_testing()"),
        ("http://localhost:5000/push/x", "EndpointPolicy.for_testing()"),
        ("https://10.1.2.3/push/x", "allow_private=True"),
        ("http://push.example/x", "allow_http=True"),
        ("https://push.example:8443/x", "allowed_ports"),
    ],
)
def test_hints_name_the_option_that_fixes_it(url: str, fix: str) -> None:
    for policy in (EndpointPolicy(), EndpointPolicy(allow_http=True)):
        try:
            policy.check(url)
        except InvalidInput as e:
            assert fix in str(e)
            if "127.0.0.1" in url or "localhost" in url:
                # allow_http alone would not help: never suggested alone.
                assert "allow_private=True" in str(e)
        else:
            assert policy.allow_http and url.startswith("http://push")
    assert EndpointPolicy.for_testing() == EndpointPolicy(allow_http=True, allow_private=True)


def test_make_demo_installs_the_package_alone() -> None:
    import shutil
    import subprocess
    from pathlib import Path

    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [make, "-n", "-B", "demo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert any(line.endswith("pip install -q -e .") for line in installs), installs
    assert not any("[test]" in line or "[bench]" in line for line in installs), installs
