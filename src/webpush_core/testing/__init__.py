"""Test helpers: an in-process Web Push service on loopback.

:class:`LocalPushService` hands out subscriptions like a browser, accepts
pushes like a push service (RFC 8030, RFC 8292), decrypts them with
``webpush_core.ece`` and records them, so an application's own tests (and
``make demo``) can send real, encrypted notifications without a browser or
the network. A pytest plugin (``webpush_core.pytest_plugin``, registered
automatically) provides it as the ``push_service`` fixture.

Only the standard library and webpush_core are used; nothing here is
imported by ``import webpush_core``.
"""

from __future__ import annotations

from ._receiver import ReceivedMessage
from ._server import LocalPushService, RecordedRequest

__all__ = ["LocalPushService", "ReceivedMessage", "RecordedRequest"]
