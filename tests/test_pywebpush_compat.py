"""pywebpush compatibility, checked against pywebpush itself (an oracle, test-only).

What is kept: names, positional parameter order and defaults, ``requests_session=``,
py_vapid key objects, ``NoData``, ``encode``'s dict shape, ``WebPusher``'s
attributes, ``WebPushException``'s attributes and ``str()``, and ``webpush()``
sending through ``WebPusher.send`` (tests replace it), the signer given the
caller's claims dict with ``exp`` written into it.

What differs on purpose (README, "Migrating from pywebpush"), each proved here
next to pywebpush's behaviour: ``aud`` is never written into the claims, the
response is always truthy, ``retry_after`` is parsed, the default timeout is
finite, and ``curl=True`` prints a command that runs as pasted.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import inspect
import math
import os
import pathlib
import shutil
import socket
import subprocess
import time
import types
import unittest.mock
from typing import Any, Optional

import http_ece
import py_vapid
import pytest
import pywebpush
import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import webpush_core
from webpush_core import (
    CaseInsensitiveDict,
    EndpointNotAllowed,
    EndpointPolicy,
    ExpiredSubscription,
    InvalidRequest,
    InvalidSubscription,
    NoData,
    PushClient,
    PushRejected,
    PushResponse,
    RateLimited,
    ServerError,
    Subscription,
    TooLarge,
    Unauthorized,
    WebPusher,
    WebPushException,
    _endpoint,
    build_request,
    webpush,
    webpush_async,
)
from webpush_core._b64 import b64url_decode
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid, Vapid01, VapidError

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _positional(func: Any) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    return [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    ]


# -- signatures --------------------------------------------------------------------


def test_webpush_keeps_pywebpush_parameter_order_and_defaults() -> None:
    theirs = _positional(pywebpush.webpush)
    ours = _positional(webpush)
    assert [p.name for p in theirs] == [
        "subscription_info",
        "data",
        "vapid_private_key",
        "vapid_claims",
        "content_encoding",
        "curl",
        "timeout",
        "ttl",
        "verbose",
        "headers",
        "requests_session",
    ]
    assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs]
    for mine, theirs_p in zip(ours, theirs):
        # timeout's default is None in both; ours means 10 s (checked below), pywebpush's never.
        assert mine.default == theirs_p.default, mine.name
    # Everything beyond pywebpush's parameters is keyword-only: no positional caller breaks.
    extra = [p for p in inspect.signature(webpush).parameters.values() if p not in ours]
    assert extra and all(p.kind is p.KEYWORD_ONLY for p in extra)
    assert {p.name for p in extra} >= {"urgency", "topic", "endpoint_policy"}


def test_webpush_async_keeps_pywebpush_2_parameters() -> None:
    theirs = _positional(pywebpush.webpush_async)
    ours = _positional(webpush_async)
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]
    assert theirs[10].name == "aiohttp_session"
    extra = [p for p in inspect.signature(webpush_async).parameters.values() if p not in ours]
    assert all(p.kind is p.KEYWORD_ONLY for p in extra)
    assert {p.name for p in extra} >= {"requests_session", "endpoint_policy", "proxy"}


def test_webpusher_methods_keep_their_parameters() -> None:
    # pywebpush's send(*args, **kwargs) forwards positionals to _prepare_send_data.
    theirs = _positional(pywebpush.WebPusher._prepare_send_data)
    ours = _positional(WebPusher.send)
    assert [(p.name, p.default) for p in ours[: len(theirs)]] == [
        (p.name, p.default) for p in theirs
    ]
    for name in ("encode", "as_curl"):
        mine = _positional(getattr(WebPusher, name))
        them = _positional(getattr(pywebpush.WebPusher, name))
        assert [(p.name, p.default) for p in mine] == [(p.name, p.default) for p in them]
    init = _positional(WebPusher.__init__)
    theirs_init = _positional(pywebpush.WebPusher.__init__)
    assert [(p.name, p.default) for p in init] == [(p.name, p.default) for p in theirs_init]
    assert [p.name for p in init] == [
        "subscription_info", "requests_session", "aiohttp_session", "verbose",
    ]  # fmt: skip
    # send_async (pywebpush 2.x) takes what send takes.
    assert _positional(WebPusher.send_async) == _positional(WebPusher.send)
    assert inspect.iscoroutinefunction(WebPusher.send_async)


def test_pywebpush_names_are_all_there() -> None:
    for name in ("webpush", "webpush_async", "WebPusher", "WebPushException", "NoData"):
        assert hasattr(pywebpush, name)
        assert hasattr(webpush_core, name)
        assert name in webpush_core.__all__
    assert issubclass(NoData, WebPushException)
    assert set(WebPusher.valid_encodings) == set(pywebpush.WebPusher.valid_encodings)


# -- a fake requests session ----------------------------------------------------------


class FakeResponse:
    """What a requests-like session returns (no __bool__ games here)."""

    def __init__(self, status: int, reason: str = "", headers: Any = None, body: bytes = b""):
        self.status_code = status
        self.reason = reason
        self.headers = headers or {}
        self.content = body
        self.text = body.decode()


class FakeSession:
    def __init__(self, status: int = 201, **answer: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer = (status, answer)

    def post(self, url: str, **kw: Any) -> FakeResponse:
        self.calls.append({"url": url, **kw})
        status, answer = self.answer
        return FakeResponse(status, **answer)


@pytest.fixture
def service() -> Any:
    with LocalPushService() as svc:
        yield svc


def test_requests_session_is_used(service: LocalPushService) -> None:
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    session = FakeSession(201, reason="Created", headers={"Location": "/m/1"})
    response = webpush(
        sub, "via session", key, CLAIMS, requests_session=session, endpoint_policy=LOCAL
    )
    assert isinstance(response, PushResponse)
    assert response.status_code == 201 and response.headers["location"] == "/m/1"
    [call] = session.calls
    assert set(call) == {"url", "data", "headers", "timeout"}
    assert call["url"] == sub["endpoint"]
    assert call["timeout"] == 10.0  # finite by default
    assert call["headers"]["Content-Encoding"] == "aes128gcm"
    assert call["headers"]["Authorization"].startswith("vapid t=")
    assert service.requests == []  # the session sent it, not our pool
    # The body is a real push: the service's subscription key decrypts it.
    state = service._inbox(sub).state
    plaintext = http_ece.decrypt(
        call["data"], private_key=state.private_key, auth_secret=state.auth_secret
    )
    assert plaintext == b"via session"


def test_pywebpush_passes_no_timeout_to_the_session() -> None:
    """The difference: pywebpush hands requests timeout=None (wait forever)."""
    with LocalPushService() as svc:
        sub = svc.subscribe()
    theirs, ours = FakeSession(201), FakeSession(201)
    pywebpush.webpush(sub, "x", requests_session=theirs)
    webpush(sub, "x", requests_session=ours, endpoint_policy=LOCAL)
    assert theirs.calls[0]["timeout"] is None
    assert ours.calls[0]["timeout"] == 10.0


def test_the_endpoint_policy_still_applies_with_a_session() -> None:
    with LocalPushService() as svc:
        sub = svc.subscribe()
    session = FakeSession(201)
    with pytest.raises(EndpointNotAllowed):
        webpush(sub, "x", requests_session=session)  # default policy: http + loopback
    assert session.calls == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, ExpiredSubscription),
        (410, ExpiredSubscription),
        (401, Unauthorized),
        (403, Unauthorized),
        (413, TooLarge),
        (429, RateLimited),
        (500, ServerError),
        (503, ServerError),
        (400, PushRejected),
    ],
)
def test_typed_errors_with_truthy_response(status: int, error: type[WebPushException]) -> None:
    with LocalPushService() as svc:
        sub = svc.subscribe()
    session = FakeSession(status, reason="Nope", headers={"Retry-After": "120"}, body=b"why")
    with pytest.raises(WebPushException) as caught:  # the pywebpush-style catch still works
        webpush(sub, "x", requests_session=session, endpoint_policy=LOCAL)
    ex = caught.value
    assert type(ex) is error
    assert isinstance(ex.response, PushResponse)
    assert bool(ex.response) is True
    assert ex.response.status_code == ex.status_code == status
    assert ex.retry_after == 120.0  # parsed; pywebpush gives the raw "120"
    assert ex.message.startswith(f"Push failed: {status} Nope")
    assert ex.response.text == "why"


def test_webpusher_send_returns_any_status_like_pywebpush() -> None:
    with LocalPushService() as svc:
        sub = svc.subscribe()
        svc.expire(sub)
        response = WebPusher(sub).send("x", endpoint_policy=LOCAL)
        assert isinstance(response, PushResponse) and response.status_code == 410
        session = FakeSession(410, reason="Gone")
        response = WebPusher(sub, requests_session=session).send("x", endpoint_policy=LOCAL)
        assert response.status_code == 410 and len(session.calls) == 1


def test_a_real_requests_session(service: LocalPushService) -> None:
    class CountingSession(requests.Session):
        posts = 0

        def post(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            CountingSession.posts += 1
            return super().post(*args, **kwargs)

    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    with CountingSession() as session:
        for coding in ("aes128gcm", "aesgcm"):
            response = webpush(
                sub, f"requests {coding}", key, CLAIMS, coding,
                requests_session=session, endpoint_policy=LOCAL,
            )  # fmt: skip
            assert response.status_code == 201
        gone = service.subscribe(key.application_server_key)
        service.expire(gone)
        with pytest.raises(ExpiredSubscription) as caught:
            webpush(gone, "x", key, CLAIMS, requests_session=session, endpoint_policy=LOCAL)
    assert CountingSession.posts == 3
    assert [m.text for m in service.messages(sub)] == ["requests aes128gcm", "requests aesgcm"]
    # requests.Response is falsy for a 4xx; what we hand back is not.
    assert bool(caught.value.response) is True
    assert caught.value.response.json()["errno"] == 103


# -- py_vapid key objects ---------------------------------------------------------------


@pytest.mark.parametrize("cls", [py_vapid.Vapid01, py_vapid.Vapid02], ids=["Vapid01", "Vapid02"])
@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_py_vapid_instances_sign(service: LocalPushService, cls: Any, coding: str) -> None:
    signer = cls()
    signer.generate_keys()
    point = signer.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    sub = service.subscribe(point)
    claims = {"sub": "mailto:ops@example.com"}
    webpush(sub, "py_vapid", signer, claims, coding, endpoint_policy=LOCAL)
    [message] = service.messages(sub)
    assert message.text == "py_vapid"
    assert message.vapid_claims is not None and message.vapid_claims["aud"] == service.url
    # The coding's scheme, whatever the class (README): vapid with aes128gcm, WebPush with aesgcm.
    authorization = service.requests[-1].headers["authorization"]
    assert authorization.startswith("vapid t=" if coding == "aes128gcm" else "WebPush ")
    # As pywebpush: the missing exp is written into the caller's dict (aud never is).
    assert set(claims) == {"sub", "exp"} and claims["exp"] == message.vapid_claims["exp"]


def test_py_vapid_signer_gets_our_claim_checks(service: LocalPushService) -> None:
    signer = py_vapid.Vapid02()
    signer.generate_keys()
    sub = service.subscribe()
    with pytest.raises(VapidError) as caught:
        webpush(sub, "x", signer, {"sub": "ops@example.com"}, endpoint_policy=LOCAL)
    assert caught.value.field == "vapid_claims.sub"
    assert service.requests == []


# -- WebPusher -----------------------------------------------------------------------------


def _browser_sub(service: LocalPushService) -> tuple[dict[str, Any], Any]:
    sub = service.subscribe()
    return sub, service._inbox(sub).state


def test_encode_refuses_what_is_not_bytes_or_str(service: LocalPushService) -> None:
    sub, _ = _browser_sub(service)
    for wrong in (5, [1, 2], {"title": "hi"}):
        with pytest.raises(InvalidRequest) as caught:
            WebPusher(sub).encode(wrong)  # type: ignore[arg-type]
        assert caught.value.field == "data"
    encoded = WebPusher(sub).encode("ünïcode")  # str is UTF-8 encoded
    state = service._inbox(sub).state
    plaintext = http_ece.decrypt(
        encoded["body"], private_key=state.private_key, auth_secret=state.auth_secret
    )
    assert plaintext == "ünïcode".encode()


def test_encode_no_data(service: LocalPushService) -> None:
    sub, _ = _browser_sub(service)
    for empty in (b"", "", None):
        with pytest.raises(NoData) as caught:
            WebPusher(sub).encode(empty)
        assert caught.value.field == "data"
        with pytest.raises(pywebpush.NoData):
            pywebpush.WebPusher(sub).encode(empty)


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_encode_shape_matches_pywebpush_and_decrypts(
    service: LocalPushService, coding: str
) -> None:
    sub, state = _browser_sub(service)
    ours = WebPusher(sub).encode(b"encoded by us", coding)
    theirs = pywebpush.WebPusher(sub).encode(b"encoded by pywebpush", coding)
    assert isinstance(ours, CaseInsensitiveDict)
    assert sorted(k.lower() for k in ours) == sorted(theirs)
    assert {k.lower(): type(v) for k, v in ours.items()} == {k: type(v) for k, v in theirs.items()}
    assert ours["BODY"] is ours["body"] and "Body" in ours
    if coding == "aes128gcm":
        plaintext = http_ece.decrypt(
            ours["body"], private_key=state.private_key, auth_secret=state.auth_secret
        )
    else:
        for name in ("crypto_key", "salt"):
            value = ours[name]
            assert isinstance(value, bytes) and b"=" not in value
            assert set(value.decode()) <= set(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            )
        assert len(unb64url(ours["salt"].decode())) == 16
        assert len(unb64url(ours["CRYPTO_KEY"].decode())) == 65
        plaintext = http_ece.decrypt(
            ours["body"],
            salt=unb64url(ours["salt"].decode()),
            dh=unb64url(ours["crypto_key"].decode()),
            private_key=state.private_key,
            auth_secret=state.auth_secret,
            version="aesgcm",
        )
    assert plaintext == b"encoded by us"


def test_webpusher_attributes_match_pywebpush(service: LocalPushService) -> None:
    sub, state = _browser_sub(service)
    ours, theirs = WebPusher(sub), pywebpush.WebPusher(sub)
    assert ours.receiver_key == theirs.receiver_key == b64url_decode(sub["keys"]["p256dh"])
    assert ours.auth_key == theirs.auth_key == state.auth_secret
    assert isinstance(ours.receiver_key, bytes) and len(ours.receiver_key) == 65
    assert ours.subscription_info["endpoint"] == sub["endpoint"]
    assert ours.subscription_info == Subscription.from_info(sub).to_info()
    assert ours.subscription_info is ours.subscription_info  # one dict, kept
    ours.subscription_info = {"endpoint": "set by the caller"}  # as on pywebpush's
    assert ours.subscription_info == {"endpoint": "set by the caller"}
    assert state.auth_secret.hex() not in repr(ours)
    assert sub["keys"]["auth"] not in repr(ours)


@pytest.mark.parametrize(("cls", "coding"), [(Vapid, "aes128gcm"), (Vapid01, "aesgcm")])
def test_webpusher_send_with_presigned_headers(
    service: LocalPushService, cls: type[Vapid], coding: str
) -> None:
    """pywebpush's documented WebPusher use: VAPID headers signed beforehand, positionally."""
    key = cls.generate()
    sub = service.subscribe(key.application_server_key)
    headers = key.sign({"sub": "mailto:ops@example.com", "aud": service.url})
    before = dict(headers)
    response = WebPusher(sub).send("presigned", headers, 60, coding, endpoint_policy=LOCAL)
    assert response.status_code == 201
    [message] = service.messages(sub)
    assert (message.text, message.ttl, message.encoding) == ("presigned", 60, coding)
    if coding == "aesgcm":
        # The caller's p256ecdsa= joins our dh= in one Crypto-Key header.
        dh, p256ecdsa = service.requests[-1].headers["crypto-key"].split(";")
        assert dh.startswith("dh=") and p256ecdsa == f"p256ecdsa={key.application_server_key}"
    assert headers == before


