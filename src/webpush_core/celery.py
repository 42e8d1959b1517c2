"""Fan-out on Celery workers, with its bookkeeping in Redis (``webpush-core[celery]``).

One process reads the subscriptions and enqueues them in batches, grouped by
push-service origin; any number of Celery worker processes, on any number of
machines, encrypt and send them with one :class:`~webpush_core.PushClient`
each; Redis holds the report and the push services' throttles::

    # tasks.py: imported by the workers and by the code that sends
    app = Celery("myapp", broker="redis://localhost:6379/0")
    push = WebPushTasks(
        app,
        vapid_private_key=lambda: open("/run/secrets/vapid.pem").read(),
        vapid_claims={"sub": "mailto:ops@example.com"},
    )

    # anywhere
    handle = push.fan_out(subscriptions_from_db(), "hello", ttl=3600)
    report = handle.wait(timeout=600)

What it guarantees:

* the VAPID private key never travels: it is read (a callable is called) in
  each worker process, the first time it sends; task messages carry the
  subscriptions, the options and the message, once per batch;
* every message that carries a batch (enqueued by :meth:`WebPushTasks.fan_out`,
  sent again after a retryable failure or a pause, or republished by Celery's
  own retry when the report's Redis cannot be reached) has a summary as its
  ``argsrepr`` and ``kwargsrepr`` (what task events, Flower and log records
  show), never the message or a subscription's keys;
* with a ``batch_key``, workers refuse batches that are not authenticated
  with it (HMAC-SHA256, :mod:`._batch_auth`): see :class:`WebPushTasks`;
* at-least-once delivery per subscription: batches are acknowledged after
  they are sent (``acks_late``), so a batch whose worker dies is sent again
  (and a subscription in it may get the message twice);
* exactly one final entry per subscription in the report, whatever was
  redelivered or retried: entries are recorded once per index (a Redis bitmap,
  set in the same script that counts them), and only for an index below the
  number of subscriptions read so far (a forged index changes nothing);
* retryable failures (429, 5xx, no answer) are sent again as a new batch after
  their ``Retry-After`` or a backoff, ``retries`` times at most;
* a 429 (or WNS's 406 throttle) or a 503 with ``Retry-After`` from one
  origin pauses that origin for every worker until then (a Redis key with
  that expiry);
* with a ``ttl``, nothing is sent after it has run out, counted from
  :meth:`WebPushTasks.fan_out`;
* every failure in the report has its reason, and each reason one sample
  detail (clipped, no control characters, no endpoint path, no key); a
  worker that cannot load its VAPID key says so once (logger
  ``webpush_core.celery``) and fails its batches with that detail.

Importing :mod:`webpush_core` never imports this module, Celery or Redis.
"""

from __future__ import annotations

import base64
import inspect
import logging
import os
import re
import socket
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, Optional, Union

import redis
from celery import Celery, Task
from celery.signals import celeryd_after_setup, worker_process_shutdown

from ._batch_auth import BatchKeyArg, check_key, refusal, sign
from ._classify import throttles
from ._delivery.client import DEFAULT_TTL, PushClient
from ._delivery.retry import GIVE_UP, RETRIES_EXHAUSTED, TTL_EXPIRED, Attempted, RetryPolicy
from ._fanout_report import (
    PREFIX,
    FanOutHandle,
    FanOutReport,
    Keys,
    clean_detail,
    count_refused,
    describe,
    outcome,
    record,
)
from ._request.build import prepare_message
from ._request.keys import VapidKeyLike, load_vapid_key
from ._subscription import Subscription, _check_endpoint
from ._text import clean
from .errors import InvalidInput, InvalidSubscription, VapidError, WebPushException

__all__ = ["FanOutHandle", "FanOutReport", "WebPushTasks", "outcome"]

log = logging.getLogger("webpush_core.celery")

_BUFFERED_BATCHES = 8  # the dispatcher holds at most this many batches' worth, all origins together

# Pause an origin for ARGV[1] ms, never shortening a pause already set.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""

# What WebPushTasks passes on to each worker process's PushClient.
_CLIENT_OPTIONS = frozenset(inspect.signature(PushClient).parameters) - {
    "vapid_private_key",
    "vapid_claims",
}

# A subscription on its way: [index, endpoint, p256dh, auth].
_Item = list[Any]
_FAN_OUT_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex: what fan_out() makes


