"""``ece.explain``: every value of one encryption, with its formula, its source and its meaning.

The audit view of :func:`~webpush_core.ece.trace`. ``trace`` computes the
values (the same code that encrypts); this module only names them for a
reader who does not have the RFC open: each :class:`Step` carries the
formula in the RFC's notation, the section that defines it, and one line
on what it is for (the key schedule's: :mod:`._explain_keys`). Beyond the
key schedule it shows what ``trace`` leaves packed: the header split into
its fields (salt | rs | idlen | keyid), each record's nonce (NONCE XOR
SEQ) and its plaintext with the padding delimiter (read back by decrypting
the record just written, so what is shown is what was sealed), and the
final body whole.

Sources: RFC 8291 (Web Push encryption) and RFC 8188 (aes128gcm); for the
legacy ``aesgcm`` coding, draft-ietf-webpush-encryption-04 and
draft-ietf-httpbis-encryption-encoding-03.

Sans-IO, like the rest of :mod:`webpush_core.ece`. The values include
secrets (ecdh_secret, CEK, the sender's private key): that is the point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Union

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM as _AESGCM

from .._b64 import b64url_encode
from .._p256 import uncompressed_point
from ._check import check_rs, check_version
from ._ece import PublicKeyArg, trace
from ._explain_keys import AES128GCM_KEYS, AESGCM_KEYS, EE03, R8188, R8291, WP04, key_mode
from ._keys import AES128GCM, load_peer
from ._records import HEADER_LEN, SALT_LEN, TAG_LEN, parse_header, record_nonce

__all__ = ["Step", "explain", "render"]

# Where a part of the output begins (``Step.part``), in order.
PARTS = {
    "input": "inputs",
    "key": "key schedule",
    "header": "header",
    "record": "records",
    "body": "body",
}


@dataclass(frozen=True)
class Step:
    """One value of an encryption, as an auditor checks it.

    ``name`` is the RFC's (``PRK_key``, ``CEK``) or names a part
    (``header.rs``, ``record[0].nonce``); ``value`` the octets;
    ``formula`` how it is computed, in the RFC's notation (for an input:
    where it comes from); ``source`` the section that defines it;
    ``meaning`` one line on what it is for; ``part`` one of ``"input"``,
    ``"key"``, ``"header"``, ``"record"``, ``"body"``.
    """

    name: str
    value: bytes
    formula: str
    source: str
    meaning: str
    part: str

    def __repr__(self) -> str:  # the values are secrets: say what, not which
        return f"Step({self.name!r}, <{len(self.value)} octets>)"


def explain(
    content: bytes,
    salt: Optional[bytes] = None,
    key: Optional[bytes] = None,
    private_key: Optional[ec.EllipticCurvePrivateKey] = None,
    dh: Optional[PublicKeyArg] = None,
    auth_secret: Optional[bytes] = None,
    keyid: Optional[Union[bytes, str]] = None,
    keylabel: str = "P-256",
    rs: int = 4096,
    version: str = "aes128gcm",
    *,
    padding: int = 0,
) -> list[Step]:
    """:func:`~webpush_core.ece.trace`'s arguments; every value, explained (see the module doc).

    In order: the inputs, the key schedule (as ``trace`` names it), the
    aes128gcm header and its fields (aesgcm: the ``Encryption`` and
    ``Crypto-Key`` header values), each record's nonce, plaintext and
    ciphertext, then ``ciphertext`` (the records) and ``body``, the whole
    HTTP body. ``salt`` defaults to 16 random octets, as for ``encrypt``.
    """
    version = check_version(version)
    if salt is None:
        salt = os.urandom(SALT_LEN)  # chosen here, so that the inputs can show it
    traced = trace(
        content,
        salt=salt,
        key=key,
        private_key=private_key,
        dh=dh,
        auth_secret=auth_secret,
        keyid=keyid,
        keylabel=keylabel,
        rs=rs,
        version=version,
        padding=padding,
    )
    rs = check_rs(version, rs)  # trace checked it: the same rules
    values = dict(traced)
    aes128gcm = version == AES128GCM
    # The inputs' sections: RFC 8291 for aes128gcm, its draft-04 for aesgcm.
    wp = R8291 if aes128gcm else WP04
    as_public: Optional[bytes] = None
    inputs = [
        Step("plaintext", bytes(content), "the message", f"{wp} §4" if aes128gcm else f"{wp} §3",
             f"what the receiver reads once decrypted ({len(content)} octets)", "input"),
    ]  # fmt: skip
    if private_key is not None and dh is not None:  # Web Push: trace took both
        as_public = uncompressed_point(private_key.public_key())
        scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
        inputs += [
            Step("ua_public", load_peer(dh)[1], "keys.p256dh of the subscription",
                 f"{wp} §3.1", "the browser's P-256 public key: 0x04 || x || y, 65 octets",
                 "input"),
            Step("auth_secret", bytes(auth_secret or b""), "keys.auth of the subscription",
                 f"{wp} §3.2", "16 random octets from the browser, shared with the sender only",
                 "input"),
            Step("as_private", scalar, "a new P-256 private key", f"{wp} §3.1",
                 "the sender's key for this message alone; shown so the run can be reproduced",
                 "input"),
            Step("as_public", as_public, "the public key of as_private", f"{wp} §3.1",
                 "sent with the message so that the browser can compute ecdh_secret", "input"),
        ]  # fmt: skip
        table = AES128GCM_KEYS if aes128gcm else AESGCM_KEYS
    else:
        inputs.append(Step("key", bytes(key or b""), "given", f"{R8188} §2.2",
                           "a secret both ends hold already", "input"))  # fmt: skip
        with_auth = not aes128gcm and auth_secret is not None
        if with_auth:
            inputs.append(Step("auth_secret", bytes(auth_secret or b""), "given", f"{EE03} §4.3",
                               "a second secret, mixed into the key", "input"))  # fmt: skip
        table = key_mode(version, with_auth)
    inputs.append(
        Step("salt", bytes(salt), "random(16)", f"{R8188} §2.1" if aes128gcm else f"{EE03} §3.1",
             "new for every message, so that no two messages share a key", "input")
    )  # fmt: skip
    steps = inputs
    for name, value in traced:
        if name in ("header", "ciphertext", "key"):  # the body's parts and an input: below, above
            continue
        formula, source, meaning = table[name]
        formula = formula.replace("{label}", f'"{keylabel}"')
        steps.append(Step(name, value, formula, source, meaning, "key"))
    if aes128gcm:
        steps += _header(values["header"], as_public is not None)
    elif as_public is not None:
        steps += _aesgcm_headers(bytes(salt), rs, as_public)
    records = values["ciphertext"]
    steps += _records(version, values["CEK"], values["NONCE"], records, rs)
    steps.append(
        Step(
            "ciphertext",
            records,
            "record[0] || record[1] || ...",
            f"{R8188} §2" if aes128gcm else f"{EE03} §2",
            "every record, in order",
            "body",
        )
    )
    if aes128gcm:
        steps.append(
            Step(
                "body",
                values["header"] + records,
                "header || ciphertext",
                f"{R8188} §2, {R8291} §4",
                "the whole HTTP request body, sent with Content-Encoding: aes128gcm",
                "body",
            )
        )
    else:
        steps.append(
            Step(
                "body",
                records,
                "ciphertext",
                f"{WP04} §3",
                "the whole HTTP request body, sent with Content-Encoding: aesgcm and the "
                "Encryption and Crypto-Key headers",
                "body",
            )
        )
    return steps


def _header(header: bytes, webpush: bool) -> list[Step]:
    """The aes128gcm header and its fields (RFC 8188 §2.1)."""
    salt, rs, keyid, end = parse_header(header)
    if webpush:
        keyid_is = (
            "as_public",
            f"{R8291} §4",
            "the sender's public key, from which the browser computes ecdh_secret",
        )
    else:
        keyid_is = ("keyid", f"{R8188} §2.1", "names the key for the receiver (may be empty)")
    keyid_at = f"octets 21-{end - 1}" if keyid else "no octets"
    return [
        Step("header", header, "salt || rs || idlen || keyid", f"{R8188} §2.1",
             f"the first {end} octets of the body, in clear", "header"),
        Step("header.salt", salt, "octets 0-15: salt", f"{R8188} §2.1",
             "the browser needs the salt to derive the same keys", "header"),
        Step("header.rs", header[SALT_LEN:SALT_LEN + 4], f"octets 16-19: uint32 rs = {rs}",
             f"{R8188} §2.1",
             "the record size: every record but the last is rs octets of ciphertext", "header"),
        Step("header.idlen", header[HEADER_LEN - 1:HEADER_LEN],
             f"octet 20: uint8 idlen = {len(keyid)}", f"{R8188} §2.1",
             "the length of the keyid that follows", "header"),
        Step("header.keyid", keyid, f"{keyid_at}: keyid = {keyid_is[0]}", keyid_is[1],
             keyid_is[2], "header"),
    ]  # fmt: skip


def _aesgcm_headers(salt: bytes, rs: int, as_public: bytes) -> list[Step]:
    """aesgcm carries the salt and the sender's key in HTTP headers, not in the body."""
    encryption = "salt=" + b64url_encode(salt) + (f";rs={rs}" if rs != 4096 else "")
    return [
        Step("Encryption", encryption.encode("ascii"), '"salt=" base64url(salt)', f"{EE03} §3.1",
             "the salt (and rs when not 4096) travel in this HTTP header", "header"),
        Step("Crypto-Key", b"dh=" + b64url_encode(as_public).encode("ascii"),
             '"dh=" base64url(as_public)', f"{EE03} §4.2",
             "the sender's public key, from which the browser computes ecdh_secret", "header"),
    ]  # fmt: skip


