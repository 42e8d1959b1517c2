"""DNS rebinding: what the policy checked is what is connected to, on both transports.

A name answers one address to the first lookup and another to the next
(what a hostile name server does to a sender that checks, then connects).
Here 127.0.0.1 stands for the public address the policy accepts and
127.0.0.2 for an internal service it must never reach: a policy that
refuses 127.0.0.2 only plays the default policy's part on loopback. The
sender must look the name up once per new connection, check that answer,
and connect to it; and a kept-alive connection is reused only by a send
whose own policy accepts it.
"""

from __future__ import annotations

import socket
from collections.abc import Collection, Iterator
from typing import Any

import pytest

from servers.push_service import Answer, PushService
from webpush_core import EndpointPolicy, PushClient, webpush
from webpush_core._wire.resolver import Resolver
from webpush_core.errors import EndpointNotAllowed
from webpush_core.testing import LocalPushService


class LoopbackIsPublic(EndpointPolicy):
    """127.0.0.1 counts as public, 127.0.0.2 as internal (refused)."""

    def check_addresses(self, host: str, addresses: Collection[str]) -> None:
        for address in addresses:
            if address != "127.0.0.1":
                raise EndpointNotAllowed(f"{host} resolves to internal {address}", field="endpoint")


POLICY = LoopbackIsPublic(allow_http=True, allowed_ports=range(1, 65536))


def recorder(host: str, port: int) -> PushService:
    """Counts connections on an address and answers every request 201, then closes."""
    return PushService(Answer(201, {"Connection": "close"}), host=host, port=port)


@pytest.fixture
def servers() -> Iterator[tuple[PushService, PushService]]:
    public = recorder("127.0.0.1", 0)
    try:
        internal = recorder("127.0.0.2", public.port)
    except OSError as exc:  # pragma: no cover - 127.0.0.2 is local on Linux
        public.stop()
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
    yield public, internal
    public.stop()
    internal.stop()


class Rebinder:
    """The first lookup of each name answers 127.0.0.1, every later one 127.0.0.2."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        if host.startswith("127."):  # a literal (urllib3 asks for it too): itself
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, port))]
        first = host not in self.lookups
        self.lookups.append(host)
        address = "127.0.0.1" if first else "127.0.0.2"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


def _sub(port: int) -> dict[str, Any]:
    with LocalPushService() as service:
        sub = service.subscribe()
    return {**sub, "endpoint": f"http://rebind.example:{port}/push/x"}


def test_webpush_connects_to_the_address_it_checked(
    servers: tuple[PushService, PushService], monkeypatch: pytest.MonkeyPatch
) -> None:
    public, internal = servers
    rebinder = Rebinder()
    monkeypatch.setattr(socket, "getaddrinfo", rebinder)
    response = webpush(_sub(public.port), "hi", endpoint_policy=POLICY, timeout=5)
    assert response.status_code == 201
    assert (public.connections, internal.connections) == (1, 0)
    assert rebinder.lookups == ["rebind.example"]  # one lookup: checked and connected to


def test_push_client_connects_to_the_address_it_checked(
    servers: tuple[PushService, PushService],
) -> None:
    public, internal = servers
    rebinder = Rebinder()
    with PushClient(endpoint_policy=POLICY, max_retries=0) as client:
        client._res.connections.resolver = Resolver(rebinder)
        result = client.send(_sub(public.port), b"hi")
    assert result.ok, result.error
    assert (public.connections, internal.connections) == (1, 0)
    assert rebinder.lookups == ["rebind.example"]


@pytest.mark.parametrize("transport", ["webpush", "PushClient"])
def test_an_internal_answer_is_refused_before_connecting(
    servers: tuple[PushService, PushService], monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    public, internal = servers
    rebinder = Rebinder()
    rebinder.lookups.append("rebind.example")  # every answer is the internal address
    if transport == "webpush":
        monkeypatch.setattr(socket, "getaddrinfo", rebinder)
        with pytest.raises(EndpointNotAllowed, match=r"127\.0\.0\.2"):
            webpush(_sub(public.port), "hi", endpoint_policy=POLICY, timeout=5)
    else:
        with PushClient(endpoint_policy=POLICY, max_retries=0) as client:
            client._res.connections.resolver = Resolver(rebinder)
            result = client.send(_sub(public.port), b"hi")
        assert isinstance(result.error, EndpointNotAllowed)
    assert (public.connections, internal.connections) == (0, 0)


# --------------------------------------------------------------------------
# A connection is checked against the policy of the send that uses it


@pytest.fixture
def keep_alive() -> Iterator[PushService]:
    """127.0.0.1, keep-alive: 201 to every request."""
    with PushService() as server:
        yield server


def test_a_connection_opened_under_a_permissive_policy_is_not_reused_under_a_strict_one(
    keep_alive: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default pool manager is shared by every policy: a keep-alive
    # connection opened under a permissive one (allow_private: an app's own
    # internal push server on split-horizon DNS) was reused under a strict
    # one, which then POSTed to an internal address it refuses (SSRF).
    internal = keep_alive
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host == "ups.corp-example.com":  # split horizon: an internal address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    subscription = {
        **_sub(internal.port),
        "endpoint": f"http://ups.corp-example.com:{internal.port}/push/x",
    }
    permissive = EndpointPolicy(allow_http=True, allow_private=True)
    strict = EndpointPolicy(allow_http=True, allowed_ports=(internal.port,))
    response = webpush(subscription, "hi", endpoint_policy=permissive, timeout=5)
    assert response.status_code == 201
    # The strict policy refuses this host (it resolves to loopback) ...
    with pytest.raises(EndpointNotAllowed):
        webpush(subscription, "hi", endpoint_policy=strict, timeout=5)
    # ... and nothing was sent to it under that policy.
    assert len(internal.requests) == 1