def _summary(args: Any) -> str:
    """What logs and monitors show of a batch message: never its contents."""
    try:
        fan_out_id, batch = args
        return (
            f"({clean(str(fan_out_id), 64)!r}, <{len(batch['s'])} subscriptions at "
            f"{clean(str(batch['o']), 200)}, attempt {int(batch['a']) + 1}>)"
        )
    except Exception:  # not the shape fan_out() gives: say so, show nothing of it
        return f"(<{len(args) if isinstance(args, (list, tuple)) else '?'} arguments>)"


class _BatchTask(Task):  # type: ignore[misc]  # Celery ships no types
    """send_batch's class: every message it publishes carries the summary.

    Celery's ``Task.retry`` (and so ``autoretry_for``) republishes a task
    through the task's own ``apply_async``, without the ``argsrepr`` the first
    message had; left alone Celery would compute ``saferepr(args)``: the
    base64 message and, with ``task_repr_maxlevels`` raised, the auth secrets.
    """

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        options["argsrepr"] = _summary(args)
        options["kwargsrepr"] = "{}" if not kwargs else f"{{<{len(kwargs)} keyword arguments>}}"
        return super().apply_async(args, kwargs, *rest, **options)


_FIX = ("fix-request", "fix-credentials")  # actions that ask for a change before sending again


