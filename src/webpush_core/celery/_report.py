"""The report of a fan-out spread over workers, kept in Redis (for :mod:`webpush_core.celery`).

Every subscription of a fan-out has an index; its final entry (delivered, or
failed for a reason) is recorded once, whichever worker records it first and
however often its batch was redelivered or retried: one bit per index says it
is in, and the same Lua script counts it. The script records only an index
``0 <= index < total`` (``total``: the subscriptions read so far, which the
dispatcher raises before it publishes or records any of them), so a forged
batch can neither complete a report nor grow its bitmap. Each reason keeps
one sample detail (the first recorded), cleaned by :func:`clean_detail`: why
those subscriptions failed, in words. The keys of one fan-out share the
``{id}`` hash tag, so they live in one slot of a Redis Cluster.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import redis

from .._delivery.client import SendResult
from .._reasons import MAX_DETAIL, MAX_PARSE, clip
from ..errors import (
    ExpiredSubscription,
    InvalidInput,
    PushRejected,
    PushTimeout,
    RateLimited,
    ServerError,
    TooLarge,
    TransportError,
    Unauthorized,
    WebPushException,
)

__all__ = [
    "PREFIX",
    "FanOutHandle",
    "FanOutReport",
    "Keys",
    "clean_detail",
    "count_refused",
    "describe",
    "outcome",
    "record",
]

PREFIX = "webpush_core"

# Final entries, atomically: an index already recorded (a redelivered
# or duplicated batch) is neither recorded nor counted again; one that is not
# an integer in [0, total) is ignored (a forged batch: SETBIT at 2^32 - 1 would
# make a 512 MB bitmap), and so is everything for a report that does not exist.
# KEYS: done bitmap, counts hash, delete list, details hash. ARGV: ttl,
# requests sent, n, then n (reason, sample detail) pairs, then (index,
# outcome, endpoint to delete or "") triples; outcome "ok" or a reason. A
# reason's sample is kept only if this call counted an entry for it, and
# only the first one (HSETNX): the report's details match its counts.
_RECORD = """
local total = tonumber(redis.call('HGET', KEYS[2], 'total'))
if not total then
  return 0
end
local first = 4 + 2 * tonumber(ARGV[3])
local new = 0
local counted = {}
for i = first, #ARGV, 3 do
  local index = tonumber(ARGV[i])
  if index and index >= 0 and index < total and index % 1 == 0
     and redis.call('SETBIT', KEYS[1], index, 1) == 0 then
    new = new + 1
    if ARGV[i + 1] == 'ok' then
      redis.call('HINCRBY', KEYS[2], 'ok', 1)
    else
      redis.call('HINCRBY', KEYS[2], 'failed', 1)
      redis.call('HINCRBY', KEYS[2], 'r:' .. ARGV[i + 1], 1)
      counted[ARGV[i + 1]] = true
    end
    if ARGV[i + 2] ~= '' then
      redis.call('RPUSH', KEYS[3], ARGV[i + 2])
    end
  end
end
for j = 4, first - 1, 2 do
  if counted[ARGV[j]] then
    redis.call('HSETNX', KEYS[4], ARGV[j], ARGV[j + 1])
  end
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBY', KEYS[2], 'sent', ARGV[2])
end
for k = 1, 4 do
  redis.call('EXPIRE', KEYS[k], ARGV[1])
end
return new
"""

# A batch a worker refused (see webpush_core.celery._auth): counted in its
# fan-out's report if that report exists; nothing is created for another id.
_COUNT_REFUSED = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'refused', 1)
end
return 0
"""

# Key material that may sit in an exception's text: a PEM block (whole or
# cut), and base64/base64url runs about as long as a P-256 scalar (43) or
# more. A file path is such a run too when its words are long: a run is
# taken for key material only where a stretch of 20 without "/" mixes
# upper case, lower case and digits, as random base64 does and paths rarely do.
_PEM = re.compile(r"-----BEGIN[^-]{0,40}-----.*?(?:-----END[^-]{0,40}-----|$)", re.S)
_B64_RUN = re.compile(r"[A-Za-z0-9+/_=-]{40,}")


def _hide_key_material(run: re.Match[str]) -> str:
    for part in run.group().split("/"):
        if (
            len(part) >= 20
            and re.search("[A-Z]", part)
            and re.search("[a-z]", part)
            and re.search("[0-9]", part)
        ):
            return "[key]"
    return run.group()


