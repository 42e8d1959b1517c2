"""``ece.explain``, the auditor's view: the published vectors value by value, and each
formula it prints checked against the values it prints (recomputed here with hmac and
AES-GCM, not with the library's key schedule).

Vectors: tests/vectors/rfc-vectors.json (RFC 8291 Appendix A, RFC 8188 §3.1/§3.2, the
aesgcm draft-04 example), as in test_ece_vectors.py.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from webpush_core import ece
from webpush_core._b64 import b64url_decode as unb64
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import private_key_from_scalar
from webpush_core.ece._explain import render

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "rfc-vectors.json").read_text()
)
A = VECTORS["rfc8291_appendix_a"]
R1 = VECTORS["rfc8188_3_1"]
R2 = VECTORS["rfc8188_3_2"]
G = VECTORS["aesgcm_draft04"]


def sender(vector: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "salt": unb64(vector["salt"]),
        "private_key": private_key_from_scalar(unb64(vector["as_private"])),
        "dh": unb64(vector["ua_public"]),
        "auth_secret": unb64(vector["auth_secret"]),
        **extra,
    }


def by_name(steps: list[ece.Step]) -> dict[str, ece.Step]:
    named = {step.name: step for step in steps}
    assert len(named) == len(steps)  # every name once
    return named


def values(steps: list[ece.Step]) -> dict[str, bytes]:
    return {name: step.value for name, step in by_name(steps).items()}


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, "sha256").digest()


AES128GCM_NAMES = [
    "plaintext", "ua_public", "auth_secret", "as_private", "as_public", "salt",
    "ecdh_secret", "PRK_key", "key_info", "IKM", "PRK", "cek_info", "CEK", "nonce_info", "NONCE",
    "header", "header.salt", "header.rs", "header.idlen", "header.keyid",
    "record[0].nonce", "record[0].plaintext", "record[0]",
    "ciphertext", "body",
]  # fmt: skip
AESGCM_NAMES = [
    "plaintext", "ua_public", "auth_secret", "as_private", "as_public", "salt",
    "ecdh_secret", "auth_info", "PRK_combine", "IKM", "context",
    "PRK", "cek_info", "CEK", "nonce_info", "NONCE",
    "Encryption", "Crypto-Key",
    "record[0].nonce", "record[0].plaintext", "record[0]",
    "ciphertext", "body",
]  # fmt: skip
PARTS = ["input", "key", "header", "record", "body"]


# ------------------------------------------------------------------ RFC 8291 Appendix A


def test_rfc8291_appendix_a_value_by_value() -> None:
    steps = ece.explain(A["plaintext"].encode(), **sender(A))
    assert [s.name for s in steps] == AES128GCM_NAMES
    v = values(steps)
    for name in ("salt", "ua_public", "auth_secret", "as_private", "as_public"):
        assert v[name] == unb64(A[name]), name
    for name, expected in A["intermediate"].items():
        assert v[name] == unb64(expected), name
    # The header, field by field (RFC 8188 §2.1): salt | rs=4096 | idlen=65 | keyid=as_public.
    assert v["header.salt"] == unb64(A["salt"])
    assert v["header.rs"] == (4096).to_bytes(4, "big")
    assert v["header.idlen"] == b"\x41"
    assert v["header.keyid"] == unb64(A["as_public"])
    assert v["header"] == v["header.salt"] + v["header.rs"] + v["header.idlen"] + v["header.keyid"]
    # One record: NONCE itself, the message then the last record's delimiter 0x02, no padding.
    assert v["record[0].nonce"] == unb64(A["intermediate"]["NONCE"])
    assert v["record[0].plaintext"] == A["plaintext"].encode() + b"\x02"
    assert v["record[0]"] == v["ciphertext"]
    # The final body, whole, byte for byte.
    assert v["body"] == unb64(A["body"])


def test_aesgcm_draft04_value_by_value() -> None:
    steps = ece.explain(G["plaintext"].encode(), **sender(G, version="aesgcm", rs=G["rs"]))
    assert [s.name for s in steps] == AESGCM_NAMES
    v = values(steps)
    assert v["body"] == v["ciphertext"] == unb64(G["body"])
    assert v["Encryption"] == b"salt=" + G["salt"].encode()
    assert v["Crypto-Key"] == b"dh=" + G["as_public"].encode()
    assert v["record[0].plaintext"] == b"\x00\x00" + G["plaintext"].encode()  # uint16 pad = 0


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_every_step_says_how_where_and_why(version: str) -> None:
    steps = ece.explain(b"x", **sender(A, version=version))
    assert [PARTS.index(s.part) for s in steps] == sorted(PARTS.index(s.part) for s in steps)
    for step in steps:
        assert step.formula and step.meaning, step.name
        assert step.source.startswith(("RFC 8291 §", "RFC 8188 §", "draft-ietf-")), step.name
        assert "§" in step.source
        if version == "aesgcm":  # the legacy coding cites its drafts, not the RFCs
            assert "draft-ietf-" in step.source, step.name
    for step in steps:  # a repr says what, not which (the values are secrets)
        assert repr(step) == f"Step({step.name!r}, <{len(step.value)} octets>)"


# ------------------------------------------------------------------ each formula, checked
# name -> (the formula explain prints, the same formula computed here from printed values)
AES128GCM_FORMULAS: dict[str, tuple[str, Callable[[dict[str, bytes]], bytes]]] = {
    "PRK_key": (
        "HMAC-SHA-256(auth_secret, ecdh_secret)",
        lambda v: hmac256(v["auth_secret"], v["ecdh_secret"]),
    ),
    "key_info": (
        '"WebPush: info" || 0x00 || ua_public || as_public',
        lambda v: b"WebPush: info\x00" + v["ua_public"] + v["as_public"],
    ),
    "IKM": (
        "HMAC-SHA-256(PRK_key, key_info || 0x01)",
        lambda v: hmac256(v["PRK_key"], v["key_info"] + b"\x01"),
    ),
    "PRK": ("HMAC-SHA-256(salt, IKM)", lambda v: hmac256(v["salt"], v["IKM"])),
    "cek_info": (
        '"Content-Encoding: aes128gcm" || 0x00',
        lambda v: b"Content-Encoding: aes128gcm\x00",
    ),
    "CEK": (
        "first 16 octets of HMAC-SHA-256(PRK, cek_info || 0x01)",
        lambda v: hmac256(v["PRK"], v["cek_info"] + b"\x01")[:16],
    ),
    "nonce_info": ('"Content-Encoding: nonce" || 0x00', lambda v: b"Content-Encoding: nonce\x00"),
    "NONCE": (
        "first 12 octets of HMAC-SHA-256(PRK, nonce_info || 0x01)",
        lambda v: hmac256(v["PRK"], v["nonce_info"] + b"\x01")[:12],
    ),
    "header": (
        "salt || rs || idlen || keyid",
        lambda v: v["salt"] + (4096).to_bytes(4, "big") + b"\x41" + v["as_public"],
    ),
    "record[0].nonce": ("NONCE XOR 0 (96-bit big-endian)", lambda v: v["NONCE"]),
    "record[0]": (
        "AES-128-GCM(CEK, record[0].nonce, record[0].plaintext)",
        lambda v: AESGCM(v["CEK"]).encrypt(v["record[0].nonce"], v["record[0].plaintext"], None),
    ),
    "record[0].plaintext": (
        "data (41 octets) || 0x02 || 0x00 * 0",
        lambda v: v["plaintext"] + b"\x02",
    ),
    "ciphertext": ("record[0] || record[1] || ...", lambda v: v["record[0]"]),
    "body": ("header || ciphertext", lambda v: v["header"] + v["ciphertext"]),
}


@pytest.mark.parametrize("name", sorted(AES128GCM_FORMULAS))
def test_each_printed_formula_gives_the_printed_value(name: str) -> None:
    steps = by_name(ece.explain(A["plaintext"].encode(), **sender(A)))
    formula, compute = AES128GCM_FORMULAS[name]
    assert steps[name].formula == formula
    assert compute({n: s.value for n, s in steps.items()}) == steps[name].value


def test_aesgcm_formulas_give_the_printed_values() -> None:
    v = values(ece.explain(G["plaintext"].encode(), **sender(G, version="aesgcm")))
    assert v["PRK_combine"] == hmac256(v["auth_secret"], v["ecdh_secret"])
    assert v["IKM"] == hmac256(v["PRK_combine"], v["auth_info"] + b"\x01")
    assert v["context"] == b"P-256\x00\x00\x41" + v["ua_public"] + b"\x00\x41" + v["as_public"]
    assert v["cek_info"] == b"Content-Encoding: aesgcm\x00" + v["context"]
    assert v["CEK"] == hmac256(hmac256(v["salt"], v["IKM"]), v["cek_info"] + b"\x01")[:16]
    assert v["NONCE"] == hmac256(v["PRK"], v["nonce_info"] + b"\x01")[:12]


# ------------------------------------------------------------------ records, padding, key mode


@pytest.mark.parametrize("version", ["aes128gcm", "aesgcm"])
def test_records_their_nonces_and_padding(version: str) -> None:
    """Several records and padding: NONCE XOR SEQ, each delimiter, the padding, shown."""
    content = bytes(range(50))
    steps = ece.explain(content, **sender(A, version=version, rs=24, padding=7))
    v = values(steps)
    count = sum(1 for name in v if name.endswith(".nonce"))
    assert count > 2
    data = b""
    for seq in range(count):
        nonce = v[f"record[{seq}].nonce"]
        assert nonce == (int.from_bytes(v["NONCE"], "big") ^ seq).to_bytes(12, "big")
        plaintext = v[f"record[{seq}].plaintext"]
        assert AESGCM(v["CEK"]).decrypt(nonce, v[f"record[{seq}]"], None) == plaintext
        if version == "aes128gcm":
            body = plaintext.rstrip(b"\x00")
            assert body[-1] == (2 if seq == count - 1 else 1)  # the delimiter
            data += body[:-1]
        else:
            pad = int.from_bytes(plaintext[:2], "big")
            assert plaintext[2 : 2 + pad] == bytes(pad)
            data += plaintext[2 + pad :]
    assert data == content
    assert b"".join(v[f"record[{seq}]"] for seq in range(count)) == v["ciphertext"]
    assert (
        ece.decrypt(
            v["body"],
            private_key=private_key_from_scalar(unb64(A["ua_private"])),
            dh=None if version == "aes128gcm" else v["as_public"],
            auth_secret=v["auth_secret"],
            salt=None if version == "aes128gcm" else v["salt"],
            rs=24,
            version=version,
        )
        == content
    )
    last = by_name(steps)[f"record[{count - 1}].plaintext"]
    if version == "aes128gcm":
        assert " || 0x02 || " in last.formula and "last record" in last.meaning
        assert " || 0x01 || " in by_name(steps)["record[0].plaintext"].formula
    else:
        assert last.formula.startswith("uint16(")


def test_rfc8188_examples_with_an_explicit_key() -> None:
    v = values(ece.explain(R1["plaintext"].encode(), salt=unb64(R1["salt"]), key=unb64(R1["key"])))
    assert v["body"] == unb64(R1["body"])
    assert v["IKM"] == v["key"] == unb64(R1["key"])
    # Two 25-octet records, one octet of padding in the first (its salt is in the body).
    body = unb64(R2["body"])
    steps = by_name(
        ece.explain(
            R2["plaintext"].encode(),
            salt=body[:16],
            key=unb64(R2["key"]),
            keyid=R2["keyid"],
            rs=R2["rs"],
            padding=1,
        )
    )
    assert steps["body"].value == body
    assert steps["IKM"].formula == "key"
    assert steps["header.keyid"].value == R2["keyid"].encode()
    assert "as_public" not in steps["header.keyid"].formula
    assert steps["record[0].plaintext"].formula == "data (7 octets) || 0x01 || 0x00 * 1"
    assert steps["record[1].plaintext"].formula == "data (8 octets) || 0x02 || 0x00 * 0"


def test_bad_arguments_are_trace_s_errors() -> None:
    with pytest.raises(ece.ECEError, match="salt"):
        ece.explain(b"x", **sender(A, salt=b"short"))
    with pytest.raises(ece.ECEError, match="rs"):
        ece.explain(b"x", **sender(A, rs=10))


# ------------------------------------------------------------------ the text


def test_render_shows_each_value_with_its_formula_and_meaning() -> None:
    steps = ece.explain(A["plaintext"].encode(), **sender(A))
    lines = render(steps).splitlines()
    for step in steps:
        [at] = [i for i, line in enumerate(lines) if line.split(" : ")[0].strip() == step.name]
        assert lines[at].split(" : ")[1] == b64url_encode(step.value)
        assert lines[at + 1].strip().startswith(f"{step.name} = {step.formula} ({step.source}; ")
        assert lines[at + 2].strip() == step.meaning
    headings = [line for line in lines if not line.startswith(" ")]
    assert headings == ["inputs:", "key schedule:", "header:", "records:", "body:"]
    brief = render(steps, brief=True).splitlines()
    assert len(brief) == 2 * len(steps)  # each value, then one line on what it is
    assert brief[1].strip() == f"{steps[0].meaning} ({steps[0].source})"


# ------------------------------------------------------------------ the words, as reviewed
# tests/vectors/explain-words.json holds, per case, each step's (name, part, formula,
# source, meaning) as they were checked against the RFCs and drafts they cite. The
# values themselves are checked above, against the published vectors.

WORDS: dict[str, list[list[str]]] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "explain-words.json").read_text()
)
KEY = bytes(range(16))
CASES: dict[str, Callable[[], list[ece.Step]]] = {
    "webpush aes128gcm (RFC 8291 Appendix A)": lambda: ece.explain(
        A["plaintext"].encode(), **sender(A)
    ),
    "webpush aesgcm (draft-04 example)": lambda: ece.explain(
        G["plaintext"].encode(), **sender(G, version="aesgcm", rs=G["rs"])
    ),
    "webpush aesgcm, rs 24, padding 7": lambda: ece.explain(
        bytes(range(30)), **sender(A, version="aesgcm", rs=24, padding=7)
    ),
    "key aes128gcm (RFC 8188 3.1)": lambda: ece.explain(
        R1["plaintext"].encode(), salt=unb64(R1["salt"]), key=unb64(R1["key"])
    ),
    "key aes128gcm, keyid, 2 records (RFC 8188 3.2)": lambda: ece.explain(
        R2["plaintext"].encode(),
        salt=unb64(R2["body"])[:16],
        key=unb64(R2["key"]),
        keyid=R2["keyid"],
        rs=R2["rs"],
        padding=1,
    ),
    "key aesgcm": lambda: ece.explain(b"hi", salt=bytes(16), key=KEY, version="aesgcm"),
    "key aesgcm with an auth secret": lambda: ece.explain(
        b"hi", salt=bytes(16), key=KEY, auth_secret=bytes(range(16, 32)), version="aesgcm", rs=100
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_step_is_worded_as_reviewed(case: str) -> None:
    steps = CASES[case]()
    assert [[s.name, s.part, s.formula, s.source, s.meaning] for s in steps] == WORDS[case]


def test_an_auth_secret_is_an_input_only_where_the_coding_mixes_it_in() -> None:
    # aes128gcm with an explicit key ignores an auth secret (as http_ece does): not shown.
    without = ece.explain(b"hi", salt=bytes(16), key=KEY)
    with_auth = ece.explain(b"hi", salt=bytes(16), key=KEY, auth_secret=bytes(16))
    assert [s.name for s in with_auth] == [s.name for s in without]
    assert values(with_auth)["body"] == values(without)["body"]


def test_the_salt_shown_is_the_one_drawn_when_none_is_given() -> None:
    v = values(ece.explain(b"hi", key=KEY))
    assert len(v["salt"]) == 16 and v["salt"] == v["header.salt"]
    assert ece.decrypt(v["body"], key=KEY) == b"hi"


def test_aesgcm_headers_carry_the_salt_and_rs_when_not_4096() -> None:
    for rs, suffix in ((24, b";rs=24"), (4096, b"")):
        v = values(ece.explain(b"hi", **sender(A, version="aesgcm", rs=rs)))
        assert v["Encryption"] == b"salt=" + b64url_encode(v["salt"]).encode() + suffix
        assert v["Crypto-Key"] == b"dh=" + b64url_encode(v["as_public"]).encode()


def test_render_lays_each_step_out_exactly() -> None:
    steps = [
        ece.Step("a", b"\x01", "f1", "S §1", "m1", "input"),
        ece.Step("Encryption", b"salt=abc", "f2", "S §2", "m2", "header"),
        ece.Step("name3", b"\x00\x01", "f3", "S §3", "m3", "header"),
        ece.Step("Crypto-Key", b"dh=xyz", "f4", "S §4", "m4", "body"),
    ]
    pad = " " * 15  # the longest name (10) and "  " + " : "
    assert render(steps) == "\n".join(
        [
            "inputs:",
            "  a          : AQ",
            f"{pad}a = f1 (S §1; 1 octet)",
            f"{pad}m1",
            "header:",
            "  Encryption : salt=abc",  # an HTTP header value, as the text it is
            f"{pad}Encryption = f2 (S §2; 8 octets)",
            f"{pad}m2",
            "  name3      : AAE",
            f"{pad}name3 = f3 (S §3; 2 octets)",
            f"{pad}m3",
            "body:",
            "  Crypto-Key : dh=xyz",
            f"{pad}Crypto-Key = f4 (S §4; 6 octets)",
            f"{pad}m4",
            "",
        ]
    )
    wide = " " * 17
    assert render(steps[:1], brief=True, width=12) == f"  a            : AQ\n{wide}m1 (S §1)\n"


def test_a_key_label_reaches_the_values_and_the_formula() -> None:
    v = by_name(ece.explain(b"hi", **sender(G, version="aesgcm", keylabel="other")))
    assert v["context"].value.startswith(b"other\x00\x00\x41")
    assert v["context"].formula.startswith('"other" || 0x00')
    plain = values(ece.explain(b"hi", **sender(G, version="aesgcm")))
    assert v["CEK"].value != plain["CEK"]  # the label is part of the key schedule


def test_the_inputs_shown_are_the_inputs_given() -> None:
    auth = bytes(range(16, 32))
    v = values(ece.explain(b"hi", salt=bytes(16), key=KEY, auth_secret=auth, version="aesgcm"))
    assert (v["key"], v["auth_secret"], v["salt"], v["plaintext"]) == (KEY, auth, bytes(16), b"hi")
