"""What a host is, before any policy: a name or an address, and which addresses are never public.

The rules :class:`._endpoint.EndpointPolicy` applies, kept apart from the
policy's settings (no I/O here): a host that is an IP address in any
notation a browser's URL parser reads as one (:func:`is_ip_literal`:
``127.1``, ``0x7f.1``, ``2130706433``, ``[::1]``), a name that only ever
means this machine or the local network (:func:`is_internal_name`), a DNS
label (:data:`LABEL`); and, for the addresses a name resolves to, every
range an endpoint may not reach (:data:`REFUSED_RANGES`, judged by
:func:`unsafe_reason`, IPv4 embedded in IPv6 by its IPv4 address).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional, Union

__all__ = [
    "LABEL",
    "REFUSED_RANGES",
    "IPAddress",
    "is_internal_name",
    "is_ip_literal",
    "unsafe_reason",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# Names that only ever mean "this machine" or "the local network".
_INTERNAL_SUFFIXES = (
    "localhost",
    "local",  # mDNS, RFC 6762
    "internal",  # e.g. metadata.google.internal
    "intranet",
    "lan",
    "home",
    "corp",
    "localdomain",
    "home.arpa",  # RFC 8375
    "arpa",  # in-addr.arpa / ip6.arpa names
)
LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# WHATWG URL: a host whose last label is a number is an IPv4 address in some
# notation (127.1, 0x7f.1, 2130706433, 0177.0.0.1) - treat it as an IP literal.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


def is_ip_literal(host: str) -> bool:
    if ":" in host:
        return True
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(_NUMERIC_LABEL.match(last))


def is_internal_name(host: str) -> bool:
    """localhost, *.local, *.internal, ... and single-label names."""
    host = host.lower()
    if "." not in host:
        return True
    return any(host == suffix or host.endswith("." + suffix) for suffix in _INTERNAL_SUFFIXES)


# Every address range an endpoint's host may not resolve to, and what it is:
# IANA's IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and the
# RFCs named), and for IPv6 everything outside global unicast 2000::/3
# (RFC 4291 §2.4). The first entry that holds an address names it, so the more
# specific come first. IPv4 embedded in IPv6 (mapped, 6to4, Teredo, NAT64) is
# judged by its IPv4 address before this table (see unsafe_reason). SECURITY.md
# lists the same table; tests run over it.
REFUSED_RANGES: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/32", "unspecified"),  # RFC 1122 §3.2.1.3
    ("0.0.0.0/8", '"this network"'),  # RFC 791 §3.2
    ("10.0.0.0/8", "private"),  # RFC 1918
    ("100.64.0.0/10", "carrier-grade NAT (shared, non-global)"),  # RFC 6598
    ("127.0.0.0/8", "loopback"),  # RFC 1122 §3.2.1.3
    ("169.254.0.0/16", "link-local"),  # RFC 3927 (cloud metadata services live here)
    ("172.16.0.0/12", "private"),  # RFC 1918
    ("192.0.0.0/24", "IETF protocol assignment"),  # RFC 6890 §2.1
    ("192.0.2.0/24", "documentation"),  # RFC 5737 (TEST-NET-1)
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),  # RFC 7526
    ("192.168.0.0/16", "private"),  # RFC 1918
    ("198.18.0.0/15", "benchmarking"),  # RFC 2544
    ("198.51.100.0/24", "documentation"),  # RFC 5737 (TEST-NET-2)
    ("203.0.113.0/24", "documentation"),  # RFC 5737 (TEST-NET-3)
    ("224.0.0.0/4", "multicast"),  # RFC 5771
    ("255.255.255.255/32", "limited broadcast"),  # RFC 919
    ("240.0.0.0/4", "reserved"),  # RFC 1112 §4
    ("::/128", "unspecified"),  # RFC 4291 §2.5.2
    ("::1/128", "loopback"),  # RFC 4291 §2.5.3
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),  # RFC 8215
    ("100::/64", "discard-only"),  # RFC 6666
    ("2001::/23", "IETF protocol assignment"),  # RFC 2928 (Teredo, 2001::/32, is embedded)
    ("2001:db8::/32", "documentation"),  # RFC 3849
    ("3fff::/20", "documentation"),  # RFC 9637
    ("5f00::/16", "segment-routing (SRv6 SID)"),  # RFC 9602
    ("fc00::/7", "private (unique local)"),  # RFC 4193
    ("fe80::/10", "link-local"),  # RFC 4291 §2.5.6
    ("fec0::/10", "site-local (deprecated)"),  # RFC 3879
    ("ff00::/8", "multicast"),  # RFC 4291 §2.7
    ("::/3", "non-global-unicast"),  # RFC 4291 §2.4: outside 2000::/3
    ("4000::/2", "non-global-unicast"),
    ("8000::/1", "non-global-unicast"),
)
_REFUSED_V4 = tuple(
    (ipaddress.IPv4Network(net), kind) for net, kind in REFUSED_RANGES if ":" not in net
)
_REFUSED_V6 = tuple(
    (ipaddress.IPv6Network(net), kind) for net, kind in REFUSED_RANGES if ":" in net
)


def unsafe_reason(ip: IPAddress) -> Optional[str]:
    """Why this address must not be a push endpoint, or None if it is public."""
    table: tuple[tuple[Union[ipaddress.IPv4Network, ipaddress.IPv6Network], str], ...]
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address are judged by it:
        # ::ffff:127.0.0.1 reaches 127.0.0.1.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64, RFC 6052
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = unsafe_reason(embedded)
            return f"{reason} (embedded in {ip})" if reason else None
        table = _REFUSED_V6
    else:
        table = _REFUSED_V4
    for network, kind in table:
        if ip in network:
            return f"{_a(kind)} address ({network})"
    # A second net: whatever this Python's ipaddress knows to be not global.
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return f"{_a(name)} address"
    return None


def _a(kind: str) -> str:
    """``kind`` with its indefinite article (the kinds above: "an IETF ...", "a private")."""
    return f"{'an' if kind[0] in 'aeiouIE' else 'a'} {kind}"