def test_positional_call_like_pywebpush_users_write() -> None:
    with LocalPushService() as svc:
        key = Vapid01.generate()
        sub = svc.subscribe(key.application_server_key)
        session = FakeSession(201)
        webpush(
            sub, "positional", key, {"sub": "mailto:ops@example.com"}, "aesgcm",
            False, 5.0, 60, False, {"X-Extra": "1"}, session, endpoint_policy=LOCAL,
        )  # fmt: skip
        [call] = session.calls
        assert call["timeout"] == 5.0
        assert call["headers"]["TTL"] == "60"
        assert call["headers"]["Content-Encoding"] == "aesgcm"
        assert call["headers"]["X-Extra"] == "1"
        assert call["headers"]["Authorization"].startswith("WebPush ")
        command = webpush(sub, "positional", key, {"sub": "mailto:ops@example.com"}, "aes128gcm",
                          True, None, 0, False, None, None, endpoint_policy=LOCAL)  # fmt: skip
        assert isinstance(command, str)
        assert f"curl -vX POST {sub['endpoint']} --globoff " in command
        assert svc.requests == []


# -- webpush() sends through WebPusher.send, as pywebpush's does -----------------------------
# Users' own tests replace WebPusher.send (or send_async) to stub the network, and
# py_vapid's sign to stub the signing; pywebpush's suite does both.

