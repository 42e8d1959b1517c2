"""pywebpush 2.x's asyncio API: ``WebPusher.send_async`` and ``webpush_async``,
on our own transport, or through a caller's ``aiohttp_session`` as pywebpush 2.x
does (a real ``aiohttp.ClientSession`` against the loopback service, and stubs).

What holds through a session: the endpoint policy before it sees the URL,
redirects neither followed nor accepted, ``timeout`` for the whole exchange, the
reply body capped, and nothing on the event loop that blocks.
"""

from __future__ import annotations

import asyncio
import time
import unittest.mock
from collections.abc import Iterator
from typing import Any

import pytest

from webpush_core import (
    EndpointNotAllowed,
    EndpointPolicy,
    ExpiredSubscription,
    InvalidInput,
    PushRejected,
    PushResponse,
    PushTimeout,
    RateLimited,
    TransportError,
    WebPusher,
    webpush_async,
)
from webpush_core._sessions import MAX_BODY
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

aiohttp = pytest.importorskip("aiohttp")  # pywebpush 2.x's dependency, in the test extras

LOCAL = EndpointPolicy.for_testing()
CLAIMS = {"sub": "mailto:ops@example.com"}


@pytest.fixture
def service() -> Iterator[LocalPushService]:
    with LocalPushService() as svc:
        yield svc


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def with_session(work: Any) -> Any:
    async with aiohttp.ClientSession() as session:
        return await work(session)


# -- without a session: our transport, off the loop --------------------------------------


def test_send_async_without_a_session(service: LocalPushService) -> None:
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    headers = key.sign({**CLAIMS, "aud": service.url})
    pusher = WebPusher(sub)

    async def go() -> list[Any]:
        return [
            await pusher.send_async("positional", headers, 60, "aes128gcm", endpoint_policy=LOCAL),
            await pusher.send_async(
                data="aesgcm",
                headers=key.sign({**CLAIMS, "aud": service.url}),
                content_encoding="aesgcm",
                endpoint_policy=LOCAL,
            ),
            await pusher.send_async("x", curl=True, endpoint_policy=LOCAL),
        ]

    first, second, command = run(go())
    assert isinstance(first, PushResponse) and first.status == first.status_code == 201
    assert second.status_code == 201
    assert isinstance(command, str) and command.startswith("printf")
    assert [(m.text, m.ttl) for m in service.messages(sub)] == [("positional", 60), ("aesgcm", 0)]


def test_send_async_returns_any_status_like_send(service: LocalPushService) -> None:
    sub = service.subscribe()
    service.expire(sub)
    response = run(WebPusher(sub).send_async("x", endpoint_policy=LOCAL))
    assert response.status_code == 410


def test_the_event_loop_keeps_running_during_a_slow_send(service: LocalPushService) -> None:
    sub = service.subscribe()
    service.answer(delay=0.5)

    async def go() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.02)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        await WebPusher(sub).send_async("slow", endpoint_policy=LOCAL)
        ticker.cancel()
        return ticks

    assert run(go()) >= 10  # ~25 ticks while the send waited half a second


# -- through an aiohttp session ------------------------------------------------------------


def test_a_real_aiohttp_session(service: LocalPushService) -> None:
    key = Vapid.generate()
    sub = service.subscribe(key.application_server_key)
    gone = service.subscribe(key.application_server_key)
    service.expire(gone)

    async def go(session: Any) -> list[Any]:
        out = [
            await webpush_async(
                sub, "webpush_async", key, CLAIMS, aiohttp_session=session, endpoint_policy=LOCAL
            ),
            # pywebpush 2.x's positional order: the session is the eleventh.
            await webpush_async(
                sub,
                "positional",
                key,
                CLAIMS,
                "aesgcm",
                False,
                5,
                30,
                False,
                None,
                session,
                endpoint_policy=LOCAL,
            ),
            await WebPusher(sub, aiohttp_session=session).send_async(
                "send_async", key.sign({**CLAIMS, "aud": service.url}), endpoint_policy=LOCAL
            ),
            await WebPusher(gone, None, session).send_async("x", endpoint_policy=LOCAL),
        ]
        with pytest.raises(ExpiredSubscription) as caught:
            await webpush_async(
                gone, "x", key, CLAIMS, aiohttp_session=session, endpoint_policy=LOCAL
            )
        out.append(caught.value)
        return out

    accepted, positional, sent, gone_response, error = run(with_session(go))
    assert [r.status for r in (accepted, positional, sent)] == [201, 201, 201]
    assert accepted.headers["location"].startswith(service.url)
    assert gone_response.status_code == 410  # send_async: any status
    assert error.response.json()["errno"] == 103 and bool(error.response)
    messages = service.messages(sub)
    assert [(m.text, m.encoding, m.ttl) for m in messages] == [
        ("webpush_async", "aes128gcm", 0),
        ("positional", "aesgcm", 30),
        ("send_async", "aes128gcm", 0),
    ]


