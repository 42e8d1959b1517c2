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

What a host is (an IP literal in any notation, an internal name, a DNS
name) and which addresses are never public (``REFUSED_RANGES``) are
:mod:`._hosts`' rules; this module holds the policy that applies them.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlsplit

from ._hosts import LABEL, is_internal_name, is_ip_literal, unsafe_reason
from ._origin import (
    DEFAULT_PORTS,
    MAX_ENDPOINT,
    NOT_VISIBLE_ASCII,
    OriginError,
    authority_prefix,
    origin_of,
)
from .errors import EndpointNotAllowed, InvalidInput, TransportError

__all__ = ["DEFAULT_POLICY", "EndpointPolicy"]


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
    if not labels or not all(LABEL.match(label) for label in labels.split(".")):
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


# Heads (scheme and authority) whose verdict is remembered, per policy, and
# the longest remembered: a push service's is under a hundred characters.
_VERDICTS = 1024
_HEAD_REMEMBERED = 256


def _head(url: str) -> str:
    """What :meth:`EndpointPolicy._broken` reads of ``url``: up to the end of
    its authority (:func:`._origin.authority_prefix`), the URL whole when it
    has no ``://``."""
    head = authority_prefix(url)
    return url if head is None else head


@functools.lru_cache(maxsize=_VERDICTS)
def _verdict(policy: EndpointPolicy, head: str) -> Optional[str]:
    return policy._broken(head)


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
      public (in none of :data:`._hosts.REFUSED_RANGES`: loopback, private,
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
        if len(url) > MAX_ENDPOINT:
            raise self._refuse(
                f"the URL is {len(url)} characters long, at most {MAX_ENDPOINT} are sent "
                "(RFC 9112 section 3)"
            )
        if NOT_VISIBLE_ASCII.search(url) is not None:
            raise self._refuse("the URL must be visible ASCII (no spaces, controls, non-ASCII)")
        # Every other rule reads the scheme and the authority alone: judged once
        # per policy and authority (a fan-out's or a loop of webpush() calls'
        # endpoints share a few), the judgement remembered, never the URL.
        head = _head(url)
        rule = _verdict(self, head) if len(head) <= _HEAD_REMEMBERED else self._broken(head)
        if rule is not None:
            raise self._refuse(rule)

    def _broken(self, url: str) -> Optional[str]:
        """The rule of scheme and authority ``url`` breaks, or None (see :meth:`check`)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            # Not urlsplit's own words: they can repeat the port's text.
            return "the URL does not parse (brackets, or a port of digits)"
        scheme = parts.scheme.lower()
        host, port = "", 0
        if scheme in DEFAULT_PORTS and parts.hostname:
            # The one identity every per-origin decision uses (_origin): the
            # rules below judge the host and port as they will be connected to.
            try:
                origin = origin_of(url)
            except OriginError as exc:
                return str(exc)
            host, port = origin.host, origin.port
        literal = bool(host) and is_ip_literal(host)
        if (
            scheme in ("http", "https")
            and not self.allow_private
            and host
            and (literal or is_internal_name(host))
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
            return (
                "; ".join(problems) + ": for a local test push service use "
                "EndpointPolicy.for_testing() (allow_http=True, allow_private=True)"
            )
        if scheme == "http":
            if not self.allow_http:
                return "the scheme must be https (allow_http=True accepts http)"
        elif scheme != "https":
            return f"the scheme must be https, got {scheme or '(none)'!r}"
        if "@" in parts.netloc:
            return "the URL must not contain userinfo (user:password@)"
        if not host:
            return "the URL has no host"
        if not self.allow_private:
            ports = set(self.allowed_ports)
            if scheme == "http":
                ports.add(80)
            if port not in ports:
                allowed = ", ".join(str(p) for p in sorted(ports))
                return (
                    f"port {port} is not allowed (allowed: {allowed}; "
                    "set allowed_ports to accept others)"
                )
            # (IP literals and internal names were refused above.)
            if not all(LABEL.match(label) for label in host.split(".")):
                return "the host is not a valid DNS name (letters, digits, '-')"
        if self.allowed_hosts is not None and not any(
            _host_matches(host, pattern) for pattern in self.allowed_hosts
        ):
            return f"host {host!r} is not in allowed_hosts"
        return None

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
            reason = unsafe_reason(ip)
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
