"""Forward proxies: the environment as requests reads it, explicit proxy=, CONNECT.

The end-to-end tests go through a real tinyproxy process on loopback
(tests/servers/proxy.py): a CONNECT tunnel to an https stand-in (TLS still verified
against the push service's name), plain http in absolute form, NO_PROXY
bypass, and refusals (407 from tinyproxy's Basic authentication, 500 when it
cannot reach the endpoint, 502 from a stand-in) as a typed ProxyError naming
the proxy without its password.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from servers.loopback import server_context, silent_listener
from servers.proxy import ForwardProxy, refusing_proxy, tinyproxy
from servers.push_service import PushService
from webpush_core import (
    EndpointNotAllowed,
    EndpointPolicy,
    InvalidInput,
    ProxyError,
    PushClient,
    TransportError,
    WebPusher,
    make_pool_manager,
    webpush,
    webpush_async,
)
from webpush_core._wire.proxy import (
    MAX_CONNECT_HEAD,
    Proxy,
    admit,
    check_proxy_arg,
    clip,
    connect_request,
    parse_connect_head,
    parse_proxy,
    proxy_from_environment,
    proxy_refused,
    select_proxy,
)
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
SECRET = "pa55-w0rd"
PROXY_VARS = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "REQUEST_METHOD",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------
# The environment, as requests reads it


def env_proxy(url: str, **env: str) -> Any:
    found = proxy_from_environment(url, env)
    return None if found is None else found.url


def test_scheme_variables() -> None:
    assert env_proxy("https://push.example/x", HTTPS_PROXY="http://p:3128") == "http://p:3128"
    assert env_proxy("https://push.example/x", HTTP_PROXY="http://p:3128") is None
    assert env_proxy("http://push.example/x", HTTP_PROXY="http://p:3128") == "http://p:3128"
    assert env_proxy("https://push.example/x", ALL_PROXY="http://a:1") == "http://a:1"
    assert (
        env_proxy("https://push.example/x", https_proxy="http://s:2", all_proxy="http://a:1")
        == "http://s:2"
    )
    # requests reads "host:port" as http://host:port; port 80 by default.
    assert env_proxy("https://push.example/x", https_proxy="proxy.corp:3128") == (
        "http://proxy.corp:3128"
    )
    assert env_proxy("https://push.example/x", https_proxy="http://proxy.corp") == (
        "http://proxy.corp:80"
    )
    assert env_proxy("https://push.example/x", https_proxy="") is None


def test_lower_case_wins() -> None:
    assert (
        env_proxy("https://e.example/", https_proxy="http://low:1", HTTPS_PROXY="http://up:2")
        == "http://low:1"
    )


def test_httpoxy_upper_case_http_proxy_ignored_under_cgi() -> None:
    # A CGI request's "Proxy:" header arrives as HTTP_PROXY (httpoxy).
    env = {"HTTP_PROXY": "http://evil:1", "REQUEST_METHOD": "POST"}
    assert env_proxy("http://e.example/", **env) is None
    assert env_proxy("http://e.example/", http_proxy="http://ok:1", REQUEST_METHOD="GET") == (
        "http://ok:1"
    )


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("push.example", "https://push.example/x", True),
        ("example", "https://push.example/x", True),  # domain suffix
        (".example", "https://push.example/x", True),
        ("*.example", "https://push.example/x", True),
        ("push.example", "https://PUSH.EXAMPLE./x", True),  # case, trailing dot
        ("ush.example", "https://push.example/x", False),  # whole labels only
        ("other.example", "https://push.example/x", False),
        ("a.test, push.example ,b.test", "https://push.example/x", True),
        ("*", "https://anything.example/x", True),
        ("push.example:443", "https://push.example/x", True),
        ("push.example:8443", "https://push.example/x", False),
        ("10.0.0.0/8", "http://10.1.2.3/x", True),
        ("10.0.0.0/8", "http://11.1.2.3/x", False),
        ("127.0.0.1", "http://127.0.0.1:8080/x", True),
        ("::1", "http://[::1]:8080/x", True),
        ("", "https://push.example/x", False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, bypassed: bool) -> None:
    found = env_proxy(url, all_proxy="http://p:1", NO_PROXY=no_proxy)
    assert (found is None) is bypassed


def test_explicit_proxy_replaces_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env:1")
    monkeypatch.setenv("NO_PROXY", "push.example")
    assert select_proxy("https://push.example/x", "http://mine:2") == parse_proxy("http://mine:2")
    assert select_proxy("https://push.example/x") is None  # NO_PROXY
    assert select_proxy("https://other.example/x") == parse_proxy("http://env:1")
    assert select_proxy("https://other.example/x", False) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (f"socks5://u:{SECRET}@h:1080", "only http:// proxies"),
        (f"https://u:{SECRET}@h:443", "only http:// proxies"),
        (f"http://u:{SECRET}@h:1/path", "without a path"),
        (f"http://u:{SECRET}@:1", "no host"),
        (f"http://u:{SECRET}@h:99999", "does not parse"),
    ],
)
def test_bad_proxy_urls_are_refused_without_the_password(value: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        parse_proxy(value, "HTTPS_PROXY")
    assert caught.value.field == "HTTPS_PROXY"
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


def test_bad_proxy_argument_types() -> None:
    for bad in (True, 3128, b"http://p:1"):
        with pytest.raises(InvalidInput, match="proxy") as caught:
            webpush({"endpoint": "https://e.example/x"}, proxy=bad)  # type: ignore[call-overload]
        assert caught.value.field == "proxy"


def test_proxy_credentials_masked_and_sent_as_basic() -> None:
    proxy = parse_proxy(f"http://al%40ice:{SECRET}@proxy.corp:3128")
    assert proxy.username == "al@ice" and proxy.password == SECRET
    assert SECRET not in repr(proxy) and SECRET not in proxy.masked
    assert proxy.masked == "http://al@ice:***@proxy.corp:3128"
    assert proxy.headers() == {"Proxy-Authorization": "Basic YWxAaWNlOnBhNTUtdzByZA=="}
    assert connect_request(proxy, "push.example", 443) == (
        b"CONNECT push.example:443 HTTP/1.1\r\nHost: push.example:443\r\n"
        b"Proxy-Authorization: Basic YWxAaWNlOnBhNTUtdzByZA==\r\n\r\n"
    )
    assert connect_request(Proxy("p", 1), "::1", 8443).startswith(b"CONNECT [::1]:8443 ")


# --------------------------------------------------------------------------
# The CONNECT answer, parsed with caps


def test_connect_head_incremental() -> None:
    answer = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n\x16\x03"
    for cut in range(len(answer) - 2):
        assert parse_connect_head(answer[:cut]) is None
    assert parse_connect_head(answer) == (200, "Connection established", len(answer) - 2)
    assert parse_connect_head(b"HTTP/1.0 407 Proxy Auth\r\n\r\n") == (407, "Proxy Auth", 27)


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_CONNECT_HEAD,
    ],
)
def test_connect_head_refused(answer: bytes) -> None:
    with pytest.raises(ValueError):
        parse_connect_head(answer)


def test_connect_reason_clipped() -> None:
    status, reason, _ = parse_connect_head(b"HTTP/1.1 502 " + b"\x1b[31m" * 100 + b"\r\n\r\n")  # type: ignore[misc]
    assert status == 502 and "\x1b" not in reason and len(reason) <= 120


# --------------------------------------------------------------------------
# NO_PROXY entries over every form requests reads (and the ports they name)


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("push.example:80", "http://push.example/x", True),  # http's default port
        ("push.example:80", "https://push.example/x", False),  # https's is 443
        ("push.example:8443", "https://push.example:8443/x", True),
        ("127.0.0.1:8080", "http://127.0.0.1:8080/x", True),
        ("127.0.0.1:8080", "http://127.0.0.1:9090/x", False),
        ("10.0.0.0/8:80", "http://10.1.2.3/x", True),
        ("[::1]:8080", "http://[::1]:8080/x", True),  # a v6 address with a port
        ("[::1]:8080", "http://[::1]:9090/x", False),
        ("[::1]", "http://[::1]:9090/x", True),
        ("::1", "http://[::1]/x", True),
        ("[2001:db8::1]:443", "https://[2001:db8::1]/x", True),
        ("2001:db8::/32", "https://[2001:db8:1::5]/x", True),
        ("2001:db8::/32", "https://[2001:db9::5]/x", False),
        ("10.1.2.3/8", "http://10.9.9.9/x", True),  # host bits set: still the /8
        ("localhost", "http://127.0.0.1/x", False),  # a name never matches an address
        ("127.0.0.1", "http://localhost/x", False),  # nor an address a name
        ("example", "https://badexample/x", False),  # a suffix only at a dot
        ("ple", "https://push.example/x", False),
        ("*.push.example", "https://push.example/x", True),  # as requests: the domain too
        ("**.example", "https://a.example/x", True),
        ("*.", "https://a.example/x", False),  # not "*": it names no host (as requests)
        ("a.test,*.", "https://a.example/x", False),
        ("a.test, *", "https://a.example/x", True),
        ("..example", "https://a.example/x", True),
        (".", "https://a.example/x", False),  # nothing left of it
        ("a.test, *", "https://a.example/x", True),
        (":443", "https://a.example/x", False),
        ("push.example:443:443", "https://push.example/x", False),
        ("xxxx", "https:///p", True),  # no host: no proxy (the endpoint policy refuses it)
        ("PUSH.Example", "https://push.example/x", True),
    ],
)
def test_no_proxy_forms(no_proxy: str, url: str, bypassed: bool) -> None:
    found = env_proxy(url, all_proxy="http://p:1", no_proxy=no_proxy)
    assert (found is None) is bypassed


def test_scheme_is_what_comes_before_the_first_colon() -> None:
    assert env_proxy("https://push.example:8443/x", https_proxy="http://s:1") == "http://s:1"
    assert env_proxy("HTTPS://push.example/x", https_proxy="http://s:1") == "http://s:1"


def test_a_bad_proxy_variable_is_named_in_the_error() -> None:
    for env in ({"HTTPS_PROXY": "socks5://h:1"}, {"https_proxy": "socks5://h:1"}):
        (name,) = env
        with pytest.raises(InvalidInput) as caught:
            proxy_from_environment("https://push.example/x", env)
        assert caught.value.field == name
        assert str(caught.value) == (
            f"{name}: only http:// proxies are supported, got a socks5:// proxy (an https "
            "endpoint is still reached through an end-to-end TLS tunnel)"
        )


def test_httpoxy_only_concerns_http_proxy() -> None:
    cgi = {"REQUEST_METHOD": "POST"}
    assert env_proxy("https://e.example/", HTTPS_PROXY="http://s:1", **cgi) == "http://s:1"
    assert env_proxy(
        "http://e.example/", ALL_PROXY="http://a:1", HTTP_PROXY="http://x:1", **cgi
    ) == ("http://a:1")


# --------------------------------------------------------------------------
# proxy=: what is accepted as it is, what is parsed, what is refused


def test_the_proxy_argument_forms() -> None:
    mine = Proxy("mine.example", 3128)
    assert check_proxy_arg(None) is None
    assert check_proxy_arg(False) is False
    assert check_proxy_arg(mine) is mine
    assert check_proxy_arg("mine.example:3128") == mine
    assert select_proxy("https://push.example/x", mine) is mine
    refusals = [
        (True, "proxy: pass a proxy URL, False (no proxy) or None (the environment)"),
        (3128, "proxy: a proxy must be a URL string, False or None, got int"),
        (b"http://p:1", "proxy: a proxy must be a URL string, False or None, got bytes"),
    ]
    for bad, words in refusals:
        with pytest.raises(InvalidInput) as caught:
            check_proxy_arg(bad)
        assert (str(caught.value), caught.value.field) == (words, "proxy")
        with pytest.raises(InvalidInput) as caught:
            select_proxy("https://e.example/", bad)  # type: ignore[arg-type]
        assert (str(caught.value), caught.value.field) == (words, "proxy")
    with pytest.raises(InvalidInput) as caught:
        check_proxy_arg("socks5://h:1", "proxies")
    assert caught.value.field == "proxies"
    assert str(caught.value).startswith("proxies: only http:// proxies are supported")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("http://h x:1", "the proxy URL contains spaces or control characters"),
        ("http://h:1/\x00", "the proxy URL contains spaces or control characters"),
        ("http://h:1?x", "the proxy URL must be http://host:port, without a path"),
        ("http://h:1#x", "the proxy URL must be http://host:port, without a path"),
        ("http://h:1/p", "the proxy URL must be http://host:port, without a path"),
        ("http://:1", "the proxy URL has no host (http://host:port)"),
        ("http://h:x", "the proxy URL does not parse (http://host:port)"),
    ],
)
def test_bad_proxy_urls_name_the_rule(value: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_proxy(value)
    assert (str(caught.value), caught.value.field) == (f"proxy: {words}", "proxy")


def test_proxy_urls_that_parse() -> None:
    assert parse_proxy("  http://h:1/  ") == Proxy("h", 1)
    assert parse_proxy("HTTP://H.example") == Proxy("h.example", 80)
    assert parse_proxy("http://[::1]:3128").authority == "[::1]:3128"
    assert parse_proxy("http://u%3Ax:p%40ss@h:1") == Proxy("h", 1, "u:x", "p@ss")


# --------------------------------------------------------------------------
# Credentials: Basic, as requests sends them (RFC 7617)


def test_basic_credentials_encodings() -> None:
    def basic(proxy: Proxy) -> str:
        return proxy.headers()["Proxy-Authorization"]

    assert Proxy("p", 1).headers() == {}
    assert basic(parse_proxy("http://user@p:1")) == "Basic dXNlcjo="  # "user:" (no password)
    assert basic(parse_proxy("http://user:@p:1")) == "Basic dXNlcjo="
    latin = base64.b64encode("jörg:pw".encode("latin-1")).decode()
    assert basic(parse_proxy("http://j%C3%B6rg:pw@p:1")) == f"Basic {latin}"
    # Not latin-1: UTF-8 (what requests does for such a str pair).
    utf8 = base64.b64encode("юзер:pw".encode()).decode()
    assert basic(Proxy("p", 1, "юзер", "pw")) == f"Basic {utf8}"
    assert parse_proxy("http://user@p:1").masked == "http://***@p:1"  # the name is the key
    assert repr(parse_proxy("http://user:pw@p:1")) == "Proxy('http://user:***@p:1')"
    assert Proxy("::1", 8).url == "http://[::1]:8"


# --------------------------------------------------------------------------
# admit: the endpoint is checked either way; through a proxy a name that does
# not resolve here is let through (the proxy resolves it)


class RecordingPolicy:
    def __init__(self, resolved: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.resolved = resolved

    def admit(self, url: str) -> None:
        self.calls.append(("admit", url))

    def check(self, url: str) -> None:
        self.calls.append(("check", url))

    def check_resolved(self, host: str, port: int) -> None:
        self.calls.append(("check_resolved", host, port))
        if self.resolved is not None:
            raise self.resolved


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://push.example/p", "push.example", 443),
        ("HTTPS://push.example/p", "push.example", 443),
        ("http://push.example/p", "push.example", 80),
        ("https://push.example:8443/p", "push.example", 8443),
    ],
)
def test_admit_through_a_proxy_checks_the_endpoint_and_what_it_resolves_to(
    url: str, host: str, port: int
) -> None:
    policy = RecordingPolicy()
    admit(policy, url, Proxy("p", 1))  # type: ignore[arg-type]
    assert policy.calls == [("check", url), ("check_resolved", host, port)]
    direct = RecordingPolicy()
    admit(direct, url, None)  # type: ignore[arg-type]
    assert direct.calls == [("admit", url)]
    # A name this machine cannot resolve: let through, the proxy resolves it ...
    unresolved = RecordingPolicy(TransportError("cannot resolve the host"))
    admit(unresolved, url, Proxy("p", 1))  # type: ignore[arg-type]
    # ... one that resolves to a refused address is refused.
    refused = RecordingPolicy(EndpointNotAllowed("a private address", field="endpoint"))
    with pytest.raises(EndpointNotAllowed):
        admit(refused, url, Proxy("p", 1))  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# The CONNECT answer: caps at the cap and one past, each error in words


def connect_head(size: int) -> bytes:
    """An answer head of exactly ``size`` octets, the empty line that ends it aside."""
    start = b"HTTP/1.1 200 OK\r\nX: "
    return start + b"y" * (size - len(start))


def test_connect_head_at_its_cap_and_one_past() -> None:
    answer = connect_head(MAX_CONNECT_HEAD) + b"\r\n\r\n"
    assert parse_connect_head(answer) == (200, "OK", MAX_CONNECT_HEAD + 4)
    assert parse_connect_head(answer[:MAX_CONNECT_HEAD]) is None  # the cap, no end yet: more
    too_long = f"the proxy's answer to CONNECT is over {MAX_CONNECT_HEAD} octets"
    for data in (connect_head(MAX_CONNECT_HEAD + 1) + b"\r\n\r\n", answer[:-4] + b"y"):
        with pytest.raises(ValueError, match=f"^{too_long}$"):
            parse_connect_head(data)


def test_connect_fields_at_their_cap_and_one_past() -> None:
    def answer(fields: int) -> bytes:
        return b"HTTP/1.1 200 OK\r\n" + b"\r\n".join([b"X: y"] * fields) + b"\r\n\r\n"

    assert parse_connect_head(answer(100)) == (200, "OK", len(answer(100)))
    with pytest.raises(ValueError, match=r"^the proxy's answer to CONNECT has over 100 fields$"):
        parse_connect_head(answer(101))


def test_the_tunnel_starts_after_the_first_empty_line() -> None:
    answer = b"HTTP/1.1 200 OK\r\n\r\n"
    assert parse_connect_head(answer + b"GET / HTTP/1.1\r\n\r\n") == (200, "OK", len(answer))
    assert parse_connect_head(b"HTTP/1.1 200\r\n\r\n") == (200, "", 16)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (b"\r\n\r\n", "has no valid status line"),
        (
            b"HTTP/1.1 200 OK\r\nX: y\r\n\r\n"[:0] + b"HTTP/1.2 200 OK\r\n\r\n",
            "has no valid status line",
        ),
        (b"HTTP/1.1 099 Low\r\n\r\n", "has no valid status line"),
        (b"HTTP/2", "is not HTTP/1.x"),
        (b"SSH-2.0", "is not HTTP/1.x"),
        (b"H", None),
        (b"HTTP/1.", None),
    ],
)
def test_connect_answers_in_words(answer: bytes, words: Any) -> None:
    if words is None:
        assert parse_connect_head(answer) is None  # a start of HTTP/1.x: read more
        return
    with pytest.raises(ValueError, match=f"^the proxy's answer to CONNECT {words}$"):
        parse_connect_head(answer)


def test_clip_at_its_cap_and_one_past() -> None:
    assert clip("a" * 120) == "a" * 120
    assert clip("a" * 121) == "a" * 117 + "..."
    assert clip("a\x1b[31mb\x00\x7fc \t d\n") == "a [31mb c d"


# --------------------------------------------------------------------------
# The refusal, in words that name the proxy (never its password) and the origin


@pytest.mark.parametrize(
    ("endpoint", "status", "reason", "invalid", "words"),
    [
        (
            "https://push.example/p/1",
            407,
            "Proxy Authentication Required",
            False,
            "the proxy http://u:***@p:3128 refused the request to https://push.example:443: "
            "407 Proxy Authentication Required (the proxy wants credentials: put them in the "
            "proxy URL, http://user:password@host:port)",
        ),
        (
            "https://push.example:8443/p",
            401,
            "",
            False,
            "the proxy http://u:***@p:3128 refused the request to https://push.example:8443: "
            "401 (the proxy wants credentials: put them in the proxy URL, "
            "http://user:password@host:port)",
        ),
        (
            "HTTP://[::1]/p",
            502,
            "Bad\x1bGateway",
            False,
            "the proxy http://u:***@p:3128 refused the request to http://[::1]:80: 502 Bad Gateway",
        ),
        (
            "https://push.example/p",
            None,
            "Connection refused",
            False,
            "cannot reach the proxy http://u:***@p:3128 for https://push.example:443: "
            "Connection refused",
        ),
        (
            "https://push.example/p",
            None,
            "",
            False,
            "cannot reach the proxy http://u:***@p:3128 for https://push.example:443",
        ),
        (
            "https://push.example:99999/p",
            None,
            "not HTTP/1.x",
            True,
            "the proxy http://u:***@p:3128 gave an invalid answer to CONNECT for "
            "the endpoint: not HTTP/1.x",
        ),
        (
            "https://push.example/p",
            200,
            "",
            True,
            "the proxy http://u:***@p:3128 gave an invalid answer to CONNECT for "
            "https://push.example:443",
        ),
    ],
)
def test_proxy_refusals_in_words(
    endpoint: str, status: Any, reason: str, invalid: bool, words: str
) -> None:
    proxy = parse_proxy(f"http://u:{SECRET}@p:3128")
    error = proxy_refused(proxy, endpoint, status, reason, invalid=invalid)
    assert isinstance(error, ProxyError)
    assert (error.message, error.endpoint, error.proxy, error.proxy_status) == (
        words,
        endpoint,
        "http://u:***@p:3128",
        status,
    )
    assert (error.reason == "proxy-auth-required") is (status == 407)
    assert SECRET not in str(error)
    assert proxy_refused(proxy, endpoint, status, invalid=invalid).message == (
        proxy_refused(proxy, endpoint, status, "", invalid=invalid).message
    )
    if not invalid:  # the defaults: no reason, a proxy's answer (not an invalid one)
        assert proxy_refused(proxy, endpoint, status).message == (
            proxy_refused(proxy, endpoint, status, "", invalid=False).message
        )


# --------------------------------------------------------------------------
# Through a real proxy


@pytest.fixture(scope="module")
def proxy() -> Iterator[ForwardProxy]:
    with tinyproxy() as running:
        yield running


@pytest.fixture(scope="module")
def auth_proxy() -> Iterator[ForwardProxy]:
    with tinyproxy(auth=("webpush", SECRET)) as running:
        yield running


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def service() -> Iterator[LocalPushService]:
    with LocalPushService() as running:
        yield running


def tls_push_service(ca: trustme.CA, name: str = "localhost") -> PushService:
    """An https stand-in at https://localhost:PORT, its certificate for ``name``; 201 to all."""
    return PushService(tls=server_context(ca, name), url_host="localhost")