class WebPushTasks:
    """Web Push fan-out tasks, registered on the Celery ``app``.

    Create it in the module the workers import (``celery -A``). On the
    workers, ``vapid_private_key`` (a key, a key file's path, or a callable
    returning either, e.g. ``lambda: os.environ["VAPID_PRIVATE_KEY"]``) is read
    by each worker process when it first sends, and stays there. A worker
    that cannot load it (the callable raises, the key is invalid) says so
    once, as it starts, and fails each batch it takes at once with reason
    ``invalid-vapid`` and a detail naming the setting.
    ``client_options`` go to that process's :class:`~webpush_core.PushClient`
    (``concurrency``, ``timeout``, ``endpoint_policy``, ``ca_certs``, ...);
    its own retries default to none, since failed subscriptions are retried
    across the fleet, ``retries`` times, after ``Retry-After`` or an exponential
    backoff from ``retry_backoff`` seconds (capped at ``retry_backoff_max``;
    the later half of each backoff is drawn at random), as the client's
    retry policy decides.

    ``redis_url`` is where the reports and throttles live (default: the
    app's broker, if it is Redis). Reports expire ``report_ttl`` seconds after
    their last change. ``on_expired(endpoints)`` is called in the worker, once
    per batch that found expired subscriptions, at least once per endpoint.
    ``batch_size`` is :meth:`fan_out`'s default; ``queue`` the Celery queue the
    batches go to (default: the app's); the task is named ``<name>.send_batch``
    (two instances on one app need two names).

    ``batch_key`` (off by default; bytes or str of at least 16 bytes, or a
    callable returning one, e.g. ``lambda: os.environ["WEBPUSH_BATCH_KEY"]``)
    authenticates batches: the dispatcher signs each one (HMAC-SHA256) and a
    worker with a key refuses, unsent and unrecorded, a batch whose
    authentication is missing or wrong, logging why (a warning on the
    ``webpush_core.celery`` logger) and counting it in the report
    (:attr:`FanOutReport.refused_batches`). Give the same key to every
    dispatcher and worker; where the broker is shared with others, set it.
    """

    def __init__(
        self,
        app: Celery,
        vapid_private_key: Union[VapidKeyLike, Callable[[], VapidKeyLike], None] = None,
        vapid_claims: Optional[Mapping[str, Any]] = None,
        *,
        redis_url: Optional[str] = None,
        batch_size: int = 200,
        retries: int = 3,
        retry_backoff: float = 1.0,
        retry_backoff_max: float = 60.0,
        report_ttl: int = 86400,
        queue: Optional[str] = None,
        name: str = "webpush_core",
        on_expired: Optional[Callable[[list[str]], object]] = None,
        batch_key: BatchKeyArg = None,
        **client_options: Any,
    ) -> None:
        for label, value, low in (
            ("batch_size", batch_size, 1),
            ("retries", retries, 0),
            ("report_ttl", report_ttl, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInput(
                    f"{label} must be an integer >= {low}, got {value!r}", field=label
                )
        if (vapid_private_key is None) != (not vapid_claims):
            raise InvalidInput(
                "pass vapid_private_key and vapid_claims together (or neither)",
                field="vapid_private_key" if vapid_private_key is None else "vapid_claims",
            )
        self.app = app
        self.batch_size = batch_size
        self.retries = retries
        self.retry_backoff = float(retry_backoff)
        self.retry_backoff_max = float(retry_backoff_max)
        # The client's retry policy, for batches: a Retry-After is capped like a backoff,
        # and at least half of each backoff is waited (a batch is many requests).
        self._retry = RetryPolicy(
            max_retries=retries,
            backoff_base=self.retry_backoff,
            backoff_cap=self.retry_backoff_max,
            retry_after_cap=self.retry_backoff_max,
            jitter=0.5,
        )
        self.report_ttl = report_ttl
        self.queue = queue
        self._key = vapid_private_key  # read on first send, in the worker process
        if batch_key is not None and not callable(batch_key):
            check_key(batch_key)  # a wrong key fails here, not in every worker
        self._batch_key = batch_key  # a callable is called once per process
        self._batch_key_bytes: Optional[bytes] = None
        self._claims = dict(vapid_claims) if vapid_claims else None
        self._on_expired = on_expired
        unknown = sorted(set(client_options) - _CLIENT_OPTIONS)
        if unknown:
            raise InvalidInput(
                f"unknown PushClient option {unknown[0]!r}; the options are "
                f"{', '.join(sorted(_CLIENT_OPTIONS))}",
                field=unknown[0],
            )
        client_options.setdefault("max_retries", 0)
        # Each prefork child is one process on one core: no helper process each.
        client_options.setdefault("helper_process", False)
        self._client_options = client_options
        self._redis_url = redis_url
        self._lock = threading.Lock()
        self._pid = 0
        self._push: Optional[PushClient] = None
        self._redis_pid = 0
        self._redis_client: Optional[redis.Redis] = None
        self._said: Optional[str] = None  # why this process cannot send, as last logged

        tasks = self

        def send_batch(fan_out_id: str, batch: dict[str, Any]) -> None:
            tasks._run_batch(fan_out_id, batch)

        # acks_late + reject_on_worker_lost: a batch is acknowledged once sent and
        # recorded; a worker process that dies (SIGKILL, OOM) leaves it to another.
        # Redis unreachable (nothing can be recorded): the batch is tried again later.
        self.send_batch = app.task(
            base=_BatchTask,
            name=f"{name}.send_batch",
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            serializer="json",
            autoretry_for=(redis.RedisError,),
            retry_backoff=True,
            retry_backoff_max=60,
            max_retries=30,
        )(send_batch)
        worker_process_shutdown.connect(self._shutdown, weak=False)
        celeryd_after_setup.connect(self._check_at_start, weak=False)

    def __repr__(self) -> str:
        return (
            f"WebPushTasks(batch_size={self.batch_size}, retries={self.retries}, "
            f"vapid={'yes' if self._key is not None else 'no'})"
        )

    # -- per process ---------------------------------------------------------

    def _client(self) -> PushClient:
        """This process's client: created on first use, again in a forked child."""
        pid = os.getpid()
        with self._lock:
            if self._push is None or self._pid != pid:
                self._push = PushClient(self._vapid_key(), self._claims, **self._client_options)
                self._pid = pid
                self._said = None
            return self._push

    def _vapid_key(self) -> Any:
        """The key as given, or what the callable returns (VapidError if it raises)."""
        if not callable(self._key):
            return self._key
        try:
            return self._key()
        except Exception as exc:
            raise VapidError(
                "vapid_private_key: calling it in this worker process raised "
                f"{type(exc).__name__}: {exc} (the worker needs what it reads: an "
                "environment variable, a key file)",
                field="vapid_private_key",
            ) from None

    def _cannot_send(self, exc: Exception) -> tuple[str, str]:
        """Reason and detail when this process cannot make its client; logged once.

        The worker's own settings (its VAPID key, client options) are wrong:
        every batch it takes fails the same way, so the log says it once per
        process (a prefork child inherits what its parent said at start).
        """
        if isinstance(exc, WebPushException):
            reason, message = exc.reason or "unknown", exc.message
        else:
            reason, message = "unknown", f"{type(exc).__name__}: {exc}"
        text = clean_detail(f"the worker on {socket.gethostname()} cannot send: {message}")
        with self._lock:
            said, self._said = self._said, text
        if said != text:
            log.error("%s; every batch it takes fails with reason %s", text, reason)
        return reason, text

    def _check_at_start(self, instance: Any = None, **_: Any) -> None:
        """celeryd_after_setup (the worker's main process, logging set up, before
        the pool forks): load the VAPID key once, so a worker that cannot says
        so when it starts, not once per pool process and batch."""
        if getattr(instance, "app", None) is not self.app or self._key is None:
            return
        try:
            load_vapid_key(self._vapid_key())
        except Exception as exc:  # what the first batch would meet: say it now
            self._cannot_send(exc)

    def _redis(self) -> redis.Redis:
        pid = os.getpid()
        with self._lock:
            if self._redis_client is None or self._redis_pid != pid:
                url = self._redis_url or self.app.conf.broker_url or ""
                if not str(url).startswith(("redis://", "rediss://", "unix://")):
                    raise InvalidInput(
                        "WebPushTasks keeps its reports in Redis: pass redis_url= "
                        "(the app's broker is not Redis)",
                        field="redis_url",
                    )
                self._redis_client = redis.Redis.from_url(str(url))
                self._redis_pid = pid
            return self._redis_client

    def _mac_key(self) -> Optional[bytes]:
        """The batch key as bytes (read once per process), None when batches are not signed."""
        if self._batch_key is None:
            return None
        if self._batch_key_bytes is None:
            key = self._batch_key() if callable(self._batch_key) else self._batch_key
            self._batch_key_bytes = check_key(key)
        return self._batch_key_bytes

    def _shutdown(self, **_: Any) -> None:
        """worker_process_shutdown: close this process's client (its connections)."""
        with self._lock:
            push, self._push = self._push, None
            mine = self._pid == os.getpid()
        if push is not None and mine:
            push.close()

    # -- the dispatcher's side --------------------------------------------

    def fan_out(
        self,
        subscriptions: Iterable[Any],
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
        batch_size: Optional[int] = None,
        queue: Optional[str] = None,
        on_expired: Optional[Callable[[list[str]], object]] = None,
    ) -> FanOutHandle:
        """Enqueue ``data`` for every subscription; returns when all are enqueued.

        ``subscriptions`` (dicts shaped like ``PushSubscription.toJSON()``, or
        :class:`~webpush_core.Subscription`) is read once, lazily: memory stays
        flat for any length. They are grouped by push-service origin into
        batches of ``batch_size``. The message and its options are checked here
        (the errors :meth:`PushClient.send_many` raises) before anything is
        enqueued; a subscription whose shape is wrong gets its final entry
        (``invalid-input``) without being sent. With a ``ttl``, a batch still
        queued or due for a retry when it has run out (counted from this call)
        is not sent (``ttl-expired``). If ``subscriptions`` raises, so does
        this; the batches enqueued until then are sent, and the report never
        becomes complete. ``on_expired`` is called
        by the handle's :meth:`~FanOutHandle.progress` and
        :meth:`~FanOutHandle.wait` with the endpoints found gone since, in
        batches, once per endpoint.
        """
        size = self.batch_size if batch_size is None else batch_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidInput(
                f"batch_size must be an integer >= 1, got {size!r}", field="batch_size"
            )
        options = self._client_options
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
            "q": queue or self.queue,
        }
        if ttl is not None:
            # A message is worth sending until its TTL ends, counted from now:
            # a batch queued or retried past it is not sent (RFC 8030 §5.2).
            message["x"] = time.time() + int(ttl)
        fan_out_id = uuid.uuid4().hex
        keys = Keys(fan_out_id)
        client = self._redis()
        client.hset(keys.counts, mapping={"total": 0, "dispatched": 0})
        client.expire(keys.counts, self.report_ttl)

        buckets: dict[str, list[_Item]] = {}
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
                origin, item = _compact(index, subscription)
            except InvalidSubscription as exc:
                invalid += [str(index), "invalid-input", ""]
                invalid_detail.setdefault(
                    "invalid-input", clean_detail(f"subscription #{index}: {exc.message}")
                )
                if len(invalid) >= 3 * size:
                    announce(index + 1)
                    self._record(keys, invalid, 0, invalid_detail)
                    invalid = []
            else:
                bucket = buckets.setdefault(origin, [])
                bucket.append(item)
                held += 1
                if len(bucket) >= size:
                    held -= len(bucket)
                    announce(index + 1)
                    self._enqueue(fan_out_id, dict(message, o=origin, s=buckets.pop(origin), a=0))
                elif held >= _BUFFERED_BATCHES * size:
                    # Many origins, none full: send the largest on, keep memory bounded.
                    origin = max(buckets, key=lambda o: len(buckets[o]))
                    held -= len(buckets[origin])
                    announce(index + 1)
                    self._enqueue(fan_out_id, dict(message, o=origin, s=buckets.pop(origin), a=0))
            index += 1
            if index % size == 0:
                announce(index)
        announce(index)
        for origin, bucket in buckets.items():
            self._enqueue(fan_out_id, dict(message, o=origin, s=bucket, a=0))
        if invalid:
            self._record(keys, invalid, 0, invalid_detail)
        client.hset(keys.counts, mapping={"total": index, "dispatched": 1})
        client.expire(keys.counts, self.report_ttl)
        return FanOutHandle(self._redis, fan_out_id, on_expired, self.batch_size)

    def handle(self, fan_out_id: str) -> FanOutHandle:
        """The handle of a fan-out started elsewhere (its :attr:`FanOutHandle.id`)."""
        return FanOutHandle(self._redis, fan_out_id, None, self.batch_size)

    def _enqueue(self, fan_out_id: str, batch: dict[str, Any], countdown: float = 0.0) -> None:
        # (argsrepr, what logs and monitors show: _BatchTask sets it on every publish.)
        key = self._mac_key()
        if key is not None:
            batch = dict(batch, mac=sign(key, fan_out_id, batch))
        self.send_batch.apply_async(
            args=(fan_out_id, batch), countdown=countdown or None, queue=batch.get("q")
        )

    def _record(
        self,
        keys: Keys,
        entries: Sequence[str],
        sent: int,
        details: Optional[Mapping[str, str]] = None,
    ) -> int:
        return record(self._redis(), keys, entries, sent, self.report_ttl, details)

    # -- the worker's side ----------------------------------------------------

    def _refused(self, fan_out_id: Any, batch: Any) -> bool:
        """Refuse (log, count, acknowledge) a batch this worker must not act on."""
        if not isinstance(fan_out_id, str) or not _FAN_OUT_ID.fullmatch(fan_out_id):
            log.warning("refused a batch: its fan-out id is not one fan_out() makes")
            return True
        if not isinstance(batch, dict):
            why: Optional[str] = "it is not a batch (a JSON object)"
        elif not _at_its_origin(batch):
            # Its "o" names the origin a 429 pauses for every worker: it must be theirs.
            why = "its subscriptions are not all at the push service it names"
        else:
            key = self._mac_key()
            why = None if key is None else refusal(key, fan_out_id, batch)
        if why is None:
            return False
        log.warning("refused a batch of fan-out %s: %s", fan_out_id, why)
        try:  # counted in that fan-out's report, if there is one
            count_refused(self._redis(), Keys(fan_out_id))
        except redis.RedisError:
            log.warning("could not count the refused batch in the report of %s", fan_out_id)
        return True

    def _run_batch(self, fan_out_id: str, batch: dict[str, Any]) -> None:
        """Send one batch; record final entries, re-enqueue the retryable rest."""
        if self._refused(fan_out_id, batch):
            return
        client = self._redis()
        origin: str = batch["o"]
        attempt: int = batch["a"]
        items: list[_Item] = batch["s"]
        expires: Optional[float] = batch.get("x")  # the TTL's end, seconds since the epoch
        pause = f"{PREFIX}:throttle:{origin}"
        paused_ms = int(client.pttl(pause))
        if paused_ms > 0:
            # Another worker was told to wait: so are we (not counted as an attempt).
            self._again(fan_out_id, batch, items, attempt, paused_ms / 1000)
            return
        ttl = batch["ttl"]
        if expires is not None:
            remaining = expires - time.time()
            ttl = int(remaining)
            if remaining <= 0:  # queued past its TTL: the push service would drop it anyway
                queued = "not sent: the message's TTL ran out while its batch was queued"
                self._record(
                    Keys(fan_out_id), _final(items, "ttl-expired"), 0, {"ttl-expired": queued}
                )
                return
        try:
            push = self._client()
        except Exception as exc:  # the worker's own settings: any batch here fails alike
            why, text = self._cannot_send(exc)
            self._record(Keys(fan_out_id), _final(items, why), 0, {why: text})
            return
        subscriptions = [{"endpoint": e, "keys": {"p256dh": p, "auth": a}} for _, e, p, a in items]
        by_id = {id(s): item for s, item in zip(subscriptions, items)}
        entries: list[str] = []
        details: dict[str, str] = {}  # reason -> the first detail met in this batch
        failed: Counter[str] = Counter()
        to_fix = False
        # Retryable: (item, its reason, its detail); retried together if the policy says so.
        again: list[tuple[_Item, str, str]] = []
        expired: list[str] = []
        sent = 0
        retry_after: Optional[float] = None  # the longest asked for by a retryable one
        throttle = 0.0
        cap = self._retry.retry_after_cap
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
            decision = self._retry.decide(
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
                fate = f"they go back to the queue (attempt {attempt + 2} of {self.retries + 1})"
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
        if expired and self._on_expired is not None:
            self._on_expired(expired)  # before recording: a crash here calls it again
        if decision is not None and decision.action != GIVE_UP:
            retry = dict(batch, s=[item for item, _, _ in again], a=attempt + 1)
            self._enqueue(fan_out_id, retry, countdown=decision.wait)
        if entries or sent:
            self._record(Keys(fan_out_id), entries, sent, details)

    def _again(
        self,
        fan_out_id: str,
        batch: dict[str, Any],
        items: list[_Item],
        attempt: int,
        countdown: float,
    ) -> None:
        """Enqueue ``items`` again after ``countdown`` s, unless the TTL ends first
        (the retry policy's rule): then their entries are final (``ttl-expired``)."""
        expires = batch.get("x")
        ttl_left = None if expires is None else expires - time.time()
        if not self._retry.hold(countdown, ttl_left=ttl_left).retries:
            entries = _final(items, TTL_EXPIRED)
            self._record(Keys(fan_out_id), entries, 0, {TTL_EXPIRED: _late(countdown)})
            return
        self._enqueue(fan_out_id, dict(batch, s=items, a=attempt), countdown=countdown)


def _late(countdown: float) -> str:
    return f"not sent again: the message's TTL runs out before the retry due in {countdown:.1f} s"


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised: file, line and function (never a value)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown place"
    last = frames[-1]
    return f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}"


def _final(items: list[_Item], reason: str) -> list[str]:
    """The same final entry for each of ``items``, as ``record()`` takes them."""
    return [field for item in items for field in (str(item[0]), reason, "")]


def _at_its_origin(batch: Mapping[str, Any]) -> bool:
    """Every item of ``batch`` is [index, endpoint, p256dh, auth] with its endpoint at
    the origin ``batch["o"]`` names, as :func:`_compact` made them."""
    origin, items = batch.get("o"), batch.get("s")
    if not isinstance(origin, str) or not isinstance(items, list):
        return False
    for item in items:
        if not (isinstance(item, list) and len(item) == 4 and type(item[0]) is int):
            return False
        try:
            if _check_endpoint(item[1]) != origin:
                return False
        except InvalidSubscription:
            return False
    return True


def _compact(index: int, subscription: Any) -> tuple[str, _Item]:
    """(origin, [index, endpoint, p256dh, auth]): the shape checks of the dispatcher.

    The cheap ones only (the endpoint's syntax, the keys are strings): the
    workers parse and check the rest, as :meth:`PushClient.send_many` does.
    """
    if isinstance(subscription, Subscription):
        subscription = subscription.to_info()
    if not isinstance(subscription, Mapping):
        raise InvalidSubscription("not a mapping", field="subscription_info")
    endpoint = subscription.get("endpoint")
    origin = _check_endpoint(endpoint)
    keys = subscription.get("keys")
    if not isinstance(keys, Mapping):
        raise InvalidSubscription("keys is not a mapping", field="keys")
    p256dh, auth = _key_text(keys, "p256dh"), _key_text(keys, "auth")
    return origin, [index, endpoint, p256dh, auth]


def _key_text(keys: Mapping[str, Any], name: str) -> str:
    """A key as the text a task message carries: a str, or ASCII bytes decoded
    (base64.urlsafe_b64encode's result, which the senders accept too)."""
    value = keys.get(name)
    if isinstance(value, (bytes, bytearray)):
        if not value.isascii():
            raise InvalidSubscription(
                f"keys.{name} is not base64url: non-ASCII bytes", field=f"keys.{name}"
            )
        return value.decode("ascii")
    if not isinstance(value, str):
        raise InvalidSubscription(
            f"keys.{name} must be a base64url string (or its ASCII bytes)", field=f"keys.{name}"
        )
    return value
