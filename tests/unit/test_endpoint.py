"""EndpointPolicy: the SSRF rules, URL by URL and address by address."""

from __future__ import annotations

import itertools
import socket
import threading
from typing import Any, Callable, Optional

import pytest

from webpush_core import _endpoint, _hosts
from webpush_core._endpoint import DEFAULT_POLICY, EndpointPolicy, _ResolvedCache
from webpush_core.errors import EndpointNotAllowed, InvalidInput, TransportError, WebPushException

PERMISSIVE = EndpointPolicy(allow_http=True, allow_private=True)

ALLOWED_BY_DEFAULT = [
    "https://fcm.googleapis.com/fcm/send/abc",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
    "https://web.push.apple.com/QGx1",
    "https://push.example.com:443/x",
    "https://Push.Example.COM/x",
    "https://push.example.com./x",  # trailing dot
    "https://push.example.com",
    "https://push-1.example.co.uk/a?b=c",
]

REFUSED_BY_DEFAULT = [
    # (url, words the message must contain)
    ("http://push.example.com/x", "https"),
    ("ftp://push.example.com/x", "scheme"),
    ("push.example.com/x", "scheme"),
    ("https://user:pw@push.example.com/x", "userinfo"),
    ("https://user@push.example.com/x", "userinfo"),
    ("https://push.example.com:8443/x", "port 8443"),
    ("https://push.example.com:80/x", "port 80"),
    ("https://push.example.com:22/x", "port 22"),
    ("https://push.example.com:99999/x", "parse"),
    ("https:///x", "no host"),
    ("https://10.0.0.1/x", "IP address"),
    ("https://169.254.169.254/latest/meta-data", "IP address"),
    ("https://127.0.0.1/x", "IP address"),
    ("https://127.1/x", "IP address"),
    ("https://0x7f.1/x", "IP address"),
    ("https://2130706433/x", "IP address"),
    ("https://0177.0.0.1/x", "IP address"),
    ("https://0.0.0.0/x", "IP address"),
    ("https://8.8.8.8/x", "IP address"),  # even public: push services use names
    ("https://[::1]/x", "IP address"),
    ("https://[::ffff:127.0.0.1]/x", "IP address"),
    ("https://[2001:4860::8888]/x", "IP address"),
    ("https://localhost/x", "internal"),
    ("https://LOCALHOST./x", "internal"),
    ("https://foo.localhost/x", "internal"),
    ("https://printer.local/x", "internal"),
    ("https://metadata.google.internal/x", "internal"),
    ("https://router.home.arpa/x", "internal"),
    ("https://1.0.0.127.in-addr.arpa/x", "internal"),
    ("https://intranet/x", "internal"),
    ("https://printserver/x", "single-label"),
    ("https://localhost/x", "localhost"),
    ("https://push.exa%6dple.com/x", "DNS name"),
    ("https://push.example.com/a b", "spaces"),
    ("https://push.example.com/\r\nHost: evil", "control"),
]


