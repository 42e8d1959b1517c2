"""_delivery.per_origin: a call's per-origin decisions are exactly the
decisions made per message, made once per origin, and never carried into
another call."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import pytest

from webpush_core._delivery import per_origin
from webpush_core._delivery.per_origin import PerOrigin
from webpush_core._endpoint import DEFAULT_POLICY, EndpointPolicy
from webpush_core._origin import authority_prefix
from webpush_core._request.build import prepare_message
from webpush_core._wire.proxy import Proxy, select_proxy
from webpush_core.errors import EndpointNotAllowed, WebPushException
from webpush_core.vapid import Vapid

POLICIES = [
    DEFAULT_POLICY,
    EndpointPolicy.for_testing(),
    EndpointPolicy.known_push_services(),
    EndpointPolicy(allowed_ports=(443, 8443)),
    EndpointPolicy(allow_http=True),
]

AUTHORITIES = [
    "https://push.example.com",
    "https://PUSH.example.com.",
    "https://push.example.com:443",
    "https://push.example.com:8443",
    "https://push.example.com:99999",
    "https://push.example.com:x",
    "http://push.example.com",
    "HTTPS://fcm.googleapis.com",
    "https://fcm.googleapis.com:443",
    "ftp://push.example.com",
    "https://user@push.example.com",
    "https://user:pw@push.example.com",
    "https://127.0.0.1:8443",
    "https://[::1]",
    "https://[::1",
    "https://localhost",
    "https://push.exa%6dple.com",
    "https://",
    "a:b://push.example.com",
    "1https://push.example.com",
    "push.example.com",
]

SUFFIXES = [
    "",
    "/",
    "/push/abc",
    "/a?b=c",
    "?q",
    "#frag",
    "/a b",
    "/a\tb",
    "/\r\nHost: evil",
    "/caf\u00e9",
    "/\u202eevil",
    "/x@y:1",
    "/[::1]",
    "/:99999",
]

URLS = [a + s for a, s in itertools.product(AUTHORITIES, SUFFIXES)]


def _verdict(check: Any, url: Any) -> Optional[tuple[type, str]]:
    try:
        check(url)
    except WebPushException as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: repr(p)[:60])
def test_every_url_gets_the_policys_own_verdict_cold_and_after_any_url_of_its_authority(
    policy: EndpointPolicy,
) -> None:
    by_prefix: dict[Optional[str], list[str]] = {}
    for url in URLS:
        by_prefix.setdefault(authority_prefix(url), []).append(url)
    for urls in by_prefix.values():
        for warm, url in itertools.product(urls, urls):
            memo = PerOrigin(policy, None)
            _verdict(memo.check, warm)  # admitted or not, then:
            assert _verdict(memo.check, url) == _verdict(policy.check, url), (warm, url)
            assert _verdict(memo.check, url) == _verdict(policy.check, url), (warm, url)


@pytest.mark.parametrize("url", [None, 12, b"https://push.example.com/x"])
def test_a_url_that_is_not_text_gets_the_policys_error(url: Any) -> None:
    memo = PerOrigin(DEFAULT_POLICY, None)
    assert _verdict(memo.check, url) == _verdict(DEFAULT_POLICY.check, url)
    assert _verdict(memo.check, url) is not None


@pytest.mark.parametrize(
    "url", ["https://push.example.com/x?y#z", "https://push.example.com", "https://a.b:1#x/y"]
)
def test_the_authority_prefix_is_the_text_up_to_the_first_delimiter(url: str) -> None:
    from urllib.parse import urlsplit

    prefix = authority_prefix(url)
    assert prefix is not None
    parts = urlsplit(url)
    assert prefix == f"{parts.scheme}://{parts.netloc}"


def test_no_authority_without_scheme_slashes() -> None:
    assert authority_prefix("push.example.com/x") is None
    assert authority_prefix("https:/push.example.com/x") is None


def test_admissions_kept_are_bounded_at_the_limit_and_one_past(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(per_origin, "_KEPT", 8)
    memo = PerOrigin(DEFAULT_POLICY, None)
    for i in range(8):
        memo.check(f"https://p{i}.example.com/x")
    assert len(memo._admitted) == 8  # at the limit: all kept
    memo.check("https://p8.example.com/x")  # one past: starts again
    assert len(memo._admitted) == 1
    memo.check("https://p0.example.com/y")  # decided again, the same way
    assert len(memo._admitted) == 2


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


def test_a_policy_whose_check_is_its_own_is_asked_every_time() -> None:
    asked: list[str] = []

    class PathRule(EndpointPolicy):
        def check(self, url: str) -> None:
            asked.append(url)
            super().check(url)
            if "/blocked/" in url:
                raise EndpointNotAllowed("blocked path", field="endpoint")

    memo = PerOrigin(PathRule(), None)
    memo.check("https://push.example.com/ok/1")
    with pytest.raises(EndpointNotAllowed, match="blocked path"):
        memo.check("https://push.example.com/blocked/2")
    memo.check("https://push.example.com/ok/3")
    assert len(asked) == 3
