"""The JWT claims a VAPID token carries (RFC 8292 §2, §2.1).

What push services enforce, checked before anything is signed:

* ``sub``: a ``mailto:`` address or an ``https:`` URL where the push service
  operator can reach the sender (§2.1). Apple refuses ``localhost`` subjects,
  so we do too;
* ``aud``: the origin of the push resource (§2), serialized as RFC 6454 §6.2
  does: lowercase ``scheme://host[:port]``, the port only when it is not the
  scheme's default, no path, not even a trailing slash;
* ``exp``: an integer NumericDate at most 24 hours ahead (§2); it defaults
  to now + 12 hours, as node web-push does. One already past is replaced by
  that default, as pywebpush does: claims computed once at start-up
  (``"exp": int(time.time()) + 43200``) keep working in a long-lived process.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import urlsplit

from ..errors import VapidError

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "check_aud",
    "check_exp",
    "check_sub",
    "validate_claims",
]

log = logging.getLogger("webpush_core.vapid")

# RFC 8292 §2: "MUST NOT be more than 24 hours from the time of the request".
MAX_TTL = 24 * 3600
DEFAULT_TTL = 12 * 3600

_DEFAULT_PORTS = {"https": 443, "http": 80}
# RFC 5322 dot-atom local part: what mail systems accept without quoting.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=^_`{|}~-]+)*")
# A DNS name with at least two labels and an alphabetic (or punycode) TLD.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}})")


def _short(value: Any) -> str:
    """A bounded repr for messages (claims are public, but may be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_local_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def _require_str(value: Any, name: str, what: str) -> None:
    """A required claim, present and a string (the caller checks its form)."""
    if value is None or value == "":
        raise VapidError(f"vapid_claims needs '{name}': {what}", field=f"vapid_claims.{name}")
    if not isinstance(value, str):
        raise VapidError(
            f"'{name}' must be a string, got {type(value).__name__}",
            field=f"vapid_claims.{name}",
        )


# Claims found valid: a sender passes the same sub (and the same few auds) on
# every call, and their checks do not depend on the time. Strings only (a str
# subclass could compare equal and check otherwise), bounded (forgotten all at
# once when full); an invalid value is never kept, so it raises every time.
_VALID_MAX = 256
_valid_subs: set[str] = set()
_valid_auds: set[str] = set()


def _remember(valid: set[str], value: Any) -> None:
    if type(value) is str:
        if len(valid) >= _VALID_MAX:
            valid.clear()
        valid.add(value)


def check_sub(sub: Any) -> None:
    """``sub`` is a reachable contact: ``mailto:`` address or ``https:`` URL (RFC 8292 §2.1)."""
    if type(sub) is str and sub in _valid_subs:
        return
    _check_sub(sub)
    _remember(_valid_subs, sub)


def _check_sub(sub: Any) -> None:
    field = "vapid_claims.sub"
    _require_str(
        sub,
        "sub",
        "a contact for the push service, 'mailto:you@example.com' or an https: URL (RFC 8292 §2.1)",
    )
    if sub != sub.strip() or any(c.isspace() for c in sub):
        raise VapidError(f"'sub' {_short(sub)} must not contain spaces", field=field)
    scheme, sep, rest = sub.partition(":")
    scheme = scheme.lower() if sep else ""
    if scheme == "mailto":
        _check_mailto(sub, rest)
    elif scheme == "https":
        _check_https_sub(sub)
    elif "@" in sub and not sep:
        raise VapidError(
            f"'sub' {_short(sub)} is a bare email address; write it as a mailto: URI, "
            f"e.g. 'mailto:{sub}' (RFC 8292 §2.1)",
            field=field,
        )
    else:
        raise VapidError(
            f"'sub' {_short(sub)} must be a mailto: address or an https: URL (RFC 8292 §2.1)",
            field=field,
        )


def _check_mailto(sub: str, address: str) -> None:
    field = "vapid_claims.sub"
    if address.lower().startswith("mailto:"):
        raise VapidError(f"'sub' {_short(sub)} repeats 'mailto:'", field=field)
    if "<" in address or ">" in address:
        raise VapidError(
            f"'sub' {_short(sub)} must be a bare address, without angle brackets or a name",
            field=field,
        )
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL_PART.fullmatch(local) or not domain:
        raise VapidError(
            f"'sub' {_short(sub)} is not a mailto: URI with one plain address "
            "(user@example.com, no query, no list)",
            field=field,
        )
    if _is_local_host(domain):
        raise VapidError(
            f"'sub' {_short(sub)} is on localhost; push services (Apple) refuse it",
            field=field,
        )
    if not _DOMAIN.fullmatch(domain) or len(domain) > 253:
        raise VapidError(
            f"'sub' {_short(sub)} does not have a real-looking mail domain", field=field
        )


def _check_https_sub(sub: str) -> None:
    field = "vapid_claims.sub"
    try:
        parts = urlsplit(sub)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise VapidError(f"'sub' {_short(sub)} is not a valid https: URL", field=field) from None
    if not host:
        raise VapidError(f"'sub' {_short(sub)} is an https: URL without a host", field=field)
    if parts.username is not None or parts.password is not None:
        raise VapidError(f"'sub' {_short(sub)} must not carry credentials", field=field)
    if _is_local_host(host):
        raise VapidError(
            f"'sub' {_short(sub)} is on localhost; push services (Apple) refuse it",
            field=field,
        )


def check_aud(aud: Any) -> None:
    """``aud`` is the push resource's origin, serialized per RFC 6454 §6.2 (RFC 8292 §2)."""
    if type(aud) is str and aud in _valid_auds:
        return
    _check_aud(aud)
    _remember(_valid_auds, aud)


def _check_aud(aud: Any) -> None:
    field = "vapid_claims.aud"
    _require_str(
        aud, "aud", "the push service's origin, e.g. 'https://fcm.googleapis.com' (RFC 8292 §2)"
    )
    try:
        parts = urlsplit(aud)
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise VapidError(f"'aud' {_short(aud)} is not a valid origin", field=field) from None
    scheme = aud.partition(":")[0]
    if scheme not in _DEFAULT_PORTS:
        raise VapidError(
            f"'aud' {_short(aud)} must start with lowercase 'https://' (or 'http://')",
            field=field,
        )
    if not host or any(c.isspace() for c in aud):
        raise VapidError(f"'aud' {_short(aud)} has no valid host", field=field)
    if parts.path or parts.query or parts.fragment or aud.endswith(("?", "#")):
        raise VapidError(
            f"'aud' {_short(aud)} must be an origin, scheme://host[:port], "
            "with no path, query or trailing slash (RFC 8292 §2)",
            field=field,
        )
    if "@" in parts.netloc:
        raise VapidError(f"'aud' {_short(aud)} must not carry credentials", field=field)
    if parts.netloc != parts.netloc.lower():
        raise VapidError(f"'aud' {_short(aud)} must be lowercase, as origins are", field=field)
    if port is not None and (port == _DEFAULT_PORTS[scheme] or port == 0):
        raise VapidError(
            f"'aud' {_short(aud)} must leave out the default port (RFC 6454 §6.2)"
            if port
            else f"'aud' {_short(aud)} has port 0",
            field=field,
        )


def check_exp(exp: Any, now: float) -> None:
    """``exp`` is an integer, after ``now`` and at most 24 h ahead (RFC 8292 §2)."""
    field = "vapid_claims.exp"
    # bool is an int subclass; True is not a date.
    if type(exp) is not int:
        raise VapidError(
            f"'exp' must be an integer (seconds since the epoch), got {type(exp).__name__}",
            field=field,
        )
    if exp <= now:
        raise VapidError(f"'exp' {exp} is not in the future (now is {int(now)})", field=field)
    if exp > now + MAX_TTL:
        raise VapidError(
            f"'exp' {exp} is more than 24 hours ahead (now is {int(now)}; RFC 8292 §2)",
            field=field,
        )


# The past exps already reported at DEBUG, per (sub, exp): each once per
# process, in bounded memory (forgotten all at once when full).
_PAST_EXP_REPORTED: set[tuple[str, int]] = set()
_PAST_EXP_MAX = 256
_past_exp_lock = threading.Lock()


def _report_past_exp(sub: Any, exp: int, now: float) -> None:
    key = (sub if isinstance(sub, str) else "", exp)
    with _past_exp_lock:
        if key in _PAST_EXP_REPORTED:
            return
        if len(_PAST_EXP_REPORTED) >= _PAST_EXP_MAX:
            _PAST_EXP_REPORTED.clear()
        _PAST_EXP_REPORTED.add(key)
    log.debug(
        "vapid_claims 'exp' %d is %d s in the past: signing with exp = now + %d s instead "
        "(as pywebpush does); leave 'exp' out to get that every time",
        exp,
        int(now) - exp,
        DEFAULT_TTL,
    )


def validate_claims(claims: Mapping[str, Any], *, now: Optional[float] = None) -> dict[str, Any]:
    """Check VAPID claims; return a new dict with ``exp`` defaulted to now + 12 h.

    ``sub`` is required; ``aud`` is checked when present (signing requires
    it, but the sender fills it per endpoint, so a shared claims dict may
    leave it out). ``exp`` must be an integer at most 24 h ahead; one at or
    before ``now`` is replaced by now + 12 h, as pywebpush does (reported
    once at DEBUG on the ``webpush_core.vapid`` logger). Other claims pass
    through. ``claims`` is never mutated. Raises :class:`VapidError` naming
    the claim and the rule it broke.
    """
    if not isinstance(claims, Mapping):
        raise VapidError(
            f"vapid_claims must be a mapping, got {type(claims).__name__}", field="vapid_claims"
        )
    for key in claims:
        if not isinstance(key, str):
            raise VapidError(
                f"vapid_claims keys must be strings, got {_short(key)}", field="vapid_claims"
            )
    if now is None:
        now = time.time()
    out = dict(claims)
    check_sub(out.get("sub"))
    if out.get("aud") is not None:
        check_aud(out["aud"])
    exp = out.get("exp")
    if exp is None:
        out["exp"] = int(now) + DEFAULT_TTL
    elif type(exp) is int and exp <= now:
        # Claims made once with "exp": time.time() + 43200 (pywebpush's habit)
        # would otherwise stop working 12 h into a long-lived process.
        _report_past_exp(out.get("sub"), exp, now)
        out["exp"] = int(now) + DEFAULT_TTL
    else:
        check_exp(exp, now)
    return out
