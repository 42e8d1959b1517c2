"""A subscription without ``keys``: pushes without data go out on every path, data never.

RFC 8030 §5 allows a push message without a payload; only a payload is
encrypted for the subscription's keys (RFC 8291). So a subscription given
without ``keys`` is accepted by ``webpush``, ``webpush_async``, ``WebPusher``
(as pywebpush does), ``build_request`` and ``PushClient`` and sent a message
without data; given data (or padding) every path refuses it before anything
is sent, with an ``InvalidSubscription`` naming ``keys`` and the fix. A capture
server on loopback records what arrives.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import pywebpush

from servers.push_service import PushService
from test_send_wire import Browser, verify_vapid
from webpush_core import (
    EndpointPolicy,
    InvalidSubscription,
    PushClient,
    WebPusher,
    WebPushException,
    build_request,
    webpush,
    webpush_async,
)
from webpush_core._delivery import fanout as _fanout
from webpush_core._delivery import sealer as _sealer
from webpush_core._delivery import spawn as _spawn
from webpush_core.vapid import Vapid, Vapid01

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}
VAPID = Vapid.generate()


@pytest.fixture
def capture() -> Iterator[PushService]:
    with PushService() as server:
        yield server


def keyless(capture: PushService, name: str = "k") -> dict[str, Any]:
    return {"endpoint": f"{capture.url}/push/{name}", "expirationTime": None}


def assert_keys_refusal(error: BaseException) -> None:
    assert isinstance(error, InvalidSubscription) and isinstance(error, WebPushException)
    assert error.field == "keys"
    for words in ("keys is missing", "keys.p256dh", "keys.auth", "toJSON", "no data"):
        assert words in error.message, error.message


# -- every path sends a push without data ---------------------------------------------


def _send_webpush(info: dict[str, Any], data: Any, **kw: Any) -> Any:
    return webpush(info, data, VAPID, dict(CLAIMS), endpoint_policy=LOCAL, **kw)


def _send_webpush_async(info: dict[str, Any], data: Any, **kw: Any) -> Any:
    return asyncio.run(webpush_async(info, data, VAPID, dict(CLAIMS), endpoint_policy=LOCAL, **kw))


def _presigned(info: dict[str, Any]) -> dict[str, str]:
    origin = "/".join(info["endpoint"].split("/")[:3])
    return VAPID.sign({**CLAIMS, "aud": origin})


def _send_pusher(info: dict[str, Any], data: Any, **kw: Any) -> Any:
    return WebPusher(info).send(data, _presigned(info), endpoint_policy=LOCAL, **kw)


def _send_pusher_async(info: dict[str, Any], data: Any, **kw: Any) -> Any:
    pusher = WebPusher(info)
    return asyncio.run(pusher.send_async(data, _presigned(info), endpoint_policy=LOCAL, **kw))


def _send_client(info: dict[str, Any], data: Any, **kw: Any) -> Any:
    with PushClient(VAPID, CLAIMS, endpoint_policy=LOCAL, helper_process=False, ttl=0) as client:
        result = client.send(info, data)
    if result.error is not None:
        raise result.error
    return result


SENDERS: dict[str, Callable[..., Any]] = {
    "webpush": _send_webpush,
    "webpush_async": _send_webpush_async,
    "WebPusher.send": _send_pusher,
    "WebPusher.send_async": _send_pusher_async,
    "PushClient.send": _send_client,
}


@pytest.mark.parametrize("send", SENDERS.values(), ids=SENDERS.keys())
def test_a_push_without_data_goes_out(
    capture: PushService, send: Callable[..., Any]
) -> None:
    send(keyless(capture), None)
    [seen] = capture.requests
    assert seen.method == "POST" and seen.path == "/push/k"
    assert seen.body == b"" and seen.headers["content-length"] == "0"
    assert seen.headers["ttl"] == "0"
    for computed in ("content-encoding", "content-type", "encryption", "crypto-key"):
        assert computed not in seen.headers
    token_claims, _ = verify_vapid(seen, "vapid")
    assert token_claims["aud"] == capture.url


REFUSED = [
    pytest.param(send, options, id=f"{name}-{kind}")
    for name, send in SENDERS.items()
    for kind, options in (
        ("text", {"data": "hello"}),
        ("one-byte", {"data": b"\x00"}),
        ("padding-only", {"data": None, "pad_to": 100}),
    )
    if not (kind == "padding-only" and send is _send_client)  # PushClient.send: no pad_to
]


@pytest.mark.parametrize(("send", "options"), REFUSED)
def test_data_is_refused_before_anything_is_sent(
    capture: PushService, send: Callable[..., Any], options: dict[str, Any]
) -> None:
    options = dict(options)
    data = options.pop("data")
    with pytest.raises(InvalidSubscription) as caught:
        send(keyless(capture), data, **options)
    assert_keys_refusal(caught.value)
    assert capture.requests == []


def test_build_request(capture: PushService) -> None:
    info = keyless(capture)
    request = build_request(info, None, VAPID, CLAIMS, endpoint_policy=LOCAL)
    assert request.body == b"" and request.url == info["endpoint"]
    assert set(request.headers) == {"TTL", "Authorization"}
    for data, pad_to in (("x", None), (None, 1)):
        with pytest.raises(InvalidSubscription) as caught:
            build_request(info, data, VAPID, CLAIMS, pad_to=pad_to, endpoint_policy=LOCAL)
        assert_keys_refusal(caught.value)
        with pytest.raises(InvalidSubscription) as caught:
            webpush(info, data, VAPID, dict(CLAIMS), curl=True, pad_to=pad_to,
                    endpoint_policy=LOCAL)  # fmt: skip
        assert_keys_refusal(caught.value)
    assert capture.requests == []


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None,
    reason="curl and bash are needed to run the printed command",
)
def test_curl_command_without_data_runs(capture: PushService) -> None:
    info = keyless(capture)
    command = webpush(info, None, VAPID, dict(CLAIMS), curl=True, endpoint_policy=LOCAL)
    assert command.startswith(f"curl -vX POST {info['endpoint']} --globoff ")
    assert '-H "content-length: 0"' in command and "--data-binary" not in command
    assert capture.requests == []
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=30)
    [seen] = capture.requests
    assert seen.body == b"" and "content-encoding" not in seen.headers
    verify_vapid(seen, "vapid")


def test_aesgcm_without_data_needs_no_keys_either(capture: PushService) -> None:
    key = Vapid01.generate()
    webpush(keyless(capture), None, key, dict(CLAIMS), "aesgcm", endpoint_policy=LOCAL)
    [seen] = capture.requests
    assert seen.body == b"" and "encryption" not in seen.headers
    # The VAPID key's p256ecdsa=, and no dh= (nothing was encrypted).
    assert seen.headers["crypto-key"] == f"p256ecdsa={key.application_server_key}"
    verify_vapid(seen, "webpush")


# -- WebPusher, next to pywebpush --------------------------------------------------------


def test_webpusher_attributes_and_encode_like_pywebpush(capture: PushService) -> None:
    info = keyless(capture)
    ours, theirs = WebPusher(info), pywebpush.WebPusher(info)
    assert ours.receiver_key is theirs.receiver_key is None
    assert ours.auth_key is theirs.auth_key is None
    assert ours.subscription_info == {"endpoint": info["endpoint"]}
    assert not ours.subscription.has_keys
    with pytest.raises(pywebpush.WebPushException):
        theirs.encode(b"data")
    with pytest.raises(WebPushException) as caught:
        ours.encode(b"data")
    assert_keys_refusal(caught.value)
    assert capture.requests == []


# -- PushClient: per subscription, never raised -----------------------------------------


@pytest.mark.parametrize("helper", [False, True], ids=["in-process", "helper-process"])
def test_push_client_reports_each_keyless_subscription(
    capture: PushService, monkeypatch: pytest.MonkeyPatch, helper: bool
) -> None:
    """With data, each keyless subscription gets its own refusal in the results (the
    others are delivered); without data, all are delivered. With the helper process
    the fan-out's outline (encryption elsewhere) meets them too."""
    sealed: list[int] = []
    if helper:
        if _spawn.cores() < 2:
            pytest.skip("the helper process is only used with 2 or more cores")
        monkeypatch.setattr(_fanout, "_HELPER_AFTER", 1)
        submit = _sealer.Sealer.submit

        def counting(self: _sealer.Sealer, plaintext: bytes, padding: int, keys: Any,
                     done: Any) -> bool:  # fmt: skip
            taken = submit(self, plaintext, padding, keys, done)
            if taken:
                sealed.append(len(keys))
            return taken

        monkeypatch.setattr(_sealer.Sealer, "submit", counting)
    browsers = [Browser.new(f"{capture.url}/push/b{i}") for i in range(12)]
    subs: list[dict[str, Any]] = []
    for i, browser in enumerate(browsers):
        subs.append(browser.info())
        if i % 3 == 0:
            subs.append(keyless(capture, f"k{i}"))
    keyless_count = len(subs) - len(browsers)

    def read_by(client: PushClient) -> Iterator[dict[str, Any]]:
        yield subs[0]  # starts the helper; the rest is read once it answers
        if helper:
            deadline = time.monotonic() + 30
            while not client._res.sealer.ready and time.monotonic() < deadline:
                time.sleep(0.01)
            assert client._res.sealer.ready
        yield from subs[1:]

    with PushClient(VAPID, CLAIMS, endpoint_policy=LOCAL, helper_process=helper) as client:
        results = list(client.send_many(read_by(client), "hello"))
        # With the helper, every keyed subscription after the first was sealed there.
        assert sum(sealed) == (len(browsers) - 1 if helper else 0)
        assert len(results) == len(subs)
        refused = [r for r in results if not r.ok]
        assert len(refused) == keyless_count
        for result in refused:
            assert result.subscription in subs and "keys" not in result.subscription
            assert result.reason == "invalid-input" and result.action == "fix-request"
            assert result.error is not None
            assert_keys_refusal(result.error)
        assert len(capture.requests) == len(browsers)
        by_path = {seen.path: seen for seen in capture.requests}
        for browser in browsers:
            seen = by_path["/push/" + browser.endpoint.rsplit("/", 1)[1]]
            assert browser.decrypt(seen) == b"hello"

        results = list(client.send_many(subs, None))
    assert all(r.ok for r in results) and len(results) == len(subs)
    assert len(capture.requests) == len(browsers) + len(subs)
