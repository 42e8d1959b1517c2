"""Interop with independent implementations, both codings, payloads 0..max, several rs.

* ours encrypts, http_ece (Python) decrypts; http_ece encrypts, ours decrypts;
* node ``web-push``'s ``encrypt()`` encrypts (one node process for all
  cases: tests/node/encrypt.js), ours decrypts.

One known difference: for an empty payload, Python http_ece's aes128gcm
encrypt writes a header and no record at all. RFC 8188 §2 makes the last
record carry the 0x02 delimiter precisely so that truncation is detected, so
we refuse that body (as we refuse any header-only body).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from typing import Any

import http_ece
import pytest

from peers import NODE_DIR, require_node
from webpush_core import ece
from webpush_core._b64 import b64url_decode, b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point

VERSIONS = ["aes128gcm", "aesgcm"]
SIZES = [0, 1, 15, 16, 17, 100, 1000, 2047, 3992, 3993]
RECORD_SIZES = {"aes128gcm": [18, 25, 100, 1024, 4096], "aesgcm": [3, 25, 100, 1024, 4096]}

UA = generate_private_key()
UA_PUBLIC = uncompressed_point(UA.public_key())
AUTH = os.urandom(16)


def _payload(size: int) -> bytes:
    return os.urandom(size)


# ---------------------------------------------------------------- Web Push (ECDH) mode


@pytest.mark.parametrize(
    ("version", "size"),
    [(v, size) for v in VERSIONS for size in sorted({*SIZES, ece.max_plaintext(v)})],
)
def test_ours_encrypt_message_http_ece_decrypts(version: str, size: int) -> None:
    data = _payload(size)
    padding = min(size % 7, ece.max_plaintext(version) - size)
    message = ece.encrypt_message(data, UA_PUBLIC, AUTH, version=version, padding=padding)
    kwargs: dict[str, Any] = {}
    if version == "aesgcm":
        kwargs = {"salt": message.salt, "dh": message.as_public}
    plaintext = http_ece.decrypt(
        message.body, private_key=UA, auth_secret=AUTH, version=version, **kwargs
    )
    assert plaintext == data


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("rs", [25, 100, 4096])
@pytest.mark.parametrize("size", [0, 1, 100, 3993])
def test_webpush_both_directions_with_http_ece(version: str, rs: int, size: int) -> None:
    data = _payload(size)
    sender = generate_private_key()
    sender_public = uncompressed_point(sender.public_key())
    salt = os.urandom(16)
    common: dict[str, Any] = {"salt": salt, "auth_secret": AUTH, "rs": rs, "version": version}

    ours = ece.encrypt(data, private_key=sender, dh=UA_PUBLIC, **common)
    dh = {"dh": sender_public} if version == "aesgcm" else {}
    assert http_ece.decrypt(ours, private_key=UA, **dh, **common) == data

    theirs = http_ece.encrypt(data, private_key=sender, dh=UA_PUBLIC, **common)
    if version == "aes128gcm" and size == 0:
        assert len(theirs) == 86  # http_ece: header only, no record
        with pytest.raises(ece.ECEError, match="no records"):
            ece.decrypt(theirs, private_key=UA, **common)
        return
    assert ece.decrypt(theirs, private_key=UA, **dh, **common) == data
    # Same salt, same keys, no padding: the two encoders agree byte for byte.
    assert theirs == ours


# ---------------------------------------------------------------- explicit key mode


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("size", SIZES)
def test_key_mode_both_directions_many_record_sizes(version: str, size: int) -> None:
    key = os.urandom(16)
    data = _payload(size)
    for rs in RECORD_SIZES[version]:
        salt = os.urandom(16)
        common: dict[str, Any] = {"salt": salt, "key": key, "rs": rs, "version": version}
        ours = ece.encrypt(data, **common)
        assert http_ece.decrypt(ours, **common) == data, rs
        padded = ece.encrypt(data, padding=size % 50 + 1, **common)
        assert http_ece.decrypt(padded, **common) == data, rs
        theirs = http_ece.encrypt(data, **common)
        if version == "aes128gcm" and size == 0:
            continue  # header only (see the module doc); covered above
        assert ece.decrypt(theirs, **common) == data, rs
        assert theirs == ours, rs


def test_aesgcm_key_mode_with_auth_secret_matches_http_ece() -> None:
    key, salt, data = os.urandom(16), os.urandom(16), b"mixed with the auth secret"
    common: dict[str, Any] = {"salt": salt, "key": key, "auth_secret": AUTH, "version": "aesgcm"}
    ours = ece.encrypt(data, **common)
    assert ours == http_ece.encrypt(data, **common)
    assert http_ece.decrypt(ours, **common) == data
    assert ece.decrypt(ours, **common) == data


# ---------------------------------------------------------------- node web-push


NODE_SIZES = [0, 1, 15, 100, 1000, 3993]


@pytest.fixture(scope="module")
def node_results() -> list[tuple[dict[str, Any], dict[str, Any], bytes]]:
    node = require_node()
    jobs = []
    payloads = []
    for version in VERSIONS:
        for size in [*NODE_SIZES, ece.max_plaintext(version)]:
            data = _payload(size)
            payloads.append(data)
            jobs.append(
                {
                    "ua_public": b64url_encode(UA_PUBLIC),
                    "auth": b64url_encode(AUTH),
                    "payload": base64.b64encode(data).decode(),
                    "encoding": version,
                }
            )
    result = subprocess.run(
        [node, str(NODE_DIR / "encrypt.js")],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert len(answers) == len(jobs)
    return list(zip(jobs, answers, payloads))


@pytest.mark.node
def test_node_web_push_encrypts_ours_decrypts(
    node_results: list[tuple[dict[str, Any], dict[str, Any], bytes]],
) -> None:
    for job, answer, data in node_results:
        assert "error" not in answer, answer
        body = base64.b64decode(answer["body"])
        version = job["encoding"]
        if version == "aes128gcm":
            assert body[21:86] == base64.b64decode(answer["as_public"])
            plaintext = ece.decrypt(body, private_key=UA, auth_secret=AUTH)
        else:
            plaintext = ece.decrypt(
                body,
                salt=b64url_decode(answer["salt"]),
                private_key=UA,
                dh=base64.b64decode(answer["as_public"]),
                auth_secret=AUTH,
                version="aesgcm",
            )
        assert plaintext == data, (version, len(data))


# ---------------------------------------------------------------- http_ece's keyid label


def test_aesgcm_keyid_label_accepted_as_http_ece_does() -> None:
    # http_ece callers label the aesgcm key: keyid="p256dh". The label never
    # enters the key schedule there, so the body is the same with or without it.
    sender = generate_private_key()
    salt = os.urandom(16)
    common: dict[str, Any] = {
        "salt": salt,
        "private_key": sender,
        "dh": UA_PUBLIC,
        "auth_secret": AUTH,
        "version": "aesgcm",
    }
    ours = ece.encrypt(b"labelled", keyid="p256dh", **common)
    assert ours == ece.encrypt(b"labelled", **common)  # no effect on the key schedule
    assert ours == http_ece.encrypt(b"labelled", keyid="p256dh", **common)
    decrypted = http_ece.decrypt(
        ours, salt=salt, private_key=UA, dh=uncompressed_point(sender.public_key()),
        auth_secret=AUTH, keyid="p256dh", version="aesgcm",
    )  # fmt: skip
    assert decrypted == b"labelled"


def test_header_only_aes128gcm_body_refused_saying_why() -> None:
    # RFC 8188 §2: the last record carries the delimiter so truncation shows.
    header_only = os.urandom(16) + (4096).to_bytes(4, "big") + b"\x00"
    with pytest.raises(ece.ECEError, match="header with no records") as caught:
        ece.decrypt(header_only, key=os.urandom(16))
    assert "RFC 8188" in str(caught.value)
