"""One origin identity (webpush_core._origin): every spelling of a host is one origin.

A subscriber chooses the endpoint, so a hostile one can spell one push
service many ways. Each decision keyed by the origin must see one origin:
the endpoint policy, the subscription's origin (the VAPID ``aud``), the
connection pool's route, the proxy choice, Celery's batches, the pause and
breaker state (tests/test_breaker_evidence.py drives the breaker with
spellings on loopback). Pure: no sockets here.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from webpush_core import EndpointPolicy, Subscription
from webpush_core._b64 import b64url_encode
from webpush_core._delivery.origins import OPEN, Origins
from webpush_core._endpoint import DEFAULT_POLICY
from webpush_core._origin import (
    MAX_AUTHORITY,
    MAX_ENDPOINT,
    MAX_HOST,
    MAX_LABEL,
    Origin,
    OriginError,
    authority_prefix,
    describe,
    origin_of,
)
from webpush_core._origin import _origin as _origin_cache
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._request.build import prepare_message
from webpush_core._wire.exchange import split_url
from webpush_core._wire.pool import Connections
from webpush_core._wire.proxy import proxy_from_environment
from webpush_core._wire.urllib3_transport import send_request
from webpush_core.celery._batch import compact
from webpush_core.errors import EndpointNotAllowed, InvalidSubscription, TransportError
from webpush_core.vapid import Vapid

KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
PERMISSIVE = EndpointPolicy(allow_http=True, allow_private=True)
PUSH = Origin("https", "push.example.net", 443)


# --------------------------------------------------------------------------
# The value


# (URL, the origin it names): each row a spelling rule.
SPELLINGS = [
    ("https://push.example.net/p", PUSH),
    ("https://PUSH.Example.NET/p", PUSH),  # case
    ("HTTPS://push.example.net/p", PUSH),  # the scheme's case
    ("https://push.example.net./p", PUSH),  # one trailing dot: the DNS root
    ("https://push.example.net:443/p", PUSH),  # the default port, explicit
    ("https://push.example.net:/p", PUSH),  # an empty port
    ("https://push.example.net:00443/p", PUSH),  # leading zeros
    ("https://user:pw@push.example.net/p", PUSH),  # userinfo is not part of it
    ("https://push.example.net?q", PUSH),  # no path
    ("https://push.example.net#f", PUSH),
    ("https://\uff50ush.example.net/p", PUSH),  # a full-width letter (IDNA nameprep)
    ("https://push.example.net\u3002/p", PUSH),  # an ideographic full stop as the root dot
    ("https://push\uff0eexample.net/p", PUSH),  # a full-width full stop between labels
    ("https://b\u00fccher.example/p", Origin("https", "xn--bcher-kva.example", 443)),
    ("https://XN--BCHER-KVA.example/p", Origin("https", "xn--bcher-kva.example", 443)),
    ("http://push.example.net/p", Origin("http", "push.example.net", 80)),
    ("http://push.example.net:443/p", Origin("http", "push.example.net", 443)),
    ("https://push.example.net:8443/p", Origin("https", "push.example.net", 8443)),
    ("http://127.1:80/p", Origin("http", "127.0.0.1", 80)),  # as the resolver reads it
    ("http://0x7f.0.0.1/p", Origin("http", "127.0.0.1", 80)),
    ("http://2130706433/p", Origin("http", "127.0.0.1", 80)),
    ("http://0177.0.0.1/p", Origin("http", "127.0.0.1", 80)),
    ("http://[0:0::1]:9/p", Origin("http", "::1", 9)),
    ("http://[::FFFF:127.0.0.1]:9/p", Origin("http", "::ffff:7f00:1", 9)),
    ("https://push.example.net:1/p", Origin("https", "push.example.net", 1)),  # the limits
    ("https://push.example.net:65535/p", Origin("https", "push.example.net", 65535)),
]


@pytest.mark.parametrize(("url", "origin"), SPELLINGS)
def test_a_spelling_names_its_origin(url: str, origin: Origin) -> None:
    got = origin_of(url)
    assert got == origin and hash(got) == hash(origin)
    assert (got.scheme, got.host, got.port) == (origin.scheme, origin.host, origin.port)


REFUSED = [
    # (URL, words of the rule it breaks)
    ("https://push.example.net../p", "more than one dot"),
    ("https://push.example.net.../p", "more than one dot"),
    ("https://push.example.net\u3002\u3002/p", "more than one dot"),
    ("https://b\u00fccher.example../p", "more than one dot"),
    ("https://./p", "no host"),
    ("https:///p", "no host"),
    ("https://push.example.net:0/p", "port"),  # one below the range
    ("https://push.example.net:65536/p", "port"),  # one past it
    ("https://push.example.net:x/p", "port"),
    ("https://push.\udcffexample.net/p", "IDNA"),
    ("https://" + "a" * 64 + ".\u00e9xample/p", "IDNA"),  # a label over 63 octets
    ("https://push .example.net/p", "spaces or control"),
    ("https://push\x00.example.net/p", "spaces or control"),
    ("ftp://push.example.net/p", "http or https"),
    ("push.example.net/p", "absolute"),
    ("https://[::1/p", "does not parse"),
]


@pytest.mark.parametrize(("url", "words"), REFUSED)
def test_a_url_that_names_no_origin_says_which_rule(url: str, words: str) -> None:
    with pytest.raises(OriginError) as info:
        origin_of(url)
    assert words in str(info.value)
    assert describe(url) == "the endpoint"


def test_the_serialisations() -> None:
    assert PUSH.serialized == str(PUSH) == "https://push.example.net"  # RFC 6454 §6.2
    assert PUSH.explicit == "https://push.example.net:443"
    assert PUSH.authority == "push.example.net"
    v6 = origin_of("http://[::1]:8080/x")
    assert (v6.serialized, v6.authority, v6.explicit) == (
        "http://[::1]:8080",
        "[::1]:8080",
        "http://[::1]:8080",
    )
    assert "token" not in repr(origin_of("https://push.example.net/token"))


# --------------------------------------------------------------------------
# 300 spellings of one host: one origin everywhere


def three_hundred_spellings() -> list[str]:
    """300 distinct visible-ASCII URLs (what an endpoint may be), every one
    naming https://h.example (port 443)."""
    letters = "hexample"
    cases = [
        "".join(c.upper() if mask >> i & 1 else c for i, c in enumerate(letters))
        for mask in range(16)
    ]
    hosts = [f"{c[0]}.{c[1:]}" for c in cases]
    dots = ["", "."]
    ports = ["", ":443", ":0443", ":00443", ":"]
    userinfo = ["", "someone@"]
    paths = ["/push/a", "/push/b?x=1", "#f", "/"]
    urls = [
        f"https://{user}{host}{dot}{port}{path}"
        for host, dot, port, user, path in itertools.product(hosts, dots, ports, userinfo, paths)
    ]
    urls = sorted(set(urls))[:300]
    assert len(urls) == 300 and all(url.isascii() for url in urls)
    return urls


