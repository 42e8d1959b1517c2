"""_text.clean and has_hidden: each rule at its limit and one past.

The categories over all of Unicode and the cleaners that share clean() are in
tests/adversarial/test_invisible_text_never_shown.py; this file holds the
rules one by one: where a removed character leaves a space and where nothing,
the JWT-shaped token's shape, the clip and the window looked at.
"""

from __future__ import annotations

import base64
import json
import unicodedata

import pytest

from webpush_core._text import BREAKS, REMOVED, clean, has_hidden

# One character of each category, and what clean() leaves of "a<c>b".
BY_CATEGORY = {
    "Cc": ("\x07", "a b"),  # BEL: a control is a word boundary
    "Zl": ("\u2028", "a b"),
    "Zp": ("\u2029", "a b"),
    "Cf": ("\u200d", "ab"),  # ZERO WIDTH JOINER: vanishes inside a word
    "Cs": ("\ud800", "ab"),
}


def test_the_categories_are_the_documented_ones() -> None:
    assert frozenset({"Cc", "Zl", "Zp"}) == BREAKS
    assert frozenset({"Cc", "Zl", "Zp", "Cf", "Cs"}) == REMOVED
    assert set(BY_CATEGORY) == REMOVED  # the table below covers every category


@pytest.mark.parametrize("category", sorted(BY_CATEGORY))
def test_a_removed_character_breaks_a_word_or_vanishes_by_its_category(category: str) -> None:
    char, shown = BY_CATEGORY[category]
    assert unicodedata.category(char) == category
    assert clean(f"a{char}b", 10) == shown
    assert clean(f"a{char}{char}b", 10) == shown
    assert has_hidden(f"\u00e9{char}")


def test_visible_text_is_kept_as_it_is() -> None:
    for text in ("plain", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001f600", "a-b_c.d~e"):
        assert clean(text, 50) == text


def test_whitespace_runs_become_one_space_and_the_ends_are_trimmed() -> None:
    assert clean("  a \t\n b\u3000\u00a0c  ", 50) == "a b c"


def _jwt(payload: dict[str, object], signature: bytes = b"sig") -> str:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"typ": "JWT", "alg": "ES256"}).encode())
    return f"{header}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def test_a_jwt_is_replaced_whole() -> None:
    token = _jwt({"aud": "https://push.example", "exp": 1})
    assert clean(f"bad token {token} here", 500) == "bad token [token] here"
    assert clean(f"vapid t={token}, k=BKey", 500) == "vapid t=[token], k=BKey"


def test_an_unsigned_jwt_and_one_without_its_last_dot_are_tokens_too() -> None:
    header, payload, _ = _jwt({"exp": 1}).split(".")
    assert clean(f"x {header}.{payload}. y", 500) == "x [token] y"
    assert clean(f"x {header}.{payload} y", 500) == "x [token] y"


def test_text_that_is_not_a_jwt_is_kept() -> None:
    # "eyJ" starts a JWT's header; without the dot after it, it is a word.
    for text in ("eyJhbGciOiJFUzI1NiJ9", "eyj.abc.def", "xeyJ", "EYJ.a.b"):
        assert clean(text, 500) == text


def test_a_tokens_header_is_replaced_up_to_its_bound() -> None:
    # The match's work is bounded: 2000 characters after "eyJ", then the dot.
    at = "eyJ" + "a" * 2000 + ".b.c"
    assert clean(at, 20_000) == "[token]"
    past = "eyJ" + "a" * 2001 + ".b.c"
    assert clean(past, 20_000) == past


def test_a_tokens_payload_is_replaced_up_to_its_bound() -> None:
    assert clean("eyJa." + "b" * 4000 + ".c", 20_000) == "[token]"
    # One past: the token ends 200 characters into the payload's tail (read as its
    # signature), the rest is left.
    assert clean("eyJa." + "b" * 4001 + ".c", 20_000) == "[token].c"


def test_a_tokens_signature_is_replaced_up_to_its_bound() -> None:
    assert clean("eyJa.b." + "c" * 200, 20_000) == "[token]"
    assert clean("eyJa.b." + "c" * 201, 20_000) == "[token]c"


def test_every_base64url_character_is_part_of_a_token() -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert clean(f"eyJ{alphabet}.{alphabet}.{alphabet}", 20_000) == "[token]"
    # and nothing else: a character outside base64url ends it.
    assert clean("eyJa.b.c+d", 500) == "[token]+d"
    assert clean("eyJa+.b.c", 500) == "eyJa+.b.c"


@pytest.mark.parametrize("limit", [3, 4, 10, 300])
def test_the_clip_at_the_limit_and_one_past(limit: int) -> None:
    exact = "x" * limit
    assert clean(exact, limit) == exact
    assert clean(exact + "y", limit) == "x" * (limit - 3) + "..."


@pytest.mark.parametrize("limit", [1, 2])
def test_a_limit_under_the_ellipsis_shows_the_mark_alone(limit: int) -> None:
    assert clean("x" * limit, limit) == "x" * limit
    assert clean("x" * (limit + 1), limit) == "..."  # nothing of it fits: only that it was cut


def test_a_limit_of_zero_looks_at_nothing() -> None:
    assert clean("xxxx", 0) == ""


@pytest.mark.parametrize("limit", [10, 100])
def test_only_four_times_the_limit_is_looked_at(limit: int) -> None:
    # Hidden characters up to 4 * limit, then a word: at the window's end and one past.
    inside = "\u200b" * (4 * limit - 1) + "w"
    assert clean(inside, limit) == "w"
    outside = "\u200b" * (4 * limit) + "w"
    assert clean(outside, limit) == ""


def test_the_clip_counts_what_is_shown_not_what_was_sent() -> None:
    # Removed characters and collapsed spaces do not count toward the limit.
    assert clean("a\u200b" * 5, 5) == "aaaaa"
    assert clean("a   b", 3) == "a b"


def test_has_hidden_is_false_for_ascii_and_visible_text() -> None:
    assert not has_hidden("https://push.example/p/1")
    assert not has_hidden("https://push.example/p/a b")  # ASCII: the URL checks refuse it
    assert not has_hidden("https://push.example/\u00e9t\u00e9/\u4e2d")
    assert not has_hidden("")


@pytest.mark.parametrize(
    "char",
    ["\x85", "\u200b", "\u202e", "\ufeff", "\u2028", "\u00a0", "\u3000", "\u2003", "\U000e0061"],
)
def test_has_hidden_finds_a_hidden_or_space_character_beyond_ascii(char: str) -> None:
    assert has_hidden(f"https://push.example/{char}x")
    assert has_hidden(char)