def _records(version: str, cek: bytes, nonce: bytes, records: bytes, rs: int) -> list[Step]:
    """Each record's nonce, plaintext (read back from the record) and ciphertext."""
    aes128gcm = version == AES128GCM
    size = rs if aes128gcm else rs + TAG_LEN
    aead = _AESGCM(cek)
    source = f"{R8188} §2" if aes128gcm else f"{EE03} §2"
    nonce_source = f"{R8188} §2.3" if aes128gcm else f"{EE03} §3.3"
    starts = range(0, len(records), size)
    steps = []
    for seq, start in enumerate(starts):
        record = records[start : start + size]
        last = seq == len(starts) - 1
        seq_nonce = record_nonce(nonce, seq)
        plaintext = aead.decrypt(seq_nonce, record, None)
        if aes128gcm:
            data = plaintext.rstrip(b"\x00")
            pad = len(plaintext) - len(data)
            delimiter, data = data[-1], data[:-1]
            formula = f"data ({len(data)} octets) || 0x{delimiter:02x} || 0x00 * {pad}"
            meaning = (
                f"the delimiter 0x{delimiter:02x} marks the "
                + ("last record" if last else "record as not the last (0x02 marks the last)")
                + ", so a cut body is detected; zero octets of padding follow"
            )
        else:
            pad = int.from_bytes(plaintext[:2], "big")
            formula = f"uint16({pad}) || 0x00 * {pad} || data ({len(plaintext) - 2 - pad} octets)"
            meaning = (
                "the padding length, the padding, then the data; the last record is "
                "shorter than rs, which marks the end"
            )
        name = f"record[{seq}]"
        steps += [
            Step(f"{name}.nonce", seq_nonce, f"NONCE XOR {seq} (96-bit big-endian)", nonce_source,
                 "no two records share a nonce" + (" (record 0 uses NONCE)" if seq == 0 else ""),
                 "record"),
            Step(f"{name}.plaintext", plaintext, formula, source, meaning, "record"),
            Step(name, record, f"AES-128-GCM(CEK, {name}.nonce, {name}.plaintext)", source,
                 "the sealed record: ciphertext, then its 16-octet authentication tag", "record"),
        ]  # fmt: skip
    return steps


def render(steps: list[Step], *, brief: bool = False, width: int = 0) -> str:
    """Text for people: each part under its heading, each value as ``name : base64url``.

    Then, indented: ``name = formula (source; N octets)`` and the meaning on
    its own line; ``brief`` keeps only the meaning (``make demo``). Names
    are padded to ``width`` or the longest. HTTP header values (aesgcm) are
    shown as the text they are.
    """
    width = max([width, *(len(step.name) for step in steps)])
    lines: list[str] = []
    part = ""
    for step in steps:
        if step.part != part and not brief:
            part = step.part
            lines.append(f"{PARTS[part]}:")
        shown = (
            step.value.decode("ascii")
            if step.name in ("Encryption", "Crypto-Key")
            else b64url_encode(step.value)
        )
        lines.append(f"  {step.name:<{width}} : {shown}")
        pad = " " * (width + 5)
        if brief:
            lines.append(f"{pad}{step.meaning} ({step.source})")
        else:
            size = f"{len(step.value)} octet{'' if len(step.value) == 1 else 's'}"
            lines.append(f"{pad}{step.name} = {step.formula} ({step.source}; {size})")
            lines.append(f"{pad}{step.meaning}")
    return "\n".join(lines) + "\n"
