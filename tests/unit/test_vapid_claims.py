"""VAPID claims rules (RFC 8292 §2, §2.1): each bad claim is refused, naming it."""

from __future__ import annotations

import copy
import logging
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core.errors import VapidError
from webpush_core.vapid import Vapid, _claims, validate_claims

NOW = 1_800_000_000.0
SUB = "mailto:ops@example.com"
AUD = "https://push.example.net"

LABEL = "a" * 63
LONGEST = ".".join([LABEL, LABEL, LABEL, "a" * 57]) + ".com"  # 253 octets, DNS's limit
ONE_PAST = ".".join([LABEL, LABEL, LABEL, "a" * 58]) + ".com"
GOOD_SUBS = [
    SUB,
    f"mailto:ops@{LONGEST}",
    "MAILTO:ops@example.com",
    "mailto:first.last+tag@mail.sub.example.co.uk",
    "mailto:o'brien@example.org",
    "mailto:ops@xn--bcher-kva.example",
    "https://example.com",
    "https://example.com/contact?x=1",
    "https://push-admin.example.org:8443/about",
]

BAD_SUBS: list[tuple[Any, str]] = [
    (
        f"mailto:ops@{ONE_PAST}",  # one octet past DNS's 253, every label valid
        f"'sub' 'mailto:ops@{ONE_PAST[:65]}... does not have a real-looking mail domain",
    ),  # (the value shown is clipped to 80 characters)
    (
        "mailto:ops@localhost.",
        "'sub' 'mailto:ops@localhost.' is on localhost; push services (Apple) refuse it",
    ),
    (
        "https://app.localhost.",
        "'sub' 'https://app.localhost.' is on localhost; push services (Apple) refuse it",
    ),
    (
        "mailto:ops<x@example.com",
        "'sub' 'mailto:ops<x@example.com' must be a bare address, without angle brackets or a name",
    ),
    (
        "mailto:ops@example.com>",
        "'sub' 'mailto:ops@example.com>' must be a bare address, without angle brackets or a name",
    ),
    ("https://user@example.com", "'sub' 'https://user@example.com' must not carry credentials"),
    ("https://:pw@example.com", "'sub' 'https://:pw@example.com' must not carry credentials"),
    (
        None,
        "vapid_claims needs 'sub': a contact for the push service, 'mailto:you@example.com' or "
        "an https: URL (RFC 8292 §2.1)",
    ),
    (
        "",
        "vapid_claims needs 'sub': a contact for the push service, 'mailto:you@example.com' or "
        "an https: URL (RFC 8292 §2.1)",
    ),
    (
        "ops@example.com",
        "'sub' 'ops@example.com' is a bare email address; write it as a mailto: URI, e.g. "
        "'mailto:ops@example.com' (RFC 8292 §2.1)",
    ),  # the message shows the fix
    ("mailto:ops @example.com", "'sub' 'mailto:ops @example.com' must not contain spaces"),
    (" mailto:ops@example.com", "'sub' ' mailto:ops@example.com' must not contain spaces"),
    ("mailto:ops@example.com\n", "'sub' 'mailto:ops@example.com\\n' must not contain spaces"),
    (
        "mailto:<ops@example.com>",
        "'sub' 'mailto:<ops@example.com>' must be a bare address, without angle brackets or a name",
    ),
    (
        "mailto:Ops<ops@example.com>",
        "'sub' 'mailto:Ops<ops@example.com>' must be a bare address, without angle brackets or a "
        "name",
    ),
    (
        "mailto:ops@localhost",
        "'sub' 'mailto:ops@localhost' is on localhost; push services (Apple) refuse it",
    ),
    (
        "mailto:ops@LOCALHOST",
        "'sub' 'mailto:ops@LOCALHOST' is on localhost; push services (Apple) refuse it",
    ),
    (
        "mailto:ops@dev.localhost",
        "'sub' 'mailto:ops@dev.localhost' is on localhost; push services (Apple) refuse it",
    ),
    (
        "mailto:ops@127.0.0.1",
        "'sub' 'mailto:ops@127.0.0.1' is on localhost; push services (Apple) refuse it",
    ),
    ("mailto:mailto:ops@example.com", "'sub' 'mailto:mailto:ops@example.com' repeats 'mailto:'"),
    ("mailto:MAILTO:ops@example.com", "'sub' 'mailto:MAILTO:ops@example.com' repeats 'mailto:'"),
    (
        "mailto:ops",
        "'sub' 'mailto:ops' is not a mailto: URI with one plain address (user@example.com, no "
        "query, no list)",
    ),
    (
        "mailto:@example.com",
        "'sub' 'mailto:@example.com' is not a mailto: URI with one plain address "
        "(user@example.com, no query, no list)",
    ),
    (
        "mailto:",
        "'sub' 'mailto:' is not a mailto: URI with one plain address (user@example.com, no "
        "query, no list)",
    ),
    (
        "mailto:a@example.com,b@example.com",
        "'sub' 'mailto:a@example.com,b@example.com' is not a mailto: URI with one plain address "
        "(user@example.com, no query, no list)",
    ),
    ("mailto:ops@example", "'sub' 'mailto:ops@example' does not have a real-looking mail domain"),
    (
        "mailto:ops@example.com?subject=hi",
        "'sub' 'mailto:ops@example.com?subject=hi' does not have a real-looking mail domain",
    ),
    (
        "mailto:ops@-example.com",
        "'sub' 'mailto:ops@-example.com' does not have a real-looking mail domain",
    ),
    (
        "mailto:ops@example..com",
        "'sub' 'mailto:ops@example..com' does not have a real-looking mail domain",
    ),
    (
        "http://example.com",
        "'sub' 'http://example.com' must be a mailto: address or an https: URL (RFC 8292 §2.1)",
    ),
    (
        "example.com",
        "'sub' 'example.com' must be a mailto: address or an https: URL (RFC 8292 §2.1)",
    ),
    (
        "tel:+15551234",
        "'sub' 'tel:+15551234' must be a mailto: address or an https: URL (RFC 8292 §2.1)",
    ),
    ("https://", "'sub' 'https://' is an https: URL without a host"),
    ("https:///path", "'sub' 'https:///path' is an https: URL without a host"),
    (
        "https://localhost",
        "'sub' 'https://localhost' is on localhost; push services (Apple) refuse it",
    ),
    (
        "https://localhost:8080/contact",
        "'sub' 'https://localhost:8080/contact' is on localhost; push services (Apple) refuse it",
    ),
    (
        "https://127.0.0.1",
        "'sub' 'https://127.0.0.1' is on localhost; push services (Apple) refuse it",
    ),
    ("https://[::1]/", "'sub' 'https://[::1]/' is on localhost; push services (Apple) refuse it"),
    ("https://0.0.0.0", "'sub' 'https://0.0.0.0' is on localhost; push services (Apple) refuse it"),
    (
        "https://app.localhost",
        "'sub' 'https://app.localhost' is on localhost; push services (Apple) refuse it",
    ),
    (
        "https://user:pw@example.com",
        "'sub' 'https://user:pw@example.com' must not carry credentials",
    ),
    ("https://example.com:99999", "'sub' 'https://example.com:99999' is not a valid https: URL"),
    (42, "'sub' must be a string, got int"),
    (["mailto:ops@example.com"], "'sub' must be a string, got list"),
]