@pytest.mark.parametrize(
    "char",
    [chr(c) for c in range(0x100)] + ["\u2028", "\u202e", "\u200b", "\ufeff"],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_the_policy_takes_visible_ascii_only(char: str) -> None:
    url = f"https://push.example.com/push/a{char}b"
    if 0x21 <= ord(char) <= 0x7E:
        DEFAULT_POLICY.check(url)
        return
    with pytest.raises(EndpointNotAllowed, match="visible ASCII") as excinfo:
        DEFAULT_POLICY.check(url)
    assert excinfo.value.field == "endpoint"
    if char != " ":
        assert char not in str(excinfo.value)


@pytest.mark.parametrize("url", ALLOWED_BY_DEFAULT)
def test_default_allows(url: str) -> None:
    DEFAULT_POLICY.check(url)


@pytest.mark.parametrize(("url", "words"), REFUSED_BY_DEFAULT)
def test_default_refuses(url: str, words: str) -> None:
    with pytest.raises(EndpointNotAllowed) as excinfo:
        DEFAULT_POLICY.check(url)
    assert excinfo.value.field == "endpoint"
    assert words in excinfo.value.message


def test_non_string_refused() -> None:
    with pytest.raises(EndpointNotAllowed):
        DEFAULT_POLICY.check(b"https://push.example.com/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "url", "ok"),
    [
        # allow_http: http accepted on 80 (and allowed_ports), still no private hosts
        (EndpointPolicy(allow_http=True), "http://push.example.com/x", True),
        (EndpointPolicy(allow_http=True), "http://push.example.com:443/x", True),
        (EndpointPolicy(allow_http=True), "http://push.example.com:8080/x", False),
        (EndpointPolicy(allow_http=True), "http://127.0.0.1/x", False),
        (EndpointPolicy(allow_http=True), "https://push.example.com:80/x", False),
        # allow_private: IP literals, internal names, any port; https only
        (EndpointPolicy(allow_private=True), "https://127.0.0.1:8443/x", True),
        (EndpointPolicy(allow_private=True), "https://[::1]:1234/x", True),
        (EndpointPolicy(allow_private=True), "https://localhost:5000/x", True),
        (EndpointPolicy(allow_private=True), "http://localhost:5000/x", False),
        (EndpointPolicy(allow_private=True), "https://u:p@localhost/x", False),
        # both: what tests and the local push service use
        (PERMISSIVE, "http://127.0.0.1:54321/push/1", True),
        (PERMISSIVE, "http://127.1:80/", True),
        (PERMISSIVE, "http://[::1]:8080/", True),
        (PERMISSIVE, "http://user:pw@127.0.0.1:8080/", False),
        (PERMISSIVE, "gopher://127.0.0.1/", False),
        # allowed_ports
        (EndpointPolicy(allowed_ports=(443, 8443)), "https://push.example.com:8443/x", True),
        (EndpointPolicy(allowed_ports=(8443,)), "https://push.example.com/x", False),
        # allowed_hosts: exact names and "*." wildcards (subdomains, not the apex)
        (EndpointPolicy(allowed_hosts=["push.example.com"]), "https://push.example.com/", True),
        (EndpointPolicy(allowed_hosts=["PUSH.example.com."]), "https://push.example.com/", True),
        (EndpointPolicy(allowed_hosts=["push.example.com"]), "https://a.push.example.com/", False),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://a.example.com/", True),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://a.b.example.com/", True),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://example.com/", False),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://evilexample.com/", False),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://example.com.evil.io/", False),
        (EndpointPolicy(allowed_hosts=["*.example.com"]), "https://a.example.com:8443/", False),
        # the allow-list does not switch off the other rules
        (EndpointPolicy(allowed_hosts=["localhost"]), "https://localhost/", False),
        (
            EndpointPolicy(allow_private=True, allowed_hosts=["localhost"]),
            "https://localhost:99/",
            True,
        ),
        (EndpointPolicy(allow_private=True, allowed_hosts=["localhost"]), "https://[::1]/", False),
    ],
)
def test_policy_table(policy: EndpointPolicy, url: str, ok: bool) -> None:
    if ok:
        policy.check(url)
    else:
        with pytest.raises(EndpointNotAllowed):
            policy.check(url)


KNOWN = [
    ("https://fcm.googleapis.com/fcm/send/x", True),
    ("https://android.googleapis.com/gcm/send/x", True),
    ("https://updates.push.services.mozilla.com/wpush/v2/x", True),
    ("https://updates-autopush.stage.mozaws.net/wpush/v2/x", False),
    ("https://push.services.mozilla.com/x", False),
    ("https://foo.push.services.mozilla.com/x", True),
    ("https://web.push.apple.com/x", True),
    ("https://api.push.apple.com/x", True),
    ("https://apple.com/x", False),
    ("https://db5p.notify.windows.com/w/?token=x", True),
    ("https://notify.windows.com/x", False),
    ("https://googleapis.com/x", False),
    ("https://evil.example.com/x", False),
    ("https://fcm.googleapis.com.evil.example/x", False),
    ("http://fcm.googleapis.com/x", False),
    ("https://fcm.googleapis.com:8443/x", False),
]


@pytest.mark.parametrize(("url", "ok"), KNOWN)
def test_known_push_services(url: str, ok: bool) -> None:
    policy = EndpointPolicy.known_push_services()
    assert isinstance(policy, EndpointPolicy)
    if ok:
        policy.check(url)
    else:
        with pytest.raises(EndpointNotAllowed):
            policy.check(url)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"allowed_hosts": "fcm.googleapis.com"}, "allowed_hosts"),
        ({"allowed_hosts": [""]}, "allowed_hosts"),
        ({"allowed_hosts": [42]}, "allowed_hosts"),
        ({"allowed_hosts": ["*"]}, "allowed_hosts"),
        ({"allowed_hosts": ["a b.com"]}, "allowed_hosts"),
        ({"allowed_ports": [0]}, "allowed_ports"),
        ({"allowed_ports": ["443"]}, "allowed_ports"),
        ({"allowed_ports": 443}, "allowed_ports"),
    ],
)
def test_bad_policy_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises((InvalidInput, TypeError)) as excinfo:
        EndpointPolicy(**kwargs)
    if isinstance(excinfo.value, InvalidInput):
        assert excinfo.value.field == field


