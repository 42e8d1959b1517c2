"""The worker's side: one batch sent, its final entries recorded, the retryable
rest enqueued again (after a pause, a ``Retry-After`` or a backoff)."""

from __future__ import annotations

import base64
import logging
import os
import time
import traceback
from collections import Counter
from typing import TYPE_CHECKING, Any, Optional

import redis

from .._classify import throttles
from .._delivery.retry import GIVE_UP, RETRIES_EXHAUSTED, TTL_EXPIRED, Attempted
from ..errors import InvalidInput
from ._auth import refusal
from ._batch import FAN_OUT_ID, Item, at_its_origin, final
from ._report import PREFIX, Keys, clean_detail, count_refused, describe, outcome

if TYPE_CHECKING:
    from ._tasks import WebPushTasks

__all__ = ["enqueue_again", "refused", "run_batch"]

log = logging.getLogger("webpush_core.celery")

# Pause an origin for ARGV[1] ms, never shortening a pause already set.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


_FIX = ("fix-request", "fix-credentials")  # actions that ask for a change before sending again


def refused(tasks: WebPushTasks, fan_out_id: Any, batch: Any) -> bool:
    """Refuse (log, count, acknowledge) a batch this worker must not act on."""
    if not isinstance(fan_out_id, str) or not FAN_OUT_ID.fullmatch(fan_out_id):
        log.warning("refused a batch: its fan-out id is not one fan_out() makes")
        return True
    if not isinstance(batch, dict):
        why: Optional[str] = "it is not a batch (a JSON object)"
    elif not at_its_origin(batch):
        # Its "o" names the origin a 429 pauses for every worker: it must be theirs.
        why = "its subscriptions are not all at the push service it names"
    else:
        key = tasks._mac_key()
        why = None if key is None else refusal(key, fan_out_id, batch)
    if why is None:
        return False
    log.warning("refused a batch of fan-out %s: %s", fan_out_id, why)
    try:  # counted in that fan-out's report, if there is one
        count_refused(tasks._redis(), Keys(fan_out_id))
    except redis.RedisError:
        log.warning("could not count the refused batch in the report of %s", fan_out_id)
    return True