GOOD_AUDS = [
    AUD,
    "https://fcm.googleapis.com",
    "https://updates.push.services.mozilla.com",
    "https://web.push.apple.com",
    "https://push.example.net:8443",
    "http://localhost:8090",  # the local test push service
    "http://127.0.0.1:4000",
    "https://[2001:db8::1]:8443",
]

BAD_AUDS: list[tuple[Any, str]] = [
    (
        "https://push.example?",  # an empty query is still a query
        "'aud' 'https://push.example?' must be an origin, scheme://host[:port], with no path, "
        "query or trailing slash (RFC 8292 §2)",
    ),
    (
        "",
        "vapid_claims needs 'aud': the push service's origin, e.g. 'https://fcm.googleapis.com' "
        "(RFC 8292 §2)",
    ),
    (
        "fcm.googleapis.com",
        "'aud' 'fcm.googleapis.com' must start with lowercase 'https://' (or 'http://')",
    ),
    (
        "//fcm.googleapis.com",
        "'aud' '//fcm.googleapis.com' must start with lowercase 'https://' (or 'http://')",
    ),
    (
        "https://fcm.googleapis.com/",
        "'aud' 'https://fcm.googleapis.com/' must be an origin, scheme://host[:port], with no "
        "path, query or trailing slash (RFC 8292 §2)",
    ),
    (
        "https://fcm.googleapis.com/fcm/send/abc",
        "'aud' 'https://fcm.googleapis.com/fcm/send/abc' must be an origin, "
        "scheme://host[:port], with no path, query or trailing slash (RFC 8292 §2)",
    ),
    (
        "https://fcm.googleapis.com?x=1",
        "'aud' 'https://fcm.googleapis.com?x=1' must be an origin, scheme://host[:port], with no "
        "path, query or trailing slash (RFC 8292 §2)",
    ),
    (
        "https://fcm.googleapis.com#frag",
        "'aud' 'https://fcm.googleapis.com#frag' must be an origin, scheme://host[:port], with "
        "no path, query or trailing slash (RFC 8292 §2)",
    ),
    (
        "https://fcm.googleapis.com#",
        "'aud' 'https://fcm.googleapis.com#' must be an origin, scheme://host[:port], with no "
        "path, query or trailing slash (RFC 8292 §2)",
    ),
    (
        "https://FCM.googleapis.com",
        "'aud' 'https://FCM.googleapis.com' must be lowercase, as origins are",
    ),
    (
        "HTTPS://fcm.googleapis.com",
        "'aud' 'HTTPS://fcm.googleapis.com' must start with lowercase 'https://' (or 'http://')",
    ),
    (
        "https://fcm.googleapis.com:443",
        "'aud' 'https://fcm.googleapis.com:443' must leave out the default port (RFC 6454 §6.2)",
    ),
    (
        "http://push.example.net:80",
        "'aud' 'http://push.example.net:80' must leave out the default port (RFC 6454 §6.2)",
    ),
    ("https://push.example.net:0", "'aud' 'https://push.example.net:0' has port 0"),
    (
        "https://push.example.net:99999",
        "'aud' 'https://push.example.net:99999' is not a valid origin",
    ),
    (
        "https://push.example.net:http",
        "'aud' 'https://push.example.net:http' is not a valid origin",
    ),
    (
        "ftp://push.example.net",
        "'aud' 'ftp://push.example.net' must start with lowercase 'https://' (or 'http://')",
    ),
    (
        "wss://push.example.net",
        "'aud' 'wss://push.example.net' must start with lowercase 'https://' (or 'http://')",
    ),
    ("https://", "'aud' 'https://' has no valid host"),
    ("https://u@push.example.net", "'aud' 'https://u@push.example.net' must not carry credentials"),
    ("https://push example.net", "'aud' 'https://push example.net' has no valid host"),
    (5, "'aud' must be a string, got int"),
    (b"https://push.example.net", "'aud' must be a string, got bytes"),
]

