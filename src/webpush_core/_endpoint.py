"""Which endpoints we agree to POST to (SSRF protection).

A subscription's ``endpoint`` comes from an untrusted browser: without a
check, anyone who can register a subscription can make the server POST to
``http://169.254.169.254/`` or an internal admin port. RFC 8030 §8 requires
push services to use https; real push services listen on 443 under public
DNS names, so the default policy refuses everything else.

Two stages:

* :meth:`EndpointPolicy.check` - syntactic, on the URL (scheme, userinfo,
  port, IP literals, internal-looking host names, an optional allow-list);
* :meth:`EndpointPolicy.check_resolved` - on the addresses the host resolves
  to, just before connecting (positive results cached for 60 s).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Callable, Optional, Union
from urllib.parse import urlsplit

from ._origin import DEFAULT_PORTS, OriginError, origin_of
from .errors import EndpointNotAllowed, InvalidInput, TransportError

__all__ = ["DEFAULT_POLICY", "REFUSED_RANGES", "EndpointPolicy"]

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
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
# WHATWG URL: a host whose last label is a number is an IPv4 address in some
# notation (127.1, 0x7f.1, 2130706433, 0177.0.0.1) - treat it as an IP literal.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")

# Anything but visible ASCII: a URL is ASCII (RFC 3986 §2); the rest would reach logs.
_UNSAFE_CHAR = re.compile(r"[^\x21-\x7e]")

_RESOLVED_TTL = 60.0
_RESOLVED_MAX = 1024

_KNOWN_PUSH_SERVICES = (
    "fcm.googleapis.com",  # Chrome, Edge (FCM)
    "android.googleapis.com",  # legacy GCM endpoints
    "updates.push.services.mozilla.com",  # Firefox (autopush)
    "*.push.services.mozilla.com",
    "web.push.apple.com",  # Safari
    "*.push.apple.com",
    "*.notify.windows.com",  # legacy Edge (WNS)
)


def _is_ip_literal(host: str) -> bool:
    """``host`` as the origin spells it (no trailing dot, an address canonical)."""
    if ":" in host:
        return True
    return bool(_NUMERIC_LABEL.match(host[host.rfind(".") + 1 :]))


def _is_internal_name(host: str) -> bool:
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
# judged by its IPv4 address before this table (see _unsafe_reason). SECURITY.md
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


def _unsafe_reason(ip: IPAddress) -> Optional[str]:
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
            reason = _unsafe_reason(embedded)
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


class _ResolvedCache:
    """(host, port) pairs that recently resolved to public addresses only.

    Bounded (LRU) and thread-safe, so a fan-out to many subscribers of the
    same push service resolves once a minute, not once per message.
    """

    def __init__(
        self,
        ttl: float = _RESOLVED_TTL,
        maxsize: int = _RESOLVED_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.maxsize = maxsize
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, int], float] = OrderedDict()

    def __contains__(self, key: tuple[str, int]) -> bool:
        now = self.clock()
        with self._lock:
            expires = self._entries.get(key)
            if expires is None:
                return False
            if expires <= now:
                del self._entries[key]
                return False
            self._entries.move_to_end(key)
            return True

    def add(self, key: tuple[str, int]) -> None:
        expires = self.clock() + self.ttl
        with self._lock:
            self._entries[key] = expires
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


# Shared by every policy: "resolves to public addresses only" does not depend
# on the policy (allow_private skips the check altogether).
_resolved_cache = _ResolvedCache()


def _normalize_host_pattern(entry: object) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise InvalidInput(
            f"allowed_hosts entries must be non-empty host names, got {entry!r}",
            field="allowed_hosts",
        )
    pattern = entry.strip().lower().rstrip(".")
    labels = pattern[2:] if pattern.startswith("*.") else pattern
    if not labels or not all(_LABEL.match(label) for label in labels.split(".")):
        raise InvalidInput(
            f"allowed_hosts entry {entry!r} must be a host name or '*.' + a host name",
            field="allowed_hosts",
        )
    return pattern


def _host_matches(host: str, pattern: str) -> bool:
    # "*.example.com" matches any subdomain (one or more labels), not the apex.
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class EndpointPolicy:
    """Rules an endpoint must pass before anything is sent to it.

    * the host and port are judged as the connection will use them
      (``webpush_core._origin``): lower case, one trailing dot dropped, the
      scheme's default port when none is given; a host that ends in more
      than one dot (``push.example..``) is refused, as is port 0;
    * https only (``allow_http=True`` also accepts http, for local tests);
    * no userinfo (``https://user:pw@host``), ever;
    * the port (explicit or the scheme's default) must be in
      ``allowed_ports``; with ``allow_http`` port 80 is accepted for http
      URLs; ``allow_private=True`` lifts the port rule (local test services
      listen on ephemeral ports);
    * no IP literals (``https://10.0.0.1``, ``http://127.1``, ``[::1]``) and
      no internal names (``localhost``, ``*.local``, ``*.internal``,
      single-label names, ...) unless ``allow_private``;
    * with ``allowed_hosts``, the host must equal an entry or, for an entry
      ``*.example.com``, be a subdomain of ``example.com``;
    * :meth:`check_resolved`: every address the host resolves to must be
      public (in none of :data:`REFUSED_RANGES`: loopback, private,
      link-local, site-local, reserved, multicast, unspecified, ..., also when
      embedded in IPv6), unless ``allow_private``.

    Tests and :mod:`webpush_core.testing` use
    ``EndpointPolicy(allow_http=True, allow_private=True)``.
    """

    allow_http: bool = False
    allow_private: bool = False
    allowed_hosts: Optional[Collection[str]] = None
    allowed_ports: Collection[int] = (443,)

    def __post_init__(self) -> None:
        # Normalise to hashable tuples (the dataclass is frozen and hashable).
        for name in ("allow_http", "allow_private"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInput(
                    f"{name} must be True or False, got {type(getattr(self, name)).__name__}",
                    field=name,
                )
        if self.allowed_ports is None:
            raise InvalidInput(
                "allowed_ports must be a collection of port numbers, e.g. (443,) or "
                "(443, 8443); for any port on a local test service use "
                "EndpointPolicy.for_testing()",
                field="allowed_ports",
            )
        for name in ("allowed_hosts", "allowed_ports"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Iterable):
                raise InvalidInput(
                    f"{name} must be a collection (a tuple or list), got {type(value).__name__}",
                    field=name,
                )
        if self.allowed_hosts is not None:
            if isinstance(self.allowed_hosts, (str, bytes)):
                raise InvalidInput(
                    "allowed_hosts must be a collection of host names, not a single string",
                    field="allowed_hosts",
                )
            hosts = tuple(_normalize_host_pattern(h) for h in self.allowed_hosts)
            object.__setattr__(self, "allowed_hosts", hosts)
        if isinstance(self.allowed_ports, (str, bytes)) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536
            for p in self.allowed_ports
        ):
            raise InvalidInput(
                "allowed_ports must be a collection of port numbers (1-65535)",
                field="allowed_ports",
            )
        object.__setattr__(self, "allowed_ports", tuple(self.allowed_ports))

    @classmethod
    def for_testing(cls) -> EndpointPolicy:
        """The policy for a local test push service: http and loopback/private hosts, any port.

        ``EndpointPolicy(allow_http=True, allow_private=True)``; what
        :attr:`webpush_core.testing.LocalPushService.endpoint_policy` returns.
        Never use it in production: it lets an endpoint reach your network.
        """
        return cls(allow_http=True, allow_private=True)

    @classmethod
    def known_push_services(cls) -> EndpointPolicy:
        """A policy that accepts only the major browsers' push services (https, 443)."""
        return cls(allowed_hosts=_KNOWN_PUSH_SERVICES)

    def _refuse(self, rule: str) -> EndpointNotAllowed:
        return EndpointNotAllowed(f"endpoint refused by EndpointPolicy: {rule}", field="endpoint")

    def check(self, url: str) -> None:
        """Refuse ``url`` (EndpointNotAllowed) unless it passes the syntactic rules."""
        if not isinstance(url, str):
            raise self._refuse(f"the endpoint must be a string URL, got {type(url).__name__}")
        if _UNSAFE_CHAR.search(url) is not None:
            raise self._refuse("the URL must be visible ASCII (no spaces, controls, non-ASCII)")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise self._refuse(f"the URL does not parse ({exc})") from None
        scheme = parts.scheme.lower()
        host, port = "", 0
        if scheme in DEFAULT_PORTS and parts.hostname:
            # The one identity every per-origin decision uses (_origin): the
            # rules below judge the host and port as they will be connected to.
            try:
                origin = origin_of(url)
            except OriginError as exc:
                raise self._refuse(str(exc)) from None
            host, port = origin.host, origin.port
        literal = bool(host) and _is_ip_literal(host)
        if (
            scheme in ("http", "https")
            and not self.allow_private
            and host
            and (literal or _is_internal_name(host))
        ):
            # IP literals, internal and single-label names (every one refused
            # without allow_private), said once with the option that fixes a
            # local test service (http://127.0.0.1:8080/...): allow_http alone
            # would not be enough.
            if literal:
                kind = "an IP address literal"
            elif "." in host:
                kind = "an internal host name"
            else:
                kind = "a single-label host name (internal)"
            problems = [f"host {host!r} is {kind}"]
            if scheme == "http" and not self.allow_http:
                problems.append("the scheme is http, not https")
            if port not in self.allowed_ports and not (scheme == "http" and port == 80):
                problems.append(f"port {port} is not in allowed_ports")
            raise self._refuse(
                "; ".join(problems) + ": for a local test push service use "
                "EndpointPolicy.for_testing() (allow_http=True, allow_private=True)"
            )
        if scheme == "http":
            if not self.allow_http:
                raise self._refuse("the scheme must be https (allow_http=True accepts http)")
        elif scheme != "https":
            raise self._refuse(f"the scheme must be https, got {scheme or '(none)'!r}")
        if "@" in parts.netloc:
            raise self._refuse("the URL must not contain userinfo (user:password@)")
        if not host:
            raise self._refuse("the URL has no host")
        if not self.allow_private:
            ports = set(self.allowed_ports)
            if scheme == "http":
                ports.add(80)
            if port not in ports:
                allowed = ", ".join(str(p) for p in sorted(ports))
                raise self._refuse(
                    f"port {port} is not allowed (allowed: {allowed}; "
                    "set allowed_ports to accept others)"
                )
            # (IP literals and internal names were refused above.)
            if not all(_LABEL.match(label) for label in host.split(".")):
                raise self._refuse("the host is not a valid DNS name (letters, digits, '-')")
        if self.allowed_hosts is not None and not any(
            _host_matches(host, pattern) for pattern in self.allowed_hosts
        ):
            raise self._refuse(f"host {host!r} is not in allowed_hosts")

    def check_resolved(self, host: str, port: int) -> None:
        """Refuse the host if ANY address it resolves to is not public.

        Skipped with ``allow_private``. Raises :class:`EndpointNotAllowed`
        naming the address and its kind, :class:`TransportError` if the name
        does not resolve. Positive results are cached for 60 s.

        This closes the hole of a public-looking name pointing at an internal
        address. It cannot close DNS rebinding between this check and the
        connection (the HTTP client resolves again); the cache does not widen
        that window beyond the resolver's own caching.
        """
        if self.allow_private:
            return
        key = (host.lower().rstrip("."), int(port))
        if key in _resolved_cache:
            return
        try:
            infos = socket.getaddrinfo(key[0], key[1], type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise TransportError(f"cannot resolve host {key[0]!r}: {exc}") from None
        if not infos:
            raise TransportError(f"cannot resolve host {key[0]!r}: no addresses")
        self.check_addresses(key[0], [str(info[4][0]) for info in infos])
        _resolved_cache.add(key)

    def check_addresses(self, host: str, addresses: Collection[str]) -> None:
        """Refuse (EndpointNotAllowed) if any of the addresses ``host`` resolved to
        is not public; nothing to check with ``allow_private``. No I/O: for a
        sender that resolves by itself and connects to one of these addresses."""
        if self.allow_private:
            return
        for address in addresses:
            try:
                ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 scope id
            except ValueError:
                raise self._refuse(
                    f"host {host!r} resolves to an unparsable address {address!r}"
                ) from None
            reason = _unsafe_reason(ip)
            if reason is not None:
                raise self._refuse(
                    f"host {host!r} resolves to {ip}, {reason} (allow_private=True accepts it)"
                )

    def admit(self, url: str) -> None:
        """Everything a sender checks before connecting: :meth:`check` on the
        URL, then :meth:`check_resolved` on its host and port."""
        self.check(url)
        origin = origin_of(url)
        try:
            self.check_resolved(origin.host, origin.port)
        except TransportError as exc:
            raise TransportError(exc.message, endpoint=url) from None


DEFAULT_POLICY = EndpointPolicy()