def run_batch(tasks: WebPushTasks, fan_out_id: str, batch: dict[str, Any]) -> None:
    """Send one batch; record final entries, re-enqueue the retryable rest."""
    if refused(tasks, fan_out_id, batch):
        return
    client = tasks._redis()
    origin: str = batch["o"]
    attempt: int = batch["a"]
    items: list[Item] = batch["s"]
    expires: Optional[float] = batch.get("x")  # the TTL's end, seconds since the epoch
    pause = f"{PREFIX}:throttle:{origin}"
    paused_ms = int(client.pttl(pause))
    if paused_ms > 0:
        # Another worker was told to wait: so are we (not counted as an attempt).
        enqueue_again(tasks, fan_out_id, batch, items, attempt, paused_ms / 1000)
        return
    ttl = batch["ttl"]
    if expires is not None:
        remaining = expires - time.time()
        ttl = int(remaining)
        if remaining <= 0:  # queued past its TTL: the push service would drop it anyway
            queued = "not sent: the message's TTL ran out while its batch was queued"
            tasks._record(Keys(fan_out_id), final(items, "ttl-expired"), 0, {"ttl-expired": queued})
            return
    try:
        push = tasks._client()
    except Exception as exc:  # the worker's own settings: any batch here fails alike
        why, text = tasks._cannot_send(exc)
        tasks._record(Keys(fan_out_id), final(items, why), 0, {why: text})
        return
    subscriptions = [{"endpoint": e, "keys": {"p256dh": p, "auth": a}} for _, e, p, a in items]
    by_id = {id(s): item for s, item in zip(subscriptions, items)}
    entries: list[str] = []
    details: dict[str, str] = {}  # reason -> the first detail met in this batch
    failed: Counter[str] = Counter()
    to_fix = False
    # Retryable: (item, its reason, its detail); retried together if the policy says so.
    again: list[tuple[Item, str, str]] = []
    expired: list[str] = []
    sent = 0
    retry_after: Optional[float] = None  # the longest asked for by a retryable one
    throttle = 0.0
    cap = tasks._retry.retry_after_cap
    crash: Optional[tuple[Exception, int]] = None  # a bug, and how many it left
    try:
        results = push.send_many(
            subscriptions,
            base64.b64decode(batch["d"]),
            ttl=ttl,
            urgency=batch["urgency"],
            topic=batch["topic"],
        )
        for result in results:
            item = by_id[id(result.subscription)]
            # Refused before any request (bad subscription, endpoint policy): none sent.
            sent += 0 if isinstance(result.error, InvalidInput) else result.attempts
            if result.ok:
                entries += [str(item[0]), "ok", ""]
                continue
            reason, action = outcome(result)
            asked = result.retry_after
            if asked and throttles(result.status_code, asked, result.error):
                throttle = max(throttle, min(asked, cap))
            if action == "retry":
                again.append((item, str(reason), clean_detail(describe(result), items)))
                if asked is not None:
                    retry_after = max(retry_after or 0.0, asked)
                continue
            gone = action == "delete"
            entries += [str(item[0]), str(reason), item[1] if gone else ""]
            if gone:
                expired.append(item[1])
            failed[str(reason)] += 1
            to_fix = to_fix or action in _FIX
            if str(reason) not in details:
                details[str(reason)] = clean_detail(describe(result), items)
    except Exception as exc:  # a bug must not lose the batch's entries
        recorded = {int(i) for i in entries[::3]} | {item[0] for item, _, _ in again}
        rest = [item for item in items if item[0] not in recorded]
        error = f"worker error: {clean_detail(f'{type(exc).__name__}: {exc}', items)}"
        again += [(item, "unknown", error) for item in rest]
        crash = (exc, len(again))
    decision = None
    if again:
        ttl_left = None if expires is None else expires - time.time()
        decision = tasks._retry.decide(
            Attempted(attempt + 1, retryable=True, retry_after=retry_after, ttl_left=ttl_left)
        )
        if decision.action == GIVE_UP:  # final: each its own reason, or all the TTL's end
            late = decision.reason != RETRIES_EXHAUSTED
            for item, reason, detail in again:
                why = TTL_EXPIRED if late else reason
                entries += [str(item[0]), why, ""]
                failed[why] += 1
                details.setdefault(why, _late(decision.wait) if late else detail)
    if crash is not None:
        bug, left = crash
        if decision is None or decision.action != GIVE_UP:
            fate = f"they go back to the queue (attempt {attempt + 2} of {tasks.retries + 1})"
        elif decision.reason == RETRIES_EXHAUSTED:
            fate = "their entries are final (unknown)"
        else:
            fate = "their entries are final (ttl-expired)"
        log.error(
            "fan-out %s: a batch of %d subscriptions to %s failed in the worker: %s "
            "(at %s); %d of them not recorded yet: %s",
            fan_out_id,
            len(items),
            origin,
            clean_detail(f"{type(bug).__name__}: {bug}", items),
            _where(bug),
            left,
            fate,
        )
    if failed:
        log.log(
            logging.WARNING if to_fix else logging.INFO,
            "fan-out %s: %d of %d subscriptions to %s failed: %s",
            fan_out_id,
            sum(failed.values()),
            len(items),
            origin,
            "; ".join(f"{r}: {n} (e.g. {details[r]})" for r, n in sorted(failed.items())),
        )
    if throttle:
        client.eval(_PAUSE, 1, pause, int(throttle * 1000))
    if expired and tasks._on_expired is not None:
        tasks._on_expired(expired)  # before recording: a crash here calls it again
    if decision is not None and decision.action != GIVE_UP:
        retry = dict(batch, s=[item for item, _, _ in again], a=attempt + 1)
        tasks._enqueue(fan_out_id, retry, countdown=decision.wait)
    if entries or sent:
        tasks._record(Keys(fan_out_id), entries, sent, details)


def enqueue_again(
    tasks: WebPushTasks,
    fan_out_id: str,
    batch: dict[str, Any],
    items: list[Item],
    attempt: int,
    countdown: float,
) -> None:
    """Enqueue ``items`` again after ``countdown`` s, unless the TTL ends first
    (the retry policy's rule): then their entries are final (``ttl-expired``)."""
    expires = batch.get("x")
    ttl_left = None if expires is None else expires - time.time()
    if not tasks._retry.hold(countdown, ttl_left=ttl_left).retries:
        entries = final(items, TTL_EXPIRED)
        tasks._record(Keys(fan_out_id), entries, 0, {TTL_EXPIRED: _late(countdown)})
        return
    tasks._enqueue(fan_out_id, dict(batch, s=items, a=attempt), countdown=countdown)


def _late(countdown: float) -> str:
    return f"not sent again: the message's TTL runs out before the retry due in {countdown:.1f} s"


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised: file, line and function (never a value)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"