def test_the_policy_applies_before_the_session_sees_the_url(service: LocalPushService) -> None:
    sub = service.subscribe()
    session = unittest.mock.AsyncMock()
    with pytest.raises(EndpointNotAllowed):
        run(webpush_async(sub, "x", aiohttp_session=session))  # default policy: loopback http
    with pytest.raises(EndpointNotAllowed):
        run(WebPusher(sub, aiohttp_session=session).send_async("x"))
    session.post.assert_not_called()


def test_redirects_are_not_followed(service: LocalPushService) -> None:
    sub = service.subscribe()
    other = service.subscribe()
    service.answer(307, headers={"Location": other["endpoint"]}, to=sub)

    async def go(session: Any) -> Any:
        with pytest.raises(PushRejected) as caught:
            await webpush_async(sub, "x", aiohttp_session=session, endpoint_policy=LOCAL)
        return caught.value

    error = run(with_session(go))
    assert error.status_code == 307 and error.reason == "redirected"
    assert [r.status for r in service.requests] == [307]  # the Location was never requested
    assert service.messages(other) == []


def test_a_reply_that_followed_a_redirect_is_refused() -> None:
    sub = {"endpoint": "https://push.invalid/p/1", "keys": browser_keys()}
    session = unittest.mock.AsyncMock()
    session.post.return_value.status = 201
    session.post.return_value.history = (object(),)  # aiohttp's: a tuple of responses
    with pytest.raises(TransportError, match="followed a redirect"):
        run(webpush_async(sub, "x", aiohttp_session=session))
    assert session.post.call_args.kwargs["allow_redirects"] is False
    session.post.return_value.history = ()
    assert run(webpush_async(sub, "x", aiohttp_session=session)).status_code == 201


def test_the_timeout_covers_the_whole_exchange(service: LocalPushService) -> None:
    sub = service.subscribe()
    service.answer(201, delay=3)

    async def go(session: Any) -> float:
        start = time.monotonic()
        with pytest.raises(PushTimeout):
            await webpush_async(
                sub, "x", timeout=0.3, aiohttp_session=session, endpoint_policy=LOCAL
            )
        return time.monotonic() - start

    assert run(with_session(go)) < 2.0


def test_the_reply_body_is_capped(service: LocalPushService) -> None:
    sub = service.subscribe()
    service.answer(429, headers={"Retry-After": "7"}, body=b"x" * (MAX_BODY * 3))

    async def go(session: Any) -> Any:
        with pytest.raises(RateLimited) as caught:
            await webpush_async(sub, "x", aiohttp_session=session, endpoint_policy=LOCAL)
        return caught.value

    error = run(with_session(go))
    assert len(error.response.content) == MAX_BODY and error.retry_after == 7.0


def test_a_stub_session_like_pywebpush_tests_use() -> None:
    """An AsyncMock session (pywebpush's own test) gets the case-insensitive headers."""
    sub = {"endpoint": "https://push.invalid/p/1", "keys": browser_keys()}
    session = unittest.mock.AsyncMock()
    headers = {"Crypto-Key": "pre-existing", "Authentication": "bearer vapid"}
    run(WebPusher(sub, aiohttp_session=session).send_async("Mary had a little lamb", headers))
    (url,), kwargs = session.post.call_args
    assert url == sub["endpoint"] and kwargs["timeout"] == 10.0
    assert kwargs["headers"].get("ttl") == "0"
    assert kwargs["headers"].get("AUTHENTICATION") == "bearer vapid"
    assert "pre-existing" in kwargs["headers"].get("crypto-key")
    assert kwargs["headers"].get("content-encoding") == "aes128gcm"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda sub: WebPusher(sub, None, True), "aiohttp_session"),  # pywebpush 1.x's verbose
        (lambda sub: WebPusher(sub, aiohttp_session=object()), "aiohttp_session"),
        (lambda sub: run(webpush_async(sub, "x", aiohttp_session=5)), "aiohttp_session"),
        (
            lambda sub: run(
                webpush_async(
                    sub, "x", aiohttp_session=unittest.mock.AsyncMock(), requests_session=object()
                )
            ),
            "requests_session",
        ),
        (
            lambda sub: run(
                webpush_async(
                    sub,
                    "x",
                    aiohttp_session=unittest.mock.AsyncMock(),
                    proxy="http://proxy.example:3128",
                )
            ),
            "proxy",
        ),
    ],
    ids=["verbose-third", "no-post", "int", "both-sessions", "proxy"],
)
def test_wrong_session_arguments_name_the_field(call: Any, field: str) -> None:
    sub = {"endpoint": "https://push.invalid/p/1", "keys": browser_keys()}
    with pytest.raises(InvalidInput) as caught:
        call(sub)
    assert caught.value.field == field
    if field == "aiohttp_session" and "bool" in caught.value.message:
        assert "verbose=True by keyword" in caught.value.message


def browser_keys() -> dict[str, str]:
    with LocalPushService() as svc:
        keys: dict[str, str] = svc.subscribe()["keys"]
    return keys