ONE = Origin("https", "h.example", 443)


def test_300_spellings_are_one_origin() -> None:
    assert {origin_of(url) for url in three_hundred_spellings()} == {ONE}


def test_300_spellings_one_policy_verdict_and_two_dots_refused() -> None:
    policy = EndpointPolicy(allowed_hosts=["h.example"])
    checked = 0
    for url in three_hundred_spellings():
        if "@" not in url:
            policy.check(url)  # the allow-list matches every spelling
            checked += 1
    assert checked >= 100
    for url in ("https://h.example../p", "https://H.EXAMPLE.../p", "https://h.example..:443/"):
        with pytest.raises(EndpointNotAllowed) as info:
            DEFAULT_POLICY.check(url)
        assert "more than one dot" in info.value.message and info.value.field == "endpoint"
        with pytest.raises(InvalidSubscription) as refused:
            Subscription.from_info({"endpoint": url, "keys": KEYS})
        assert "more than one dot" in refused.value.message


@pytest.mark.parametrize("url", ["https://\uff48.example/p", "https://h.example\u3002/p"])
def test_a_non_ascii_spelling_is_refused_before_it_is_an_origin(url: str) -> None:
    # origin_of reads it as https://h.example (IDNA), but an endpoint is visible
    # ASCII only: the policy and the subscription refuse it, naming the rule.
    assert origin_of(url) == ONE
    with pytest.raises(EndpointNotAllowed):
        DEFAULT_POLICY.check(url)
    with pytest.raises(InvalidSubscription) as info:
        Subscription.from_info({"endpoint": url, "keys": KEYS})
    assert "visible ASCII" in info.value.message


