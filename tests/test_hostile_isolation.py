"""One origin must never slow, stall or corrupt the delivery to another.

A fan-out to two honest origins is timed alone and then with hostile
origins in the same list (tests/hostile_peer.py, in a process of its own:
floods of 1xx responses, header fields, one-octet chunks and body octets, a
drip, garbage after a response, resets, a response before the request, the
same over TLS 1.2, and a name whose lookup takes 5 s). Measured, not
assumed:

* every honest result is ok, and the honest deliveries finish within 20%
  of the run without the hostile ones (best of three runs each,
  interleaved, plus 50 ms for the scheduler of a shared machine);
* every hostile request ends within its own deadline (``timeout``), all
  at once at the front of the list, so each started at the start.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from webpush_core._b64 import b64url_encode
from webpush_core._delivery.client import PushClient, SendResult
from webpush_core._endpoint import EndpointPolicy
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._wire.resolver import Resolver

PEER = Path(__file__).resolve().parent / "hostile_peer.py"
LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(range(16))),
}
TIMEOUT = 2.0
HONEST = 2000  # messages to the honest origins, each run
SLOW_LOOKUP = 5.0
HOSTILE_MODES = [
    "interim-flood",
    "drip",
    "chunks",
    "endless-headers",
    "body-flood",
    "garbage-after",
    "reset",
    "early",
    "early:tls",
]


def start_peer(
    modes: list[str], env: dict[str, str]
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(PEER), *modes],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the peer did not start")
    return proc, json.loads(line)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "hostile.test")
    d = tmp_path_factory.mktemp("peer")
    cert.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    cert.private_key_pem.write_to_path(str(d / "key.pem"))
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    env = {"PEER_CERT": str(d / "cert.pem"), "PEER_KEY": str(d / "key.pem")}
    honest, honest_ports = start_peer(["good.1", "good.2"], env)
    hostile, hostile_ports = start_peer(HOSTILE_MODES, env)
    try:
        yield {"ports": {**honest_ports, **hostile_ports}, "ca": str(d / "ca.pem")}
    finally:
        for proc in (honest, hostile):
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
    """Every *.test name is 127.0.0.1; slow-dns.test takes SLOW_LOOKUP seconds to say so."""
    if host == "slow-dns.test":
        time.sleep(SLOW_LOOKUP)
    if not host.endswith(".test"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]


def honest_subs(ports: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": f"http://good-{1 + i % 2}.test:{ports[f'good.{1 + i % 2}']}/push/{i}",
            "keys": KEYS,
        }
        for i in range(HONEST)
    ]


def hostile_subs(ports: dict[str, int]) -> list[dict[str, Any]]:
    subs = []
    for mode in HOSTILE_MODES:
        scheme = "https" if mode.endswith(":tls") else "http"
        host = "hostile.test" if scheme == "https" else f"{mode}.test"
        subs.append({"endpoint": f"{scheme}://{host}:{ports[mode]}/push/{mode}", "keys": KEYS})
    # A name that takes 5 s to resolve (its port is an honest one).
    subs.append({"endpoint": f"http://slow-dns.test:{ports['good.1']}/push/dns", "keys": KEYS})
    return subs


def fan_out(peers: dict[str, Any], subs: list[dict[str, Any]]) -> list[tuple[float, SendResult]]:
    """(seconds since the start, result) for each subscription, as they came."""
    with PushClient(
        timeout=TIMEOUT, max_retries=0, endpoint_policy=LOCAL, ca_certs=peers["ca"]
    ) as client:
        client._res.connections.resolver = Resolver(getaddrinfo)  # fresh: no cached lookups
        start = time.monotonic()
        out = [(time.monotonic() - start, r) for r in client.send_many(subs, b"m" * 100)]
    assert len(out) == len(subs)
    return out


@pytest.mark.slow
def test_hostile_origins_do_not_slow_honest_ones(peers: dict[str, Any]) -> None:
    ports = peers["ports"]
    honest = honest_subs(ports)
    hostile = hostile_subs(ports)
    alone: list[float] = []
    mixed: list[float] = []
    for _ in range(3):
        results = fan_out(peers, honest)
        assert all(r.ok for _, r in results), [r.error for _, r in results if not r.ok][:3]
        alone.append(max(t for t, _ in results))

        # The hostile ones first: they start at once and take their slots first.
        results = fan_out(peers, hostile + honest)
        by_endpoint = {r.endpoint: (t, r) for t, r in results}
        good = [by_endpoint[s["endpoint"]] for s in honest]
        bad = [by_endpoint[s["endpoint"]] for s in hostile]
        assert all(r.ok for _, r in good), [r.error for _, r in good if not r.ok][:3]
        mixed.append(max(t for t, _ in good))
        for t, r in bad:
            # Each hostile request ends within its own deadline (plus the
            # scheduler's slack), however much it sent.
            assert t <= TIMEOUT + 0.75, (r.endpoint, t, r.error)
        outcomes = {r.endpoint.rsplit("/", 1)[1]: r for _, r in bad}  # type: ignore[union-attr]
        ended = {r.endpoint.rsplit("/", 1)[1]: t for t, r in bad}  # type: ignore[union-attr]
        # Floods hit a cap, resets and data before the request fail the
        # attempt: at once, not at the deadline.
        for mode in HOSTILE_MODES:
            if mode != "drip":
                assert ended[mode] < TIMEOUT / 2, (mode, ended[mode], outcomes[mode].error)
        # A response before the request fails the attempt at once, unless the
        # request was written before those bytes came in (then nothing tells
        # them from an answer): either way it ended at once (above).
        early = outcomes["early:tls"]
        assert early.ok or "sent data before the request" in str(early.error)
        for mode in ("interim-flood", "chunks", "endless-headers", "reset", "drip", "dns"):
            assert not outcomes[mode].ok, mode
        assert "timed out" in str(outcomes["drip"].error)
        assert "timed out" in str(outcomes["dns"].error)
    print(f"honest alone {alone}, with hostile {mixed}")
    assert min(mixed) <= 1.2 * min(alone) + 0.05, (alone, mixed)
