"""The VAPID headers a request carries (RFC 8292 §2, §3; draft-01 for aesgcm).

Their aud is the endpoint's origin; the caller's headers may not carry them
too; another library's signer (a py_vapid instance) has its headers checked
and re-wrapped in the scheme the coding needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from .._b64 import b64url_encode
from ..errors import InvalidRequest, VapidError
from ..vapid import validate_claims
from ..vapid._token import split_authorization
from .headers import RefusedSignature, check_header

__all__ = ["check_aud_for", "foreign_vapid_headers", "refuse_vapid_conflicts", "sign_foreign"]

# What another signer (py_vapid's Vapid01/Vapid02) may return: RFC 8292 §3,
# draft-ietf-webpush-vapid-01 §4.
_SIGNER_HEADERS = frozenset({"authorization", "crypto-key"})


def refuse_vapid_conflicts(*, authorization: bool, p256ecdsa: bool) -> None:
    """InvalidRequest when the caller's headers already carry what VAPID sets."""
    if authorization:
        raise InvalidRequest(
            "an Authorization header conflicts with vapid_private_key; pass one of them",
            field="headers",
        )
    if p256ecdsa:
        # Two p256ecdsa= keys: push services refuse the token, or pick the wrong key.
        raise InvalidRequest(
            "a Crypto-Key header with p256ecdsa= conflicts with vapid_private_key; "
            "pass one of them",
            field="headers",
        )


def check_aud_for(aud: Any, origin: str) -> None:
    """A ``vapid_claims`` aud, when given, is the endpoint's origin (RFC 8292 §2)."""
    if not (aud is None or aud == "") and str(aud).rstrip("/") != origin:
        raise VapidError(
            f"vapid_claims aud {aud!r} is not the endpoint's origin {origin!r} "
            "(RFC 8292 §2); leave aud out and it is derived per endpoint",
            field="vapid_claims.aud",
        )


def foreign_vapid_headers(signer: Any, claims: dict[str, Any], scheme: str) -> dict[str, str]:
    """Another signer's (a py_vapid instance's) headers, in the coding's scheme."""
    # Our claim rules first, so a bad claim fails here with the field named,
    # as it does with a Vapid.
    signed = sign_foreign(signer, validate_claims(claims), scheme)
    if isinstance(signed, RefusedSignature):
        raise signed.error()
    return signed


def sign_foreign(
    signer: Any, claims: Mapping[str, Any], scheme: str
) -> Union[dict[str, str], RefusedSignature]:
    """``signer.sign(claims)`` (checked claims) in the coding's scheme, or the refusal
    of what it returned when that is no dict of headers. Raises VapidError when
    ``sign()`` raises."""
    try:
        signed = signer.sign(claims)
    except Exception as exc:
        # e.g. py_vapid's "No private key": a bad key is an input error. Its
        # message stays in the chained exception: foreign text is not ours
        # to vouch for (it might quote the key).
        raise VapidError(
            f"vapid_private_key.sign() failed with {type(exc).__name__} "
            "(see the chained exception)",
            field="vapid_private_key",
        ) from exc
    if not isinstance(signed, Mapping):
        return RefusedSignature(
            f"vapid_private_key.sign() must return a dict of headers, got {type(signed).__name__}"
        )
    headers = _in_scheme({str(k): str(v) for k, v in signed.items()}, scheme == "webpush")
    for name, value in headers.items():
        # They go on the wire as they are: a CR or LF would inject a header (our
        # own client writes what it is given), a Content-Length or TTL would be
        # sent twice. A VAPID signer answers Authorization and Crypto-Key only.
        if name.lower() not in _SIGNER_HEADERS:
            raise VapidError(
                f"vapid_private_key.sign() returned a {name[:40]!r} header; a VAPID "
                "signer returns Authorization (and Crypto-Key) only",
                field="vapid_private_key",
            )
        try:
            check_header(name, value)
        except InvalidRequest as bad:
            # check_header's words name the header and the rule, never the value.
            raise VapidError(
                f"vapid_private_key.sign() returned a bad header: {bad.message}",
                field="vapid_private_key",
            ) from None
    return headers


def _in_scheme(headers: dict[str, str], aesgcm: bool) -> dict[str, str]:
    """Another signer's VAPID headers, re-wrapped in the scheme the coding needs.

    py_vapid's ``Vapid01`` always signs with ``WebPush`` and ``Vapid02`` with
    ``vapid``; push services expect ``vapid t=, k=`` (RFC 8292 §3) with
    aes128gcm and ``WebPush <JWT>`` + ``Crypto-Key: p256ecdsa=`` (draft-01)
    with aesgcm (web-push-testing refuses the other pairings). The JWT is the
    same in both: only the wrapping changes. Headers that are not a VAPID
    token pass through as they are.
    """
    by_name = {name.lower(): value for name, value in headers.items()}
    authorization = by_name.get("authorization")
    if authorization is None:
        return headers
    try:
        _, token, point = split_authorization(authorization, by_name.get("crypto-key"))
    except VapidError:
        return headers
    out = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "crypto-key")}
    k = b64url_encode(point)
    if aesgcm:
        out["Authorization"] = f"WebPush {token}"
        out["Crypto-Key"] = f"p256ecdsa={k}"
    else:
        out["Authorization"] = f"vapid t={token}, k={k}"
    return out