def clean_detail(text: str, items: Iterable[Sequence[Any]] = ()) -> str:
    """``text`` fit for a report and a log line, whatever produced it.

    ``items`` are the batch's subscriptions as ``[index, endpoint, p256dh,
    auth]``: an endpoint in the text is replaced by its origin (a push
    resource's path is a capability), its keys by ``[key]``. PEM blocks and
    long base64 runs (key material) become ``[key]``; then :func:`clip`:
    control characters removed, JWTs replaced, at most ``MAX_DETAIL``
    characters.
    """
    text = text[:MAX_PARSE]  # bound the work: every step below is linear
    for item in items:
        _, endpoint, p256dh, auth = item[:4]
        for secret in (auth, p256dh):
            if secret and secret in text:
                text = text.replace(secret, "[key]")
        if endpoint and endpoint in text:
            text = text.replace(endpoint, _origin_only(endpoint))
    text = _B64_RUN.sub(_hide_key_material, _PEM.sub("[key]", text))
    return clip(text, MAX_DETAIL)


def _origin_only(endpoint: str) -> str:
    scheme, sep, rest = endpoint.partition("://")
    return f"{scheme}{sep}{rest.split('/', 1)[0]}/..." if sep else "[endpoint]"


def describe(result: SendResult) -> str:
    """One line on why ``result`` failed: its error's message (which holds the
    push service's status and words), or its ``detail``; when the client
    decided the reason itself (``ttl-expired``, ``deadline-exceeded``), the
    last attempt's error follows ``last attempt:``. Not yet cleaned."""
    error = result.error
    if error is None:
        return str(getattr(result, "detail", "") or "")
    message = str(getattr(error, "message", "") or error)
    own = getattr(error, "reason", None)
    reason = getattr(result, "reason", None)
    if reason is not None and own is not None and reason != own:
        return f"last attempt: {message}"
    return message


def outcome(result: SendResult) -> tuple[Optional[str], Optional[str]]:
    """``(reason, action)`` of a failed result, ``(None, None)`` for a delivered one.

    The result's own ``reason`` and ``action`` (an action of None, as for
    ``ttl-expired``, means there is nothing to do). A result without them (a
    ``SendResult`` of an older webpush_core) gets them from its error, or
    from the error's class: ``"delete"`` for 404/410 (RFC 8030 §7.3),
    ``"retry"`` for 429, 5xx and no answer, ``"fix-credentials"`` for 401/403
    (RFC 8292 §4.2), ``"fix-request"`` otherwise.
    """
    if result.ok:
        return None, None
    reason = getattr(result, "reason", None)
    if reason is not None:
        return str(reason), getattr(result, "action", None)
    error = result.error
    reason = getattr(error, "reason", None) or _reason(result, error)
    action = getattr(error, "action", None)
    if action is None:
        if result.expired or isinstance(error, ExpiredSubscription):
            action = "delete"
        elif isinstance(error, (RateLimited, ServerError, TransportError)):
            action = "retry"
        elif isinstance(error, Unauthorized):
            action = "fix-credentials"
        else:
            action = "fix-request"
    return str(reason), action


def _reason(result: SendResult, error: Optional[WebPushException]) -> str:
    """The reason code of the library's vocabulary for an error's class."""
    if result.expired or isinstance(error, ExpiredSubscription):
        return "unsubscribed"
    # Most specific class first (PushTimeout is a TransportError, ...).
    for cls, name in (
        (PushTimeout, "timeout"),
        (TransportError, "connection-failed"),
        (RateLimited, "rate-limited"),
        (ServerError, "service-error"),
        (Unauthorized, "unauthorized"),
        (TooLarge, "payload-too-large"),
        (PushRejected, "rejected"),
        (InvalidInput, "invalid-input"),
    ):
        if isinstance(error, cls):
            return name
    return "unknown"


@dataclass(frozen=True)
class FanOutReport:
    """Where a fan-out stands: one final entry per subscription read.

    ``total`` subscriptions were read from the input (so far, until
    ``dispatched``); ``ok`` + ``failed`` of them have their final entry;
    ``sent`` counts push requests made, retries and redeliveries included.
    ``to_delete`` lists the endpoint URLs (strings, not subscriptions) whose
    push service said they are gone (``action == "delete"``): delete the
    stored subscriptions with those endpoints. ``failures`` counts the failed
    ones by reason; ``details`` holds, per reason, one sample detail (the
    first recorded: the push service's words or the error's message, clipped,
    without control characters, endpoints' paths or keys).
    ``refused_batches`` counts batch messages for this fan-out that a worker
    refused (not authenticated with its ``batch_key``, or not a batch
    ``fan_out`` makes): their subscriptions stay pending, and the worker's log
    says why.
    """

    fan_out_id: str
    total: int
    ok: int
    failed: int
    sent: int
    dispatched: bool
    to_delete: tuple[str, ...] = field(repr=False)
    failures: Mapping[str, int]
    details: Mapping[str, str] = field(default_factory=dict)
    refused_batches: int = 0

    @property
    def pending(self) -> int:
        """Subscriptions read whose final entry is not in yet."""
        return self.total - self.ok - self.failed

    @property
    def complete(self) -> bool:
        """Every subscription of the input has its final entry."""
        return self.dispatched and self.pending == 0


