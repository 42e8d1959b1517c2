"""Lookups: many slow zones together must not hold back a push service's own lookup.

The resolver lets at most two lookups run per zone (the name's last two
labels), so one zone whose name servers never answer holds two threads. Its
pool has 16: subscriptions under eight such zones (``s1.evil1.example``, ...,
``s1.evil8.example``: eight registered domains whose NS records point at an
address that never answers) would hold every thread, each for as long as the
system resolver waits (~5-30 s a try), again and again while such
subscriptions keep coming. A push service whose cached answer is more than
``TTL + STALE_FOR`` old would then wait behind them: its deliveries time out
(PushTimeout), which counts toward that push service's breaker, so five of
them open it and every delivery to it fails fast for the cool-down.

Zones whose servers have not answered hold at most half the pool together,
and a freed thread goes first to a zone whose servers answered, so a push
service already known is never queued behind unknown zones. Reproduced with
a stand-in for getaddrinfo (no DNS): the honest name, answered before, is
looked up again after its answer expired, with the hostile zones at the
door; the limits themselves are tested at the limit and one past in
``tests/test_resolver.py``.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from webpush_core._wire.resolver import STALE_FOR, TTL, WORKERS, ZONE_LOOKUPS, Resolver


def test_slow_zones_cannot_hold_back_a_push_service_answered_before() -> None:
    never = threading.Event()
    now = [1000.0]

    def getaddrinfo(host: str, port: int, **kw: Any) -> list[Any]:
        if ".evil" in host:
            never.wait(30)  # name servers that never answer
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    resolver = Resolver(getaddrinfo, clock=lambda: now[0])
    try:
        assert resolver.resolve("fcm.googleapis.com", 443).result(5)  # known, and answering
        now[0] += TTL + STALE_FOR + 1  # its answer is gone, even as a stale one
        zones = WORKERS // ZONE_LOOKUPS  # just enough zones to hold every thread
        hostile = [
            resolver.resolve(f"s{i}.evil{zone}.example", 443)
            for zone in range(zones)
            for i in range(ZONE_LOOKUPS + 1)
        ]
        honest = resolver.resolve("fcm.googleapis.com", 443)
        assert honest.result(3) == [(socket.AF_INET, "8.8.8.8")]
    finally:
        never.set()
    for future in hostile:
        with pytest.raises(socket.gaierror):
            future.result(35)
