"""webpush_core: a Web Push sender.

Encrypts a message for a browser's push subscription (RFC 8291, RFC 8188),
signs a VAPID token (RFC 8292) and delivers it to the push service (RFC 8030).
Depends only on ``cryptography`` and ``urllib3``.
"""

from __future__ import annotations

from ._version import __version__
from .errors import WebPushException

__all__ = ["WebPushException", "__version__"]