class Keys:
    """The Redis keys of one fan-out; the ``{id}`` hash tag keeps them in one cluster slot."""

    def __init__(self, fan_out_id: str) -> None:
        base = f"{PREFIX}:{{{fan_out_id}}}"
        self.done = f"{base}:done"  # bit i: subscription i has its final entry
        self.counts = f"{base}:counts"  # total, dispatched, ok, failed, sent, r:<reason>
        self.delete = f"{base}:delete"  # endpoints to delete, in the order found
        self.details = f"{base}:details"  # reason -> one sample detail

    @property
    def all(self) -> list[str]:
        return [self.done, self.counts, self.delete, self.details]


class FanOutHandle:
    """A fan-out under way: :meth:`progress` now, :meth:`wait` for the end."""

    def __init__(
        self,
        connect: Callable[[], redis.Redis],
        fan_out_id: str,
        on_expired: Optional[Callable[[list[str]], object]] = None,
        callback_batch: int = 200,
    ) -> None:
        self.id = fan_out_id
        self._connect = connect
        self._callback_batch = callback_batch
        self._keys = Keys(fan_out_id)
        self._on_expired = on_expired
        self._to_delete: list[str] = []  # read so far: each poll reads only what is new
        self._expired_seen = 0  # endpoints handed to on_expired so far

    def __repr__(self) -> str:
        return f"FanOutHandle({self.id!r})"

    def progress(self) -> FanOutReport:
        """The report as it stands (and ``on_expired`` called with endpoints new since)."""
        client = self._connect()
        with client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._keys.counts)
            pipe.lrange(self._keys.delete, len(self._to_delete), -1)  # the list only grows
            pipe.hgetall(self._keys.details)
            counts_raw, delete_raw, details_raw = pipe.execute()
        counts = {k.decode(): int(v) for k, v in counts_raw.items()}
        self._to_delete += (e.decode() for e in delete_raw)
        if self._on_expired is not None:
            batch = self._callback_batch
            while self._expired_seen < len(self._to_delete):
                chunk = self._to_delete[self._expired_seen : self._expired_seen + batch]
                self._expired_seen += len(chunk)
                self._on_expired(chunk)
        return FanOutReport(
            fan_out_id=self.id,
            total=counts.get("total", 0),
            ok=counts.get("ok", 0),
            failed=counts.get("failed", 0),
            sent=counts.get("sent", 0),
            dispatched=bool(counts.get("dispatched", 0)),
            to_delete=tuple(self._to_delete),
            failures={k[2:]: v for k, v in sorted(counts.items()) if k.startswith("r:")},
            details={
                k.decode(): v.decode("utf-8", "replace") for k, v in sorted(details_raw.items())
            },
            refused_batches=counts.get("refused", 0),
        )

    def wait(self, timeout: Optional[float] = None, *, interval: float = 0.2) -> FanOutReport:
        """The final report, once every subscription has its final entry.

        Raises :class:`TimeoutError` (with the progress so far) after
        ``timeout`` seconds; :meth:`progress` still works afterwards.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            report = self.progress()
            if report.complete:
                return report
            if deadline is not None and time.monotonic() >= deadline:
                refused = report.refused_batches
                raise TimeoutError(
                    f"fan-out {self.id}: {report.ok + report.failed} of {report.total} "
                    f"subscriptions finished after {timeout} s"
                    + (f"; {refused} batches refused by workers (batch_key)" if refused else "")
                )
            time.sleep(interval)


def record(
    client: redis.Redis,
    keys: Keys,
    entries: Sequence[str],
    sent: int,
    ttl: int,
    details: Optional[Mapping[str, str]] = None,
) -> int:
    """Record (index, outcome, endpoint to delete or "") triples; returns how many were new.

    ``details`` maps a reason to a sample detail, already cleaned
    (:func:`clean_detail`); it is kept if the report has none for that reason.
    """
    pairs = [part for reason, text in (details or {}).items() for part in (reason, text)]
    return int(client.eval(_RECORD, 4, *keys.all, ttl, sent, len(pairs) // 2, *pairs, *entries))


def count_refused(client: redis.Redis, keys: Keys) -> int:
    """Count one refused batch in the report (if it exists); returns the count, 0 if none."""
    return int(client.eval(_COUNT_REFUSED, 1, keys.counts))
