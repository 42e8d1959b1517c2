"""Every address range the endpoint policy refuses, over the very table the code uses.

``_hosts.REFUSED_RANGES`` is the list (SECURITY.md prints the same one).
For each range: addresses at its two ends and inside are refused, naming the
range; the addresses one past each end are refused only by another range of
the table, or accepted. Then independent examples, written by hand from
IANA's special-purpose registries, with site-local ``fec0::/10`` (which
Python's ``ipaddress`` counts as global) among them.
"""

from __future__ import annotations

import ipaddress
import pathlib
import re
from typing import Optional, Union

import pytest

from webpush_core import EndpointNotAllowed, _hosts
from webpush_core._endpoint import DEFAULT_POLICY

# (Read with getattr so that the independent examples below also run, and
# fail, on a version without the table.)
REFUSED_RANGES: list[tuple[str, str]] = list(getattr(_hosts, "REFUSED_RANGES", ()))

ROOT = pathlib.Path(__file__).resolve().parents[2]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refusal(address: str) -> Optional[str]:
    """The policy's message for ``address``, or None when it is accepted."""
    try:
        DEFAULT_POLICY.check_addresses("push.example.com", [address])
    except EndpointNotAllowed as e:
        return e.message
    return None


def embeds_ipv4(ip: Address) -> bool:
    """Judged by an IPv4 address it carries (mapped, 6to4, Teredo, NAT64), not by the table."""
    return isinstance(ip, ipaddress.IPv6Address) and bool(
        ip.ipv4_mapped or ip.sixtofour or ip.teredo or ip in NAT64
    )


def first_range(ip: Address) -> Optional[str]:
    """The first range of the table holding ``ip`` (the one that names it)."""
    for network, _ in REFUSED_RANGES:
        net = ipaddress.ip_network(network)
        if net.version == ip.version and ip in net:
            return network
    return None


@pytest.mark.parametrize(("network", "kind"), REFUSED_RANGES, ids=[n for n, _ in REFUSED_RANGES])
def test_every_range_of_the_table_is_refused_at_both_ends(network: str, kind: str) -> None:
    net = ipaddress.ip_network(network)
    first, last = net.network_address, net.broadcast_address
    inside = [first, last, first + net.num_addresses // 2]
    if net.num_addresses > 2:
        inside += [first + 1, last - 1]
    named = 0
    for ip in inside:
        message = refusal(str(ip))
        assert message is not None, f"{ip} in {network} accepted"
        if not embeds_ipv4(ip) and first_range(ip) == network:
            assert f"{kind} address ({network})" in message, message
            named += 1
    assert named, f"no address of {network} is named by it: shadowed by an earlier range"


@pytest.mark.parametrize(("network", "kind"), REFUSED_RANGES, ids=[n for n, _ in REFUSED_RANGES])
def test_one_past_each_end_of_a_range_only_another_range_refuses(network: str, kind: str) -> None:
    net = ipaddress.ip_network(network)
    top = 2**net.max_prefixlen - 1
    outside = []
    if int(net.network_address) > 0:
        outside.append(net.network_address - 1)
    if int(net.broadcast_address) < top:
        outside.append(net.broadcast_address + 1)
    for ip in outside:
        if embeds_ipv4(ip):
            continue  # judged by its IPv4 address (test_endpoint.py)
        holder = first_range(ip)
        message = refusal(str(ip))
        if holder is None:
            assert message is None, f"{ip}, just outside {network}, refused: {message}"
        else:
            assert message is not None and f"({holder})" in message, (ip, message)


# Written by hand, not derived from the table: (address, words the refusal names).
REFUSED_EXAMPLES = [
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("0.1.2.3", "this network"),
    ("10.255.255.255", "private"),
    ("100.64.0.0", "carrier-grade NAT"),
    ("100.127.255.255", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),  # the cloud metadata service
    ("172.16.0.0", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "IETF protocol assignment"),
    ("192.0.0.170", "IETF protocol assignment"),  # NAT64 discovery
    ("192.0.2.200", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.0.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.255", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.251", "multicast"),  # mDNS
    ("239.255.255.250", "multicast"),  # SSDP
    ("240.0.0.1", "reserved"),
    ("255.255.255.254", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::2", "non-global-unicast"),
    ("::7f00:1", "non-global-unicast"),  # deprecated IPv4-compatible ::127.0.0.1
    ("64:ff9b:1::a9fe:a9fe", "local-use IPv4/IPv6 translation"),
    ("100::1", "discard-only"),
    ("2001:2::1", "IETF protocol assignment"),  # benchmarking
    ("2001:10::1", "IETF protocol assignment"),  # ORCHID
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("3fff:fff:ffff::1", "documentation"),
    ("5f00::1", "segment-routing"),
    ("4000::1", "non-global-unicast"),
    ("e000::1", "non-global-unicast"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local"),
    ("fec0:0:0:ffff::1", "site-local"),  # the old well-known site-local DNS servers
    ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"),
    ("ff02::1", "multicast"),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"),
    ("::ffff:169.254.169.254", "link-local"),  # mapped
    ("2002:c0a8:101::", "private"),  # 6to4 of 192.168.1.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("fec0::1%eth0", "site-local"),  # with a scope id
]

ACCEPTED_EXAMPLES = [
    "1.1.1.1",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.3.1",
    "192.88.98.255",
    "192.88.100.0",
    "192.167.255.255",
    "192.169.0.0",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "142.250.74.106",
    "2000::1",
    "2001:200::1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2a00:1450:4001:82b::200a",
    "3ffe:ffff::1",
    "3fff:1000::1",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize(("address", "words"), REFUSED_EXAMPLES)
def test_independent_examples_are_refused_naming_their_kind(address: str, words: str) -> None:
    message = refusal(address)
    assert message is not None, f"{address} accepted"
    assert words in message and "push.example.com" in message, message


@pytest.mark.parametrize("address", ACCEPTED_EXAMPLES)
def test_independent_public_examples_are_accepted(address: str) -> None:
    assert refusal(address) is None


def test_the_policy_has_a_table_of_ranges() -> None:
    assert len(REFUSED_RANGES) >= 30
    assert ("fec0::/10", "site-local (deprecated)") in REFUSED_RANGES


def test_security_md_lists_every_range_of_the_table() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`([0-9a-f.:]+/\d+)`", text))
    missing = [network for network, _ in REFUSED_RANGES if network not in listed]
    assert not missing, f"SECURITY.md does not list {missing}"
