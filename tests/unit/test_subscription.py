"""Subscription parsing: every bad field gets InvalidSubscription naming it."""

from __future__ import annotations

import base64
import copy
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core._b64 import b64url_encode
from webpush_core._p256 import ORDER, generate_private_key, uncompressed_point
from webpush_core._subscription import Subscription
from webpush_core.errors import InvalidSubscription, WebPushException

ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc:def"
UA_KEY = generate_private_key()
POINT = uncompressed_point(UA_KEY.public_key())
AUTH = bytes(range(0xA0, 0xB0))  # distinctive: easy to spot if it leaks
AUTH_B64 = b64url_encode(AUTH)

# 0x04 || X || Y+1: right length and prefix, but off the curve.
_y = int.from_bytes(POINT[33:], "big")
OFF_CURVE = POINT[:33] + ((_y + 1) % (2**256)).to_bytes(32, "big")


def info(**overrides: Any) -> dict[str, Any]:
    keys: dict[str, Any] = {"p256dh": b64url_encode(POINT), "auth": AUTH_B64}
    data: dict[str, Any] = {"endpoint": ENDPOINT, "expirationTime": None, "keys": keys}
    for name, value in overrides.items():
        target, key = (keys, name[5:]) if name.startswith("keys_") else (data, name)
        if value is _DELETE:
            target.pop(key)
        else:
            target[key] = value
    return data


_DELETE = object()


def test_parses_browser_json() -> None:
    sub = Subscription.from_info(info())
    assert sub.endpoint == ENDPOINT
    assert sub.p256dh == POINT
    assert sub.auth == AUTH
    assert uncompressed_point(sub.ua_public_key) == POINT


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.urlsafe_b64encode(b).decode(),  # padded base64url
        lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),  # unpadded
        lambda b: base64.b64encode(b).decode(),  # standard alphabet, padded
        lambda b: base64.b64encode(b).decode().rstrip("="),  # standard, unpadded
        # bytes: what base64.urlsafe_b64encode returns, stored as is (pywebpush accepts it)
        base64.urlsafe_b64encode,
        lambda b: base64.urlsafe_b64encode(b).strip(b"="),
        lambda b: bytearray(base64.b64encode(b).rstrip(b"=")),
        lambda b: b" " + base64.urlsafe_b64encode(b) + b"\n",  # surrounding whitespace
    ],
    ids=[
        "b64url-padded",
        "b64url",
        "std-padded",
        "std",
        "bytes-padded",
        "bytes",
        "bytearray-std",
        "bytes-whitespace",
    ],
)
def test_key_encodings_accepted(encode: Any) -> None:
    # A point/auth whose encodings actually contain '+' / '/' or '-' / '_'.
    for _ in range(50):
        point = uncompressed_point(generate_private_key().public_key())
        if set(base64.b64encode(point)) & set(b"+/"):
            break
    auth = b"\xfb\xff\xbf" * 5 + b"\x00"
    sub = Subscription.from_info(info(keys_p256dh=encode(point), keys_auth=encode(auth)))
    assert sub.p256dh == point
    assert sub.auth == auth


def test_extra_members_ignored_and_other_mappings_accepted() -> None:
    data = info(expirationTime=1700000000000, foo="bar", keys_extra="x")
    sub = Subscription.from_info(types.MappingProxyType(data))
    assert sub.endpoint == ENDPOINT


def test_callers_dict_not_mutated() -> None:
    data = info()
    before = copy.deepcopy(data)
    Subscription.from_info(data)
    assert data == before


def test_from_info_returns_subscription_unchanged() -> None:
    sub = Subscription.from_info(info())
    assert Subscription.from_info(sub) is sub


