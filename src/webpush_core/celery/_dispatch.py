"""The dispatcher's side: ``fan_out`` reads the subscriptions once, groups them
by push-service origin into batches and enqueues them, memory flat."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .._delivery.client_base import DEFAULT_TTL
from .._request.build import prepare_message
from ..errors import InvalidInput, InvalidSubscription
from ._batch import Item, compact
from ._report import FanOutHandle, Keys, clean_detail

if TYPE_CHECKING:
    from ._tasks import WebPushTasks

__all__ = ["BUFFERED_BATCHES", "fan_out"]

BUFFERED_BATCHES = 8  # the dispatcher holds at most this many batches' worth, all origins together


def fan_out(
    tasks: WebPushTasks,
    subscriptions: Iterable[Any],
    data: Union[bytes, str, None],
    *,
    ttl: Optional[int],
    urgency: Optional[str],
    topic: Optional[str],
    batch_size: Optional[int],
    queue: Optional[str],
    on_expired: Optional[Callable[[list[str]], object]],
) -> FanOutHandle:
    """:meth:`WebPushTasks.fan_out`, for ``tasks``."""
    size = tasks.batch_size if batch_size is None else batch_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInput(f"batch_size must be an integer >= 1, got {size!r}", field="batch_size")
    options = tasks._client_options
    plan = prepare_message(
        data,
        None,
        None,
        options.get("content_encoding", "aes128gcm"),
        options.get("ttl", DEFAULT_TTL) if ttl is None else ttl,
        options.get("urgency", "normal") if urgency is None else urgency,
        topic,
    )
    del plan  # checked only: each worker prepares its own (with the VAPID key)
    payload = data.encode("utf-8") if isinstance(data, str) else (data or b"")
    message: dict[str, Any] = {
        "d": base64.b64encode(payload).decode("ascii"),
        "ttl": ttl,
        "urgency": urgency,
        "topic": topic,
        "q": queue or tasks.queue,
    }
    if ttl is not None:
        # A message is worth sending until its TTL ends, counted from now:
        # a batch queued or retried past it is not sent (RFC 8030 §5.2).
        message["x"] = time.time() + int(ttl)
    fan_out_id = uuid.uuid4().hex
    keys = Keys(fan_out_id)
    client = tasks._redis()
    client.hset(keys.counts, mapping={"total": 0, "dispatched": 0})
    client.expire(keys.counts, tasks.report_ttl)

    buckets: dict[str, list[Item]] = {}
    held = 0
    invalid: list[str] = []  # [index, reason, ""] triples for record()
    invalid_detail: dict[str, str] = {}
    index = 0
    announced = 0  # "total" in Redis: the report records no index at or above it

    def announce(upto: int) -> None:
        nonlocal announced
        if upto > announced:
            client.hset(keys.counts, "total", upto)
            announced = upto

    for subscription in subscriptions:
        try:
            origin, item = compact(index, subscription)
        except InvalidSubscription as exc:
            invalid += [str(index), "invalid-input", ""]
            invalid_detail.setdefault(
                "invalid-input", clean_detail(f"subscription #{index}: {exc.message}")
            )
            if len(invalid) >= 3 * size:
                announce(index + 1)
                tasks._record(keys, invalid, 0, invalid_detail)
                invalid = []
        else:
            bucket = buckets.setdefault(origin, [])
            bucket.append(item)
            held += 1
            if len(bucket) >= size:
                held -= len(bucket)
                announce(index + 1)
                tasks._enqueue(fan_out_id, dict(message, o=origin, s=buckets.pop(origin), a=0))
            elif held >= BUFFERED_BATCHES * size:
                # Many origins, none full: send the largest on, keep memory bounded.
                origin = max(buckets, key=lambda o: len(buckets[o]))
                held -= len(buckets[origin])
                announce(index + 1)
                tasks._enqueue(fan_out_id, dict(message, o=origin, s=buckets.pop(origin), a=0))
        index += 1
        if index % size == 0:
            announce(index)
    announce(index)
    for origin, bucket in buckets.items():
        tasks._enqueue(fan_out_id, dict(message, o=origin, s=bucket, a=0))
    if invalid:
        tasks._record(keys, invalid, 0, invalid_detail)
    client.hset(keys.counts, mapping={"total": index, "dispatched": 1})
    client.expire(keys.counts, tasks.report_ttl)
    return FanOutHandle(tasks._redis, fan_out_id, on_expired, tasks.batch_size)
