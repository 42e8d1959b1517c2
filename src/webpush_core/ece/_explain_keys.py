"""What each value of a key schedule is: its formula, its source, its meaning, per coding.

The glossary :func:`._explain.explain` reads: for each value ``trace``
names, the formula in the RFC's notation, the section that defines it and
one line on what it is for; for aes128gcm (RFC 8291 over RFC 8188), for the
legacy aesgcm (draft-ietf-webpush-encryption-04 over
draft-ietf-httpbis-encryption-encoding-03), and for an explicit ``key``
instead of ECDH (:func:`key_mode`).
"""

from __future__ import annotations

from ._keys import AES128GCM

__all__ = ["AES128GCM_KEYS", "AESGCM_KEYS", "EE03", "R8188", "R8291", "WP04", "key_mode"]

R8291 = "RFC 8291"
R8188 = "RFC 8188"
WP04 = "draft-ietf-webpush-encryption-04"
EE03 = "draft-ietf-httpbis-encryption-encoding-03"

# name -> (formula, source, meaning) for each coding's key schedule, as trace names the steps.
AES128GCM_KEYS = {
    "ecdh_secret": (
        "ECDH(as_private, ua_public)",
        f"{R8291} §3.1",
        "the x-coordinate of the shared P-256 point; the browser computes the same "
        "from ua_private and as_public",
    ),
    "PRK_key": (
        "HMAC-SHA-256(auth_secret, ecdh_secret)",
        f"{R8291} §3.3-3.4",
        "HKDF-Extract keyed by the auth secret, which the push service never sees",
    ),
    "key_info": (
        '"WebPush: info" || 0x00 || ua_public || as_public',
        f"{R8291} §3.3-3.4",
        "binds both public keys into every key below (14 + 65 + 65 octets)",
    ),
    "IKM": (
        "HMAC-SHA-256(PRK_key, key_info || 0x01)",
        f"{R8291} §3.3-3.4",
        "HKDF-Expand to 32 octets (one block, counter 0x01): RFC 8188's input keying material",
    ),
    "PRK": (
        "HMAC-SHA-256(salt, IKM)",
        f"{R8188} §2.2",
        "HKDF-Extract keyed by the salt: a key of this message alone",
    ),
    "cek_info": (
        '"Content-Encoding: aes128gcm" || 0x00',
        f"{R8188} §2.2",
        "the label that sets the content key apart from the nonce",
    ),
    "CEK": (
        "first 16 octets of HMAC-SHA-256(PRK, cek_info || 0x01)",
        f"{R8188} §2.2",
        "the AES-128-GCM content-encryption key",
    ),
    "nonce_info": (
        '"Content-Encoding: nonce" || 0x00',
        f"{R8188} §2.3",
        "the label of the nonce derivation",
    ),
    "NONCE": (
        "first 12 octets of HMAC-SHA-256(PRK, nonce_info || 0x01)",
        f"{R8188} §2.3",
        "the base nonce: record SEQ is sealed with NONCE XOR SEQ",
    ),
}

AESGCM_KEYS = {
    "ecdh_secret": (
        "ECDH(as_private, ua_public)",
        f"{WP04} §3.1",
        "the x-coordinate of the shared P-256 point; the browser computes the same "
        "from ua_private and as_public",
    ),
    "auth_info": (
        '"Content-Encoding: auth" || 0x00',
        f"{WP04} §3.3",
        "the label under which the auth secret is mixed in",
    ),
    "PRK_combine": (
        "HMAC-SHA-256(auth_secret, ecdh_secret)",
        f"{WP04} §3.3",
        "HKDF-Extract keyed by the auth secret, which the push service never sees",
    ),
    "IKM": (
        "HMAC-SHA-256(PRK_combine, auth_info || 0x01)",
        f"{WP04} §3.3",
        "HKDF-Expand to 32 octets (one block, counter 0x01): the input keying material",
    ),
    "context": (
        "{label} || 0x00 || uint16(65) || ua_public || uint16(65) || as_public",
        f"{EE03} §4.2",
        "binds both public keys into the key and the nonce",
    ),
    "PRK": (
        "HMAC-SHA-256(salt, IKM)",
        f"{EE03} §3.2",
        "HKDF-Extract keyed by the salt: a key of this message alone",
    ),
    "cek_info": (
        '"Content-Encoding: aesgcm" || 0x00 || context',
        f"{EE03} §3.2",
        "the label that sets the content key apart from the nonce",
    ),
    "CEK": (
        "first 16 octets of HMAC-SHA-256(PRK, cek_info || 0x01)",
        f"{EE03} §3.2",
        "the AES-128-GCM content-encryption key",
    ),
    "nonce_info": (
        '"Content-Encoding: nonce" || 0x00 || context',
        f"{EE03} §3.3",
        "the label of the nonce derivation",
    ),
    "NONCE": (
        "first 12 octets of HMAC-SHA-256(PRK, nonce_info || 0x01)",
        f"{EE03} §3.3",
        "the base nonce: record SEQ is sealed with NONCE XOR SEQ",
    ),
}


def key_mode(version: str, with_auth: bool) -> dict[str, tuple[str, str, str]]:
    """The schedule with an explicit ``key`` instead of ECDH: it starts at IKM, or
    (aesgcm with an auth secret) mixes the auth secret into the key; aesgcm's
    infos then have no context."""
    if version == AES128GCM:
        return dict(
            AES128GCM_KEYS,
            IKM=("key", f"{R8188} §2.2", "with an explicit key, the key itself is the IKM"),
        )
    table = dict(
        AESGCM_KEYS,
        cek_info=('"Content-Encoding: aesgcm" || 0x00', f"{EE03} §3.2",
                  "the label that sets the content key apart from the nonce"),
        nonce_info=('"Content-Encoding: nonce" || 0x00', f"{EE03} §3.3",
                    "the label of the nonce derivation"),
    )  # fmt: skip
    if with_auth:
        table["PRK_combine"] = (
            "HMAC-SHA-256(auth_secret, key)",
            f"{EE03} §4.3",
            "HKDF-Extract keyed by the auth secret",
        )
    else:
        table["IKM"] = ("key", f"{EE03} §3.2", "with an explicit key, the key itself is the IKM")
    return table