def keys_only(service: LocalPushService, endpoint: str) -> dict[str, Any]:
    return {**service.subscribe(), "endpoint": endpoint}


def seen(proxy: ForwardProxy, needle: str) -> int:
    return sum(needle in line for line in proxy.requests())


def test_http_endpoint_through_the_proxy(proxy: ForwardProxy, service: LocalPushService) -> None:
    sub = service.subscribe()
    before = seen(proxy, sub["endpoint"])
    response = webpush(sub, "via proxy", endpoint_policy=LOCAL, proxy=proxy.url)
    assert response.status_code == 201
    assert service.wait_for_message(sub).text == "via proxy"
    # Absolute form (RFC 9112 §3.2.2): the proxy logged the full URL.
    assert seen(proxy, f"POST {sub['endpoint']}") == before + 1


def test_environment_proxy_and_no_proxy_bypass(
    proxy: ForwardProxy, service: LocalPushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = service.subscribe()
    monkeypatch.setenv("http_proxy", proxy.url)
    webpush(sub, "env", endpoint_policy=LOCAL)
    assert seen(proxy, sub["endpoint"]) == 1
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    webpush(sub, "bypass", endpoint_policy=LOCAL)
    assert [m.text for m in service.messages(sub)] == ["env", "bypass"]
    assert seen(proxy, sub["endpoint"]) == 1  # the second went directly
    monkeypatch.delenv("NO_PROXY")
    webpush(sub, "direct", endpoint_policy=LOCAL, proxy=False)
    assert seen(proxy, sub["endpoint"]) == 1


def test_connect_tunnel_to_https_verified_end_to_end(
    proxy: ForwardProxy,
    service: LocalPushService,
    ca: trustme.CA,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pool = make_pool_manager(ca_certs=ca_file)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    with tls_push_service(ca) as tls:
        sub = keys_only(service, tls.url + "/push/abc")
        response = webpush(sub, "secret", endpoint_policy=LOCAL, pool_manager=pool)
        assert response.status_code == 201
        assert len(tls.requests) == 1 and tls.requests[0].path == "/push/abc"
        # The proxy saw a CONNECT only, never the request (TLS inside the tunnel).
        authority = tls.url.removeprefix("https://")
        assert seen(proxy, f"CONNECT {authority}") == 1
        assert seen(proxy, "/push/abc") == 0
        # The certificate is checked against the push service's name through the tunnel.
        with pytest.raises(TransportError, match=r"TLS|certificate"):
            webpush(sub, "x", endpoint_policy=LOCAL, pool_manager=make_pool_manager())
    with tls_push_service(ca, name="other.example") as wrong:
        sub = keys_only(service, wrong.url + "/push/abc")
        with pytest.raises(TransportError, match=r"TLS|certificate") as caught:
            webpush(sub, "x", endpoint_policy=LOCAL, pool_manager=pool)
        assert not isinstance(caught.value, ProxyError)
        assert wrong.requests == []


def test_every_urllib3_path_goes_through_the_proxy(
    proxy: ForwardProxy, service: LocalPushService
) -> None:
    subs = [service.subscribe() for _ in range(3)]
    WebPusher(subs[0]).send("pusher", endpoint_policy=LOCAL, proxy=proxy.url)
    asyncio.run(webpush_async(subs[1], "async", endpoint_policy=LOCAL, proxy=proxy.url))
    with PushClient(
        endpoint_policy=LOCAL, pool_manager=make_pool_manager(), proxy=proxy.url
    ) as client:
        result = client.send(subs[2], "client")
    assert result.ok, result.error
    for sub, text in zip(subs, ["pusher", "async", "client"]):
        assert service.wait_for_message(sub).text == text
        assert seen(proxy, sub["endpoint"]) == 1


def test_407_names_the_proxy_without_its_password(
    auth_proxy: ForwardProxy, service: LocalPushService, ca: trustme.CA, ca_file: str
) -> None:
    pool = make_pool_manager(ca_certs=ca_file)
    sub = service.subscribe()
    with tls_push_service(ca) as tls:
        tls_sub = keys_only(service, tls.url + "/push/p")
        wrong = f"http://webpush:wrong-{SECRET}@127.0.0.1:{auth_proxy.port}"
        # Absolute form (http endpoint), then CONNECT (https). tinyproxy answers
        # wrong credentials with 401, which for an http endpoint cannot be told
        # apart from the push service's own 401: only the CONNECT case has it.
        for target, urls in ((sub, [auth_proxy.bare_url]), (tls_sub, [auth_proxy.bare_url, wrong])):
            for url in urls:
                with pytest.raises(ProxyError) as caught:
                    webpush(target, "x", endpoint_policy=LOCAL, pool_manager=pool, proxy=url)
                error = caught.value
                assert error.proxy_status in (401, 407)
                assert f"127.0.0.1:{auth_proxy.port}" in str(error)
                assert "http://user:password@host:port" in str(error)
                for text in (str(error), repr(error), error.proxy):
                    assert SECRET not in text
            # With the right credentials it goes through.
            webpush(target, "ok", endpoint_policy=LOCAL, pool_manager=pool, proxy=auth_proxy.url)
        assert len(tls.requests) == 1
    assert service.wait_for_message(sub).text == "ok"


def test_proxy_that_cannot_reach_the_endpoint(
    proxy: ForwardProxy, service: LocalPushService, ca_file: str
) -> None:
    # tinyproxy answers CONNECT to a closed port with "500 Unable to connect".
    sub = keys_only(service, "https://localhost:9/push/x")
    with pytest.raises(ProxyError) as caught:
        webpush(
            sub,
            "x",
            endpoint_policy=LOCAL,
            pool_manager=make_pool_manager(ca_certs=ca_file),
            proxy=proxy.url,
        )
    assert caught.value.proxy_status == 500 and "Unable to connect" in str(caught.value)


def test_502_and_unreachable_proxy(service: LocalPushService) -> None:
    sub = keys_only(service, "https://push.example:8443/push/x")
    reply = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n"
    with refusing_proxy(reply) as url, pytest.raises(ProxyError) as caught:
        webpush(sub, "x", endpoint_policy=LOCAL, proxy=url.replace("//", f"//u:{SECRET}@"))
    assert caught.value.proxy_status == 502 and "502 Bad Gateway" in str(caught.value)
    assert SECRET not in str(caught.value)
    # Nothing listens there any more.
    with pytest.raises(ProxyError, match="cannot reach the proxy") as unreachable:
        webpush(sub, "x", endpoint_policy=LOCAL, proxy=url, timeout=5)
    assert unreachable.value.proxy_status is None


def test_policy_still_checks_the_endpoint(proxy: ForwardProxy) -> None:
    before = len(proxy.requests())
    for endpoint in ("https://127.0.0.1/push/x", "https://localhost/push/x", "http://e.example/"):
        sub = {"endpoint": endpoint, "keys": LocalPushService.__name__ and {}}
        with pytest.raises((EndpointNotAllowed, InvalidInput)):
            webpush(sub, None, proxy=proxy.url)
    assert len(proxy.requests()) == before  # refused before the proxy was contacted


def test_curl_and_requests_session() -> None:
    service = LocalPushService().start()
    try:
        sub = service.subscribe()
        command = webpush(
            sub, "x", endpoint_policy=LOCAL, curl=True, proxy=f"http://u:{SECRET}@p.corp:3128"
        )
        assert "--proxy 'http://u:***@p.corp:3128'" in command and SECRET not in command
        assert "--noproxy '*'" in webpush(sub, "x", endpoint_policy=LOCAL, curl=True, proxy=False)
        with pytest.raises(InvalidInput, match=r"session\.proxies"):
            webpush(sub, "x", endpoint_policy=LOCAL, requests_session=object(), proxy=False)
    finally:
        service.stop()


def test_proxy_log_has_no_password(auth_proxy: ForwardProxy, tmp_path: Path) -> None:
    # The credentials travel in Proxy-Authorization, never in the request line.
    assert all(SECRET not in line for line in auth_proxy.requests())


# --------------------------------------------------------------------------
# PushClient's own HTTP/1.1 client through the proxy


def test_push_client_own_transport_through_the_proxy(
    proxy: ForwardProxy,
    service: LocalPushService,
    ca: trustme.CA,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http_subs = [service.subscribe() for _ in range(3)]
    with tls_push_service(ca) as tls:
        https_subs = [keys_only(service, f"{tls.url}/push/{i}") for i in range(3)]
        authority = tls.url.removeprefix("https://")
        with PushClient(endpoint_policy=LOCAL, ca_certs=ca_file, proxy=proxy.url) as client:
            results = list(client.send_many(http_subs + https_subs, "own"))
            assert all(r.ok for r in results), [r.error for r in results]
            # One more: the tunnel is kept alive and reused (no second CONNECT needed).
            connects = seen(proxy, f"CONNECT {authority}")
            assert client.send(https_subs[0], "again").ok
            assert seen(proxy, f"CONNECT {authority}") == connects
        assert sorted(r.path for r in tls.requests) == [
            "/push/0",
            "/push/0",
            "/push/1",
            "/push/2",
        ]
        assert 1 <= connects <= 3
        for sub in http_subs:
            assert service.wait_for_message(sub).text == "own"
            assert seen(proxy, f"POST {sub['endpoint']}") == 1  # absolute form
        # TLS through the tunnel is verified against the push service's name.
        with PushClient(endpoint_policy=LOCAL, proxy=proxy.url) as client:
            result = client.send(https_subs[0], "x")
        assert not result.ok and isinstance(result.error, TransportError)
        assert "TLS" in str(result.error) and not isinstance(result.error, ProxyError)
    # The environment, and NO_PROXY.
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    sub = service.subscribe()
    with PushClient(endpoint_policy=LOCAL) as client:
        assert client.send(sub, "env").ok
        assert seen(proxy, sub["endpoint"]) == 1
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert client.send(sub, "bypass").ok
        assert seen(proxy, sub["endpoint"]) == 1
    with PushClient(endpoint_policy=LOCAL, proxy=False) as client:
        monkeypatch.delenv("NO_PROXY")
        assert client.send(sub, "direct").ok
        assert seen(proxy, sub["endpoint"]) == 1
    assert [m.text for m in service.messages(sub)] == ["env", "bypass", "direct"]


def test_push_client_own_transport_refusals(
    auth_proxy: ForwardProxy, service: LocalPushService, ca: trustme.CA, ca_file: str
) -> None:
    with tls_push_service(ca) as tls:
        tls_sub = keys_only(service, tls.url + "/push/p")
        http_sub = service.subscribe()
        for sub in (tls_sub, http_sub):
            with PushClient(
                endpoint_policy=LOCAL, ca_certs=ca_file, proxy=auth_proxy.bare_url, max_retries=0
            ) as client:
                result = client.send(sub, "x")
            assert isinstance(result.error, ProxyError), result.error
            assert result.error.proxy_status == 407
            assert f"127.0.0.1:{auth_proxy.port}" in str(result.error)
        with PushClient(endpoint_policy=LOCAL, ca_certs=ca_file, proxy=auth_proxy.url) as client:
            assert client.send(tls_sub, "ok").ok and client.send(http_sub, "ok").ok
            assert SECRET not in repr(client) and SECRET not in repr(client.proxy)
        assert len(tls.requests) == 1
    sub = keys_only(service, "https://push.example:8443/push/x")
    with (
        refusing_proxy(b"HTTP/1.1 502 Bad Gateway\r\n\r\n") as url,
        PushClient(
            endpoint_policy=LOCAL, proxy=url.replace("//", f"//u:{SECRET}@"), max_retries=0
        ) as client,
    ):
        result = client.send(sub, "x")
    assert isinstance(result.error, ProxyError) and result.error.proxy_status == 502
    assert SECRET not in str(result.error)
    with PushClient(endpoint_policy=LOCAL, proxy=url, max_retries=0, timeout=5) as client:
        result = client.send(sub, "x")  # the stand-in is gone: nothing listens
    assert isinstance(result.error, ProxyError) and result.error.proxy_status is None
    assert "cannot reach the proxy" in str(result.error)


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (MAX_CONNECT_HEAD + 10), "over 16384 octets"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 150 + b"\r\n", "over 100 fields"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "no valid status line"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not HTTP/1.x"),
        (b"HTTP/1.1 200 OK\r\n\r\nunasked", "data after its answer"),
    ],
)
def test_hostile_connect_answers_are_capped(
    service: LocalPushService, reply: bytes, words: str
) -> None:
    sub = keys_only(service, "https://push.example/push/x")
    with (
        refusing_proxy(reply) as url,
        PushClient(endpoint_policy=LOCAL, proxy=url, max_retries=0, timeout=5) as client,
    ):
        result = client.send(sub, "x")
    assert isinstance(result.error, ProxyError), result.error
    assert words in str(result.error)


def test_a_proxy_that_never_answers_connect_times_out(service: LocalPushService) -> None:
    import time

    with silent_listener(4) as address:  # accepts (the kernel does) and never answers
        sub = keys_only(service, "https://push.example/push/x")
        url = f"http://{address}"
        with PushClient(endpoint_policy=LOCAL, proxy=url, max_retries=0, timeout=1) as client:
            started = time.monotonic()
            result = client.send(sub, "x")
            assert time.monotonic() - started < 5
    assert "timed out after 1 s" in str(result.error)
