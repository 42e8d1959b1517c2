"""Test helpers: a Web Push service on loopback, and one that replaces the network.

:class:`LocalPushService` hands out subscriptions like a browser, accepts
pushes like a push service (RFC 8030, RFC 8292), decrypts them with
``webpush_core.ece`` and records them, so an application's own tests (and
``make demo``) can send real, encrypted notifications without a browser or
the network. :class:`MockPushService` does the same with no socket at all:
while it is active every send in the process is answered by it (what
replaces ``patch("requests.post")``), and it captures each request. Both can
be told how to answer (:meth:`LocalPushService.answer`: a status with headers
and a body, a delay, a dropped connection). A pytest plugin
(``webpush_core.pytest_plugin``, registered automatically) provides them as
the ``push_service`` and ``push_mock`` fixtures.

Only the standard library and webpush_core are used; nothing here is
imported by ``import webpush_core``.
"""

from __future__ import annotations

from ._mock import CapturedRequest, MockPushService
from ._receiver import ReceivedMessage
from ._server import LocalPushService, RecordedRequest

__all__ = [
    "CapturedRequest",
    "LocalPushService",
    "MockPushService",
    "ReceivedMessage",
    "RecordedRequest",
]