def test_300_spellings_one_vapid_aud() -> None:
    signer = Vapid()
    plan = prepare_message(
        b"x", signer, {"sub": "mailto:ops@example.com"}, "aes128gcm", 60, "normal", None
    )
    auds = set()
    for url in three_hundred_spellings():
        sub = Subscription.from_info({"endpoint": url, "keys": KEYS})
        auds.add(sub.origin)
        plan.build(sub)  # an aud of the origin, derived per endpoint: no conflict
    assert auds == {"https://h.example"}


def test_300_spellings_one_pool_route_and_one_celery_batch() -> None:
    connections = Connections(maxsize=1)
    try:
        routes = {id(connections._route(split_url(url)[0])) for url in three_hundred_spellings()}
    finally:
        connections.close()
    assert len(routes) == 1
    batches = {
        compact(i, {"endpoint": url, "keys": KEYS})[0]
        for i, url in enumerate(three_hundred_spellings())
    }
    assert batches == {"https://h.example"}


def test_300_spellings_one_proxy_choice() -> None:
    env = {"https_proxy": "http://proxy.internal:3128", "no_proxy": "h.example"}
    for url in three_hundred_spellings():
        assert proxy_from_environment(url, env) is None  # no_proxy matches every spelling
    env = {"https_proxy": "http://proxy.internal:3128", "no_proxy": "h.example:8443"}
    assert all(proxy_from_environment(url, env) is not None for url in three_hundred_spellings())


def test_300_spellings_share_one_breaker() -> None:
    o = Origins(threshold=2, first_cooldown=1, clock=lambda: 1000.0)
    urls = three_hundred_spellings()
    for url in urls[:2]:  # two failures, each spelt its own way
        origin = origin_of(url)
        o.failed(origin, o.begin(origin))
    assert all(o.gate(origin_of(url)) == OPEN for url in urls)
    (stats,) = o.stats()
    assert stats.origin == "https://h.example" and stats.trips == 1


def test_the_urllib3_transport_sends_to_the_origins_spelling() -> None:
    seen: list[str] = []

    class Pool:
        def urlopen(self, method: str, url: str, **kw: Any) -> Any:
            seen.append(url)
            raise OSError("not connecting in this test")

    request: Any = type("R", (), {"url": "", "method": "POST", "body": b"", "headers": {}})()
    for url in ("https://H.Example.:443/push/a?x=1", "https://h.EXAMPLE:0443/push/a?x=1"):
        request.url = url
        with pytest.raises(TransportError):
            send_request(request, pool_manager=Pool(), policy=PERMISSIVE, proxy=False)  # type: ignore[arg-type]
    # urllib3 keys its pools, the Host header and the TLS name by this URL.
    assert seen == ["https://h.example/push/a?x=1"] * 2


# --------------------------------------------------------------------------
# Each rule at its edge


def test_the_authority_ends_at_the_first_delimiter_not_a_later_scheme() -> None:
    url = "https://push.example.net/p?next=https://evil.example/"
    assert origin_of(url) == Origin("https", "push.example.net", 443)


def test_an_ascii_host_is_taken_as_written() -> None:
    # Only a non-ASCII host goes through IDNA; an ASCII one is checked for the
    # DNS lengths alone (a label of 63 octets, the most) and kept as written.
    label = "a-" * 31 + "a"
    assert origin_of(f"https://{label}.example/p").host == f"{label}.example"


def test_a_host_ending_in_two_dots_is_shown_clipped() -> None:
    host = "h" * 100 + ".."
    with pytest.raises(OriginError) as info:
        origin_of(f"https://{host}/p")
    assert str(info.value) == (
        f"the host {host[:80]!r} ends in more than one dot "
        "(a DNS name ends in at most one, the root's)"
    )


def test_one_trailing_dot_is_the_root_and_only_it_is_dropped() -> None:
    assert origin_of("https://push.example.net./p").host == "push.example.net"
    assert origin_of("https://a./p").host == "a"
    with pytest.raises(OriginError, match="no host"):
        origin_of("https://./p")