def test_policy_is_hashable_value() -> None:
    a = EndpointPolicy(allowed_hosts=["a.example.com"], allowed_ports=[443])
    b = EndpointPolicy(allowed_hosts=("a.example.com",), allowed_ports=(443,))
    assert a == b and hash(a) == hash(b)


# --------------------------------------------------------------------------
# check_resolved


def fake_resolver(table: dict[str, list[str]], calls: list[str]) -> Callable[..., Any]:
    def getaddrinfo(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in table[host]:
            if ":" in addr:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port)))
        return out

    return getaddrinfo


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], list[str]]:
    _endpoint._resolved_cache.clear()

    def install(table: dict[str, list[str]]) -> list[str]:
        calls: list[str] = []
        monkeypatch.setattr(_endpoint.socket, "getaddrinfo", fake_resolver(table, calls))
        return calls

    yield install  # type: ignore[misc]
    _endpoint._resolved_cache.clear()


UNSAFE_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.9.9.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("100.64.0.1", "non-global"),  # carrier-grade NAT
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "a "),  # reserved (also listed as private by ipaddress)
    ("255.255.255.255", "a "),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "embedded in ::ffff:7f00:1"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2001:db8::1", "a "),  # documentation range
]


@pytest.mark.parametrize(("address", "kind"), UNSAFE_ADDRESSES)
def test_resolved_unsafe_address_refused(resolver: Any, address: str, kind: str) -> None:
    resolver({"push.example.com": [address]})
    with pytest.raises(EndpointNotAllowed) as excinfo:
        DEFAULT_POLICY.check_resolved("push.example.com", 443)
    message = excinfo.value.message
    assert "push.example.com" in message
    assert kind in message
    assert excinfo.value.field == "endpoint"


@pytest.mark.parametrize(
    "addresses",
    [["142.250.74.106"], ["2a00:1450:4001:82b::200a"], ["8.8.8.8", "2001:4860:4860::8888"]],
)
def test_resolved_public_addresses_pass(resolver: Any, addresses: list[str]) -> None:
    resolver({"push.example.com": addresses})
    DEFAULT_POLICY.check_resolved("push.example.com", 443)


def test_any_unsafe_address_refuses(resolver: Any) -> None:
    resolver({"push.example.com": ["8.8.8.8", "2001:4860:4860::8888", "10.0.0.7"]})
    with pytest.raises(EndpointNotAllowed, match=r"10\.0\.0\.7"):
        DEFAULT_POLICY.check_resolved("push.example.com", 443)


def test_unresolvable_host_is_transport_error(resolver: Any) -> None:
    resolver({})
    with pytest.raises(TransportError, match="cannot resolve"):
        DEFAULT_POLICY.check_resolved("nowhere.example.com", 443)


def test_allow_private_skips_resolution(resolver: Any) -> None:
    calls = resolver({"push.example.com": ["127.0.0.1"]})
    EndpointPolicy(allow_private=True).check_resolved("push.example.com", 443)
    assert calls == []


def test_real_localhost_resolution_refused() -> None:
    _endpoint._resolved_cache.clear()
    with pytest.raises(EndpointNotAllowed, match="loopback"):
        DEFAULT_POLICY.check_resolved("localhost", 443)


