"""PushResponse, Retry-After parsing and the status -> error table."""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core._classify import error_for_response
from webpush_core._reasons import clip
from webpush_core._response import (
    _MAX_REASON,
    STANDARD_REASONS,
    CaseInsensitiveDict,
    PushResponse,
    parse_retry_after,
)
from webpush_core.errors import (
    ExpiredSubscription,
    PushRejected,
    PushServiceError,
    RateLimited,
    ServerError,
    TooLarge,
    Unauthorized,
    WebPushException,
)

ENDPOINT = "https://push.example.com/sub/1"
# 1994-11-06 08:49:37 UTC, RFC 9110's example date
T_1994 = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("120", None, 120.0),
        ("0", None, 0.0),
        ("  7 ", None, 7.0),
        ("86400", None, 86400.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 - 30, 30.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", T_1994 - 30, 30.0),  # obsolete RFC 850
        ("Sun Nov  6 08:49:37 1994", T_1994 - 30, 30.0),  # obsolete asctime
        ("Sun Nov 16 08:49:37 1994", T_1994 - 30, 30.0 + 10 * 86400),
        ("Sun, 06 Nov 1994 08:49:37 GMT", T_1994 + 500, 0.0),  # in the past -> 0
        ("sun, 06 nov 1994 08:49:37 GMT", T_1994 - 1, 1.0),
        ("", None, None),
        ("   ", None, None),
        (None, None, None),
        ("-5", None, None),
        ("1.5", None, None),
        ("12abc", None, None),
        ("soon", None, None),
        ("Sun, 06 Nov 1994 08:49:37", T_1994, None),  # no GMT
        ("Sun, 32 Nov 1994 08:49:37 GMT", T_1994, None),
        ("Sun, 06 Foo 1994 08:49:37 GMT", T_1994, None),
        ("Sun, 06 Nov 1994 25:49:37 GMT", T_1994, None),
        ("\u0661\u0662", None, None),  # Arabic-Indic digits are not DIGIT
    ],
)
def test_parse_retry_after(value: Optional[str], now: Optional[float], expected: Any) -> None:
    assert parse_retry_after(value, now=now) == expected


def test_parse_retry_after_date_relative_to_current_time() -> None:
    import time

    in_a_minute = formatdate(time.time() + 60, usegmt=True)
    got = parse_retry_after(in_a_minute)
    assert got is not None and 55 <= got <= 61


def test_parse_retry_after_non_string() -> None:
    assert parse_retry_after(120) is None  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(value: str) -> None:
    result = parse_retry_after(value, now=0.0)
    assert result is None or result >= 0.0


@settings(max_examples=100, deadline=None)
@given(seconds=st.integers(min_value=0, max_value=4_000_000_000), delta=st.integers(0, 10**6))
def test_parse_retry_after_imf_fixdate_property(seconds: int, delta: int) -> None:
    header = formatdate(seconds, usegmt=True)
    assert parse_retry_after(header, now=seconds - delta) == float(delta)
    assert parse_retry_after(str(delta)) == float(delta)


# --------------------------------------------------------------------------


def test_case_insensitive_dict() -> None:
    h = CaseInsensitiveDict({"Content-Type": "application/json"}, TTL="60")
    assert h["content-type"] == h["CONTENT-TYPE"] == "application/json"
    assert "ttl" in h and "Ttl" in h and 5 not in h
    h["content-type"] = "text/plain"
    assert list(h) == ["content-type", "TTL"]
    assert h == {"CONTENT-TYPE": "text/plain", "ttl": "60"}
    assert h != {"content-type": "text/plain"}
    del h["CONTENT-type"]
    assert len(h) == 1
    c = h.copy()
    c["x"] = "1"
    assert "x" not in h
    assert CaseInsensitiveDict([("A", "1"), ("a", "2")]) == {"a": "2"}


def test_case_insensitive_dict_get() -> None:
    h = CaseInsensitiveDict({"Retry-After": "5", "Empty": ""})
    assert h.get("retry-after") == h.get("RETRY-AFTER") == "5"
    assert h.get("empty", "default") == ""  # a present empty value is not the default
    assert h.get("Location") is None
    assert h.get("Location", "x") == "x"
    with pytest.raises(AttributeError):
        h.get(5)  # type: ignore[call-overload]  # as h[5]: names are strings