BAD_EXPS: list[tuple[Any, str]] = [
    (int(NOW) + 3600.0, "'exp' must be an integer (seconds since the epoch), got float"),
    (str(int(NOW) + 3600), "'exp' must be an integer (seconds since the epoch), got str"),
    (True, "'exp' must be an integer (seconds since the epoch), got bool"),
    ([int(NOW) + 60], "'exp' must be an integer (seconds since the epoch), got list"),
    (  # the limit plus one: still refused
        int(NOW) + 24 * 3600 + 1,
        "'exp' 1800086401 is more than 24 hours ahead (now is 1800000000; RFC 8292 §2)",
    ),
    (
        int(NOW) + 7 * 24 * 3600,
        "'exp' 1800604800 is more than 24 hours ahead (now is 1800000000; RFC 8292 §2)",
    ),
    (
        10**30,
        "'exp' 1000000000000000000000000000000 is more than 24 hours ahead (now is 1800000000; "
        "RFC 8292 §2)",
    ),
]


@pytest.mark.parametrize("sub", GOOD_SUBS)
def test_good_subs(sub: str) -> None:
    assert validate_claims({"sub": sub}, now=NOW)["sub"] == sub


@pytest.mark.parametrize(("sub", "message"), BAD_SUBS, ids=[repr(s) for s, _ in BAD_SUBS])
def test_bad_subs(sub: Any, message: str) -> None:
    claims = {"aud": AUD} if sub is None else {"sub": sub, "aud": AUD}
    with pytest.raises(VapidError) as info:
        validate_claims(claims, now=NOW)
    assert (str(info.value), info.value.field) == (message, "vapid_claims.sub")