PUSH_ORIGIN = "https://push.example.com"


def _public_sub(service: LocalPushService) -> dict[str, Any]:
    """A subscription with real keys at a public-looking endpoint (never contacted)."""
    return {**service.subscribe(), "endpoint": f"{PUSH_ORIGIN}/push/abc"}


def _py_vapid_key() -> Any:
    key = py_vapid.Vapid02()
    key.generate_keys()
    return key


def _verify(authorization: str, key: Any) -> dict[str, Any]:
    point = key.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    public = Vapid.from_raw_public(base64.urlsafe_b64encode(point).rstrip(b"=").decode())
    return public.verify(authorization, audience=PUSH_ORIGIN)


def test_webpush_calls_webpusher_send_as_pywebpush_does(service: LocalPushService) -> None:
    sub, key = _public_sub(service), _py_vapid_key()
    calls: dict[str, Any] = {}
    for name, module, cls in (
        ("theirs", pywebpush, pywebpush.WebPusher),
        ("ours", webpush_core, WebPusher),
    ):
        claims = {"sub": "mailto:ops@example.com", "aud": PUSH_ORIGIN}
        with unittest.mock.patch.object(cls, "send") as send:
            send.return_value.status_code = 201
            returned = module.webpush(sub, "hello", key, claims, headers={"X-Trace": "t"}, ttl=60)
        assert returned is send.return_value  # what send returned, as it is
        [call] = send.call_args_list
        calls[name] = (call, claims)
    (theirs, their_claims), (ours, our_claims) = calls["theirs"], calls["ours"]
    # The same call: (data, headers), ttl=, content_encoding=, curl=, timeout=.
    assert len(ours.args) == len(theirs.args) == 2 and ours.args[0] == theirs.args[0] == "hello"
    assert ours.kwargs == theirs.kwargs == {
        "ttl": 60, "content_encoding": "aes128gcm", "curl": False, "timeout": None,
    }  # fmt: skip
    # The headers: the caller's and the signer's, the token valid for the endpoint's origin.
    for call in (ours, theirs):
        headers = call.args[1]
        assert {k.lower() for k in headers} == {"x-trace", "authorization"}
        token = _verify(next(v for k, v in headers.items() if k.lower() == "authorization"), key)
        assert token["sub"] == "mailto:ops@example.com" and token["exp"] > time.time() + 3600
    # exp written into the caller's dict by both (aud was given here).
    assert set(our_claims) == set(their_claims) == {"sub", "aud", "exp"}
    assert service.requests == []


