"""One origin identity: which push service a URL names (RFC 6454 §4).

Every per-push-service decision is keyed by the endpoint's origin: the
endpoint policy's host and port, the pool of keep-alive connections, the
VAPID ``aud`` claim (RFC 8292 §2), the pause and the breaker, the proxy
choice, Celery's batches. A subscriber chooses the endpoint, so a hostile
one can spell one host many ways (``H.Example``, ``h.example.``,
``h.example:443``, a full-width ``h``, ``xn--...``); if each spelling were its
own origin, each would get a fresh breaker, a fresh pause and a fresh
batch. So the origin is made here and only here, from the URL, as one
frozen value:

* ``scheme``: ``http`` or ``https``, lower case;
* ``host``: lower case, internationalised names in their ASCII (IDNA,
  RFC 3490 ToASCII with nameprep) form, one trailing dot (the DNS root)
  dropped; an IP address in its canonical text form (``127.1`` and
  ``0x7f.0.0.1`` are ``127.0.0.1``, as the resolver reads them; IPv6
  compressed, without brackets);
* ``port``: always explicit (the scheme's default when the URL has none).

An endpoint itself is visible ASCII only (the endpoint policy and the
subscription parser refuse anything else before they ask for its origin);
the IDNA reading keeps the identity whole for any other caller.

A URL that names no origin raises :class:`OriginError` (a ``ValueError``)
saying which rule it broke: no ``scheme://``, a scheme other than http(s),
a missing host, a host ending in more than one dot, a host that is not a
valid internationalised name, a host longer than a DNS name (253 octets, a
label 63), an IPv6 literal that is not an address or has a zone id, an
authority over 2,048 characters, a port outside 1-65535, a space or control
character. The callers turn that into their own error (the endpoint
policy's refusal, an invalid subscription, a transport error).

Pure: no I/O, no state but a bounded cache of recent authorities (a
fan-out's endpoints share a few).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_PORTS",
    "MAX_AUTHORITY",
    "MAX_ENDPOINT",
    "MAX_HOST",
    "MAX_LABEL",
    "NOT_VISIBLE_ASCII",
    "Origin",
    "OriginError",
    "authority_end",
    "authority_prefix",
    "describe",
    "origin_of",
    "split",
]

DEFAULT_PORTS = {"http": 80, "https": 443}
# Control characters, space and DEL: never part of a host or port.
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
# WHATWG URL: a host whose last label is a number is an IPv4 address in some
# notation (127.1, 0x7f.1, 2130706433, 0177.0.0.1); the resolver reads it so.
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
# What IDNA reads as a label separator besides ".": ideographic and full-width stops.
_IDNA_DOTS = re.compile("[\u3002\uff0e\uff61]")
# Distinct authorities (scheme, host and port as spelt) whose origin is kept.
_CACHED = 1024
# An endpoint is visible ASCII only (RFC 3986 §2: a URI is ASCII; browsers
# and push services give percent-encoded paths and punycoded hosts). Anything
# else would reach the request line, log lines, the curl command and
# ``explain`` as it is: C0/C1 controls, DEL, spaces (NBSP too), line and
# paragraph separators, bidi overrides, zero-width characters, BOM.
NOT_VISIBLE_ASCII = re.compile(r"[^\x21-\x7e]")
# The longest URL sent: RFC 9112 §3 recommends every server accept a request
# line of 8000 octets; a push service's endpoint is a few hundred characters.
MAX_ENDPOINT = 8000
# The longest authority read: a host of at most 253 octets, a port, userinfo
# (a proxy's credentials). Longer is refused before it reaches the cache.
MAX_AUTHORITY = 2048
# RFC 1035 §2.3.4: a name of at most 255 octets on the wire, 253 in text
# (without the root's dot); a label of at most 63.
MAX_HOST = 253
MAX_LABEL = 63


class OriginError(ValueError):
    """The URL names no origin; the message says which rule it broke."""


@dataclass(frozen=True)
class Origin:
    """A push service's origin: scheme, normalised host, explicit port.

    Equal origins are one push service, however the URLs spelt them. Safe
    to log: it never holds the URL's path (a subscription's token).
    """

    scheme: str
    host: str
    port: int
    # RFC 6454 §6.2 serialisation: the default port left out (the VAPID aud).
    serialized: str = field(init=False, repr=False, compare=False)
    # host[:port] as the Host header (RFC 9110 §7.2) and a CONNECT target want it.
    authority: str = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        literal = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS.get(self.scheme) == self.port
        authority = literal if default else f"{literal}:{self.port}"
        object.__setattr__(self, "authority", authority)
        object.__setattr__(self, "serialized", f"{self.scheme}://{authority}")
        # Hashed once: the origin is a dict key on every attempt's path.
        object.__setattr__(self, "_hash", hash((self.scheme, self.host, self.port)))

    @property
    def explicit(self) -> str:
        """``scheme://host:port`` with the port always written (error messages)."""
        literal = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{literal}:{self.port}"

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return self.serialized