class _Pairs(Mapping[str, str]):
    """A mapping that is not a dict: the generic path of CaseInsensitiveDict."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._d = dict(pairs)

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


HEADER_CASES = [
    [],
    [("Location", "https://push.example.com/m/1")],
    [("A", "1"), ("a", "2")],
    [("a", "2"), ("A", "1"), ("b", "x"), ("B", "y"), ("c", "")],
    [("Content-Length", "0"), ("content-length", "0"), ("Retry-After", "5")],
]


@pytest.mark.parametrize("pairs", HEADER_CASES)
def test_case_insensitive_dict_from_a_dict_or_pairs_stores_what_update_stores(
    pairs: list[tuple[str, str]],
) -> None:
    """The constructor's own path for dicts, lists and tuples keeps what the
    general one (update, key by key) keeps: last value, last spelling, in order."""
    general: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    general.update(pairs)
    for data in (pairs, tuple(pairs)):
        made = CaseInsensitiveDict(data)
        assert made._store == general._store
        assert list(made.items()) == list(general.items())
    as_dict = dict(pairs)
    assert CaseInsensitiveDict(as_dict)._store == CaseInsensitiveDict(_Pairs(pairs))._store
    assert list(CaseInsensitiveDict(as_dict).items()) == list(
        CaseInsensitiveDict(_Pairs(pairs)).items()
    )
    with pytest.raises(ValueError):
        CaseInsensitiveDict([("a", "1", "extra")])  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", sorted(STANDARD_REASONS))
def test_a_standard_reason_phrase_is_what_clean_makes_of_it(reason: str) -> None:
    """A response keeps a standard reason phrase uncleaned: every one of the
    table must be one clean() would leave as it is."""
    assert clip(reason, _MAX_REASON) == reason
    assert PushResponse(201, reason).reason == reason


@pytest.mark.parametrize(
    "reason, shown",
    [
        ("Created\x1b[2J", "Created [2J"),
        ("Created ", "Created"),
        ("OK\u202e", "OK"),
        ("x" * 101, "x" * 97 + "..."),
        ("Gone\r\nX-Forged: 1", "Gone X-Forged: 1"),
    ],
)
def test_a_reason_phrase_beyond_the_table_is_cleaned(reason: str, shown: str) -> None:
    assert reason not in STANDARD_REASONS
    assert PushResponse(201, reason).reason == shown


def make(status: int = 201, body: bytes = b"", **headers: str) -> PushResponse:
    return PushResponse(
        status, "Reason", {k.replace("_", "-"): v for k, v in headers.items()}, body, ENDPOINT
    )


def test_push_response_basics() -> None:
    r = make(
        201, b'{"a": 1}', Location="https://push.example.com/m/1", Content_Type="application/json"
    )
    assert r.status_code == 201
    assert r.reason == "Reason"
    assert r.url == ENDPOINT
    assert r.content == b'{"a": 1}'
    assert r.text == '{"a": 1}'
    assert r.json() == {"a": 1}
    assert r.headers["content-type"] == "application/json"
    assert r.location == "https://push.example.com/m/1"
    assert r.retry_after is None
    assert r.ok
    assert repr(r) == "<PushResponse [201]>"


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (200, True),
        (201, True),
        (202, True),
        (203, False),
        (204, False),
        (301, False),
        (404, False),
        (500, False),
    ],
)
def test_ok(status: int, ok: bool) -> None:
    assert make(status).ok is ok
    assert (error_for_response(make(status), ENDPOINT) is None) is ok


@pytest.mark.parametrize("status", [201, 400, 404, 410, 429, 500])
def test_always_truthy(status: int) -> None:
    r = make(status)
    assert bool(r) is True
    # the pywebpush clean-up idiom that a falsy response breaks
    err = error_for_response(r, ENDPOINT) or WebPushException("x", r)
    assert err.response and err.response.status_code == status


def test_text_lenient_and_charset() -> None:
    assert make(400, b"\xff\xfeoops").text == "\ufffd\ufffdoops"
    latin = make(400, "café".encode("latin-1"), Content_Type="text/plain; charset=ISO-8859-1")
    assert latin.text == "café"
    odd = make(400, b"plain", Content_Type="text/plain; charset=no-such-codec")
    assert odd.text == "plain"


@pytest.mark.parametrize(
    "body", [b"", b"  \r\n", b"not json", b"\xff", b"{", b"<html><h1>502 Bad Gateway</h1></html>"]
)
def test_json_of_a_body_that_is_not_json_is_none(body: bytes) -> None:
    # pywebpush's idiom `if ex.response and ex.response.json():` runs inside an
    # except block: it must not raise there (requests' json() would).
    assert make(400, body).json() is None


def test_retry_after_from_headers() -> None:
    assert make(429, Retry_After="30").retry_after == 30.0
    assert make(429, **{"retry-after": "5"}).retry_after == 5.0
    assert make(429, Retry_After="garbage").retry_after is None


# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (404, ExpiredSubscription),
        (410, ExpiredSubscription),
        (401, Unauthorized),
        (403, Unauthorized),
        (413, TooLarge),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (599, ServerError),
        (400, PushRejected),
        (405, PushRejected),
        (406, PushRejected),
        (301, PushRejected),
        (302, PushRejected),
        (307, PushRejected),
        (204, PushRejected),
        (100, PushRejected),
        (600, PushRejected),
    ],
)
def test_error_table(status: int, cls: type[PushServiceError]) -> None:
    r = make(status, b"", Retry_After="12")
    err = error_for_response(r, ENDPOINT)
    assert type(err) is cls
    assert isinstance(err, WebPushException)
    assert err.response is r
    assert err.status_code == status
    assert err.endpoint == ENDPOINT
    assert err.retry_after == 12.0
    assert err.message.startswith(f"Push failed: {status} Reason")
    assert "retry after 12 s" in err.message
    assert err.body == b""


def test_redirect_message_names_location() -> None:
    err = error_for_response(make(301, Location="https://elsewhere.example/x"), ENDPOINT)
    assert err is not None
    assert "redirects are not followed" in err.message
    assert "https://elsewhere.example/x" in err.message


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        # FCM
        (
            {
                "error": {
                    "code": 404,
                    "message": "Requested entity was not found.",
                    "status": "NOT_FOUND",
                }
            },
            "Requested entity was not found. (NOT_FOUND)",
        ),
        # web-push-testing
        ({"error": {"message": "Subscription has expired"}}, "Subscription has expired"),
        # Mozilla autopush
        (
            {"code": 410, "errno": 106, "error": "Gone", "message": "Request did not validate"},
            "Request did not validate (errno 106)",
        ),
        ({"code": 400, "errno": 110, "error": "Bad Request"}, "Bad Request (errno 110)"),
        # Apple
        ({"reason": "BadJwtToken"}, "BadJwtToken"),
        # unknown JSON shapes: the text itself
        ({"weird": True}, '{"weird": true}'),
        ([1, 2], "[1, 2]"),
    ],
)
def test_service_error_text_from_json(body: Any, detail: str) -> None:
    err = error_for_response(make(410, json.dumps(body).encode()), ENDPOINT)
    assert err is not None
    assert err.message.endswith(": " + detail)


def test_plain_text_body_truncated_and_flattened() -> None:
    body = ("line one\r\nline\ttwo " + "x" * 1000).encode()
    err = error_for_response(make(400, body), ENDPOINT)
    assert err is not None
    assert "line one line two" in err.message
    assert "\n" not in err.message and "\r" not in err.message
    detail = err.message.split("refused the request): ", 1)[1]
    assert 250 <= len(detail) <= 300
    assert err.message.endswith("...")
    assert err.body == body  # the whole body stays on the error


def test_message_has_status_reason_and_no_request_headers() -> None:
    # The response never sees the request headers; the message is built only
    # from the response, so a token can only appear if the service echoed it.
    r = PushResponse(401, "Unauthorized", {"WWW-Authenticate": "vapid"}, b"bad token", ENDPOINT)
    err = error_for_response(r, ENDPOINT)
    assert err is not None
    assert (
        err.message
        == "Push failed: 401 Unauthorized (the VAPID authorization was refused): bad token"
    )
    # A subclass's str() is its message alone (reads well in a traceback).
    assert str(err) == err.message


def test_raise_for_status() -> None:
    make(201).raise_for_status()
    with pytest.raises(ExpiredSubscription):
        make(410).raise_for_status()


class _Upper(CaseInsensitiveDict[str]):
    """A subclass with its own item hooks: the constructor and get() use them."""

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key, value.upper())

    def __getitem__(self, key: str) -> str:
        return "seen:" + super().__getitem__(key)


@pytest.mark.parametrize("data", [{"a": "x"}, [("a", "x")], (("a", "x"),)])
def test_a_subclass_of_case_insensitive_dict_keeps_its_item_hooks(data: Any) -> None:
    made = _Upper(data)
    assert made._store == {"a": ("a", "X")}  # its __setitem__, for every input
    assert made.get("A") == "seen:X"  # its __getitem__
    assert made.get("missing", "d") == "d"


class _Sneaky(str):
    """A str that claims to be "OK" but holds control and bidi characters."""

    def __eq__(self, other: object) -> bool:
        return other == "OK" or str.__eq__(self, other)

    def __hash__(self) -> int:
        return hash("OK")


def test_only_a_plain_str_reason_is_kept_unclean() -> None:
    sneaky = _Sneaky("OK\x1b[2J\u202eevil")
    assert sneaky in STANDARD_REASONS  # what a check by value alone would trust
    reason = PushResponse(200, sneaky).reason
    assert type(reason) is str and reason == "OK [2Jevil"  # ESC a space, U+202E gone