def test_webpush_async_calls_webpusher_send_async_as_pywebpush_does(
    service: LocalPushService,
) -> None:
    sub, key = _public_sub(service), _py_vapid_key()
    calls = {}
    for name, module, cls in (
        ("theirs", pywebpush, pywebpush.WebPusher),
        ("ours", webpush_core, WebPusher),
    ):
        claims = {"sub": "mailto:ops@example.com", "aud": PUSH_ORIGIN}
        with unittest.mock.patch.object(cls, "send_async") as send_async:
            assert isinstance(send_async, unittest.mock.AsyncMock)
            send_async.return_value = unittest.mock.Mock(status=201)  # aiohttp's name
            returned = asyncio.run(module.webpush_async(sub, "hello", key, claims, ttl=5))
        assert returned is send_async.return_value
        [calls[name]] = send_async.call_args_list
    assert calls["ours"].kwargs == calls["theirs"].kwargs
    assert calls["ours"].args[0] == "hello" and len(calls["ours"].args) == 2
    _verify(calls["ours"].args[1]["Authorization"], key)
    assert service.requests == []


def test_our_options_reach_send_only_when_given(service: LocalPushService) -> None:
    sub = _public_sub(service)
    policy = EndpointPolicy(allowed_hosts=["push.example.com"])
    with unittest.mock.patch.object(WebPusher, "send") as send:
        send.return_value.status_code = 201
        webpush(sub, "x", urgency="high", topic="t1", endpoint_policy=policy, pad_to=64,
                max_payload=2000, proxy=False, timeout=3.0)  # fmt: skip
        webpush(sub, "x")
    given, plain = send.call_args_list
    assert given.kwargs == {
        "ttl": 0, "content_encoding": "aes128gcm", "curl": False, "timeout": 3.0,
        "urgency": "high", "topic": "t1", "endpoint_policy": policy, "pad_to": 64,
        "max_payload": 2000, "proxy": False,
    }  # fmt: skip
    assert plain.kwargs == {"ttl": 0, "content_encoding": "aes128gcm", "curl": False,
                            "timeout": None}  # fmt: skip
    assert plain.args == ("x", {})