def test_positive_results_cached_negative_not(resolver: Any) -> None:
    calls = resolver({"good.example.com": ["8.8.8.8"], "bad.example.com": ["10.0.0.1"]})
    for _ in range(5):
        DEFAULT_POLICY.check_resolved("good.example.com", 443)
        EndpointPolicy(allowed_hosts=["x.example"]).check_resolved("GOOD.example.com.", 443)
    assert calls == ["good.example.com"]
    DEFAULT_POLICY.check_resolved("good.example.com", 8443)  # per (host, port)
    assert calls == ["good.example.com"] * 2
    for _ in range(3):
        with pytest.raises(EndpointNotAllowed):
            DEFAULT_POLICY.check_resolved("bad.example.com", 443)
    assert calls.count("bad.example.com") == 3


def test_cache_expiry_and_bound() -> None:
    now = [1000.0]
    cache = _ResolvedCache(ttl=60.0, maxsize=3, clock=lambda: now[0])
    cache.add(("a", 443))
    assert ("a", 443) in cache
    now[0] += 59.9
    assert ("a", 443) in cache
    now[0] += 0.2
    assert ("a", 443) not in cache
    assert len(cache) == 0
    for host in "bcde":
        cache.add((host, 443))
    assert len(cache) == 3
    assert ("b", 443) not in cache  # least recently used went first
    assert all((h, 443) in cache for h in "cde")


def test_cache_thread_safe() -> None:
    cache = _ResolvedCache(ttl=60.0, maxsize=50)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(2000):
                key = (f"h{(i * 7 + n) % 120}", 443)
                cache.add(key)
                _ = key in cache
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 50


# --------------------------------------------------------------------------
# Every refusal, word for word: the rule and the fix are in the message

LOCAL_FIX = ": for a local test push service use EndpointPolicy.for_testing() (allow_http=True, allow_private=True)"  # noqa: E501
HTTP_OK = EndpointPolicy(allow_http=True)

REFUSALS: list[tuple[EndpointPolicy, Any, str]] = [
    (DEFAULT_POLICY, 123, "the endpoint must be a string URL, got int"),
    (
        DEFAULT_POLICY,
        "https://push.example/a b",
        "the URL must be visible ASCII (no spaces, controls, non-ASCII)",
    ),
    (DEFAULT_POLICY, "https://10.0.0.1/", "host '10.0.0.1' is an IP address literal" + LOCAL_FIX),
    (
        DEFAULT_POLICY,
        "http://10.0.0.1/",  # http on its own port 80: only the scheme is said
        "host '10.0.0.1' is an IP address literal; the scheme is http, not https" + LOCAL_FIX,
    ),
    (
        DEFAULT_POLICY,
        "http://10.0.0.1:8080/",
        "host '10.0.0.1' is an IP address literal; the scheme is http, not https; "
        "port 8080 is not in allowed_ports" + LOCAL_FIX,
    ),
    (
        DEFAULT_POLICY,
        "https://10.0.0.1:80/",  # port 80 is http's, not https's
        "host '10.0.0.1' is an IP address literal; port 80 is not in allowed_ports" + LOCAL_FIX,
    ),
    (HTTP_OK, "http://127.0.0.1/", "host '127.0.0.1' is an IP address literal" + LOCAL_FIX),
    (
        HTTP_OK,
        "http://127.0.0.1:81/",
        "host '127.0.0.1' is an IP address literal; port 81 is not in allowed_ports" + LOCAL_FIX,
    ),
    (
        DEFAULT_POLICY,
        "https://localhost/",
        "host 'localhost' is a single-label host name (internal)" + LOCAL_FIX,
    ),
    (
        DEFAULT_POLICY,
        "https://metadata.google.internal/",
        "host 'metadata.google.internal' is an internal host name" + LOCAL_FIX,
    ),
    (DEFAULT_POLICY, "ftp://push.example/", "the scheme must be https, got 'ftp'"),
    (DEFAULT_POLICY, "//push.example/x", "the scheme must be https, got '(none)'"),
    (
        DEFAULT_POLICY,
        "http://push.example/",
        "the scheme must be https (allow_http=True accepts http)",
    ),
    (
        DEFAULT_POLICY,
        "https://user@push.example/",
        "the URL must not contain userinfo (user:password@)",
    ),
    (DEFAULT_POLICY, "https:///x", "the URL has no host"),
    (
        DEFAULT_POLICY,
        "https://push.example:8443/",
        "port 8443 is not allowed (allowed: 443; set allowed_ports to accept others)",
    ),
    (
        HTTP_OK,
        "http://push.example:8080/",
        "port 8080 is not allowed (allowed: 80, 443; set allowed_ports to accept others)",
    ),
    (
        DEFAULT_POLICY,
        "https://-push.example/",
        "the host is not a valid DNS name (letters, digits, '-')",
    ),
    (
        EndpointPolicy(allowed_hosts=("a.example",)),
        "https://b.example/",
        "host 'b.example' is not in allowed_hosts",
    ),
    (
        DEFAULT_POLICY,
        "https://push.example../",
        "the host 'push.example..' ends in more than one dot "
        "(a DNS name ends in at most one, the root's)",
    ),
]