BAD = [
    # (subscription_info, field, words the message must contain)
    ("not a mapping", "subscription_info", "mapping"),
    (None, "subscription_info", "mapping"),
    (info(endpoint=_DELETE), "endpoint", "missing"),
    (info(endpoint=123), "endpoint", "string"),
    (info(endpoint=b"https://x.example/"), "endpoint", "string"),
    (info(endpoint="ftp://push.example.com/x"), "endpoint", "scheme"),
    (info(endpoint="push.example.com/x"), "endpoint", "scheme"),
    (info(endpoint="https:///path"), "endpoint", "host"),
    (info(endpoint="https://host:99999/"), "endpoint", "URL"),
    (info(endpoint="https://host/a b"), "endpoint", "spaces"),
    (info(endpoint="https://host/\r\nX-Evil: 1"), "endpoint", "control"),
    (info(keys=None), "keys", "mapping"),
    (info(keys="p256dh=..."), "keys", "mapping"),
    (info(keys_p256dh=_DELETE), "keys.p256dh", "missing"),
    (info(keys_p256dh=None), "keys.p256dh", "string"),
    (info(keys_p256dh=POINT), "keys.p256dh", "non-ASCII bytes"),  # the raw point
    (info(keys_p256dh=bytearray(POINT)), "keys.p256dh", "urlsafe_b64encode"),
    (info(keys_p256dh=memoryview(b64url_encode(POINT).encode())), "keys.p256dh", "memoryview"),
    (info(keys_p256dh=b"not*base64!"), "keys.p256dh", "outside the alphabet"),
    (info(keys_p256dh=b64url_encode(POINT[:64]).encode()), "keys.p256dh", "got 64 bytes"),
    (info(keys_p256dh="not*base64!"), "keys.p256dh", "base64"),
    (info(keys_p256dh="A"), "keys.p256dh", "base64"),
    (info(keys_p256dh=b64url_encode(POINT[:64])), "keys.p256dh", "65"),
    (info(keys_p256dh=b64url_encode(POINT + b"\x00")), "keys.p256dh", "65"),
    (info(keys_p256dh=b64url_encode(b"\x02" + POINT[1:33])), "keys.p256dh", "65"),
    (info(keys_p256dh=b64url_encode(b"\x05" + POINT[1:])), "keys.p256dh", "uncompressed"),
    (info(keys_p256dh=b64url_encode(OFF_CURVE)), "keys.p256dh", "curve"),
    (info(keys_p256dh=b64url_encode(b"\x04" + b"\x00" * 64)), "keys.p256dh", "curve"),
    (info(keys_auth=_DELETE), "keys.auth", "missing"),
    (info(keys_auth=16), "keys.auth", "string"),
    (info(keys_auth=AUTH), "keys.auth", "non-ASCII bytes"),  # the raw secret
    (info(keys_auth="é".encode() * 11), "keys.auth", "non-ASCII bytes"),
    (info(keys_auth=b64url_encode(AUTH[:15]).encode()), "keys.auth", "got 15"),
    (info(keys_auth="é" * 22), "keys.auth", "base64"),
    (info(keys_auth=b64url_encode(AUTH[:15])), "keys.auth", "got 15"),
    (info(keys_auth=b64url_encode(AUTH + b"\xaa")), "keys.auth", "got 17"),
    (info(keys_auth=b64url_encode(AUTH[:12])), "keys.auth", "must decode to 16 bytes, got 12"),
    (info(keys_auth=""), "keys.auth", "got 0"),
]


@pytest.mark.parametrize(("data", "field", "words"), BAD)
def test_bad_subscription_info(data: Any, field: str, words: str) -> None:
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription.from_info(data)
    err = excinfo.value
    assert isinstance(err, WebPushException)
    assert isinstance(err, ValueError)
    assert err.field == field
    assert field in err.message
    assert words in err.message
    # The auth secret (or any slice of it) never shows up.
    keys = data.get("keys") if isinstance(data, dict) else None
    auth = keys.get("auth") if isinstance(keys, dict) else None
    for text in (str(err), repr(err)):
        assert AUTH_B64[:8] not in text
        if isinstance(auth, str) and len(auth) >= 8:
            assert auth not in text