@pytest.mark.parametrize(
    ("status", "error"),
    [(410, ExpiredSubscription), (429, RateLimited), (500, ServerError), (400, PushRejected)],
)
def test_a_replaced_send_answering_an_error_raises_with_its_response(
    service: LocalPushService, status: int, error: type[WebPushException]
) -> None:
    sub = _public_sub(service)
    with unittest.mock.patch.object(WebPusher, "send") as send:
        send.return_value.status_code = status
        send.return_value.headers = {"Retry-After": "7"}
        with pytest.raises(error) as caught:
            webpush(sub, "x")
    assert caught.value.response is send.return_value  # the stub's own, as in pywebpush
    assert caught.value.status_code == status and caught.value.retry_after == 7
    with unittest.mock.patch.object(WebPusher, "send_async") as send_async:
        send_async.return_value = unittest.mock.Mock(status=status)
        with pytest.raises(error) as caught:
            asyncio.run(webpush_async(sub, "x"))
    assert caught.value.response is send_async.return_value


def test_inputs_are_checked_before_a_replaced_send_is_called(service: LocalPushService) -> None:
    sub = _public_sub(service)
    with unittest.mock.patch.object(WebPusher, "send") as send:
        for call, error in (
            (lambda: webpush(sub, "x", Vapid.generate(), {"sub": "ops@example.com"}), VapidError),
            (lambda: webpush(sub, 5), InvalidRequest),  # type: ignore[arg-type]
            (lambda: webpush({"endpoint": sub["endpoint"]}, "x"), InvalidSubscription),
            (lambda: webpush({**sub, "endpoint": "https://10.0.0.1/x"}, "x"), EndpointNotAllowed),
            (lambda: webpush(sub, "x", headers={"X-A": "a\r\nb"}), InvalidRequest),
            (
                lambda: webpush(sub, "x", Vapid.generate(), CLAIMS, headers={"Authorization": "x"}),
                InvalidRequest,
            ),
        ):
            with pytest.raises(error):
                call()
        assert send.call_count == 0


def test_a_signer_without_headers_is_refused_before_anything_is_sent(
    service: LocalPushService,
) -> None:
    """sign() returning no dict of headers: with the real send, refused before a byte
    is sent (sync, async, curl); with send replaced by a test, that test keeps working
    and what send got can go on no wire (requests refuses it as a header value)."""
    sub = service.subscribe()
    key = _py_vapid_key()
    with unittest.mock.patch.object(py_vapid.Vapid02, "sign") as sign:  # a MagicMock
        for call in (
            lambda: webpush(sub, "x", key, dict(CLAIMS), endpoint_policy=LOCAL),
            lambda: webpush(sub, "x", key, dict(CLAIMS), curl=True, endpoint_policy=LOCAL),
            lambda: asyncio.run(webpush_async(sub, "x", key, dict(CLAIMS), endpoint_policy=LOCAL)),
        ):
            with pytest.raises(VapidError) as caught:
                call()
            assert caught.value.field == "vapid_private_key"
            assert "sign() must return a dict of headers, got MagicMock" in caught.value.message
        assert service.requests == []
        with unittest.mock.patch.object(WebPusher, "send") as send:
            send.return_value.status_code = 201
            claims = dict(CLAIMS)
            webpush(sub, "x", key, claims, endpoint_policy=LOCAL)
        assert sign.call_count == 4  # three refused, then the replaced send's
        [(data, headers), _] = send.call_args
        with pytest.raises(requests.exceptions.InvalidHeader):
            requests.Request("POST", sub["endpoint"], headers=headers).prepare()
        with pytest.raises(VapidError, match="dict of headers"):
            build_request(sub, data, headers=headers, endpoint_policy=LOCAL)
    assert service.requests == []