def test_plain_email_message_says_add_mailto() -> None:
    with pytest.raises(VapidError) as info:
        validate_claims({"sub": "ops@example.com"}, now=NOW)
    assert "bare email" in info.value.message
    assert "'mailto:ops@example.com'" in info.value.message


@pytest.mark.parametrize("aud", GOOD_AUDS)
def test_good_auds(aud: str) -> None:
    assert validate_claims({"sub": SUB, "aud": aud}, now=NOW)["aud"] == aud


@pytest.mark.parametrize(("aud", "message"), BAD_AUDS, ids=[repr(a) for a, _ in BAD_AUDS])
def test_bad_auds(aud: Any, message: str) -> None:
    if aud != "":  # an empty aud is "absent" for validate_claims; sign() requires it
        with pytest.raises(VapidError) as info:
            validate_claims({"sub": SUB, "aud": aud}, now=NOW)
        assert (str(info.value), info.value.field) == (message, "vapid_claims.aud")
    with pytest.raises(VapidError) as info:
        Vapid.generate().sign({"sub": SUB, "aud": aud})
    assert (str(info.value), info.value.field) == (message, "vapid_claims.aud")


def test_sign_requires_aud_but_validate_claims_does_not() -> None:
    assert "aud" not in validate_claims({"sub": SUB}, now=NOW)
    with pytest.raises(VapidError, match="needs 'aud'") as info:
        Vapid.generate().sign({"sub": SUB})
    assert info.value.field == "vapid_claims.aud"


@pytest.mark.parametrize(("exp", "message"), BAD_EXPS, ids=[repr(e) for e, _ in BAD_EXPS])
def test_bad_exps(exp: Any, message: str) -> None:
    with pytest.raises(VapidError) as info:
        validate_claims({"sub": SUB, "aud": AUD, "exp": exp}, now=NOW)
    assert (str(info.value), info.value.field) == (message, "vapid_claims.exp")


@pytest.mark.parametrize("ahead", [1, 60, 12 * 3600, 24 * 3600])
def test_good_exps(ahead: int) -> None:
    exp = int(NOW) + ahead
    assert validate_claims({"sub": SUB, "exp": exp}, now=NOW)["exp"] == exp


# At or before now, what pywebpush replaces with now + 12 h (its own test: exp 48600 s ago).
PAST_EXPS = [int(NOW), int(NOW) - 1, int(NOW) - 48600, 1, 0, -5]


@pytest.mark.parametrize("exp", PAST_EXPS)
def test_a_past_exp_is_replaced_by_the_default_lifetime(exp: int) -> None:
    claims = {"sub": SUB, "aud": AUD, "exp": exp}
    out = validate_claims(claims, now=NOW + 0.7)
    assert out == {"sub": SUB, "aud": AUD, "exp": int(NOW) + 12 * 3600}
    assert claims["exp"] == exp  # the caller's dict is left alone


def test_a_past_exp_is_reported_once_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="webpush_core.vapid")
    _claims._PAST_EXP_REPORTED.clear()
    stale = int(NOW) - 600
    for _ in range(3):
        validate_claims({"sub": SUB, "exp": stale}, now=NOW)
    validate_claims({"sub": SUB, "exp": int(NOW) + 60}, now=NOW)  # in the future: nothing
    records = [r for r in caplog.records if r.name == "webpush_core.vapid"]
    assert len(records) == 1
    assert records[0].levelno == logging.DEBUG
    assert records[0].getMessage() == (
        f"vapid_claims 'exp' {stale} is 600 s in the past: signing with exp = now + 43200 s "
        "instead (as pywebpush does); leave 'exp' out to get that every time"
    )
    # Other claims (another exp, another sub) are reported once each too.
    validate_claims({"sub": SUB, "exp": stale - 1}, now=NOW)
    validate_claims({"sub": "mailto:b@example.com", "exp": stale}, now=NOW)
    validate_claims({"sub": "mailto:b@example.com", "exp": stale}, now=NOW)
    assert len([r for r in caplog.records if r.name == "webpush_core.vapid"]) == 3