@pytest.mark.parametrize(
    ("url", "serialized", "explicit", "authority"),
    [
        ("https://[::0001]/p", "https://[::1]", "https://[::1]:443", "[::1]"),
        ("http://[::1]:8080/p", "http://[::1]:8080", "http://[::1]:8080", "[::1]:8080"),
        ("http://h.example/p", "http://h.example", "http://h.example:80", "h.example"),
        ("http://h.example:443/p", "http://h.example:443", "http://h.example:443", "h.example:443"),
        ("https://h.example:80/p", "https://h.example:80", "https://h.example:80", "h.example:80"),
    ],
)
def test_each_form_of_an_origin(url: str, serialized: str, explicit: str, authority: str) -> None:
    origin = origin_of(url)
    assert (origin.serialized, str(origin), origin.explicit, origin.authority) == (
        serialized,
        serialized,
        explicit,
        authority,
    )
    assert hash(origin) == hash((origin.scheme, origin.host, origin.port))
    assert origin == Origin(origin.scheme, origin.host, origin.port)
    assert {origin: 1}[Origin(origin.scheme, origin.host, origin.port)] == 1


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("a.b.1", "a.b.1"),
    ],
)
def test_a_numeric_last_label_is_an_address_when_it_reads_as_one(host: str, address: str) -> None:
    assert origin_of(f"http://{host}/p").host == address


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("push.example.net/p", "the URL must be absolute, scheme://host/..."),
        ("https://./p", "the URL has no host"),
        # The authority ends at the first "/": empty here, whatever follows.
        ("https:///a b/p", "the URL has no host"),
        ("https://?x y", "the URL has no host"),
        ("https://xn--a.example/p", None),  # ASCII: taken as written
        (
            "https://a\u00e9\u0301\u200d\ufffd.example/p",
            "the host is not a valid internationalised domain name (IDNA)",
        ),
        ("https://[v1.x]/p", "the host in brackets is not an IPv6 address"),
        (
            "https://[fe80::1%25eth0]/p",
            "the IPv6 address has a zone id (%...): no push service has one",
        ),
        (
            "https://" + "a." * 126 + "aa/p",
            "the host is 254 octets long; a DNS name has at most 253 (RFC 1035 section 2.3.4)",
        ),
        (
            "https://" + "a" * 64 + ".example/p",
            "the host has a label of 64 octets; a DNS label has at most 63 "
            "(RFC 1035 section 2.3.4)",
        ),
        (
            "https://" + "u" * 2048 + "@h.example/p",
            "the authority (host, port, userinfo) is 2058 characters long, at most 2048 are read",
        ),
        (
            "https://h.example:1x/p",
            "the host or port does not parse (brackets, or a port of digits)",
        ),
    ],
)
def test_each_refusal_of_an_origin_word_for_word(url: str, message: Any) -> None:
    if message is None:
        assert origin_of(url).host == "xn--a.example"
        return
    with pytest.raises(OriginError) as info:
        origin_of(url)
    assert str(info.value) == message


# --------------------------------------------------------------------------
# Lengths: a DNS name's (RFC 1035 §2.3.4), and the authority read at all


def _name(octets: int) -> str:
    """A host name of exactly ``octets`` octets, in labels of at most 63."""
    labels, left = [], octets
    while left > 0:
        size = min(63, left if left <= 63 else left - 2)  # keep room for a dot and a label
        labels.append("a" * size)
        left -= size + 1
    name = ".".join(labels)
    assert len(name) == octets
    return name


@pytest.mark.parametrize("octets", [MAX_HOST - 1, MAX_HOST])
def test_a_host_of_up_to_253_octets_is_an_origin(octets: int) -> None:
    host = _name(octets)
    assert origin_of(f"https://{host}/p").host == host
    assert origin_of(f"https://{host}./p").host == host  # the root's dot is not counted


def test_a_host_of_254_octets_is_refused_naming_the_rule() -> None:
    with pytest.raises(
        OriginError, match=r"254 octets long; a DNS name has at most 253 \(RFC 1035"
    ):
        origin_of(f"https://{_name(MAX_HOST + 1)}/p")