# -- WebPushException -----------------------------------------------------------------------


class _NoText:
    status_code = 502

    def __repr__(self) -> str:
        return "<no text>"


@pytest.mark.parametrize(
    "response",
    [
        None,
        PushResponse(410, "Gone", {"Retry-After": "5"}, b'{"error": "gone"}'),
        PushResponse(201, "Created"),
        _NoText(),
    ],
    ids=["none", "410", "201", "no-text"],
)
def test_exception_str_and_attributes_like_pywebpush(response: Any) -> None:
    ours = WebPushException("Push failed: boom", response=response)
    theirs = pywebpush.WebPushException("Push failed: boom", response=response)
    assert str(ours) == str(theirs)
    assert ours.message == theirs.message == "Push failed: boom"
    assert ours.response is theirs.response is response
    assert ours.status_code == theirs.status_code


def test_retry_after_is_parsed_not_raw() -> None:
    response = PushResponse(429, "Too Many Requests", {"Retry-After": "30"})
    assert WebPushException("x", response).retry_after == 30.0
    assert pywebpush.WebPushException("x", response).retry_after == "30"
    assert WebPushException("x").retry_after is None


def test_response_truthy_unlike_requests() -> None:
    theirs = requests.Response()
    theirs.status_code = 410
    assert not theirs  # the pywebpush clean-up idiom's trap
    for status in (200, 201, 404, 410, 500):
        assert bool(PushResponse(status)) is True


# -- the default timeout reaches the transport ----------------------------------------------


class _Recorded(Exception):
    pass


class RecordingPool:
    """A PoolManager stand-in: records urlopen's timeout, then stops the send."""

    def __init__(self) -> None:
        self.timeouts: list[Any] = []

    def urlopen(self, method: str, url: str, **kw: Any) -> Any:
        self.timeouts.append(kw.get("timeout"))
        raise _Recorded


@pytest.mark.parametrize(("given", "expected"), [(None, 10.0), (2.5, 2.5)])
def test_timeout_reaches_urllib3_finite(
    service: LocalPushService, given: Optional[float], expected: float
) -> None:
    sub = service.subscribe()
    pool = RecordingPool()
    with pytest.raises(_Recorded):
        webpush(sub, "x", timeout=given, endpoint_policy=LOCAL, pool_manager=pool)  # type: ignore[arg-type]
    [timeout] = pool.timeouts
    assert isinstance(timeout, urllib3.Timeout)
    # The transport hands urllib3 what is left of the deadline: just under the timeout.
    for value in (timeout.total, timeout.connect_timeout, timeout.read_timeout):
        assert isinstance(value, float) and math.isfinite(value)
        assert expected - 1.0 < value <= expected

    pool = RecordingPool()
    with pytest.raises(_Recorded):
        WebPusher(sub, pool_manager=pool).send("x", timeout=given, endpoint_policy=LOCAL)  # type: ignore[arg-type]
    assert expected - 1.0 < pool.timeouts[0].total <= expected


# -- the caller's claims dict --------------------------------------------------------------


def test_claims_get_exp_like_pywebpush_but_never_aud(
    service: LocalPushService, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # pywebpush's curl writes encrypted.data here
    key = py_vapid.Vapid02()
    key.generate_keys()
    sub = service.subscribe()
    theirs = {"sub": "mailto:ops@example.com"}
    pywebpush.webpush(sub, "x", key, theirs, curl=True)
    assert set(theirs) == {"sub", "aud", "exp"}  # pywebpush wrote both into the caller's dict
    ours = {"sub": "mailto:ops@example.com"}
    webpush(sub, "x", key, ours, curl=True, endpoint_policy=LOCAL)
    assert set(ours) == {"sub", "exp"}  # exp as pywebpush (12 h), aud never
    assert abs(ours["exp"] - (time.time() + 43200)) < 60
    written = ours["exp"]
    # The same dict for a subscription at another push service: its own audience
    # (pywebpush's written aud would be the first service's: a refused token).
    with LocalPushService() as other_service:
        other = other_service.subscribe()
        webpush(other, "x", key, ours, endpoint_policy=LOCAL)
        [message] = other_service.messages(other)
        assert message.vapid_claims is not None
        assert message.vapid_claims["aud"] == other_service.url != service.url
        assert message.vapid_claims["exp"] == written  # the exp it was given, kept
    assert ours == {"sub": "mailto:ops@example.com", "exp": written}
    frozen = types.MappingProxyType({"sub": "mailto:ops@example.com"})  # nowhere to write
    webpush(sub, "x", key, frozen, endpoint_policy=LOCAL)
    assert dict(frozen) == {"sub": "mailto:ops@example.com"}


# -- curl=True ---------------------------------------------------------------------------------

needs_curl = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None or shutil.which("base64") is None,
    reason="curl, bash and base64 are needed to run the printed command",
)