def test_keys_may_be_left_out_for_pushes_without_data() -> None:
    """RFC 8030 §5: a push message without payload needs no keys (RFC 8291 encrypts data)."""
    sub = Subscription.from_info(info(keys=_DELETE))
    assert sub.endpoint == ENDPOINT and sub.origin == "https://fcm.googleapis.com"
    assert (sub.has_keys, sub.p256dh, sub.auth, sub.ua_public_key) == (False, b"", b"", None)
    assert sub.to_info() == {"endpoint": ENDPOINT}
    assert Subscription.from_info(sub.to_info()) == sub
    assert Subscription(ENDPOINT) == sub  # direct construction, no keys
    # Whatever would encrypt for it asks for the keys, saying how to get them.
    with pytest.raises(InvalidSubscription) as caught:
        sub.require_keys()
    assert caught.value.field == "keys"
    for words in ("keys is missing", "keys.p256dh", "keys.auth", "toJSON", "no data"):
        assert words in caught.value.message
    # The fan-out's outline (encryption in another process) needs them: same error.
    for keyless in (info(keys=_DELETE), sub):
        with pytest.raises(InvalidSubscription) as caught:
            Subscription.fields(keyless)
        assert caught.value.field == "keys" and "keys is missing" in caught.value.message
    # With keys, require_keys gives the loaded key; fields works as before.
    full = Subscription.from_info(info())
    assert full.has_keys and full.require_keys() is full.ua_public_key
    assert Subscription.fields(full)[2:] == (POINT, AUTH)


@pytest.mark.parametrize(
    ("p256dh", "auth", "key", "field"),
    [
        (POINT, b"", None, "keys.auth"),
        (b"", AUTH, None, "keys.p256dh"),
        (b"", b"", UA_KEY.public_key(), "keys.p256dh"),
        (POINT, AUTH, None, "keys.p256dh"),
    ],
    ids=["no-auth", "no-p256dh", "key-without-point", "no-loaded-key"],
)
def test_direct_construction_has_all_keys_or_none(
    p256dh: bytes, auth: bytes, key: Any, field: str
) -> None:
    with pytest.raises(InvalidSubscription) as caught:
        Subscription(ENDPOINT, p256dh, auth, key)
    assert caught.value.field == field


def test_ordering_of_checks_endpoint_first() -> None:
    # Several bad fields: the first in document order is reported.
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription.from_info({"endpoint": 1, "keys": None})
    assert excinfo.value.field == "endpoint"


def test_repr_hides_keys() -> None:
    sub = Subscription.from_info(info())
    text = repr(sub)
    assert text == f"Subscription(endpoint={ENDPOINT!r})"
    assert AUTH_B64 not in text and repr(AUTH) not in text
    assert "p256dh" not in text


def test_direct_construction_checks_lengths() -> None:
    key = UA_KEY.public_key()
    assert Subscription(ENDPOINT, POINT, AUTH, key).auth == AUTH
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription(ENDPOINT, POINT, AUTH[:15], key)
    assert excinfo.value.field == "keys.auth"
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription(ENDPOINT, POINT[:64], AUTH, key)
    assert excinfo.value.field == "keys.p256dh"
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription("gopher://x/", POINT, AUTH, key)
    assert excinfo.value.field == "endpoint"


def test_equality_and_hash_ignore_loaded_key_object() -> None:
    a = Subscription.from_info(info())
    b = Subscription.from_info(info())
    assert a.ua_public_key is not b.ua_public_key
    assert a == b and hash(a) == hash(b)
    assert a != Subscription.from_info(info(keys_auth=b64url_encode(bytes(16))))


