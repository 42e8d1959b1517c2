"""The VAPID token cache: reuse, keys, refresh near expiry, bounds, threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from webpush_core.errors import VapidError
from webpush_core.vapid import Vapid, Vapid01, parse_authorization
from webpush_core.vapid import _vapid as vapid_module

SUB = "mailto:ops@example.com"
AUD = "https://push.example.net"
CLAIMS = {"sub": SUB, "aud": AUD}
T0 = float(int(time.time()))


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """Records the claims of every ECDSA signature the library makes."""
    calls: list[dict[str, Any]] = []
    real = vapid_module._jwt.encode

    def counting(claims: Any, key: Any) -> str:
        calls.append(dict(claims))
        return real(claims, key)

    monkeypatch.setattr(vapid_module._jwt, "encode", counting)
    yield calls


def claims_of(headers: dict[str, str]) -> dict[str, Any]:
    token = headers["Authorization"].split()[1].removeprefix("t=").rstrip(",")
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_same_claims_reuse_the_token(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid.generate()
    first = vapid.sign(CLAIMS)
    original = dict(first)
    for _ in range(50):
        assert vapid.sign(dict(CLAIMS)) == first
    assert len(signatures) == 1
    # The returned dict is the caller's: changing it does not poison the cache.
    first["Authorization"] = "changed"
    first["Crypto-Key"] = "dh=x"
    assert vapid.sign(CLAIMS) == original
    assert len(signatures) == 1


def test_different_claims_get_different_tokens(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid.generate()
    exp = int(time.time()) + 3600
    variants = [
        CLAIMS,
        {**CLAIMS, "aud": "https://fcm.googleapis.com"},
        {**CLAIMS, "sub": "mailto:other@example.com"},
        {**CLAIMS, "exp": exp},
        {**CLAIMS, "exp": exp + 1},
        {**CLAIMS, "jti": "a"},
        {**CLAIMS, "jti": "b"},
        {**CLAIMS, "jti": "a", "x": [1, {"y": 2}]},
    ]
    tokens = [vapid.sign(c)["Authorization"] for c in variants]
    tokens.append(vapid.sign_headers(CLAIMS, scheme="webpush")["Authorization"])
    assert len(set(tokens)) == len(tokens)
    assert len(signatures) == len(tokens)
    for claims, token in zip(variants, tokens):
        assert parse_authorization(token).claims.items() >= claims.items()
    # Same extra claims in another order: the same entry.
    assert vapid.sign({"x": [1, {"y": 2}], "jti": "a", **CLAIMS})["Authorization"] == tokens[7]
    assert len(signatures) == len(tokens)


def test_schemes_are_cached_apart(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid.generate()
    v01 = Vapid01(vapid.private_key)
    a = vapid.sign(CLAIMS)
    b = vapid.sign_headers(CLAIMS, scheme="webpush")
    assert vapid.sign_headers(CLAIMS, scheme="vapid") == a
    assert vapid.sign_headers(CLAIMS, scheme="webpush") == b
    assert v01.sign(CLAIMS)["Crypto-Key"] == b["Crypto-Key"]
    assert len(signatures) == 3  # v01 is another object with its own cache


def test_token_is_refreshed_near_expiry(signatures: list[dict[str, Any]]) -> None:
    clock = FakeClock()
    vapid = Vapid(Vapid.generate().private_key, clock=clock)
    first = vapid.sign(CLAIMS)
    assert claims_of(first)["exp"] == int(T0) + 12 * 3600
    clock.now = T0 + 10 * 3600
    assert vapid.sign(CLAIMS) == first
    clock.now = T0 + 11 * 3600 - 1  # just outside the 1 h safety margin
    assert vapid.sign(CLAIMS) == first
    assert len(signatures) == 1
    clock.now = T0 + 11 * 3600  # within 1 h of exp: a new token
    second = vapid.sign(CLAIMS)
    assert second != first
    assert claims_of(second)["exp"] == int(T0) + 23 * 3600
    assert len(signatures) == 2
    clock.now = T0 + 20 * 3600
    assert vapid.sign(CLAIMS) == second
    assert len(signatures) == 2


def test_explicit_exp_is_part_of_the_key_and_expires(signatures: list[dict[str, Any]]) -> None:
    clock = FakeClock()
    vapid = Vapid(Vapid.generate().private_key, clock=clock)
    claims = {**CLAIMS, "exp": int(T0) + 2 * 3600}
    first = vapid.sign(claims)
    assert claims_of(first)["exp"] == int(T0) + 2 * 3600
    assert vapid.sign(claims) == first
    assert len(signatures) == 1
    clock.now = T0 + 3600 + 1  # within the margin: re-signed (same exp, new signature)
    assert claims_of(vapid.sign(claims))["exp"] == int(T0) + 2 * 3600
    assert len(signatures) == 2
    # exp reached: signed with a fresh exp, now + 12 h, as pywebpush does; that
    # token is then cached as any other (until an hour before its own exp).
    clock.now = T0 + 2 * 3600
    fresh = vapid.sign(claims)
    assert claims_of(fresh)["exp"] == int(T0) + 2 * 3600 + 12 * 3600
    assert len(signatures) == 3
    clock.now = T0 + 2 * 3600 + 11 * 3600 - 1
    assert vapid.sign(claims) == fresh and len(signatures) == 3
    clock.now = T0 + 2 * 3600 + 11 * 3600
    assert claims_of(vapid.sign(claims))["exp"] == int(clock.now) + 12 * 3600
    assert len(signatures) == 4
    assert claims["exp"] == int(T0) + 2 * 3600


def test_cache_is_bounded_lru(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid(Vapid.generate().private_key, cache_size=3)
    auds = [f"https://push{i}.example.net" for i in range(5)]
    for aud in auds:
        vapid.sign({**CLAIMS, "aud": aud})
    assert len(vapid._cache) == 3
    assert len(signatures) == 5
    vapid.sign({**CLAIMS, "aud": auds[4]})  # recent: a hit
    vapid.sign({**CLAIMS, "aud": auds[2]})  # a hit, now most recent
    assert len(signatures) == 5
    vapid.sign({**CLAIMS, "aud": auds[0]})  # evicted long ago: signed again
    assert len(signatures) == 6
    vapid.sign({**CLAIMS, "aud": auds[2]})
    vapid.sign({**CLAIMS, "aud": auds[4]})
    assert len(signatures) == 6  # the LRU victim was auds[3]
    vapid.sign({**CLAIMS, "aud": auds[3]})
    assert len(signatures) == 7


def test_invalid_claims_are_never_cached(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid.generate()
    exp = int(time.time()) + 3 * 3600  # cached until an hour before: live in the cache now
    first = vapid.sign({**CLAIMS, "exp": exp})
    assert vapid.sign({**CLAIMS, "exp": exp}) == first
    # A float exp hashes like the int: it must still be refused, not served from cache.
    with pytest.raises(VapidError, match=r"^'exp' must be an integer"):
        vapid.sign({**CLAIMS, "exp": float(exp)})
    for _ in range(2):
        with pytest.raises(VapidError):
            vapid.sign({"sub": "ops@example.com", "aud": AUD})
    assert len(signatures) == 1


def test_generate_keys_drops_cached_tokens() -> None:
    vapid = Vapid.generate()
    before = vapid.sign(CLAIMS)
    vapid.generate_keys()
    after = vapid.sign(CLAIMS)
    assert after != before
    assert vapid.verify(after["Authorization"])["aud"] == AUD
    with pytest.raises(VapidError):
        vapid.verify(before["Authorization"])


def test_concurrent_sign_is_consistent(signatures: list[dict[str, Any]]) -> None:
    vapid = Vapid.generate()
    auds = [f"https://push{i}.example.net" for i in range(4)]
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[list[tuple[str, str]]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for n in range(200):
                aud = auds[(n + i) % len(auds)]
                results[i].append((aud, vapid.sign({**CLAIMS, "aud": aud})["Authorization"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    by_aud: dict[str, set[str]] = {}
    for pairs in results:
        for aud, auth in pairs:
            by_aud.setdefault(aud, set()).add(auth)
    # One token per audience, signed once, whatever the interleaving.
    assert {aud: len(tokens) for aud, tokens in by_aud.items()} == {aud: 1 for aud in auds}
    assert sorted(c["aud"] for c in signatures) == sorted(auds)
    for aud, tokens in by_aud.items():
        assert vapid.verify(tokens.pop(), audience=aud)["aud"] == aud


def test_the_cache_holds_at_least_one_token() -> None:
    from webpush_core.vapid._cache import TokenCache

    one = TokenCache(max_entries=1)
    assert one.get_or_mint("a", lambda now: ({"h": "a"}, int(now) + 7200)) == {"h": "a"}
    assert one.get_or_mint("a", lambda now: ({"h": "again"}, int(now) + 7200)) == {"h": "a"}
    assert len(one) == 1
    with pytest.raises(ValueError, match=r"^max_entries must be at least 1$"):
        TokenCache(max_entries=0)