def _run(command: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


@needs_curl
@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_curl_output_pastes_and_runs(
    service: LocalPushService, tmp_path: pathlib.Path, coding: str
) -> None:
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    # Shell metacharacters in the data and a header: they must survive quoting.
    message = 'it\'s "quoted" $HOME `id` \\ ; | & * ~ ' + os.urandom(8).hex()
    command = webpush(
        sub, message, key, CLAIMS, coding, curl=True, ttl=77, urgency="low", topic="t",
        headers={"X-Note": "a'b \"c\" $(id)"}, endpoint_policy=LOCAL, timeout=5,
    )  # fmt: skip
    assert isinstance(command, str)
    assert service.requests == []  # curl=True sends nothing
    done = _run(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 201")
    [received] = service.messages(sub)
    assert received.text == message
    assert (received.ttl, received.urgency, received.topic) == (77, "low", "t")
    assert service.requests[0].headers["x-note"] == 'a\'b "c" $(id)'
    assert list(tmp_path.iterdir()) == []  # no side file (pywebpush writes encrypted.data)


@needs_curl
def test_curl_without_data_and_webpusher_as_curl(
    service: LocalPushService, tmp_path: pathlib.Path
) -> None:
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    command = webpush(sub, None, key, CLAIMS, curl=True, endpoint_policy=LOCAL)
    assert _run(command, tmp_path).returncode == 0
    assert service.messages(sub)[0].plaintext == b""

    pusher = WebPusher(sub)
    encoded = pusher.encode("via as_curl")
    headers = {**key.sign({"sub": "mailto:ops@example.com", "aud": service.url}), "TTL": 5}
    headers["Content-Encoding"] = "aes128gcm"
    command = pusher.as_curl(sub["endpoint"], encoded["body"], headers)
    done = _run(command, tmp_path)
    assert done.returncode == 0, done.stderr
    assert service.messages(sub)[1].text == "via as_curl"
    assert list(tmp_path.iterdir()) == []


# -- retry_after from any response; a stub session's reply ------------------------------------


def _requests_response(headers: dict[str, str], status: int = 429) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    return response


def _http_date(offset: float) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


class _AiohttpLike:
    """The parts of an aiohttp.ClientResponse pywebpush's WebPushException reads."""

    def __init__(self, headers: Any) -> None:
        self.status = 503
        self.headers = headers


@pytest.mark.parametrize(
    ("response", "low", "high"),
    [
        (_requests_response({"Retry-After": "120"}), 120, 120),
        (_requests_response({"retry-after": "7"}), 7, 7),  # requests' dict: any case
        # The HTTP-date form (made when the test runs: the list is built at collection).
        (lambda: _requests_response({"Retry-After": _http_date(90)}), 85, 90),
        (_requests_response({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 0, 0),  # past
        (_AiohttpLike({"Retry-After": "30"}), 30, 30),
        (_AiohttpLike({"retry-after": "3"}), 3, 3),  # a plain dict, lower-case name
        (_AiohttpLike({"Retry-After": 120}), 120, 120),  # a stub's int
        (_AiohttpLike(urllib3.HTTPHeaderDict({"RETRY-AFTER": "9"})), 9, 9),
        (PushResponse(429, headers={"Retry-After": "11"}), 11, 11),
    ],
    ids=[
        "requests", "requests-lower", "requests-date", "requests-past-date", "aiohttp-like",
        "plain-dict-lower", "stub-int", "urllib3", "ours",
    ],
)
def test_retry_after_in_seconds_from_any_response(response: Any, low: float, high: float) -> None:
    if callable(response):
        response = response()
    error = WebPushException("Push failed", response=response)
    assert error.retry_after is not None
    assert low <= error.retry_after <= high
    assert isinstance(error.retry_after, float)


@pytest.mark.parametrize(
    "response",
    [
        None,
        unittest.mock.MagicMock(),  # every attribute a Mock: no header to read
        unittest.mock.Mock(spec=["status_code"]),  # no headers at all
        _AiohttpLike("Retry-After: 5"),  # not a mapping
        _AiohttpLike({"Retry-After": "soon"}),
        _AiohttpLike({"Retry-After": "-5"}),
        _AiohttpLike({"Retry-After": True}),
        _AiohttpLike({}),
        [1, 2, 3],
    ],
    ids=["none", "magicmock", "no-headers", "text", "soon", "negative", "bool", "absent", "list"],
)
def test_retry_after_none_when_there_is_no_usable_header(response: Any) -> None:
    assert WebPushException("Push failed", response=response).retry_after is None


def test_a_stub_session_works_offline_and_its_mock_history_is_no_redirect() -> None:
    """pywebpush's test pattern: a Mock session, an endpoint that resolves nowhere."""
    sub = {
        "endpoint": "https://push.invalid/send/abc",  # RFC 6761: never resolves
        "keys": pywebpush_style_keys(),
    }
    session = unittest.mock.MagicMock()
    session.post.return_value.status_code = 201
    response = webpush(sub, "offline", requests_session=session)
    assert response.status_code == 201
    # The reply's .history is a MagicMock: not a followed redirect.
    assert isinstance(session.post.return_value.history, unittest.mock.MagicMock)
    url, headers = session.post.call_args[0][0], session.post.call_args[1]["headers"]
    assert url == sub["endpoint"]
    # Case-insensitive, as pywebpush hands them to the session.
    assert headers.get("ttl") == headers["TTL"] == "0"
    assert headers.get("content-encoding") == "aes128gcm"
    pusher_session = unittest.mock.MagicMock()  # nothing configured: any status
    reply = WebPusher(sub, requests_session=pusher_session).send("x", {"Authentication": "b"})
    assert isinstance(reply, PushResponse)
    assert pusher_session.post.call_args[1]["headers"].get("AUTHENTICATION") == "b"


@pytest.mark.parametrize("history", [[object()], (object(),)], ids=["list", "tuple"])
def test_a_real_redirect_history_is_refused(history: Any) -> None:
    sub = {"endpoint": "https://push.invalid/send/abc", "keys": pywebpush_style_keys()}
    session = unittest.mock.MagicMock()
    session.post.return_value.status_code = 201
    session.post.return_value.history = history
    with pytest.raises(webpush_core.TransportError, match="followed a redirect"):
        webpush(sub, "x", requests_session=session)
    session.post.return_value.history = type(history)()  # empty: no redirect
    assert webpush(sub, "x", requests_session=session).status_code == 201


def test_a_session_gets_unresolvable_names_but_not_refused_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As through a proxy: the URL is checked, and the addresses the name has here."""
    table = {"push.rebound.example": ["10.0.0.5"], "push.public.example": ["93.184.216.34"]}

    def getaddrinfo(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]

    monkeypatch.setattr(_endpoint.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(_endpoint, "_resolved_cache", type(_endpoint._resolved_cache)())
    keys = pywebpush_style_keys()
    session = FakeSession(201)
    for host in ("push.public.example", "nowhere.invalid"):
        webpush({"endpoint": f"https://{host}/p", "keys": keys}, "x", requests_session=session)
    assert [c["url"] for c in session.calls] == [
        "https://push.public.example/p",
        "https://nowhere.invalid/p",
    ]
    for url in ("https://push.rebound.example/p", "http://push.public.example/p"):
        with pytest.raises(EndpointNotAllowed):
            webpush({"endpoint": url, "keys": keys}, "x", requests_session=session)
    assert len(session.calls) == 2


def pywebpush_style_keys() -> dict[str, bytes]:
    """A subscription's keys as pywebpush's own tests make them (base64url bytes)."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    return {
        "p256dh": base64.urlsafe_b64encode(point).strip(b"="),
        "auth": base64.urlsafe_b64encode(os.urandom(16)).strip(b"="),
    }


# -- a VAPID exp in the past ------------------------------------------------------------------


def test_a_past_exp_signs_a_fresh_token_like_pywebpush(service: LocalPushService) -> None:
    """VAPID_CLAIMS computed once at import, used after its exp (pywebpush: now + 12 h)."""
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    stale = int(time.time()) - 48600  # pywebpush's own test's value
    claims = {"sub": "mailto:ops@example.com", "exp": stale}
    by_webpush, by_py_vapid = dict(claims), dict(claims)
    webpush(sub, "webpush", key, by_webpush, endpoint_policy=LOCAL)
    with PushClient(key, claims, endpoint_policy=LOCAL, helper_process=False) as client:
        assert client.send(sub, "PushClient").ok
    signer = py_vapid.Vapid02()
    signer.generate_keys()
    other = service.subscribe()
    webpush(other, "py_vapid", signer, by_py_vapid, endpoint_policy=LOCAL)  # a foreign signer
    messages = service.messages(sub) + service.messages(other)
    assert [m.text for m in messages] == ["webpush", "PushClient", "py_vapid"]
    for message in messages:
        assert message.vapid_claims is not None
        assert abs(message.vapid_claims["exp"] - (time.time() + 43200)) < 60
    # webpush() writes the fresh exp into the caller's dict, as pywebpush does;
    # PushClient never writes into it.
    assert claims == {"sub": "mailto:ops@example.com", "exp": stale}
    for written, message in ((by_webpush, messages[0]), (by_py_vapid, messages[2])):
        assert written == {"sub": "mailto:ops@example.com", "exp": message.vapid_claims["exp"]}
    with pytest.raises(VapidError, match="24 hours"):
        webpush(sub, "x", key, {**claims, "exp": int(time.time()) + 86400 + 60},
                endpoint_policy=LOCAL)  # fmt: skip