@pytest.mark.parametrize(("policy", "url", "rule"), REFUSALS)
def test_each_refusal_word_for_word(policy: EndpointPolicy, url: Any, rule: str) -> None:
    with pytest.raises(EndpointNotAllowed) as caught:
        policy.check(url)
    assert caught.value.message == f"endpoint refused by EndpointPolicy: {rule}"
    assert caught.value.field == "endpoint"


@pytest.mark.parametrize(
    ("url", "policy"),
    [
        ("http://push.example/", HTTP_OK),  # http's own port 80
        ("https://push.example:8443/", EndpointPolicy(allowed_ports=(443, 8443))),
        ("http://10.0.0.1:8080/", PERMISSIVE),
        ("https://x.a.example/", EndpointPolicy(allowed_hosts=("*.a.example",))),
        ("https://a.example/", EndpointPolicy(allowed_hosts=("Push.Example.", "a.example"))),
        ("https://push.example/", EndpointPolicy(allowed_hosts=("Push.Example.",))),
    ],
)
def test_what_each_rule_lets_through(url: str, policy: EndpointPolicy) -> None:
    policy.check(url)


def test_for_testing_is_http_and_private() -> None:
    policy = EndpointPolicy.for_testing()
    assert policy.allow_http is True and policy.allow_private is True
    assert policy == PERMISSIVE


# Refusals of the policy's own settings: the field, the rule, the fix.
SETTINGS_REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"allow_http": "yes"}, "allow_http", "allow_http must be True or False, got str"),
    ({"allow_private": 1}, "allow_private", "allow_private must be True or False, got int"),
    (
        {"allowed_ports": None},
        "allowed_ports",
        "allowed_ports must be a collection of port numbers, e.g. (443,) or (443, 8443); "
        "for any port on a local test service use EndpointPolicy.for_testing()",
    ),
    (
        {"allowed_hosts": 5},
        "allowed_hosts",
        "allowed_hosts must be a collection (a tuple or list), got int",
    ),
    (
        {"allowed_ports": 443},
        "allowed_ports",
        "allowed_ports must be a collection (a tuple or list), got int",
    ),
    (
        {"allowed_hosts": "a.example"},
        "allowed_hosts",
        "allowed_hosts must be a collection of host names, not a single string",
    ),
    (
        {"allowed_hosts": ("",)},
        "allowed_hosts",
        "allowed_hosts entries must be non-empty host names, got ''",
    ),
    (
        {"allowed_hosts": ("bad host",)},
        "allowed_hosts",
        "allowed_hosts entry 'bad host' must be a host name or '*.' + a host name",
    ),
    (
        {"allowed_hosts": ("*.-x.example",)},
        "allowed_hosts",
        "allowed_hosts entry '*.-x.example' must be a host name or '*.' + a host name",
    ),
    (
        {"allowed_ports": (0,)},
        "allowed_ports",
        "allowed_ports must be a collection of port numbers (1-65535)",
    ),
    (
        {"allowed_ports": (65536,)},
        "allowed_ports",
        "allowed_ports must be a collection of port numbers (1-65535)",
    ),
    (
        {"allowed_ports": ("443",)},
        "allowed_ports",
        "allowed_ports must be a collection of port numbers (1-65535)",
    ),
]