def test_frozen() -> None:
    sub = Subscription.from_info(info())
    with pytest.raises(AttributeError):
        sub.endpoint = "https://other.example/"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/x?y=1#z", "https://fcm.googleapis.com"),
        ("https://FCM.GoogleAPIs.com/x", "https://fcm.googleapis.com"),
        ("HTTPS://push.example.com:443/x", "https://push.example.com"),
        ("https://push.example.com:8443/x", "https://push.example.com:8443"),
        ("http://push.example.com:80/x", "http://push.example.com"),
        ("http://push.example.com:443/x", "http://push.example.com:443"),
        ("https://user:pw@push.example.com/x", "https://push.example.com"),
        ("http://127.0.0.1:8080/push/1", "http://127.0.0.1:8080"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]"),
    ],
)
def test_origin(endpoint: str, origin: str) -> None:
    assert Subscription.from_info(info(endpoint=endpoint)).origin == origin


def test_to_info_round_trip() -> None:
    sub = Subscription.from_info(info())
    out = sub.to_info()
    assert out == {"endpoint": ENDPOINT, "keys": {"p256dh": b64url_encode(POINT), "auth": AUTH_B64}}
    assert "=" not in out["keys"]["p256dh"] + out["keys"]["auth"]
    assert Subscription.from_info(out) == sub


@settings(max_examples=40, deadline=None)
@given(
    scalar=st.integers(min_value=1, max_value=ORDER - 1),
    auth=st.binary(min_size=16, max_size=16),
    path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_:/", max_size=40),
)
def test_round_trip_property(scalar: int, auth: bytes, path: str) -> None:
    from webpush_core._p256 import private_key_from_scalar

    point = uncompressed_point(private_key_from_scalar(scalar.to_bytes(32, "big")).public_key())
    data = {
        "endpoint": "https://push.example.com/" + path,
        "keys": {"p256dh": b64url_encode(point), "auth": b64url_encode(auth)},
    }
    sub = Subscription.from_info(data)
    assert (sub.p256dh, sub.auth) == (point, auth)
    assert sub.to_info() == data
    assert b64url_encode(auth) not in repr(sub)


@settings(max_examples=60, deadline=None)
@given(auth=st.binary(max_size=40).filter(lambda b: len(b) != 16))
def test_wrong_auth_length_property(auth: bytes) -> None:
    with pytest.raises(InvalidSubscription) as excinfo:
        Subscription.from_info(info(keys_auth=b64url_encode(auth)))
    assert excinfo.value.field == "keys.auth"
    assert f"got {len(auth)}" in excinfo.value.message


# The shortcut for plain push-service URLs must give what urlsplit's reading gives.
_PIECES = [
    "https://",
    "http://",
    "HTTPS://",
    "ftp://",
    "https:/",
    "//",
    "",
    "push.example.net",
    "PUSH.Example.net",
    "a",
    ".",
    "a..b",
    "host.",
    "[::1]",
    "127.0.0.1",
    "user:pw@",
    "@",
    ":",
    ":443",
    ":80",
    ":0",
    ":00443",
    ":65535",
    ":65536",
    ":99999",
    ":123456",
    ":-1",
    ":x",
    "/",
    "/push/x",
    "?q=1",
    "#frag",
    "\\",
    " ",
    "\t",
    "\x7f",
    "\x00",
    "é",
    "%41",
    "-",
    "_",
    "~",
    "\x85",
    "\xa0",
    "\u202e",
    "\ufeff",
]
_URLS = st.one_of(
    # URL-shaped: scheme, host, port, then anything.
    st.tuples(
        st.sampled_from(_PIECES[:7]),
        st.sampled_from(_PIECES[6:15]),
        st.sampled_from(["", *_PIECES[15:28]]),
        st.lists(st.sampled_from(_PIECES), max_size=4).map("".join),
    ).map("".join),
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=7).map("".join),
)


def _outcome(check: Any, endpoint: str) -> str:
    try:
        return "origin " + check(endpoint)
    except InvalidSubscription as e:
        return f"refused ({e.field})"


