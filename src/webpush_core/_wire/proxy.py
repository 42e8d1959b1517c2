"""Forward proxies: which one a request goes through, and the CONNECT handshake.

Both transports (urllib3 in ``urllib3_transport``, PushClient's own client in
``exchange`` and ``pool``) ask :func:`select_proxy` which proxy, if any, carries a
request, and report a refusal with :func:`proxy_refused`.

The environment is read the way ``requests`` (so pywebpush) reads it:

* ``https_proxy`` for https endpoints, ``http_proxy`` for http ones,
  ``all_proxy`` for both; the lower-case name wins over the upper-case one,
  and an empty value means "no proxy". ``HTTP_PROXY`` is ignored when
  ``REQUEST_METHOD`` is set (a CGI script: the client controls that variable
  through its ``Proxy:`` header, "httpoxy");
* ``no_proxy`` / ``NO_PROXY``: comma-separated entries; ``*`` bypasses the
  proxy for every host; a name matches itself and its subdomains
  (``example.com`` and ``.example.com`` both match ``push.example.com``);
  an IP address or CIDR block matches addresses in it; ``host:port``
  matches that port only.

An explicit ``proxy=`` (a URL, or ``False`` for none) replaces the environment
for every endpoint, as ``requests``' ``proxies=`` and node web-push's
``proxy`` option do.

Only ``http://`` proxies: an https endpoint is reached through a CONNECT
tunnel (RFC 9110 §9.3.6) and TLS runs end to end with the push service,
verified against its host name; an http endpoint (local tests only) is sent
to the proxy in absolute form (RFC 9112 §3.2.2). Credentials in the proxy URL
go in ``Proxy-Authorization: Basic`` (RFC 9110 §11.7.1) and never into an
error, log line, repr or curl command (the password is masked, and so is a
user name given without one: then it is the credential, an API key).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Union
from urllib.parse import unquote, urlsplit

from .._origin import OriginError, describe, origin_of
from .._text import clean
from ..errors import InvalidInput, ProxyError, TransportError

if TYPE_CHECKING:
    from .._endpoint import EndpointPolicy

__all__ = [
    "MAX_CONNECT_HEAD",
    "Proxy",
    "ProxyArg",
    "admit",
    "check_proxy_arg",
    "connect_request",
    "parse_connect_head",
    "parse_proxy",
    "proxy_from_environment",
    "proxy_refused",
    "select_proxy",
]

# A CONNECT answer's status line and header section: a proxy sends a few
# hundred octets; more than this ends the attempt.
MAX_CONNECT_HEAD = 16384
_MAX_CONNECT_FIELDS = 100
_MAX_REASON = 120
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9]{2})(?: ([^\r\n]*))?")
# A port in a no_proxy entry: ASCII digits (str.isdigit() also takes "²", which
# int() refuses); an entry whose port is anything else matches nothing.
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` forward proxy. ``repr`` and :attr:`masked` hide the password."""

    host: str
    port: int
    username: Optional[str] = field(default=None, repr=False)
    password: Optional[str] = field(default=None, repr=False)

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://host:port``, without credentials."""
        return f"http://{self.authority}"

    @property
    def masked(self) -> str:
        """The URL to show a person: ``http://user:***@host:port``.

        A user name without a password (``http://KEY:@host:port``) is itself
        the credential (an API key, as some proxy services take it): the URL
        shown is then ``http://***@host:port``.
        """
        if self.username is None:
            return self.url
        if not self.password:
            return f"http://***@{self.authority}"
        return f"http://{self.username}:***@{self.authority}"

    def headers(self) -> dict[str, str]:
        """``Proxy-Authorization`` when the URL carried credentials (RFC 7617 Basic)."""
        if self.username is None:
            return {}
        pair = f"{self.username}:{self.password or ''}"
        try:
            raw = pair.encode("latin-1")  # what requests sends for a str pair
        except UnicodeEncodeError:
            raw = pair.encode("utf-8")
        return {"Proxy-Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    def __repr__(self) -> str:
        return f"Proxy({self.masked!r})"


# proxy=: None reads the environment, False means none, else a URL (or a Proxy).
ProxyArg = Union[str, Proxy, bool, None]


def _bad(field_name: str, rule: str) -> InvalidInput:
    return InvalidInput(f"{field_name}: {rule}", field=field_name)


@functools.lru_cache(maxsize=64)
def parse_proxy(value: str, field_name: str = "proxy") -> Proxy:
    """A :class:`Proxy` from ``http://[user:password@]host:port`` (``host:port`` too).

    ``field_name`` names the argument or variable in the error (e.g.
    ``HTTPS_PROXY``). The value itself is never quoted in an error: it may
    hold a password.
    """
    if not isinstance(value, str):
        raise _bad(field_name, f"a proxy must be a URL string, got {type(value).__name__}")
    text = value.strip()
    if "://" not in text:
        text = "http://" + text  # requests' reading of "proxy.example:3128"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise _bad(field_name, "the proxy URL does not parse (http://host:port)") from None
    scheme = parts.scheme.lower()
    if scheme != "http":
        raise _bad(
            field_name,
            f"only http:// proxies are supported, got a {scheme}:// proxy (an https "
            "endpoint is still reached through an end-to-end TLS tunnel)",
        )
    if not parts.hostname:
        raise _bad(field_name, "the proxy URL has no host (http://host:port)")
    if any(c.isspace() or not c.isprintable() for c in text):
        # Not only CR, LF and NUL: whatever would reach an error or a log line
        # as a terminal escape, a line break or a bidi override (C0, DEL, C1,
        # Unicode separators and format characters).
        raise _bad(field_name, "the proxy URL contains spaces or control characters")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _bad(field_name, "the proxy URL must be http://host:port, without a path")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and not username.isprintable():
        # Shown in errors (``masked``): percent-encoded controls are refused too.
        raise _bad(field_name, "the proxy URL's user name contains control characters")
    return Proxy(parts.hostname, port or 80, username, password)


def check_proxy_arg(proxy: object, field_name: str = "proxy") -> ProxyArg:
    """Check an explicit ``proxy=`` before anything is sent; returns it (parsed)."""
    if proxy is None or proxy is False or isinstance(proxy, Proxy):
        return proxy
    if proxy is True:
        raise _bad(field_name, "pass a proxy URL, False (no proxy) or None (the environment)")
    if isinstance(proxy, str):
        return parse_proxy(proxy, field_name)
    raise _bad(
        field_name,
        f"a proxy must be a URL string, False or None, got {type(proxy).__name__}",
    )


def _env(environ: Mapping[str, str], name: str) -> tuple[Optional[str], str]:
    """(value, the variable's name as set): the lower-case name wins."""
    lower = name.lower()
    if lower in environ:
        return environ[lower], lower
    upper = name.upper()
    if upper == "HTTP_PROXY" and "REQUEST_METHOD" in environ:
        return None, upper  # httpoxy: a CGI request's "Proxy:" header set it
    return environ.get(upper), upper


def _entry_matches(entry: str, host: str, port: int, ip: object) -> bool:
    entry_port: Optional[int] = None
    head, sep, tail = entry.rpartition(":")
    if sep and _PORT.fullmatch(tail) and head.count(":") == 0:
        entry, entry_port = head, int(tail)
    elif entry.startswith("[") and "]:" in entry:
        head, _, tail = entry[1:].partition("]:")
        if _PORT.fullmatch(tail):
            entry, entry_port = head, int(tail)
    entry = entry.strip("[]")
    if entry_port is not None and entry_port != port:
        return False
    if ip is not None:
        try:
            return ip in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    name = entry.lstrip("*").lstrip(".")
    return bool(name) and (host == name or host.endswith("." + name))


@functools.lru_cache(maxsize=256)
def _bypassed(no_proxy: str, host: str, port: int) -> bool:
    host = host.lower().rstrip(".").strip("[]")
    try:
        ip: object = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if entry == "*":  # only "*" itself: "*." names no host (as requests reads it)
            return True
        entry = entry.rstrip(".")
        if not entry:
            continue
        if _entry_matches(entry, host, port, ip):
            return True
    return False


def proxy_from_environment(
    url: str, environ: Optional[Mapping[str, str]] = None
) -> Optional[Proxy]:
    """The proxy the environment chooses for ``url`` (``requests``' rules), or None."""
    env = os.environ if environ is None else environ
    scheme = url.partition(":")[0].lower()
    value, name = _env(env, f"{scheme}_proxy")
    if not value:
        value, name = _env(env, "all_proxy")
    if not value:
        return None
    no_proxy, _ = _env(env, "no_proxy")
    if no_proxy:
        try:
            origin = origin_of(url)  # only now: most senders have no proxy at all
        except OriginError:
            return None  # nothing to send: the endpoint policy refuses it
        if _bypassed(no_proxy, origin.host, origin.port):
            return None
    return parse_proxy(value, name)


def select_proxy(url: str, proxy: ProxyArg = None) -> Optional[Proxy]:
    """The proxy a request to ``url`` goes through: an explicit one, none, or the environment's."""
    if proxy is None:
        return proxy_from_environment(url)
    if proxy is False:
        return None
    checked = check_proxy_arg(proxy)
    return checked if isinstance(checked, Proxy) else None


def admit(policy: EndpointPolicy, url: str, proxy: Optional[Proxy]) -> None:
    """The endpoint checks before connecting, directly or through ``proxy``.

    The policy judges the *endpoint* either way (the proxy itself may sit on
    a private address). Through a proxy, a name this machine cannot resolve
    is let through: the proxy resolves it (some networks only resolve
    outside names there); one that resolves here to a refused address is
    still refused.
    """
    if proxy is None:
        policy.admit(url)
        return
    admit_resolved_elsewhere(policy, url)


def admit_resolved_elsewhere(policy: EndpointPolicy, url: str) -> None:
    """:func:`admit` for a request whose host name something else resolves
    (a proxy, a caller's ``requests_session``): the URL is checked, and the
    addresses the name has here when it resolves here; a name that does not
    resolve here is passed on."""
    policy.check(url)
    origin = origin_of(url)
    # Unresolvable here: the proxy (or the session's) resolves it.
    with contextlib.suppress(TransportError):
        policy.check_resolved(origin.host, origin.port)


# --------------------------------------------------------------------------
# The CONNECT handshake, without I/O (RFC 9110 §9.3.6).


def connect_request(proxy: Proxy, host: str, port: int) -> bytes:
    """The CONNECT request that opens a tunnel to ``host:port`` through ``proxy``."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{name}: {value}" for name, value in proxy.headers().items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_connect_head(buffer: bytes) -> Optional[tuple[int, str, int]]:
    """The proxy's answer to CONNECT: (status, reason, length of the head), or None for "read more".

    Linear in ``buffer``; raises ValueError for a malformed answer, a head
    over :data:`MAX_CONNECT_HEAD` octets or over 100 header fields. The
    octets after the head (if any) belong to the tunnel.
    """
    end = buffer.find(b"\r\n\r\n", 0, MAX_CONNECT_HEAD + 4)
    if end < 0:
        if len(buffer) > MAX_CONNECT_HEAD:
            raise ValueError(f"the proxy's answer to CONNECT is over {MAX_CONNECT_HEAD} octets")
        if not b"HTTP/1."[: len(buffer)] == buffer[:7]:
            raise ValueError("the proxy's answer to CONNECT is not HTTP/1.x")
        return None
    head = buffer[:end]
    first, _, fields = head.partition(b"\r\n")
    match = _STATUS_LINE.fullmatch(first)
    if match is None:
        raise ValueError("the proxy's answer to CONNECT has no valid status line")
    if fields and fields.count(b"\r\n") + 1 > _MAX_CONNECT_FIELDS:
        raise ValueError(f"the proxy's answer to CONNECT has over {_MAX_CONNECT_FIELDS} fields")
    reason = clip((match.group(2) or b"").decode("latin-1"))
    return int(match.group(1)), reason, end + 4


def clip(text: str) -> str:
    """A proxy's words, safe for a message (:func:`._text.clean`), bounded."""
    return clean(text, _MAX_REASON)


def proxy_refused(
    proxy: Proxy, endpoint: str, status: Optional[int], reason: str = "", *, invalid: bool = False
) -> ProxyError:
    """The error for a proxy that answered ``status`` (None: could not be reached,
    or with ``invalid`` gave an answer that is not HTTP or breaks the caps)."""
    origin = describe(endpoint)
    if invalid:
        text = f"the proxy {proxy.masked} gave an invalid answer to CONNECT for {origin}"
        if reason:
            text += f": {clip(reason)}"
    elif status is None:
        text = f"cannot reach the proxy {proxy.masked} for {origin}"
        if reason:
            text += f": {clip(reason)}"
    else:
        text = f"the proxy {proxy.masked} refused the request to {origin}: {status}"
        if reason:
            text += f" {clip(reason)}"
        if status in (401, 407):  # tinyproxy answers 401 to wrong credentials
            text += (
                " (the proxy wants credentials: put them in the proxy URL, "
                "http://user:password@host:port)"
            )
    return ProxyError(text, endpoint=endpoint, proxy=proxy.masked, proxy_status=status)