def test_the_past_exp_memory_is_bounded() -> None:
    _claims._PAST_EXP_REPORTED.clear()
    for i in range(_claims._PAST_EXP_MAX * 3):
        validate_claims({"sub": SUB, "exp": i}, now=NOW)
        assert len(_claims._PAST_EXP_REPORTED) <= _claims._PAST_EXP_MAX
    assert len(_claims._PAST_EXP_REPORTED) >= 1


def test_claims_made_at_start_up_keep_signing_in_a_long_lived_process() -> None:
    """VAPID_CLAIMS = {"sub": ..., "exp": int(time.time()) + 43200}, computed once."""
    clock = [NOW]
    key = Vapid(clock=lambda: clock[0])
    claims = {"sub": SUB, "aud": AUD, "exp": int(NOW) + 43200}
    # As given while it is in the future; a fresh 12 h token once it is past.
    for hours, expected in ((0, int(NOW) + 43200), (11.5, int(NOW) + 43200), (13, None),
                            (30, None), (24 * 365, None)):  # fmt: skip
        clock[0] = NOW + hours * 3600
        token = key.verify(key.sign(claims)["Authorization"], audience=AUD)  # valid now
        assert token["exp"] == (expected or int(clock[0]) + 43200), hours
    assert claims["exp"] == int(NOW) + 43200


def test_exp_defaults_to_twelve_hours_and_input_is_not_mutated() -> None:
    claims = {"sub": SUB, "aud": AUD, "extra": {"nested": [1, 2]}}
    before = copy.deepcopy(claims)
    out = validate_claims(claims, now=NOW + 0.7)
    assert out == {**before, "exp": int(NOW) + 12 * 3600}
    assert out is not claims
    assert claims == before
    assert "exp" not in claims
    # exp given as None also means "default".
    assert validate_claims({"sub": SUB, "exp": None}, now=NOW)["exp"] == int(NOW) + 43200


def test_validate_claims_uses_the_real_clock_by_default() -> None:
    import time

    before = int(time.time())
    exp = validate_claims({"sub": SUB})["exp"]
    assert before + 43200 <= exp <= int(time.time()) + 43200


def test_mapping_types() -> None:
    proxy = types.MappingProxyType({"sub": SUB, "aud": AUD})
    assert validate_claims(proxy, now=NOW)["aud"] == AUD
    with pytest.raises(VapidError, match="mapping") as info:
        validate_claims([("sub", SUB)], now=NOW)  # type: ignore[arg-type]
    assert info.value.field == "vapid_claims"
    with pytest.raises(VapidError, match="keys must be strings"):
        validate_claims({"sub": SUB, 1: "x"}, now=NOW)  # type: ignore[dict-item]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sub", "aud", "exp", "iat", "x"]) | st.text(max_size=4),
        json_values | st.sampled_from([SUB, AUD, int(NOW) + 60, "https://a.example/"]),
        max_size=5,
    )
)
def test_validate_claims_only_raises_vapid_error_and_never_mutates(claims: dict[str, Any]) -> None:
    before = copy.deepcopy(claims)
    try:
        out = validate_claims(claims, now=NOW)
    except VapidError as exc:
        assert exc.field is not None and exc.field.startswith("vapid_claims")
    else:
        assert isinstance(out["exp"], int)
        assert NOW < out["exp"] <= NOW + 86400
        assert {k: v for k, v in out.items() if k != "exp"} == {
            k: v for k, v in before.items() if k != "exp"
        }
    assert claims == before


def test_check_exp_on_its_own_at_its_limits() -> None:
    # validate_claims replaces a past int exp before asking; check_exp itself refuses it.
    from webpush_core.vapid._claims import check_exp

    check_exp(int(NOW) + 1, NOW)
    check_exp(int(NOW) + 24 * 3600, NOW)
    with pytest.raises(VapidError) as info:
        check_exp(int(NOW), NOW)
    assert (str(info.value), info.value.field) == (
        f"'exp' {int(NOW)} is not in the future (now is {int(NOW)})",
        "vapid_claims.exp",
    )
