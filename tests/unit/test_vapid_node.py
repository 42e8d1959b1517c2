"""node web-push as an independent VAPID peer: its keys load, its tokens verify."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from webpush_core.vapid import Vapid, Vapid01, parse_authorization

pytestmark = pytest.mark.node

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SUB = "mailto:ops@example.com"
AUD = "https://push.example.net"


def node(*args: str) -> Any:
    """Run tests/node/keys.js; skip without node, fail without the npm packages."""
    exe = shutil.which("node")
    if exe is None:
        pytest.skip("node is not installed: the node web-push peer tests need it")
    if not (NODE_DIR / "node_modules" / "web-push").is_dir():
        pytest.fail(f"{NODE_DIR / 'node_modules'} lacks web-push: run `make node`")
    out = subprocess.run(
        [exe, "keys.js", *args],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def node_keys() -> list[dict[str, str]]:
    keys = node("generate", "20")
    assert len(keys) == 20
    return keys  # type: ignore[no-any-return]


def test_node_generated_keys_load(node_keys: list[dict[str, str]]) -> None:
    for pair in node_keys:
        for vapid in (Vapid.from_string(pair["privateKey"]), Vapid.from_raw(pair["privateKey"])):
            assert vapid.application_server_key == pair["publicKey"]
        public = Vapid.from_raw_public(pair["publicKey"])
        assert public.public_pem() == vapid.public_pem()


def test_our_verifier_accepts_node_tokens(node_keys: list[dict[str, str]]) -> None:
    pair = node_keys[0]
    vapid = Vapid.from_string(pair["privateKey"])
    headers = node("headers", AUD, SUB, pair["publicKey"], pair["privateKey"], "aes128gcm")
    claims = vapid.verify(headers["Authorization"], audience=AUD)
    assert claims["sub"] == SUB
    assert time.time() < claims["exp"] <= time.time() + 12 * 3600 + 5
    legacy = node("headers", AUD, SUB, pair["publicKey"], pair["privateKey"], "aesgcm")
    token = parse_authorization(legacy["Authorization"], legacy["Crypto-Key"], audience=AUD)
    assert token.scheme == "webpush"
    assert token.claims["aud"] == AUD


def test_node_and_we_agree_on_the_headers(node_keys: list[dict[str, str]]) -> None:
    """Same key, same claims: the same header layout, both verifiable by PyJWT."""
    pair = node_keys[1]
    ours = Vapid.from_string(pair["privateKey"]).sign({"sub": SUB, "aud": AUD})
    theirs = node("headers", AUD, SUB, pair["publicKey"], pair["privateKey"], "aes128gcm")
    assert set(ours) == set(theirs) == {"Authorization"}
    ours_t, ours_k = ours["Authorization"].removeprefix("vapid t=").split(", k=")
    theirs_t, theirs_k = theirs["Authorization"].removeprefix("vapid t=").split(", k=")
    assert ours_k == theirs_k == pair["publicKey"]
    assert ours_t.split(".")[0] == theirs_t.split(".")[0]  # identical JOSE header bytes
    pem = Vapid.from_raw_public(pair["publicKey"]).public_pem()
    for token in (ours_t, theirs_t):
        assert jwt.decode(token, pem, algorithms=["ES256"], audience=AUD)["sub"] == SUB
    legacy_ours = Vapid01.from_string(pair["privateKey"]).sign({"sub": SUB, "aud": AUD})
    legacy_theirs = node("headers", AUD, SUB, pair["publicKey"], pair["privateKey"], "aesgcm")
    assert legacy_ours["Crypto-Key"] == legacy_theirs["Crypto-Key"]
    assert (
        legacy_ours["Authorization"].split(".")[0] == legacy_theirs["Authorization"].split(".")[0]
    )
