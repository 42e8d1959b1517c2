"""What an attempt came to (webpush_core._classify): every classification in one module.

Tables over whole tables: every error class for ``retryable``, every kind of
failure for ``transport_error``; and the two transports, given the same
failure, word it the same (the mapping is written once).
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import socket
import ssl
from typing import Any, Optional

import pytest

from servers.loopback import free_port
from webpush_core import errors
from webpush_core._classify import (
    BROKEN,
    CONNECT,
    OTHER,
    RESOLVE,
    TIMEOUT,
    TLS,
    error_for_response,
    failure_detail,
    failure_kind,
    retryable,
    throttles,
    transport_error,
)
from webpush_core._delivery.client import PushClient
from webpush_core._endpoint import EndpointPolicy
from webpush_core._request.value import PushRequest
from webpush_core._response import PushResponse
from webpush_core._wire.urllib3_pools import make_pool_manager
from webpush_core._wire.urllib3_transport import send_request

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
URL = "https://push.example/p/token"
ORIGIN = "https://push.example:443"

# Every error class there is, and whether a failure with it may succeed if tried again.
RETRYABLE = {
    "WebPushException": False,  # a bug, or a caller's own subclass: not ours to retry
    "InvalidInput": False,
    "InvalidSubscription": False,
    "PayloadTooLarge": False,
    "InvalidRequest": False,
    "EndpointNotAllowed": False,
    "VapidError": False,
    "NoData": False,
    "ECEError": False,
    "PushServiceError": False,
    "ExpiredSubscription": False,
    "Unauthorized": False,
    "TooLarge": False,
    "RateLimited": True,  # RFC 8030 §8.4
    "ServerError": True,
    "PushRejected": False,
    "TransportError": True,
    "PushTimeout": True,
    "ProxyError": True,  # a proxy that could not be reached, or refused (not 407)
    "OriginUnavailable": True,
}


def error_classes() -> list[type[errors.WebPushException]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.WebPushException)
    ]


def test_the_table_covers_every_error_class() -> None:
    assert sorted(cls.__name__ for cls in error_classes()) == sorted(RETRYABLE)


def make(cls: type[errors.WebPushException]) -> errors.WebPushException:
    if issubclass(cls, errors.InvalidInput):
        return cls("bad", field="x")
    if issubclass(cls, (errors.TransportError, errors.PushServiceError)):
        return cls("failed", endpoint=URL)  # type: ignore[call-arg]
    return cls("failed")


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_retryable_over_every_error_class(cls: type[errors.WebPushException]) -> None:
    assert retryable(make(cls)) is RETRYABLE[cls.__name__]


def test_a_proxys_407_is_not_retried_but_its_other_refusals_are() -> None:
    assert not retryable(errors.ProxyError("407", proxy_status=407))
    assert retryable(errors.ProxyError("502", proxy_status=502))
    assert retryable(errors.ProxyError("unreachable", proxy_status=None))


@pytest.mark.parametrize(
    ("status", "headers", "throttle"),
    [
        (429, {}, True),  # RFC 8030 §8.4, with or without Retry-After
        (429, {"Retry-After": "5"}, True),
        (503, {"Retry-After": "5"}, True),  # RFC 9110 §10.2.3
        (503, {}, False),  # a 503 alone is a failure, not a request to slow down
        (500, {"Retry-After": "5"}, False),
        (406, {"X-WNS-Error-Description": "throttle limit", "X-WNS-Status": "dropped"}, True),
        (406, {}, False),  # a 406 from anyone but WNS
        (410, {"Retry-After": "5"}, False),
        (201, {"Retry-After": "5"}, False),
    ],
)
def test_throttles(status: int, headers: dict[str, str], throttle: bool) -> None:
    response = PushResponse(status, "", headers)
    error = error_for_response(response, URL)
    assert throttles(status, response.retry_after, error) is throttle


# --------------------------------------------------------------------------
# Failures without an answer


@pytest.mark.parametrize(
    ("kind", "cause", "message"),
    [
        (RESOLVE, socket.gaierror(-2, "Name or service not known"), "cannot resolve the host of "
         f"{ORIGIN}: Name or service not known"),
        (CONNECT, ConnectionRefusedError(111, "Connection refused"), "cannot connect to "
         f"{ORIGIN}: Connection refused"),
        (TLS, ssl.SSLError(1, "[SSL] wrong version"), f"TLS failure with {ORIGIN}: [SSL] wrong "
         "version"),
        (BROKEN, ConnectionResetError(104, "Connection reset by peer"), f"connection to {ORIGIN} "
         "broken: Connection reset by peer"),
        (OTHER, ValueError("odd"), f"request to {ORIGIN} failed: ValueError: odd"),
        (TIMEOUT, None, f"timed out after 2.5 s waiting for {ORIGIN}"),
    ],
)  # fmt: skip
def test_transport_error_over_every_kind(kind: str, cause: Any, message: str) -> None:
    error = transport_error(kind, cause, url=URL, origin=ORIGIN, timeout=2.5)
    assert error.message == message and error.endpoint == URL  # type: ignore[attr-defined]
    assert type(error) is (errors.PushTimeout if kind == TIMEOUT else errors.TransportError)
    assert retryable(error)


def test_a_timeout_says_whether_the_response_had_begun() -> None:
    reading = transport_error(TIMEOUT, None, url=URL, origin=ORIGIN, timeout=1, reading=True)
    assert reading.message == f"timed out after 1 s reading the response from {ORIGIN}"


def test_an_error_that_is_already_ours_is_kept() -> None:
    ours = errors.ProxyError("the proxy refused", proxy_status=502)
    assert transport_error(BROKEN, ours, url=URL, origin=ORIGIN, timeout=1) is ours


@pytest.mark.parametrize(
    ("exc", "connecting", "kind"),
    [
        (socket.timeout("timed out"), False, TIMEOUT),
        (asyncio.TimeoutError(), True, TIMEOUT),
        (socket.gaierror(-2, "unknown"), True, RESOLVE),
        (UnicodeError("label too long"), True, RESOLVE),
        (ssl.SSLCertVerificationError(1, "bad cert"), True, TLS),
        (ssl.SSLEOFError(8, "EOF"), False, TLS),
        (ConnectionRefusedError(111, "refused"), True, CONNECT),
        (ConnectionResetError(104, "reset"), False, BROKEN),
        (OSError("anything"), True, CONNECT),
        (OSError("anything"), False, BROKEN),
    ],
)
def test_failure_kind(exc: BaseException, connecting: bool, kind: str) -> None:
    assert failure_kind(exc, connecting=connecting) == kind


def test_failure_detail_words() -> None:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] ...")
    verify.verify_message = "self-signed certificate"
    assert failure_detail(verify) == "certificate verify failed: self-signed certificate"
    tls = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    tls.reason = "WRONG_VERSION_NUMBER"
    assert failure_detail(tls) == "WRONG_VERSION_NUMBER"
    assert failure_detail(ConnectionRefusedError(111, "Connection refused")) == (
        "Connection refused"
    )
    # An OS error in the system's words for its number, whoever phrased it...
    asyncio_words = OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
    assert failure_detail(asyncio_words) == os.strerror(errno.ECONNREFUSED)
    # ... but a lookup's number is an EAI_* code: its own words.
    assert failure_detail(socket.gaierror(-2, "Name or service not known")) == (
        "Name or service not known"
    )
    assert failure_detail(OSError("no number")) == "no number"
    assert failure_detail(RuntimeError()) == "RuntimeError"
    assert failure_detail(ValueError("x")) == "x"


@pytest.mark.parametrize("length", [199, 200, 201, 5000])
def test_failure_detail_is_clipped_and_cleaned(length: int) -> None:
    # The server's words (a bad status line, a certificate's names) reach it.
    text = failure_detail(ValueError("\x1b]0;owned\x07" + "a" * length))
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert len(text) <= 200
    assert text.endswith("...") is (len("] 0;owned " + "a" * length) > 200)


# --------------------------------------------------------------------------
# Both transports word the same failure the same way


def _both(url: str) -> tuple[Optional[errors.WebPushException], errors.WebPushException]:
    sub = {"endpoint": url, "keys": {"p256dh": P256DH, "auth": AUTH}}
    with PushClient(max_retries=0, timeout=5, endpoint_policy=LOCAL) as client:
        ours = client.send(sub, b"x").error
    with pytest.raises(errors.TransportError) as caught:
        send_request(
            PushRequest(url, {"TTL": "0"}, b"x"),
            pool_manager=make_pool_manager(),
            timeout=5,
            policy=LOCAL,
        )
    return ours, caught.value


def test_a_refused_connection_reads_the_same_on_both_transports() -> None:
    port = free_port()  # nothing listens there
    ours, urllib3s = _both(f"http://127.0.0.1:{port}/push/x")
    assert ours is not None and type(ours) is type(urllib3s) is errors.TransportError
    assert ours.message == urllib3s.message
    assert ours.message.startswith(f"cannot connect to http://127.0.0.1:{port}: ")


def test_a_name_that_does_not_resolve_reads_the_same_on_both_transports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def getaddrinfo(host: str, *args: Any, **kw: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # both transports ask it
    ours, urllib3s = _both("http://nowhere.example:8080/push/x")
    assert ours is not None and ours.message == urllib3s.message == (
        "cannot resolve the host of http://nowhere.example:8080: Name or service not known"
    )


P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
AUTH = "BTBZMqHH6r4Tts7J_aSIgg"