@pytest.mark.parametrize(("kwargs", "field", "message"), SETTINGS_REFUSED)
def test_each_refused_setting_word_for_word(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        EndpointPolicy(**kwargs)
    assert (caught.value.field, caught.value.message) == (field, message)


@pytest.mark.parametrize("port", [1, 65535])
def test_the_ports_at_their_limits_are_settings(port: int) -> None:
    assert EndpointPolicy(allowed_ports=(port,)).allowed_ports == (port,)


def test_a_host_pattern_is_kept_normalised() -> None:
    policy = EndpointPolicy(allowed_hosts=(" Push.Example. ", "*.A.Example"))
    assert policy.allowed_hosts == ("push.example", "*.a.example")


# The addresses a host resolves to


def test_a_resolved_entry_expires_at_its_instant() -> None:
    now = [100.0]
    cache = _ResolvedCache(ttl=60.0, maxsize=4, clock=lambda: now[0])
    cache.add(("push.example", 443))
    now[0] = 159.999
    assert ("push.example", 443) in cache
    now[0] = 160.0
    assert ("push.example", 443) not in cache and len(cache) == 0


def test_a_name_that_does_not_resolve_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _endpoint._resolved_cache.clear()

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(_endpoint.socket, "getaddrinfo", fails)
    with pytest.raises(TransportError) as caught:
        DEFAULT_POLICY.check_resolved("Nowhere.Example.", 443)
    assert caught.value.message == (
        "cannot resolve host 'nowhere.example': [Errno -2] Name or service not known"
    )
    with pytest.raises(TransportError) as admitted:
        DEFAULT_POLICY.admit("https://nowhere.example/p/1")
    assert admitted.value.message == caught.value.message
    assert admitted.value.endpoint == "https://nowhere.example/p/1"
    monkeypatch.setattr(_endpoint.socket, "getaddrinfo", lambda *a, **k: [])
    with pytest.raises(TransportError) as empty:
        DEFAULT_POLICY.check_resolved("nowhere.example", 443)
    assert empty.value.message == "cannot resolve host 'nowhere.example': no addresses"


def test_admit_resolves_the_origins_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    _endpoint._resolved_cache.clear()
    asked: list[tuple[Any, Any]] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(_endpoint.socket, "getaddrinfo", getaddrinfo)
    try:
        DEFAULT_POLICY.admit("https://Push.Example./p/1")
    finally:
        _endpoint._resolved_cache.clear()
    assert asked == [("push.example", 443)]


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("fe80::1%eth0", "fe80::1"),  # a scope id is not part of the address
        ("fe80::1%eth0%x", "fe80::1"),
    ],
)
def test_a_scoped_address_is_judged_without_its_scope(address: str, shown: str) -> None:
    with pytest.raises(EndpointNotAllowed) as caught:
        DEFAULT_POLICY.check_addresses("h.example", [address])
    assert caught.value.message == (
        f"endpoint refused by EndpointPolicy: host 'h.example' resolves to {shown}, "
        "a link-local address (fe80::/10) (allow_private=True accepts it)"
    )


def test_an_unparsable_address_is_refused_by_name() -> None:
    with pytest.raises(EndpointNotAllowed) as caught:
        DEFAULT_POLICY.check_addresses("h.example", ["not-an-address"])
    assert caught.value.message == (
        "endpoint refused by EndpointPolicy: host 'h.example' resolves to an unparsable "
        "address 'not-an-address'"
    )


# Each kind of the table, with its article: every kind the table names is here.
ARTICLES = {
    "unspecified": "an",
    '"this network"': "a",
    "private": "a",
    "carrier-grade NAT (shared, non-global)": "a",
    "loopback": "a",
    "link-local": "a",
    "IETF protocol assignment": "an",
    "documentation": "a",
    "6to4 relay anycast (deprecated)": "a",
    "benchmarking": "a",
    "multicast": "a",
    "limited broadcast": "a",
    "reserved": "a",
    "local-use IPv4/IPv6 translation": "a",
    "discard-only": "a",
    "segment-routing (SRv6 SID)": "a",
    "private (unique local)": "a",
    "site-local (deprecated)": "a",
    "non-global-unicast": "a",
}


