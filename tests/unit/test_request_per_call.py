"""What a single call (``build_request``, ``webpush``, ``WebPusher.encode``) does once,
and what it does every time.

* A VAPID key given as text (PEM, base64url DER, raw scalar) is read as a key,
  with no file-system call; only a string that is not a key is a path, whose
  file is read again once it changes.
* A call's options (everything but the data) are checked once per distinct
  options and kept, without the data, in a small bounded cache
  (``_request.build._plans``); a call with the same options checks only its data.
  Every bad input raises exactly what it raised before anything was kept.
* ``WebPusher.encode`` encrypts with the subscription's point as given.

No timing here: benchmarks/calls.py measures what this saves.
"""

from __future__ import annotations

import base64
import binascii
import os
import pathlib
import types
from collections.abc import Iterator
from typing import Any, Callable

import http_ece
import py_vapid
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_send_inputs import CASES, VAPID_PEM, VAPID_RAW, _call
from test_send_wire import Browser, b64url
from webpush_core import (
    EndpointPolicy,
    InvalidRequest,
    InvalidSubscription,
    PayloadTooLarge,
    PushRequest,
    Subscription,
    Vapid,
    VapidError,
    WebPusher,
    WebPushException,
    build_request,
)
from webpush_core._b64 import b64url_decode, b64url_encode
from webpush_core._request import build as request_build
from webpush_core._request import keys as request_keys
from webpush_core._request.build import prepare_message
from webpush_core._request.headers import check_header
from webpush_core._request.keys import load_vapid_key
from webpush_core._request.plan import MessagePlan
from webpush_core.ece import _keys as ece_keys
from webpush_core.vapid import parse_authorization

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
PEM = VAPID_PEM.encode()
SIGNED = {"Authorization": "WebPush a.b.c", "Crypto-Key": "p256ecdsa=x"}  # pre-signed by the caller
CLAIMS = {"sub": "mailto:ops@example.com"}


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    """Every test starts with no key and no options kept, and leaves none."""
    request_build._plans.clear()
    request_keys._key_cache.clear()
    yield
    request_build._plans.clear()
    request_keys._key_cache.clear()


def browsers(n: int) -> list[Browser]:
    return [Browser.new(f"https://push.example.net/push/{i}") for i in range(n)]


def decrypt(browser: Browser, request: PushRequest) -> bytes:
    out: bytes = http_ece.decrypt(
        request.body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
    )
    return out


def der_b64(vapid: Vapid) -> str:
    from cryptography.hazmat.primitives import serialization

    assert vapid.private_key is not None
    der = vapid.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return b64url(der)


def raw_b64(vapid: Vapid) -> str:
    assert vapid.private_key is not None
    return b64url(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


# --------------------------------------------------------------------------
# VAPID keys given as text: no file-system call.


class FileSystemSpy:
    """Records every stat-like call and every open() while active."""

    NAMES = ("stat", "lstat", "access", "open", "scandir", "listdir")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, Any]] = []
        for name in self.NAMES:
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._spy(name, real))
        real_open = open
        monkeypatch.setattr("builtins.open", self._spy("builtins.open", real_open))

    def _spy(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args[:1]))
            return real(*args, **kwargs)

        return spy


KEY_TEXTS: list[tuple[str, Callable[[Vapid], str]]] = [
    ("pem", lambda v: v.private_pem().decode()),
    ("pem-with-newline-at-the-end", lambda v: v.private_pem().decode() + "\n"),
    ("der-base64url", der_b64),
    ("raw-base64url", raw_b64),
    ("raw-base64url-with-newline", lambda v: raw_b64(v) + "\n"),
]


@pytest.mark.parametrize("form", [f for _, f in KEY_TEXTS], ids=[n for n, _ in KEY_TEXTS])
def test_a_key_given_as_text_costs_no_file_system_call(
    monkeypatch: pytest.MonkeyPatch, form: Callable[[Vapid], str]
) -> None:
    vapid = Vapid.generate()
    text = form(vapid)
    browser = browsers(1)[0]
    spy = FileSystemSpy(monkeypatch)
    first = load_vapid_key(text)  # read (the cache is empty)
    again = load_vapid_key(text)  # kept
    request = build_request(browser.info(), b"hello", text, CLAIMS)  # and a whole call
    assert spy.calls == []
    assert first is again and first.application_server_key == vapid.application_server_key
    token = parse_authorization(request.headers["Authorization"])
    assert b64url(token.public_key) == vapid.application_server_key


