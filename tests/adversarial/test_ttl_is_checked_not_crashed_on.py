"""TTL: every bad value is an InvalidRequest naming the field, never a bare ValueError.

``ttl="²"`` passed ``str.isdigit()`` and then broke ``int()`` (a bare
ValueError out of ``webpush()``, ``build_request()``, ``PushClient``); an int
of more than 4300 digits broke ``str()`` when the header was written (and
``repr()`` in the error meant to refuse it); a ``TTL`` header of 5000 digits
did the same. TTL is delta-seconds (RFC 8030 §5.2): ASCII digits, and a
recipient reads anything above 2**31 as 2**31 (RFC 9111 §1.2.2), so the
range is 0 to 2**31 - 1.
"""

from __future__ import annotations

from typing import Any

import pytest

from webpush_core import PushClient, build_request
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._request.options import check_options
from webpush_core.errors import InvalidRequest

MAX_TTL = 2**31 - 1  # RFC 9111 §1.2.2: a recipient reads more as 2**31

SUB = {
    "endpoint": "https://push.example.com/x",
    "keys": {
        "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
        "auth": b64url_encode(bytes(16)),
    },
}

BAD = [
    "²",  # str.isdigit(), not int()
    "٣",  # Arabic-Indic digit: int() takes it, RFC 9111's DIGIT does not
    "١٢٠",
    "9" * 5000,  # over int()'s digit limit
    "9" * 11,
    str(MAX_TTL + 1),
    "1e3",
    "-1",
    "+5",
    "0x10",
    "",
    10**5000,  # str() and repr() of it raise
    MAX_TTL + 1,
    -1,
    1.5,
    True,
    None,
]


def ids(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value < 10**20 else "huge-int"
    return text[:12]


@pytest.mark.parametrize("ttl", BAD, ids=ids)
def test_a_bad_ttl_argument_is_an_invalid_request(ttl: Any) -> None:
    for check in (
        lambda: build_request(SUB, b"x", ttl=ttl),
        lambda: check_options(ttl=ttl, urgency=None, topic=None),
        lambda: PushClient(ttl=ttl),
    ):
        with pytest.raises(InvalidRequest, match="ttl must be") as caught:
            check()
        assert caught.value.field == "ttl"
        assert len(str(caught.value)) < 200


# (A non-ASCII header value is refused as a header: visible ASCII only.)
@pytest.mark.parametrize(
    "ttl", [v for v in BAD if isinstance(v, str) and v and v.isascii()], ids=ids
)
def test_a_bad_ttl_header_is_an_invalid_request(ttl: str) -> None:
    with pytest.raises(InvalidRequest, match="ttl must be") as caught:
        build_request(SUB, b"x", headers={"TTL": ttl})
    assert caught.value.field == "ttl" and len(str(caught.value)) < 200


@pytest.mark.parametrize("ttl", [0, 1, 60, MAX_TTL, "0", "60", " 60 ", str(MAX_TTL)], ids=ids)
def test_the_range_up_to_the_limit_is_sent(ttl: Any) -> None:
    assert build_request(SUB, b"x", ttl=ttl).headers["TTL"] == str(int(ttl))
    if isinstance(ttl, str):
        assert build_request(SUB, b"x", headers={"TTL": ttl.strip()}).headers["TTL"] == ttl.strip()


def test_an_argument_and_a_header_that_agree_or_conflict() -> None:
    assert build_request(SUB, b"x", ttl="60", headers={"TTL": "60"}).headers["TTL"] == "60"
    with pytest.raises(InvalidRequest, match="given twice"):
        build_request(SUB, b"x", ttl=60, headers={"TTL": "61"})
    with pytest.raises(InvalidRequest, match="ttl must be"):
        build_request(SUB, b"x", ttl=10**5000, headers={"TTL": "60"})
