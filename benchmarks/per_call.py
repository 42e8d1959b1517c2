"""The per-call contenders: one message's work in each library, no network.

Each factory returns a function whose i-th call works on the i-th subscription
(modulo), and returns the body where there is one, so that a caller can check
with http_ece that it decrypts before timing it (``checked``): a broken
contender shows up as an error, never as a flattering number. Ours take the
package as ``lib`` (default: this tree's ``webpush_core``), so that the same
row can run on a copy at another revision (``baseline.load``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Union

import py_vapid
import pywebpush

import webpush_core
from webpush_core import EndpointPolicy, Vapid
from webpush_core.ece import encrypt_message

from .keys import VAPID_SUB, Sub, UserAgent, decrypts_to
from .measure import PerCall

VapidKey = Union[str, Vapid]  # a key string per call (pywebpush's way) or a kept Vapid


def checked(name: str, fn: PerCall, ua: UserAgent, data: bytes) -> PerCall:
    """``fn`` once its first body (for ``ua``) decrypts to ``data``; else ValueError."""
    body = fn(0)
    if not isinstance(body, bytes) or not decrypts_to(ua, body, data):
        raise ValueError(f"{name}: its body does not decrypt (http_ece)")
    return fn


# -- ours ------------------------------------------------------------------------------


def ours_encrypt(uas: list[UserAgent], data: bytes) -> PerCall:
    """``ece.encrypt_message``: the encryption alone."""
    n = len(uas)
    return lambda i: encrypt_message(data, uas[i % n].p256dh, uas[i % n].auth).body


def ours_build_request(
    subs: list[Sub],
    data: bytes,
    vapid: VapidKey,
    ttl: int,
    policy: EndpointPolicy,
    lib: ModuleType = webpush_core,
) -> PerCall:
    """One-call ``build_request``: the whole request, every argument checked per call."""
    n = len(subs)
    claims = {"sub": VAPID_SUB}
    build = lib.build_request

    def one_call(i: int) -> bytes:
        request = build(
            subs[i % n],
            data,
            vapid_private_key=vapid,
            vapid_claims=claims,
            ttl=ttl,
            endpoint_policy=policy,
        )
        return bytes(request.body)

    return one_call


def ours_webpush(
    subs: list[Sub], data: bytes, vapid: VapidKey, ttl: int, lib: ModuleType
) -> PerCall:
    """One-call ``webpush()``, all of it but the socket: ``lib``'s ``MockPushService``
    must be active (the caller starts it) and answers 201. Returns the response;
    the body that went out is the mock's last captured request."""
    n = len(subs)
    claims = {"sub": VAPID_SUB}
    send = lib.webpush
    return lambda i: send(subs[i % n], data, vapid, claims, ttl=ttl)


def ours_encode(subs: list[Sub], data: bytes, lib: ModuleType = webpush_core) -> PerCall:
    """``WebPusher(sub).encode(data)`` (pywebpush's class, ours)."""
    n = len(subs)
    web_pusher = lib.WebPusher
    return lambda i: bytes(web_pusher(subs[i % n]).encode(data)["body"])


def ours_in_send_many(
    subs: list[Sub], data: bytes, vapid: VapidKey, ttl: int, lib: ModuleType = webpush_core
) -> tuple[PerCall, PerCall]:
    """Per message inside ``send_many``: the message is checked once
    (``prepare_message``), then each subscription parsed and its request built.
    (dict subscription, ``Subscription`` parsed beforehand and kept)."""
    try:  # where prepare_message lives; a baseline from before the split: _request
        prepare = importlib.import_module(f"{lib.__name__}._request.build").prepare_message
    except ModuleNotFoundError:
        prepare = importlib.import_module(f"{lib.__name__}._request").prepare_message
    parse = lib.Subscription.from_info
    plan = prepare(data, vapid, {"sub": VAPID_SUB}, "aes128gcm", ttl)
    parsed = [parse(sub) for sub in subs]
    n = len(subs)

    def from_dict(i: int) -> bytes:
        return bytes(plan.build(parse(subs[i % n])).body)

    def kept(i: int) -> bytes:
        return bytes(plan.build(parsed[i % n]).body)

    return from_dict, kept


# -- pywebpush -------------------------------------------------------------------------


def pywebpush_encode(subs: list[Sub], data: bytes) -> PerCall:
    n = len(subs)
    return lambda i: bytes(pywebpush.WebPusher(subs[i % n]).encode(data)["body"])


class _Mocked201:
    status_code = 201
    reason = "Created"
    text = ""
    headers: Mapping[str, str] = {}  # read-only


class _NoNetworkSession:
    """Stands in for requests.Session: pywebpush's whole one-call path minus the socket."""

    def post(self, url: str, **kwargs: Any) -> _Mocked201:
        return _Mocked201()


def pywebpush_one_call(subs: list[Sub], data: bytes, vapid_b64: str, ttl: int) -> PerCall:
    """pywebpush's ``webpush()`` with ``session.post`` mocked: VAPID key parse, JWT
    sign, encode, headers."""
    n = len(subs)
    session = _NoNetworkSession()
    claims = {"sub": VAPID_SUB}
    return lambda i: pywebpush.webpush(
        subs[i % n],
        data,
        vapid_private_key=vapid_b64,
        vapid_claims=claims,
        ttl=ttl,
        requests_session=session,
    )


def pywebpush_encode_and_sign(subs: list[Sub], data: bytes, vapid_b64: str, aud: str) -> PerCall:
    """``WebPusher(sub).encode`` + ``Vapid.from_string(key).sign(claims)``, the body returned."""
    n = len(subs)
    claims = {"sub": VAPID_SUB, "aud": aud}

    def one_call(i: int) -> bytes:
        body = bytes(pywebpush.WebPusher(subs[i % n]).encode(data)["body"])
        py_vapid.Vapid.from_string(vapid_b64).sign(dict(claims))
        return body

    return one_call