@pytest.mark.parametrize(("network", "kind"), _hosts.REFUSED_RANGES)
def test_every_range_of_the_table_is_named_with_its_kind(network: str, kind: str) -> None:
    assert {k for _, k in _hosts.REFUSED_RANGES} == set(ARTICLES)
    import ipaddress

    net = ipaddress.ip_network(network)
    address = net[-1] if net.num_addresses > 1 else net[0]  # its last: inside, at its edge
    reason = _hosts.unsafe_reason(address)
    assert reason is not None
    first = next(n for n, _ in _hosts.REFUSED_RANGES if address in ipaddress.ip_network(n))
    if first == network:  # (a more specific range before it may hold the address)
        assert reason == f"{ARTICLES[kind]} {kind} address ({network})"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address judged, not bound
        ("127.0.0.1", "a loopback address"),
        ("169.254.1.1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("10.0.0.1", "a private address"),
        ("::2", "a reserved address"),
        ("100.64.0.1", "a non-global address"),
        ("93.184.216.34", None),
    ],
)
def test_the_second_net_names_what_ipaddress_knows(
    monkeypatch: pytest.MonkeyPatch, address: str, reason: Any
) -> None:
    # Without the table (a range it lacks), Python's own knowledge still refuses.
    import ipaddress

    monkeypatch.setattr(_hosts, "_REFUSED_V4", ())
    monkeypatch.setattr(_hosts, "_REFUSED_V6", ())
    assert _hosts.unsafe_reason(ipaddress.ip_address(address)) == reason


def test_a_teredo_address_is_judged_by_its_client() -> None:
    import ipaddress

    # Teredo (RFC 4380): server 65.54.227.120, client 10.0.0.1 (stored inverted).
    client = int(ipaddress.IPv4Address("10.0.0.1")) ^ 0xFFFFFFFF
    teredo = ipaddress.IPv6Address((0x20010000 << 96) | (0x4136E378 << 64) | client)
    assert teredo.teredo is not None and str(teredo.teredo[1]) == "10.0.0.1"
    assert _hosts.unsafe_reason(teredo) == (
        f"a private address (10.0.0.0/8) (embedded in {teredo})"
    )


@pytest.mark.parametrize(
    ("host", "literal"),
    [
        ("10.0.0.1", True),
        ("10.0.0.1.", True),  # one trailing dot (the DNS root) is not part of the last label
        ("127.1", True),
        ("0x7f.1", True),
        ("::1", True),
        ("h.1X", False),  # digits then letters: a name, whatever the letters' case
        ("push.example", False),
        ("push.example.", False),
    ],
)
def test_an_ip_literal_by_its_last_label(host: str, literal: bool) -> None:
    assert _hosts.is_ip_literal(host) is literal


# --------------------------------------------------------------------------
# The verdict on a URL's scheme and authority, remembered per policy

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_POLICIES = [
    DEFAULT_POLICY,
    PERMISSIVE,
    EndpointPolicy(allow_http=True),
    EndpointPolicy(allow_private=True),
    EndpointPolicy(allowed_hosts=["*.example.com"], allowed_ports=(443, 8443)),
]
_PIECE = st.sampled_from(
    ["", "a", "A", "1", "-", ".", ":", "@", "[", "]", "/", "?", "#", "%25", "::1",
     "push.example.com", "127.0.0.1", "xn--a", "443", "0", "8443", "user:pw"]
)  # fmt: skip
_SCHEME = st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "https:/", "", "https:"])


@settings(max_examples=3000, deadline=None)
@given(_SCHEME, st.lists(_PIECE, max_size=8), st.lists(_PIECE, max_size=4))
def test_judging_the_head_is_judging_the_url(
    scheme: str, authority: list[str], rest: list[str]
) -> None:
    url = scheme + "".join(authority) + "".join(rest)
    head = _endpoint._head(url)
    assert url.startswith(head)
    for policy in _POLICIES:
        assert policy._broken(head) == policy._broken(url), (policy, url, head)


@pytest.mark.parametrize(
    ("url", "head"),
    [
        ("https://push.example.com/a/b?c#d", "https://push.example.com"),
        ("https://push.example.com?x", "https://push.example.com"),
        ("https://push.example.com#x/y", "https://push.example.com"),
        ("https://u@h.example:8443/p", "https://u@h.example:8443"),
        ("https://h.example", "https://h.example"),
        ("https://", "https://"),
        ("push.example.com/p", "push.example.com/p"),  # no "://": the URL whole
    ],
)
def test_the_head_ends_at_the_first_delimiter(url: str, head: str) -> None:
    assert _endpoint._head(url) == head


