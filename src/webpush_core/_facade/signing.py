"""The VAPID headers ``webpush()`` hands to ``WebPusher.send``, as pywebpush's does.

pywebpush's ``webpush()`` signs, then sends with ``WebPusher(...).send(data,
headers, ...)``; tests written against it replace either step
(``patch.object(Vapid, "sign")``, ``patch.object(WebPusher, "send")``) and
check what the signer was given. So here too:

* the signer gets the caller's claims dict, ``exp`` written into it when it is
  missing or past (now + 12 h: pywebpush's habit, which such tests read back),
  or less than an hour ahead (so that a dict reused for hours never signs a
  token about to expire; pywebpush waits until it has).
  ``aud`` is not written: in a dict reused for the next subscription it would
  carry this push service's audience to another one. Without an ``aud`` the
  signer gets a copy with the endpoint's origin;
* the headers it returns join the caller's (``Crypto-Key`` values joined with
  ``;``); a signer's answer that is no dict of headers travels as a
  :class:`~webpush_core._request.headers.RefusedSignature`, which the header check every request
  goes through refuses before anything is sent (a ``send`` replaced by a test
  sends nothing, so such a test keeps working).

The claims and the caller's headers are checked before the signer is called,
by the same rules as everywhere (RFC 8292 §2).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import Any, Optional, Union

from .._request.headers import RefusedSignature
from .._request.signer import check_aud_for, refuse_vapid_conflicts, sign_foreign
from ..vapid import Vapid, validate_claims
from ..vapid._cache import REFRESH_MARGIN
from ..vapid._claims import DEFAULT_TTL

__all__ = ["vapid_headers"]

log = logging.getLogger("webpush_core.vapid")


def vapid_headers(
    origin: str,
    signer: Any,
    claims: Optional[Mapping[str, Any]],
    content_encoding: str,
    headers: Optional[Mapping[str, Any]],
) -> dict[str, Any]:
    """The caller's ``headers`` (a new dict) with the VAPID headers for ``origin``.

    ``signer`` and ``claims`` as :func:`~webpush_core._request.keys.vapid_signer` accepted them
    (``signer`` None: no VAPID); ``headers`` already checked. Raises
    :class:`VapidError` or :class:`InvalidRequest` naming the field.
    """
    out: dict[str, Any] = dict(headers or {})
    if signer is None or claims is None:
        return out
    names = {str(name).lower(): name for name in out}
    crypto_key = names.get("crypto-key")
    refuse_vapid_conflicts(
        authorization="authorization" in names,
        p256ecdsa=crypto_key is not None and "p256ecdsa=" in str(out[crypto_key]),
    )
    check_aud_for(claims.get("aud"), origin)
    now = time.time()
    checked = validate_claims({**claims, "aud": origin}, now=now)  # a missing or past exp: fresh
    if checked["exp"] < now + REFRESH_MARGIN:
        # One this dict got from an earlier call, now under an hour from its end: a
        # token may queue, be retried and meet a clock running ahead (the token
        # cache's margin), so it is renewed as a missing one would be.
        log.debug("vapid_claims 'exp' is less than %d s ahead: renewed", REFRESH_MARGIN)
        checked["exp"] = int(now) + DEFAULT_TTL
    if isinstance(claims, MutableMapping) and claims.get("exp") != checked["exp"]:
        claims["exp"] = checked["exp"]  # as pywebpush does: into the caller's dict
    scheme = "vapid" if content_encoding == "aes128gcm" else "webpush"
    signed: Union[dict[str, str], RefusedSignature]
    if isinstance(signer, Vapid):
        signed = signer.sign_headers(checked, scheme=scheme)
    else:
        # pywebpush's sign(vapid_claims): the caller's own dict, when it says the same.
        own = isinstance(claims, MutableMapping) and claims.get("aud") == origin
        signed = sign_foreign(signer, claims if own else checked, scheme)
    if isinstance(signed, RefusedSignature):
        out["Authorization"] = signed
        return out
    # Authorization and Crypto-Key only (any other is refused when signed); the
    # caller's Authorization was refused above.
    for name, value in signed.items():
        if name.lower() == "crypto-key" and crypto_key is not None:
            out[crypto_key] = f"{out[crypto_key]};{value}"
        else:
            out[name] = value
    return out