def origin_of(url: str) -> Origin:
    """The origin of an absolute http(s) URL; :class:`OriginError` if it has none.

    The authority is what follows ``scheme://`` up to the first ``/``, ``?``
    or ``#`` (RFC 3986 §3.2); userinfo in it is not part of the origin.
    """
    return split(url)[0]


def authority_end(rest: str) -> int:
    """Where the authority ends in what follows ``scheme://`` (RFC 3986 §3.2:
    at the first ``/``, ``?`` or ``#``; urlsplit ends it there too)."""
    end = len(rest)
    for mark in "/?#":
        at = rest.find(mark, 0, end)
        if at >= 0:
            end = at
    return end


def authority_prefix(url: str) -> Optional[str]:
    """``url`` up to the end of its authority, or None without ``://``: what
    every per-origin rule reads, and so the key of what they decide."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    return url[: len(scheme) + 3 + authority_end(rest)]


def split(url: str) -> tuple[Origin, str]:
    """(the origin, what follows the authority as written: path, query, fragment)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise OriginError("the URL must be absolute, scheme://host/...")
    end = authority_end(rest)
    if end > MAX_AUTHORITY:
        raise OriginError(
            f"the authority (host, port, userinfo) is {end} characters long, "
            f"at most {MAX_AUTHORITY} are read"
        )
    return _origin(scheme, rest[:end]), rest[end:]


@functools.lru_cache(maxsize=_CACHED)
def _origin(scheme_text: str, netloc: str) -> Origin:
    scheme = scheme_text.lower()
    default = DEFAULT_PORTS.get(scheme)
    if default is None:
        raise OriginError(f"the scheme must be http or https, got {scheme_text[:20]!r}")
    if _UNSAFE.search(netloc) is not None:
        raise OriginError("the host contains spaces or control characters")
    try:
        parts = urlsplit(f"{scheme}://{netloc}/")
        port = parts.port
    except ValueError:
        # Not urlsplit's own words: they can repeat the port's text.
        raise OriginError(
            "the host or port does not parse (brackets, or a port of digits)"
        ) from None
    if port == 0:
        raise OriginError("the port must be 1-65535, got 0")
    host = parts.hostname  # lower case, without userinfo and brackets
    if not host:
        raise OriginError("the URL has no host")
    bracketed = netloc.rpartition("@")[2].startswith("[")
    return Origin(scheme, _host(host, bracketed), default if port is None else port)


def _host(host: str, bracketed: bool) -> str:
    """The host in its one spelling (see the module docstring); ``bracketed``:
    it was written in brackets, so it must be an IPv6 address (unbracketed,
    urlsplit read any ":" as the port's)."""
    if bracketed:
        try:
            address = ipaddress.IPv6Address(host)
        except ValueError:
            # IPvFuture ([v1.x]) included: no address this library can connect to.
            raise OriginError("the host in brackets is not an IPv6 address") from None
        if address.scope_id is not None:
            # A zone names an interface of one machine (RFC 6874): never a push service.
            raise OriginError("the IPv6 address has a zone id (%...): no push service has one")
        return str(address)
    ascii_only = host.isascii()
    if not ascii_only:
        host = _IDNA_DOTS.sub(".", host)  # label separators to IDNA (RFC 3490 §3.1)
    if host.endswith("."):
        if host.endswith(".."):
            raise OriginError(
                f"the host {host[:80]!r} ends in more than one dot "
                "(a DNS name ends in at most one, the root's)"
            )
        host = host[:-1]
        if not host:
            raise OriginError("the URL has no host")
    if not ascii_only:
        try:
            # ToASCII per label; nameprep folds case and width (full-width letters).
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OriginError(
                "the host is not a valid internationalised domain name (IDNA)"
            ) from None
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]) is not None:
        try:  # the address the resolver reads in it (inet_aton's notations)
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            pass
    if len(host) > MAX_HOST:
        raise OriginError(
            f"the host is {len(host)} octets long; a DNS name has at most {MAX_HOST} "
            "(RFC 1035 section 2.3.4)"
        )
    longest = max(map(len, host.split(".")))
    if longest > MAX_LABEL:
        raise OriginError(
            f"the host has a label of {longest} octets; a DNS label has at most {MAX_LABEL} "
            "(RFC 1035 section 2.3.4)"
        )
    return host


def describe(url: str) -> str:
    """The URL's origin for a message (:attr:`Origin.explicit`), never its path;
    ``"the endpoint"`` when it names none."""
    try:
        return origin_of(url).explicit
    except OriginError:
        return "the endpoint"
