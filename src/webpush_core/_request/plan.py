"""One message, checked, built per subscription: encrypted (RFC 8291) and signed
(RFC 8292) for each one's keys and origin."""

from __future__ import annotations

import time
from typing import Any, Optional

from .. import ece
from .._subscription import Subscription
from ..ece._message import seal_aes128gcm_message
from ..errors import InvalidRequest
from ..vapid import Vapid
from .headers import CONTENT_TYPE
from .signer import check_aud_for, foreign_vapid_headers, refuse_vapid_conflicts
from .value import PushRequest

__all__ = ["MessagePlan"]

# A token fetched for an origin is reused by a plan this long; the signer's
# own cache decides when a new one is signed (an hour before exp).
_PLAN_TOKEN_SECONDS = 60.0
_PLAN_TOKEN_ORIGINS = 64


class MessagePlan:
    """One message, checked, ready to be built for any number of subscriptions.

    Made by :func:`~.build.prepare_message`; :meth:`build` adds what depends on the
    subscription: the VAPID token for its origin and the encryption for its
    keys. Thread-safe: PushClient's workers share one plan.
    """

    __slots__ = (
        "_aes128gcm",
        "_aud",
        "_before",
        "_caller_authorization",
        "_caller_dh",
        "_caller_p256ecdsa",
        "_claims",
        "_content_encoding",
        "_crypto_key",
        "_padding",
        "_plaintext",
        "_scheme",
        "_signer",
        "_tokens",
    )

    def __init__(
        self,
        *,
        content_encoding: str,
        plaintext: bytes,
        padding: int,
        before: dict[str, str],
        crypto_key: tuple[str, ...],
        signer: Any,
        claims: Optional[dict[str, Any]],
        caller_authorization: bool,
    ) -> None:
        self._content_encoding = content_encoding
        self._aes128gcm = content_encoding == "aes128gcm"
        self._scheme = "vapid" if self._aes128gcm else "webpush"
        self._plaintext = plaintext
        self._padding = padding
        self._before = before  # TTL, Urgency, Topic, the caller's other headers
        self._crypto_key = crypto_key  # the caller's Crypto-Key values
        self._signer = signer
        self._claims: dict[str, Any] = claims or {}  # given whenever signer is
        self._aud = self._claims.get("aud")
        self._caller_authorization = caller_authorization
        self._caller_p256ecdsa = any("p256ecdsa=" in value for value in crypto_key)
        self._caller_dh = any("dh=" in value for value in crypto_key)
        # origin -> (VAPID headers, monotonic time until which they are reused)
        self._tokens: dict[str, tuple[dict[str, str], float]] = {}

    def _with_plaintext(self, plaintext: bytes, padding: int) -> MessagePlan:
        """This plan for another message with the same (checked) options; the VAPID
        headers it reuses are shared with it."""
        plan = object.__new__(MessagePlan)
        plan._content_encoding = self._content_encoding
        plan._aes128gcm = self._aes128gcm
        plan._scheme = self._scheme
        plan._plaintext = plaintext
        plan._padding = padding
        plan._before = self._before
        plan._crypto_key = self._crypto_key
        plan._signer = self._signer
        plan._claims = self._claims
        plan._aud = self._aud
        plan._caller_authorization = self._caller_authorization
        plan._caller_p256ecdsa = self._caller_p256ecdsa
        plan._caller_dh = self._caller_dh
        plan._tokens = self._tokens
        return plan

    @property
    def signer(self) -> Any:
        """The loaded VAPID signer (a :class:`Vapid`, or an object with ``sign``), or None."""
        return self._signer

    @property
    def needs_keys(self) -> bool:
        """Whether there is a body to encrypt (data or padding), so the subscription
        needs its keys (RFC 8291); without, the message is a push without data."""
        return bool(self._plaintext or self._padding)

    @property
    def sealable(self) -> Optional[tuple[bytes, int]]:
        """(plaintext, padding) when the body is one aes128gcm record, else None.

        Such a body is :func:`~webpush_core.ece._message.seal_aes128gcm_message`'s
        output for the subscription's keys, wherever it is computed.
        """
        if self._aes128gcm and (self._plaintext or self._padding):
            return self._plaintext, self._padding
        return None

    def build(self, sub: Subscription) -> PushRequest:
        """The request for one (already parsed) subscription.

        Raises what :func:`~.build.build_request` raises for the subscription's part:
        data for a subscription without keys, a ``vapid_claims`` aud that is
        not its origin, a caller header that conflicts with the VAPID headers.
        """
        return self._build(sub, self._plaintext, self._padding)

    def _build(self, sub: Subscription, plaintext: bytes, padding: int) -> PushRequest:
        """:meth:`build` for another message with this plan's options."""
        ua_public_key = sub.require_keys() if plaintext or padding else None
        out, crypto_key = self.headers_for(sub.origin)
        if ua_public_key is None:
            body = b""
        elif self._aes128gcm:
            body = seal_aes128gcm_message(plaintext, ua_public_key, sub.p256dh, sub.auth, padding)
        else:
            msg = ece.encrypt_message(
                plaintext,
                ua_public_key,
                sub.auth,
                version=self._content_encoding,
                padding=padding,
                ua_point=sub.p256dh,
            )
            for name, value in msg.headers().items():
                if name == "Crypto-Key":
                    crypto_key.insert(0, value)  # dh= first, then p256ecdsa=
                else:
                    out[name] = value
            out["Content-Type"] = CONTENT_TYPE
            body = msg.body
        return self.finish(sub.endpoint, out, crypto_key, body)

    def headers_for(self, origin: str) -> tuple[dict[str, str], list[str]]:
        """The headers that do not depend on the encryption, and the Crypto-Key parts.

        Raises as :meth:`build` does (VAPID aud, conflicting caller headers).
        The dict is new: :meth:`finish` completes it.
        """
        auth: dict[str, str] = {}
        if self._signer is not None:
            refuse_vapid_conflicts(
                authorization=self._caller_authorization, p256ecdsa=self._caller_p256ecdsa
            )
            auth = self._vapid_headers(origin)
        out = self._before.copy()
        crypto_key = list(self._crypto_key)
        for name, value in auth.items():
            if name.lower() == "crypto-key":
                crypto_key.append(value)
            else:
                out[name] = value
        if self._caller_dh or (crypto_key and any("dh=" in value for value in crypto_key)):
            # Legacy scheme: "dh=" is ours; a "p256ecdsa=" from VAPID joins it
            # with ";" (draft-ietf-webpush-vapid-01 §4, what services parse).
            raise InvalidRequest(
                "the Crypto-Key header's dh= is computed by webpush_core", field="headers"
            )
        return out, crypto_key

    def finish(
        self, endpoint: str, out: dict[str, str], crypto_key: list[str], body: bytes
    ) -> PushRequest:
        """The request, from :meth:`headers_for`'s parts and the body (aes128gcm or none)."""
        if body and self._aes128gcm:
            out["Content-Encoding"] = "aes128gcm"
            # web-push-testing and some services refuse a body without it.
            out["Content-Type"] = CONTENT_TYPE
        if crypto_key:
            out["Crypto-Key"] = ";".join(crypto_key)
        request = object.__new__(PushRequest)  # frozen: fields set as its __init__ would
        request.__dict__.update(url=endpoint, headers=out, body=body, method="POST")
        return request

    def _vapid_headers(self, origin: str) -> dict[str, str]:
        """VAPID headers for this origin (RFC 8292 §2, §3; draft-01 for aesgcm)."""
        check_aud_for(self._aud, origin)
        signer = self._signer
        if not isinstance(signer, Vapid):
            return foreign_vapid_headers(signer, {**self._claims, "aud": origin}, self._scheme)
        # The signer's cache holds the token for hours; a fan-out reuses it
        # for a minute without re-deriving the cache key per message.
        now = time.monotonic()
        hit = self._tokens.get(origin)
        if hit is not None and now < hit[1]:
            return hit[0]
        headers = signer.sign_headers({**self._claims, "aud": origin}, scheme=self._scheme)
        if len(self._tokens) >= _PLAN_TOKEN_ORIGINS:
            self._tokens.clear()
        self._tokens[origin] = (headers, now + _PLAN_TOKEN_SECONDS)
        return headers
