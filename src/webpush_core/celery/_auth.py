"""Authenticated fan-out batches (for :mod:`webpush_core.celery`): HMAC-SHA256, off by default.

A batch message tells a worker "send this message, with the application's
VAPID key, to these subscriptions, and record what happened in this report".
Whoever can write to the broker can publish one. Where the broker is shared or
less trusted than the workers (a RabbitMQ other services publish to, a Redis
other applications use), a ``batch_key`` that only the dispatchers and the
workers hold lets a worker tell the batches its own dispatcher made from
forged or altered ones:

* the dispatcher adds ``mac``, the HMAC-SHA256 (RFC 2104, with SHA-256 of
  FIPS 180-4) under the key of the batch's canonical form;
* a worker with the key recomputes it and refuses, before any other work, a
  batch whose ``mac`` is missing or does not match (compared in constant
  time); a worker re-signs the batches it enqueues again (retries, pauses).

The canonical form is the JSON text of ``[label, fan_out_id, batch]``, the
batch without ``mac``, keys sorted, no spaces, ASCII only: what a JSON
round trip through the broker gives back unchanged (Python's float repr is
exact), and it binds a batch to its fan-out. The key is the secret: it never
enters a message, an error or a log line, and a refusal says only which of
the two checks failed.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping
from hashlib import sha256
from typing import Any, Callable, Optional, Union

from ..errors import InvalidInput

__all__ = ["MIN_KEY_BYTES", "BatchKeyArg", "check_key", "refusal", "sign"]

MIN_KEY_BYTES = 16  # 128 bits: below this an HMAC key is guessable (RFC 2104 §3)
_LABEL = "webpush_core.celery batch v1"  # a mac for anything else never matches this one

BatchKey = Union[bytes, str]
BatchKeyArg = Union[BatchKey, Callable[[], BatchKey], None]


def check_key(value: object) -> bytes:
    """The key as bytes (a str is taken as its UTF-8), or InvalidInput naming the rule."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise InvalidInput(
            f"batch_key must be bytes or str (or a callable returning one), "
            f"got {type(value).__name__}",
            field="batch_key",
        )
    if len(value) < MIN_KEY_BYTES:
        raise InvalidInput(
            f"batch_key must be at least {MIN_KEY_BYTES} bytes, got {len(value)}: "
            'generate one with python -c "import secrets; print(secrets.token_urlsafe(32))"',
            field="batch_key",
        )
    return value


def _canonical(fan_out_id: str, batch: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in batch.items() if k != "mac"}
    text = json.dumps(
        [_LABEL, fan_out_id, body],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return text.encode("ascii")


def sign(key: bytes, fan_out_id: str, batch: Mapping[str, Any]) -> str:
    """The ``mac`` of ``batch`` (any ``mac`` it holds aside), base64url without padding."""
    digest = hmac.new(key, _canonical(fan_out_id, batch), sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def refusal(key: bytes, fan_out_id: str, batch: Mapping[str, Any]) -> Optional[str]:
    """Why a worker holding ``key`` must refuse ``batch``, or None when its ``mac`` is right."""
    mac = batch.get("mac")
    if not isinstance(mac, str) or not mac:
        return "it is not authenticated (no mac) and this worker has a batch_key"
    try:
        expected = sign(key, fan_out_id, batch)
    except (TypeError, ValueError):  # not JSON-shaped: nothing we signed
        return "its authentication does not match (forged, altered, or another batch_key)"
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected.encode("ascii")):
        return "its authentication does not match (forged, altered, or another batch_key)"
    return None
