"""What a push service answered (which error it means: :mod:`._classify`).

RFC 8030 §5: a push service accepts a message with ``201 Created`` (some
answer 200 or 202). §7.2, §8.4 and RFC 8292 §4.2 give the failure statuses
(404/410 gone, 413 too large, 429 slow down, 401/403 bad VAPID).
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, Optional, TypeVar, Union, cast, overload

from ._classify import error_for_response
from ._reasons import MAX_DETAIL, clip, decode_body

__all__ = ["CaseInsensitiveDict", "PushResponse", "parse_retry_after"]

_MAX_REASON = 100
_MAX_DELTA = 2**31


_V = TypeVar("_V")
_T = TypeVar("_T")
_PLAIN = (dict, list, tuple)

# RFC 9110 §15's reason phrases (and 9112's Continue line), as servers send
# them: clean() leaves each as it is (a test holds it to that over the whole
# table), so a response's reason that is one of them is not cleaned again.
STANDARD_REASONS = frozenset(
    {
        "Continue", "Switching Protocols", "OK", "Created", "Accepted",
        "Non-Authoritative Information", "No Content", "Reset Content", "Partial Content",
        "Multiple Choices", "Moved Permanently", "Found", "See Other", "Not Modified",
        "Use Proxy", "Temporary Redirect", "Permanent Redirect", "Bad Request",
        "Unauthorized", "Payment Required", "Forbidden", "Not Found", "Method Not Allowed",
        "Not Acceptable", "Proxy Authentication Required", "Request Timeout", "Conflict",
        "Gone", "Length Required", "Precondition Failed", "Content Too Large",
        "Payload Too Large", "Request Entity Too Large", "URI Too Long",
        "Unsupported Media Type", "Range Not Satisfiable", "Expectation Failed",
        "Misdirected Request", "Unprocessable Content", "Unprocessable Entity",
        "Upgrade Required", "Too Many Requests", "Internal Server Error", "Not Implemented",
        "Bad Gateway", "Service Unavailable", "Gateway Timeout",
        "HTTP Version Not Supported", "",
    }
)  # fmt: skip


class CaseInsensitiveDict(MutableMapping[str, _V], Generic[_V]):
    """A dict whose ``str`` keys compare case-insensitively (HTTP header names).

    Keeps the case a key was last set with; ``requests``' and urllib3's
    header dicts behave the same way for lookups.
    """

    def __init__(
        self, data: Union[Mapping[str, _V], Iterable[tuple[str, _V]], None] = None, **kw: _V
    ) -> None:
        if type(data) in _PLAIN and not kw and type(self) is CaseInsensitiveDict:
            # A dict or a list of pairs (every response the transports make):
            # what update() stores, without MutableMapping's call per key (a
            # subclass's own __setitem__ is called, as update() calls it).
            pairs: Iterable[tuple[str, _V]] = (
                cast("dict[str, _V]", data).items() if type(data) is dict else cast(Any, data)
            )
            self._store: dict[str, tuple[str, _V]] = {k.lower(): (k, v) for k, v in pairs}
            return
        self._store = {}
        if data is not None:
            self.update(data)
        self.update(kw)

    def __setitem__(self, key: str, value: _V) -> None:
        self._store[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> _V:
        return self._store[key.lower()][1]

    @overload
    def get(self, key: str) -> Optional[_V]: ...

    @overload
    def get(self, key: str, default: Union[_V, _T]) -> Union[_V, _T]: ...

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get catches the KeyError of a missing key: one exception per
        # response for every header looked up and absent (Retry-After).
        if type(self) is not CaseInsensitiveDict:
            return super().get(key, default)  # through a subclass's own __getitem__
        item = self._store.get(key.lower())
        return default if item is None else item[1]

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._store

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        other_lower = {str(k).lower(): v for k, v in other.items()}
        return {k: v for k, (_, v) in self._store.items()} == other_lower

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> CaseInsensitiveDict[_V]:
        return CaseInsensitiveDict(self._store.values())

    def __repr__(self) -> str:
        return repr(dict(self._store.values()))


_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# RFC 9110 §5.6.7: IMF-fixdate, and the obsolete rfc850-date and asctime-date
# forms, which recipients must also accept.
_IMF_FIXDATE = re.compile(
    r"^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$"
)
_RFC850_DATE = re.compile(
    r"^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$"
)
_ASCTIME_DATE = re.compile(r"^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$")


def _http_date(value: str) -> Optional[float]:
    """Seconds since the epoch for an HTTP-date, None if it is not one."""
    m = _IMF_FIXDATE.match(value)
    if m:
        day, mon, year, hh, mm, ss = m.groups()
    else:
        m = _RFC850_DATE.match(value)
        if m:
            day, mon, yy, hh, mm, ss = m.groups()
            # RFC 9110 §5.6.7: a two-digit year more than 50 years in the
            # future means the most recent past year with those digits.
            this_year = time.gmtime().tm_year
            year_i = this_year - this_year % 100 + int(yy)
            if year_i > this_year + 50:
                year_i -= 100
            year = str(year_i)
        else:
            m = _ASCTIME_DATE.match(value)
            if not m:
                return None
            mon, day, hh, mm, ss, year = m.groups()
    month = _MONTHS.get(mon.lower())
    if month is None:
        return None
    fields = (int(year), month, int(day), int(hh), int(mm), int(ss))
    if not (1 <= fields[2] <= 31 and fields[3] <= 23 and fields[4] <= 59 and fields[5] <= 60):
        return None
    try:
        return float(calendar.timegm((*fields, 0, 0, 0)))
    except ValueError:  # year 0000
        return None


def parse_retry_after(value: Optional[str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` value (RFC 9110 §10.2.3).

    ``delta-seconds`` (``"120"``) or an ``HTTP-date``; a date in the past
    gives 0. Anything else gives None: a bad header never raises.
    ``now`` (seconds since the epoch) defaults to the current time.
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        # RFC 9111 §1.2.2: a delta-seconds too large to represent counts as
        # 2**31 (and int() or float() of a huge digit string would raise).
        return float(min(int(value), _MAX_DELTA)) if len(value) <= 10 else float(_MAX_DELTA)
    when = _http_date(value)
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when - current)


class PushResponse:
    """A push service's answer. Every send returns one.

    Mirrors the parts of ``requests.Response`` pywebpush users read
    (``status_code``, ``reason``, ``headers``, ``content``, ``text``,
    ``json()``, ``ok``, ``url``). Unlike ``requests.Response`` it is always
    truthy, so ``if ex.response and ex.response.status_code in (404, 410)``
    works for a 410.
    """

    __slots__ = ("content", "headers", "reason", "status_code", "url")

    def __init__(
        self,
        status_code: int,
        reason: str = "",
        headers: Union[Mapping[str, str], Iterable[tuple[str, str]], None] = None,
        content: bytes = b"",
        url: str = "",
    ) -> None:
        self.status_code = int(status_code)
        # The server's words: they reach logs through errors, so cleaned and
        # clipped, whichever transport read them.
        reason = reason or ""
        standard = type(reason) is str and reason in STANDARD_REASONS
        self.reason = reason if standard else _clip(reason, _MAX_REASON)
        self.headers = CaseInsensitiveDict(headers)
        self.content = bytes(content)
        self.url = url

    @property
    def text(self) -> str:
        """The body decoded with the Content-Type charset (UTF-8 unless it names one
        of the web's text encodings), leniently: undecodable octets replaced."""
        return decode_body(self.content, self.headers.get("Content-Type", ""))

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON.

        Push services answer errors with JSON, plain text, HTML (a proxy's
        502 page) or nothing (a 410), so pywebpush's idiom
        ``if ex.response and ex.response.json():`` must not raise inside an
        ``except`` block: an empty, non-JSON or too deeply nested body gives
        None (``requests`` raises there).
        """
        if not self.content.strip():
            return None
        try:
            return json.loads(self.content)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError are ValueErrors
            return None

    @property
    def status(self) -> int:
        """``status_code`` under aiohttp's name (pywebpush 2.x's async calls returned
        an ``aiohttp.ClientResponse``)."""
        return self.status_code

    @property
    def ok(self) -> bool:
        """True for 200-202, the statuses a push service accepts with (RFC 8030 §5)."""
        return 200 <= self.status_code <= 202

    @property
    def retry_after(self) -> Optional[float]:
        """Seconds to wait before retrying, from ``Retry-After``; None if absent or bad."""
        return parse_retry_after(self.headers.get("Retry-After"))

    @property
    def location(self) -> Optional[str]:
        """``Location``: the message resource on 201 (RFC 8030 §5), the target of a 3xx."""
        return self.headers.get("Location")

    def raise_for_status(self) -> None:
        """Raise the :class:`PushServiceError` for this status, if it is one."""
        error = error_for_response(self, self.url)
        if error is not None:
            raise error

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<PushResponse [{self.status_code}]>"


def _clip(text: str, limit: int = MAX_DETAIL) -> str:
    return clip(text, limit)
