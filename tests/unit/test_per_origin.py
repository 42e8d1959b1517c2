"""_delivery.per_origin: a call's per-origin decisions (proxy, VAPID headers)
are exactly the decisions made per message, made once per origin, and never
carried into another call; the endpoint policy is asked for every message."""

from __future__ import annotations

from typing import Any

import pytest

from webpush_core._b64 import b64url_encode
from webpush_core._delivery import per_origin, prepare
from webpush_core._delivery.per_origin import PerOrigin
from webpush_core._delivery.result import SendResult
from webpush_core._endpoint import DEFAULT_POLICY, EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._request.build import prepare_message
from webpush_core._wire.proxy import Proxy, select_proxy
from webpush_core.errors import EndpointNotAllowed, WebPushException
from webpush_core.vapid import Vapid


def test_the_proxy_is_the_environments_once_per_origin_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.example.net:3128")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    url = "https://push.example.com/a"
    memo = PerOrigin(DEFAULT_POLICY, None)
    chosen = memo.proxy(url)
    assert isinstance(chosen, Proxy) and chosen == select_proxy(url)
    monkeypatch.setenv("no_proxy", "push.example.com")  # changed within the call:
    assert memo.proxy("https://push.example.com/b") is chosen  # not seen by it
    assert select_proxy(url) is None
    assert PerOrigin(DEFAULT_POLICY, None).proxy(url) is False  # seen by the next call
    other = "https://other.example.org/x"  # another origin: its own decision
    assert memo.proxy(other) == select_proxy(other)


def test_an_explicit_proxy_or_none_is_passed_as_given() -> None:
    given = select_proxy("https://x.example/", "http://proxy.example.net:3128")
    assert PerOrigin(DEFAULT_POLICY, given).proxy("https://push.example.com/") is given
    assert PerOrigin(DEFAULT_POLICY, False).proxy("https://push.example.com/") is False


def test_a_proxy_choice_that_raises_is_left_to_the_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("https_proxy", "ftp://not a proxy")
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    with pytest.raises(WebPushException):
        select_proxy("https://push.example.com/a")
    memo = PerOrigin(DEFAULT_POLICY, None)
    assert memo.proxy("https://push.example.com/a") is None  # the environment's: raises there
    assert memo._proxies == {}


def test_vapid_headers_once_per_origin_as_new_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    real = prepare_message(b"x", Vapid(), {"sub": "mailto:ops@example.com"})
    headers_for = real.headers_for
    asked: list[str] = []

    class Counting:
        def headers_for(self, origin: str) -> tuple[dict[str, str], list[str]]:
            asked.append(origin)
            return headers_for(origin)

    plan: Any = Counting()
    now = [100.0]
    monkeypatch.setattr(per_origin.time, "monotonic", lambda: now[0])
    memo = PerOrigin(DEFAULT_POLICY, None)
    first, ck1 = memo.headers_for(plan, "https://push.example.com")
    first["Content-Encoding"] = "changed"
    ck1.append("changed")
    second, ck2 = memo.headers_for(plan, "https://push.example.com")
    assert "Content-Encoding" not in second and "changed" not in ck2
    assert second == headers_for("https://push.example.com")[0]
    assert asked == ["https://push.example.com"]
    memo.headers_for(plan, "https://fcm.googleapis.com")
    assert asked == ["https://push.example.com", "https://fcm.googleapis.com"]
    now[0] += per_origin._HEADERS_FOR - 0.001  # still within its time
    memo.headers_for(plan, "https://push.example.com")
    assert len(asked) == 2
    now[0] += 0.001  # at its end: asked again (the plan renews tokens)
    memo.headers_for(plan, "https://push.example.com")
    assert asked[-1] == "https://push.example.com" and len(asked) == 3


def test_a_headers_error_is_raised_every_time() -> None:
    plan = prepare_message(
        b"x", Vapid(), {"sub": "mailto:ops@example.com", "aud": "https://push.example.net"}
    )
    memo = PerOrigin(DEFAULT_POLICY, None)
    for _ in range(2):
        with pytest.raises(WebPushException):
            memo.headers_for(plan, "https://push.example.com")
    assert memo._headers == {}


def test_a_policy_whose_check_is_its_own_is_asked_for_every_message() -> None:
    asked: list[str] = []

    class PathRule(EndpointPolicy):
        def check(self, url: str) -> None:
            asked.append(url)
            super().check(url)
            if "/blocked/" in url:
                raise EndpointNotAllowed("blocked path", field="endpoint")

    plan = prepare_message(b"x", Vapid(), {"sub": "mailto:ops@example.com"})
    decided = PerOrigin(PathRule(), None)
    keys = {"p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
            "auth": b64url_encode(bytes(16))}  # fmt: skip
    for path in ("ok/1", "blocked/2", "ok/3"):
        sub = {"endpoint": f"https://push.example.com/{path}", "keys": keys}
        outlined = prepare.outline(sub, plan, decided)
        built = prepare.build(sub, plan, decided.policy)
        if "blocked" in path:
            assert isinstance(outlined, SendResult) and isinstance(built, SendResult)
            assert "blocked path" in str(outlined.error) and "blocked path" in str(built.error)
        else:
            assert not isinstance(outlined, SendResult) and not isinstance(built, SendResult)
    # outline asks once, and a refusal again through build, as build alone does
    assert asked.count("https://push.example.com/ok/1") == 2
    assert asked.count("https://push.example.com/blocked/2") == 3
    assert asked.count("https://push.example.com/ok/3") == 2