def test_one_judgement_per_policy_and_authority(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[str] = []
    broken = EndpointPolicy._broken

    def counting(self: EndpointPolicy, url: str) -> Any:
        judged.append(url)
        return broken(self, url)

    monkeypatch.setattr(EndpointPolicy, "_broken", counting)
    for i in range(50):
        DEFAULT_POLICY.check(f"https://fcm.googleapis.com/fcm/send/t{i}")
        PERMISSIVE.check(f"https://fcm.googleapis.com/fcm/send/t{i}")
        DEFAULT_POLICY.check(f"https://fcm.googleapis.com/a?next=https://x{i}")  # "://" again
        with pytest.raises(EndpointNotAllowed, match="is an IP address literal") as refused:
            DEFAULT_POLICY.check(f"https://10.0.0.1/t{i}")
        assert refused.value.__traceback__ is not None  # a new refusal every time
        with pytest.raises(EndpointNotAllowed, match="has no host"):
            DEFAULT_POLICY.check(f"https:///t{i}")  # the authority ends at once
    assert sorted(judged) == sorted(
        ["https://fcm.googleapis.com"] * 2 + ["https://10.0.0.1", "https://"]
    )  # the path never reaches the memo, the verdict is kept per policy


def test_what_depends_on_the_whole_url_is_checked_on_every_url() -> None:
    DEFAULT_POLICY.check("https://fcm.googleapis.com/ok")
    with pytest.raises(EndpointNotAllowed, match="visible ASCII"):
        DEFAULT_POLICY.check("https://fcm.googleapis.com/a b")
    with pytest.raises(EndpointNotAllowed, match="8001 characters long"):
        DEFAULT_POLICY.check("https://fcm.googleapis.com/" + "t" * (8001 - 27))


@pytest.mark.parametrize("size", [_endpoint._HEAD_REMEMBERED, _endpoint._HEAD_REMEMBERED + 1])
def test_a_head_is_remembered_up_to_256_characters_and_judged_alike_past_it(size: int) -> None:
    labels = ".".join(["a" * 60] * 4)  # 243 octets: a valid DNS name, of up to 63-octet labels
    host = labels[: size - len("https://.example")] + ".example"
    head = "https://" + host.lstrip(".")
    assert len(head) == size and len(host) <= 253
    before = _endpoint._verdict.cache_info().currsize
    DEFAULT_POLICY.check(head + "/p")  # accepted: judged, remembered or not
    with pytest.raises(EndpointNotAllowed, match="not in allowed_hosts"):
        EndpointPolicy(allowed_hosts=["push.example"]).check(head + "/p")
    remembered = _endpoint._verdict.cache_info().currsize - before
    assert remembered == (2 if size <= _endpoint._HEAD_REMEMBERED else 0)


# The memo's verdict is the policy's own: for every URL, cold and after any
# other URL of its authority (whatever follows the authority: spaces, CR LF,
# non-ASCII, brackets are still refused by the rules that read the whole URL).

MEMO_POLICIES = [
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


def _outcome(check: Any, url: Any) -> Optional[tuple[type, str]]:
    try:
        check(url)
    except WebPushException as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("policy", MEMO_POLICIES, ids=lambda p: repr(p)[:60])
def test_every_url_gets_the_policys_own_verdict_cold_and_after_any_url_of_its_authority(
    policy: EndpointPolicy,
) -> None:
    cold: dict[str, Optional[tuple[type, str]]] = {}
    for url in URLS:
        _endpoint._verdict.cache_clear()
        cold[url] = _outcome(policy.check, url)
    by_head: dict[str, list[str]] = {}
    for url in URLS:
        by_head.setdefault(_endpoint._head(url), []).append(url)
    for urls in by_head.values():
        for warm, url in itertools.product(urls, urls):
            _endpoint._verdict.cache_clear()
            _outcome(policy.check, warm)  # admitted or refused, then:
            assert _outcome(policy.check, url) == cold[url], (warm, url)
            assert _outcome(policy.check, url) == cold[url], (warm, url)


def test_verdicts_kept_are_bounded_at_the_limit_and_one_past() -> None:
    for i in range(_endpoint._VERDICTS):
        DEFAULT_POLICY.check(f"https://p{i}.example.com/x")
    assert _endpoint._verdict.cache_info().currsize == _endpoint._VERDICTS
    DEFAULT_POLICY.check("https://one-past.example.com/x")
    assert _endpoint._verdict.cache_info().currsize == _endpoint._VERDICTS
    DEFAULT_POLICY.check("https://p0.example.com/y")  # the oldest went: judged again, alike
    assert _endpoint._verdict.cache_info().misses == _endpoint._VERDICTS + 2