def test_a_key_string_that_also_names_a_file_is_the_key(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given, in_the_file = Vapid.generate(), Vapid.generate()
    text = raw_b64(given)
    monkeypatch.chdir(tmp_path)
    (tmp_path / text).write_bytes(in_the_file.private_pem())
    assert load_vapid_key(text).application_server_key == given.application_server_key


@pytest.mark.parametrize("as_pathlike", [False, True], ids=["str", "PathLike"])
def test_a_key_file_is_read_and_read_again_once_changed(
    tmp_path: pathlib.Path, as_pathlike: bool
) -> None:
    path = tmp_path / "vapid_private.pem"
    first, second = Vapid.generate(), Vapid.generate()
    path.write_bytes(first.private_pem())
    given: Any = path if as_pathlike else str(path)
    loaded = load_vapid_key(given)
    assert loaded.application_server_key == first.application_server_key
    assert load_vapid_key(given) is loaded  # unchanged: kept
    stamp = path.stat().st_mtime_ns
    path.write_bytes(second.private_pem())
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # a later mtime, whatever the clock
    assert load_vapid_key(given).application_server_key == second.application_server_key


def test_a_pathlike_is_always_a_path(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named, in_the_file = Vapid.generate(), Vapid.generate()
    monkeypatch.chdir(tmp_path)
    (tmp_path / raw_b64(named)).write_bytes(in_the_file.private_pem())
    loaded = load_vapid_key(pathlib.Path(raw_b64(named)))
    assert loaded.application_server_key == in_the_file.application_server_key


# (what is passed, the words of the VapidError): a string that is not a key is a
# path; the error says which, and names it only when it looks like one.
NOT_KEYS: list[tuple[str, str]] = [
    ("not a key!", "not a key: expected PEM text"),
    ("notakeyatall", "not a key: 9 bytes decoded"),
    ("/nonexistent/vapid_private.pem", "no key file at '/nonexistent/vapid_private.pem'"),
    ("./missing", "no key file at './missing'"),
    ("vapid.key", "no key file at 'vapid.key'"),
    ("QUJD", "not a key: 3 bytes decoded"),
]


@pytest.mark.parametrize(("given", "words"), NOT_KEYS)
def test_a_string_that_is_not_a_key_is_a_path(given: str, words: str) -> None:
    with pytest.raises(VapidError) as caught:
        load_vapid_key(given)
    assert caught.value.field == "vapid_private_key"
    assert words in caught.value.message


def test_a_mistyped_key_with_a_dot_is_not_shown() -> None:
    typo = raw_b64(Vapid.generate())
    typo = typo[:20] + "." + typo[21:]
    with pytest.raises(VapidError) as caught:
        load_vapid_key(typo)
    assert "not shown" in caught.value.message and typo not in str(caught.value)


# --------------------------------------------------------------------------
# Options: checked once per distinct options, the data every call.


@pytest.fixture
def prepares(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times the full checks ran."""
    runs: list[int] = []
    real = request_build._prepare

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(request_build, "_prepare", counted)
    return runs


def test_the_same_options_are_checked_once_and_each_message_is_its_own(
    prepares: list[int],
) -> None:
    key = raw_b64(Vapid.generate())
    subscribers = browsers(6)
    for i, browser in enumerate(subscribers):
        data = f"message {i}" * (i + 1)
        request = build_request(browser.info(), data, key, CLAIMS, ttl=60, urgency="high")
        assert decrypt(browser, request) == data.encode()
        assert (request.headers["TTL"], request.headers["Urgency"]) == ("60", "high")
    assert len(prepares) == 1
    build_request(subscribers[0].info(), "x", key, CLAIMS, ttl=61, urgency="high")
    assert len(prepares) == 2  # other options: checked


def test_a_kept_plan_builds_what_a_fresh_one_builds() -> None:
    key = raw_b64(Vapid.generate())
    browser = browsers(1)[0]
    options: dict[str, Any] = {
        "vapid_private_key": key,
        "vapid_claims": CLAIMS,
        "ttl": 30,
        "topic": "news",
        "headers": {"X-Trace": "1"},
        "pad_to": 300,
    }
    fresh = build_request(browser.info(), "hello", **options)
    kept = build_request(browser.info(), "hello", **options)
    assert fresh.headers == kept.headers and len(fresh.body) == len(kept.body)
    assert decrypt(browser, fresh) == decrypt(browser, kept) == b"hello"
    plan = prepare_message("hello", **options)  # the public form, kept too
    request = plan.build(Subscription.from_info(browser.info()))
    assert request.headers == fresh.headers and decrypt(browser, request) == b"hello"


def test_kept_options_reuse_the_origins_vapid_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    signed: list[str] = []
    real = Vapid.sign_headers

    def sign_headers(self: Vapid, claims: Any, *, scheme: str) -> dict[str, str]:
        signed.append(claims["aud"])
        return real(self, claims, scheme=scheme)

    monkeypatch.setattr(Vapid, "sign_headers", sign_headers)
    key = raw_b64(Vapid.generate())
    one, other = Browser.new("https://a.example.net/p/1"), Browser.new("https://b.example.net/p")
    first = build_request(one.info(), "m", key, CLAIMS)
    again = build_request(Browser.new("https://a.example.net/p/2").info(), "n", key, CLAIMS)
    build_request(other.info(), "m", key, CLAIMS)
    assert signed == ["https://a.example.net", "https://b.example.net"]
    assert first.headers["Authorization"] == again.headers["Authorization"]


def test_no_data_is_kept() -> None:
    key = raw_b64(Vapid.generate())
    secret = b"one-time code 918273"
    build_request(browsers(1)[0].info(), secret, key, CLAIMS, pad_to=64)
    assert request_build._plans
    for plan, _ in request_build._plans.values():
        assert (plan._plaintext, plan._padding) == (b"", 0)


def test_at_most_the_limit_of_options_are_kept(prepares: list[int]) -> None:
    browser = browsers(1)[0]
    limit = request_build._PLANS_SIZE
    for ttl in range(limit):
        build_request(browser.info(), "m", ttl=ttl)
    assert len(request_build._plans) == limit and len(prepares) == limit
    build_request(browser.info(), "m", ttl=0)  # the oldest: still kept (and now the newest)
    assert len(prepares) == limit
    build_request(browser.info(), "m", ttl=limit)  # one past: the least recent goes
    assert len(request_build._plans) == limit and len(prepares) == limit + 1
    build_request(browser.info(), "m", ttl=1)  # it was the least recent: checked again
    assert len(prepares) == limit + 2


def test_options_changed_in_place_are_checked_again(prepares: list[int]) -> None:
    key = raw_b64(Vapid.generate())
    browser = browsers(1)[0]
    claims = {"sub": "mailto:first@example.com"}
    headers = {"X-Trace": "1"}
    build_request(browser.info(), "m", key, claims, headers=headers)
    claims["sub"] = "mailto:second@example.com"
    headers["X-Trace"] = "2"
    request = build_request(browser.info(), "m", key, claims, headers=headers)
    assert len(prepares) == 2
    assert parse_authorization(request.headers["Authorization"]).claims["sub"] == claims["sub"]
    assert request.headers["X-Trace"] == "2"


# Each: options that are never kept (checked on every call).
NEVER_KEPT: list[tuple[str, Callable[[pathlib.Path], dict[str, Any]]]] = [
    ("a Vapid object", lambda tmp: {"vapid_private_key": Vapid.generate()}),
    ("a py_vapid signer", lambda tmp: {"vapid_private_key": py_vapid.Vapid02.from_pem(PEM)}),
    ("a key file path", lambda tmp: {"vapid_private_key": str(key_file(tmp))}),
    ("a key file PathLike", lambda tmp: {"vapid_private_key": key_file(tmp)}),
    ("an Authorization header", lambda tmp: {"vapid_claims": None, "headers": SIGNED}),
    ("a float header value", lambda tmp: {"headers": {"X-A": 1.5}}),
    ("headers not a dict", lambda tmp: {"headers": _Headers({"X-A": "1"})}),
    ("claims not a dict", lambda tmp: {"vapid_claims": _Headers(CLAIMS)}),
    ("a claim that is a list", lambda tmp: {"vapid_claims": {**CLAIMS, "x": ["a"]}}),
]  # fmt: skip


class _Headers(dict):  # type: ignore[type-arg]
    """A dict subclass: its items could change under a key (not kept)."""


def key_file(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "k.pem"
    path.write_text(VAPID_PEM)
    return path


@pytest.mark.parametrize("make", [m for _, m in NEVER_KEPT], ids=[n for n, _ in NEVER_KEPT])
def test_options_that_are_never_kept(
    tmp_path: pathlib.Path, prepares: list[int], make: Callable[[pathlib.Path], dict[str, Any]]
) -> None:
    browser = browsers(1)[0]
    options = {"vapid_private_key": VAPID_RAW, "vapid_claims": CLAIMS, **make(tmp_path)}
    if options["vapid_claims"] is None:
        options["vapid_private_key"] = None
    for _ in range(3):
        build_request(browser.info(), "m", **options)
    assert len(prepares) == 3 and not request_build._plans


# Values that are equal and hash alike but are not checked alike: never one key.
LOOK_ALIKE: list[tuple[str, dict[str, Any], dict[str, Any], type[Exception]]] = [
    ("ttl 1, then True", {"ttl": 1}, {"ttl": True}, InvalidRequest),
    ("header 1, then True", {"headers": {"X-A": 1}}, {"headers": {"X-A": True}}, InvalidRequest),
    ("pad_to 0, then False", {"pad_to": 0}, {"pad_to": False}, InvalidRequest),
    ("max_payload 1, then True", {"max_payload": 1}, {"max_payload": True}, InvalidRequest),
]


@pytest.mark.parametrize(
    ("first", "then", "error"),
    [c[1:] for c in LOOK_ALIKE],
    ids=[c[0] for c in LOOK_ALIKE],
)
def test_look_alike_options_are_checked_apart(
    first: dict[str, Any], then: dict[str, Any], error: type[Exception]
) -> None:
    browser = browsers(1)[0]
    build_request(browser.info(), "", **first)
    with pytest.raises(error):
        build_request(browser.info(), "", **then)


def test_a_message_over_the_limit_with_kept_options() -> None:
    browser = browsers(1)[0]
    build_request(browser.info(), "short", max_payload=10)
    assert request_build._plans
    with pytest.raises(PayloadTooLarge) as caught:
        build_request(browser.info(), "eleven char", max_payload=10)
    assert caught.value.message == (
        "data is 11 bytes; at most 10 fit in one aes128gcm push message (RFC 8291 §4)"
    )
    with pytest.raises(InvalidRequest, match="data must be bytes or str, got int"):
        build_request(browser.info(), 5, max_payload=10)  # type: ignore[arg-type]


def test_a_kept_plan_carries_every_one_of_its_fields() -> None:
    plan, _ = request_build._prepare(
        "m", VAPID_RAW, CLAIMS, "aesgcm", 5, "low", "t", {"Crypto-Key": "a=b", "X-A": "1"},
        pad_to=9, max_payload=None,
    )  # fmt: skip
    copy = plan._with_plaintext(b"other", 3)
    for name in MessagePlan.__slots__:
        expected = {"_plaintext": b"other", "_padding": 3}.get(name, getattr(plan, name))
        assert getattr(copy, name) is expected or getattr(copy, name) == expected, name


# The bad-input table of tests/test_send_inputs.py, through build_request with the
# VAPID key as text: the same error (class, field, words) with nothing kept, after
# the same options were kept (the same call with good data and subscription), and
# once more.
_BUILD_ARGS = set(build_request.__code__.co_varnames[: build_request.__code__.co_argcount]) | {
    "pad_to",
    "max_payload",
    "endpoint_policy",
}


class _Somewhere:
    """Where the table's cases point (build_request sends nothing: no server needed)."""

    url = "http://127.0.0.1:9"
    port = 9


def _arguments(change: Any) -> set[str]:
    return set(_call(Browser.new(f"{_Somewhere.url}/p"), _Somewhere(), change))  # type: ignore[arg-type]


# The cases whose arguments are build_request's (the others are the transport's).
REQUEST_CASES = [case for case in CASES if _arguments(case[1]) <= _BUILD_ARGS]


def _signature(call: dict[str, Any]) -> tuple[object, ...]:
    try:
        build_request(**call)
    except WebPushException as exc:
        return (type(exc), exc.field, exc.message)
    return ("built",)


@pytest.mark.parametrize(
    ("change", "error"), [(c[1], c[2]) for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_every_bad_input_raises_the_same_with_options_kept(
    change: Any, error: type[WebPushException]
) -> None:
    somewhere = _Somewhere()
    browser = Browser.new(f"{somewhere.url}/push/sub1")
    call = _call(browser, somewhere, change)  # type: ignore[arg-type]
    base = _call(browser, somewhere, lambda b, c: {})["vapid_private_key"]  # type: ignore[arg-type]
    # The key as text (both forms), unless the case is about the key itself.
    given = call["vapid_private_key"]
    for key in (VAPID_RAW, VAPID_PEM) if given is base else (given,):
        bad = {**call, "vapid_private_key": key}
        nothing_kept = _signature(bad)
        assert nothing_kept[0] is error, nothing_kept
        good = {**bad, "data": "hello", "subscription_info": browser.info()}
        _signature(good)  # keeps the options, where they are good
        assert _signature(bad) == nothing_kept
        assert _signature(bad) == nothing_kept
        request_build._plans.clear()
        request_keys._key_cache.clear()


# --------------------------------------------------------------------------
# WebPusher.encode


def test_encode_uses_the_subscriptions_point_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    browser = browsers(1)[0]
    pusher = WebPusher(browser.info())
    serialized: list[object] = []
    real = ece_keys.uncompressed_point
    monkeypatch.setattr(
        ece_keys, "uncompressed_point", lambda key: serialized.append(key) or real(key)
    )
    body = pusher.encode(b"hello")["body"]
    assert serialized == []  # the point was not serialized again from the key
    out = http_ece.decrypt(
        body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
    )
    assert out == b"hello"


# --------------------------------------------------------------------------
# The subscription's keys: a dict (checked by its type first) or any Mapping.


@pytest.mark.parametrize("wrap", [dict, types.MappingProxyType], ids=["dict", "MappingProxyType"])
def test_the_keys_may_be_any_mapping(wrap: Callable[[dict[str, Any]], Any]) -> None:
    browser = browsers(1)[0]
    info = browser.info()
    request = build_request({**info, "keys": wrap(info["keys"])}, b"hello")
    assert decrypt(browser, request) == b"hello"


@pytest.mark.parametrize(
    "keys", [["p256dh", "auth"], "p256dh=x", None], ids=["list", "str", "None"]
)
def test_keys_that_are_not_a_mapping_are_refused(keys: Any) -> None:
    info = {**browsers(1)[0].info(), "keys": keys}
    with pytest.raises(InvalidSubscription, match="keys must be a mapping") as caught:
        build_request(info, b"hello")
    assert caught.value.field == "keys"


# --------------------------------------------------------------------------
# base64url (two per subscription): what it reads is what the standard library's
# strict decoder reads once both alphabets are one (RFC 4648 §4, §5), padding
# optional.


def stdlib_reading(text: str) -> bytes:
    """The oracle: base64.b64decode(validate=True), the padding put back."""
    raw = text.strip().encode("ascii").translate(bytes.maketrans(b"+/", b"-_")).rstrip(b"=")
    if len(raw) % 4 == 1:
        raise ValueError("impossible length")
    try:
        return base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise ValueError("outside the alphabet") from None


_B64_TEXT = st.text(st.sampled_from("ABCXYZabcxyz0189+/-_= \t\n.!\x00é"), max_size=24) | st.binary(
    max_size=40
).map(lambda b: base64.urlsafe_b64encode(b).decode())


@settings(max_examples=2000, deadline=None)
@given(text=_B64_TEXT)
def test_base64url_reads_what_the_standard_library_reads(text: str) -> None:
    try:
        expected: object = stdlib_reading(text)
    except (ValueError, UnicodeEncodeError):
        expected = ValueError
    try:
        got: object = b64url_decode(text)
    except ValueError:
        got = ValueError
    assert got == expected, text


@given(data=st.binary(max_size=100))
def test_base64url_round_trip(data: bytes) -> None:
    for text in (
        b64url_encode(data),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode(),
    ):
        assert b64url_decode(text) == data


# --------------------------------------------------------------------------
# Header values (a VAPID token is ~300 characters, checked on every call):
# visible ASCII, space and tab, as RFC 9110 §5.5 allows us to send; CR, LF
# and NUL named as injection first.


def header_rule(text: str) -> str:
    """The oracle: the rule, one character at a time."""
    if any(c in text for c in "\r\n\0"):
        return "CR, LF or NUL"
    if not all(c == "\t" or " " <= c <= "~" for c in text):
        return "visible ASCII"
    return "ok"


@settings(max_examples=2000, deadline=None)
@given(
    text=st.text(st.sampled_from("aZ09 \t~!\x7f\x1f\x00\r\n\x85\xa0é€\u2028"), max_size=12)
    | st.text(max_size=12)
)
def test_a_header_value_is_checked_by_its_characters(text: str) -> None:
    try:
        check_header("X-Value", text)
    except InvalidRequest as exc:
        got = "CR, LF or NUL" if "CR, LF or NUL" in exc.message else "visible ASCII"
        assert "visible ASCII" in exc.message or got == "CR, LF or NUL"
    else:
        got = "ok"
    assert got == header_rule(text), repr(text)


TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@settings(max_examples=1000, deadline=None)
@given(name=st.text(st.sampled_from(TCHAR + " :()\t\x00é"), max_size=8))
def test_a_header_name_is_a_token(name: str) -> None:
    expected = bool(name) and all(c in TCHAR for c in name)
    try:
        check_header(name, "v")
    except InvalidRequest as exc:
        assert "not a valid HTTP token" in exc.message
        assert not expected, repr(name)
    else:
        assert expected, repr(name)


# --------------------------------------------------------------------------
# VAPID claims: sub and aud, checked once per distinct valid value (their rules
# do not depend on the time); an invalid one raises every time.


@pytest.fixture
def claim_checks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    from webpush_core.vapid import _claims

    _claims._valid_subs.clear()
    _claims._valid_auds.clear()
    seen: list[object] = []
    for name in ("_check_sub", "_check_aud"):
        real = getattr(_claims, name)

        def spy(value: Any, real: Callable[[Any], None] = real) -> None:
            seen.append(value)
            real(value)

        monkeypatch.setattr(_claims, name, spy)
    yield seen
    _claims._valid_subs.clear()
    _claims._valid_auds.clear()


def test_valid_claims_are_checked_once(claim_checks: list[object]) -> None:
    from webpush_core.vapid import validate_claims

    claims = {"sub": "mailto:ops@example.com", "aud": "https://push.example.net"}
    for _ in range(3):
        validate_claims(claims)
    assert claim_checks == [claims["sub"], claims["aud"]]
    validate_claims({**claims, "sub": "https://example.com/contact"})
    assert claim_checks[-1] == "https://example.com/contact"


# (claims, the words of the VapidError): each raises on every call.
BAD_CLAIMS: list[tuple[dict[str, Any], str]] = [
    ({"sub": "ops@example.com"}, "bare email address"),
    ({"sub": "mailto:ops@localhost"}, "localhost"),
    ({"sub": "mailto:ops@example.com", "aud": "https://push.example.net/"}, "trailing slash"),
    ({"sub": "mailto:ops@example.com", "aud": "https://Push.example.net"}, "lowercase"),
]


@pytest.mark.parametrize(("claims", "words"), BAD_CLAIMS)
def test_invalid_claims_raise_every_time(
    claim_checks: list[object], claims: dict[str, Any], words: str
) -> None:
    from webpush_core.vapid import validate_claims

    messages = []
    for _ in range(3):
        with pytest.raises(VapidError) as caught:
            validate_claims(claims)
        messages.append(caught.value.message)
    assert len(set(messages)) == 1 and words in messages[0]


def test_at_most_the_limit_of_valid_claims_are_kept(claim_checks: list[object]) -> None:
    from webpush_core.vapid import _claims
    from webpush_core.vapid._claims import check_sub

    limit = _claims._VALID_MAX
    for i in range(limit):
        check_sub(f"mailto:ops{i}@example.com")
    assert len(_claims._valid_subs) == limit
    check_sub("mailto:ops0@example.com")  # kept: not checked again
    assert len(claim_checks) == limit
    check_sub(f"mailto:ops{limit}@example.com")  # one past: all forgotten, this one kept
    assert len(_claims._valid_subs) == 1
    check_sub("mailto:ops0@example.com")  # checked again
    assert len(claim_checks) == limit + 2


def test_a_str_subclass_is_checked_every_time(claim_checks: list[object]) -> None:
    from webpush_core.vapid._claims import check_sub

    class Text(str):
        pass

    for _ in range(2):
        check_sub(Text("mailto:ops@example.com"))
    assert len(claim_checks) == 2


def test_a_str_subclass_that_passed_is_not_kept_for_the_plain_string(
    claim_checks: list[object],
) -> None:
    from webpush_core.vapid._claims import check_sub

    class Lying(str):
        """Reads as a mailto: address whatever its characters."""

        def partition(self, sep: str) -> tuple[str, str, str]:  # type: ignore[override]
            return ("mailto", ":", "ops@example.com")

    check_sub(Lying("not-a-contact"))  # passes: its own methods say so
    with pytest.raises(VapidError, match="must be a mailto: address"):
        check_sub("not-a-contact")  # the same characters, checked as they are