@given(_URLS)
@settings(max_examples=3000, deadline=None)
def test_plain_url_shortcut_gives_the_general_origin(endpoint: str) -> None:
    from webpush_core._subscription import _check_endpoint, _check_endpoint_general

    assert _outcome(_check_endpoint, endpoint) == _outcome(_check_endpoint_general, endpoint)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://fcm.googleapis.com/fcm/send/abc:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB",
        "https://web.push.apple.com/QGuQyavXutnMfeOEOlSqnADqmu",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB%2f",
        "https://push.example.net:443/x",
        "https://push.example.net:8443/x",
        "http://127.0.0.1:8080/push/x",
        "https://push.example.net:65536/x",
        "https://push.example.net:00443/x",
    ],
)
def test_plain_url_shortcut_on_real_endpoints(endpoint: str) -> None:
    from webpush_core._subscription import _check_endpoint, _check_endpoint_general

    assert _outcome(_check_endpoint, endpoint) == _outcome(_check_endpoint_general, endpoint)


# An endpoint is visible ASCII only, 0x21-0x7E. The table: every code point up
# to 0xFF, then the invisible and control text beyond it that would reach a log
# line or a terminal as it is (line/paragraph separators, bidi controls,
# zero-width characters, BOM, soft hyphen, a non-BMP character).
_BEYOND_LATIN1 = ["\u061c", "\u200b", "\u200d", "\u2028", "\u2029", "\u202e", "\ufeff"]
_CHARS = [chr(c) for c in range(0x100)] + [*_BEYOND_LATIN1, "\U0001f600"]
# Where a character may stand in an endpoint; "{}" is replaced by it. The
# first five take the shortcut for plain URLs, the rest the general path.
_PLACES = [
    "https://push.example.com/push/a{}b",
    "https://push.example.com/push?k={}",
    "https://push.example.com/push#{}",
    "https://push.example.com:8443/{}",
    "http://push.example.com/{}",
    "HTTPS://push.example.com/push/a{}b",
    "https://Push.Example.com/push?k={}",
    "https://user@push.example.com/{}",
]


def _visible_ascii(char: str) -> bool:
    return 0x21 <= ord(char) <= 0x7E


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("char", _CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_an_endpoint_is_visible_ascii_only(char: str, place: str) -> None:
    from webpush_core._subscription import _check_endpoint, _check_endpoint_general

    endpoint = place.format(char)
    if _visible_ascii(char):
        origin = "https://push.example.com"
        if ":8443" in place:
            origin += ":8443"
        elif place.startswith("http:"):
            origin = "http://push.example.com"
        assert Subscription.from_info(info(endpoint=endpoint)).origin == origin
        assert _check_endpoint_general(endpoint) == origin
        return
    for check in (Subscription.from_info, Subscription.fields):
        with pytest.raises(InvalidSubscription) as excinfo:
            check(info(endpoint=endpoint))
        err = excinfo.value
        assert err.field == "endpoint"
        assert "visible ASCII" in err.message and "percent-encode" in err.message
        assert f"U+{ord(char):04X} at offset {endpoint.index(char)}" in err.message
        if char != " ":  # (the message has spaces of its own)
            assert char not in str(err) and char not in repr(err)
    with pytest.raises(InvalidSubscription):
        _check_endpoint(endpoint)  # the shortcut and the general path alike
    with pytest.raises(InvalidSubscription):
        _check_endpoint_general(endpoint)


@pytest.mark.parametrize("char", ["\t", "\x7f", "\x85", "\u202e", "\u0430"])
def test_a_non_ascii_host_is_refused_with_the_fix(char: str) -> None:
    # Browsers give hosts in punycode (IDNA): "xn--..." passes.
    assert Subscription.from_info(info(endpoint="https://xn--80ak6aa92e.example/x"))
    with pytest.raises(InvalidSubscription, match="punycode") as excinfo:
        Subscription.from_info(info(endpoint=f"https://push{char}.example.com/x"))
    assert excinfo.value.field == "endpoint" and char not in str(excinfo.value)


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u202e", "\ufeff"])
def test_a_directly_built_subscription_gets_the_same_rule(char: str) -> None:
    good = Subscription.from_info(info())
    with pytest.raises(InvalidSubscription, match="visible ASCII"):
        Subscription(f"https://push.example.com/{char}", good.p256dh, good.auth, good.ua_public_key)