def test_a_label_of_63_octets_is_read_64_refused() -> None:
    assert origin_of(f"https://{'b' * MAX_LABEL}.example/").host == "b" * MAX_LABEL + ".example"
    with pytest.raises(OriginError, match="a label of 64 octets; a DNS label has at most 63"):
        origin_of(f"https://x.{'b' * (MAX_LABEL + 1)}.example/")


def test_an_address_is_not_held_to_name_lengths() -> None:
    assert origin_of("http://[2001:db8:0:0:0:0:0:1]:8080/").host == "2001:db8::1"
    assert origin_of(f"http://0x{'0' * 300}7f.0.0.1/").host == "127.0.0.1"


def test_the_authority_is_read_up_to_2048_characters() -> None:
    userinfo = "u" * (MAX_AUTHORITY - len("@h.example"))
    assert origin_of(f"https://{userinfo}@h.example/p").host == "h.example"
    with pytest.raises(OriginError, match="is 2049 characters long, at most 2048 are read"):
        origin_of(f"https://{userinfo}u@h.example/p")


def test_a_long_authority_never_reaches_the_cache() -> None:
    before = _origin_cache.cache_info().currsize
    for i in range(50):
        with pytest.raises(OriginError):
            origin_of(f"https://{'x' * MAX_AUTHORITY}{i}.example/")
    assert _origin_cache.cache_info().currsize == before


def test_a_subscription_endpoint_too_long_for_a_request_line_is_refused_before_sending() -> None:
    keys = {
        "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
        "auth": b64url_encode(bytes(16)),
    }
    base = "https://push.example/p/"
    at_limit = base + "t" * (MAX_ENDPOINT - len(base))
    assert Subscription.from_info({"endpoint": at_limit, "keys": keys}).endpoint == at_limit
    with pytest.raises(InvalidSubscription, match="8001 characters long, at most 8000") as e:
        Subscription.from_info({"endpoint": at_limit + "t", "keys": keys})
    assert e.value.field == "endpoint"
    with pytest.raises(InvalidSubscription, match="at most 253"):
        Subscription.from_info({"endpoint": f"https://{_name(MAX_HOST + 1)}/p", "keys": keys})


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://[fe80::1%25eth0]/p", "zone id"),
        ("https://[fe80::1%25" + "a" * 2000 + "]/p", "zone id"),
        ("https://[v1." + "a:" * 900 + "]/p", "not an IPv6 address"),  # IPvFuture
        ("https://[v1.x]/p", "not an IPv6 address"),
    ],
)
def test_a_bracketed_host_is_an_ipv6_address_without_a_zone(url: str, words: str) -> None:
    with pytest.raises(OriginError, match=words) as refused:
        origin_of(url)
    assert len(str(refused.value)) < 100


@pytest.mark.parametrize(
    "url",
    [
        "https://[" + "a" * 100_000 + "]/",
        "https://h.example:" + "1x" * 50_000,
        "https://h.example:" + "1x" * 3_000,  # within the length: the port's text not echoed
        "https://[" + "a" * 3_000 + "]/",
    ],
)
def test_the_policy_never_repeats_a_long_url_in_its_refusal(url: str) -> None:
    with pytest.raises(EndpointNotAllowed) as refused:
        DEFAULT_POLICY.check(url)
    assert len(str(refused.value)) < 300
    assert "1x1x" not in str(refused.value) and "aaaa" not in str(refused.value)


def test_the_policy_reads_an_endpoint_of_8000_characters_and_refuses_8001() -> None:
    base = "https://push.example/p/"
    at_limit = base + "t" * (MAX_ENDPOINT - len(base))
    DEFAULT_POLICY.check(at_limit)
    with pytest.raises(EndpointNotAllowed, match="8001 characters long, at most 8000"):
        DEFAULT_POLICY.check(at_limit + "t")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "https://push.example/" + "t" * (MAX_ENDPOINT - 20),
            "the URL is 8001 characters long, at most 8000 are sent (RFC 9112 section 3)",
        ),
        ("https://h.example:1x/p", "the URL does not parse (brackets, or a port of digits)"),
    ],
)
def test_each_length_and_parse_refusal_of_the_policy_word_for_word(url: str, message: str) -> None:
    with pytest.raises(EndpointNotAllowed) as refused:
        DEFAULT_POLICY.check(url)
    assert str(refused.value) == f"endpoint refused by EndpointPolicy: {message}"


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
