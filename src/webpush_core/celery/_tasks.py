"""``WebPushTasks``: the fan-out's settings, its Celery task, and what each worker
process keeps (its PushClient, its Redis connection, its batch key)."""

from __future__ import annotations

import inspect
import logging
import os
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable, Optional, Union

import redis
from celery import Celery
from celery.signals import celeryd_after_setup, worker_process_shutdown

from .._delivery.client import PushClient
from .._delivery.retry import RetryPolicy
from .._request.keys import VapidKeyLike, load_vapid_key
from ..errors import InvalidInput, VapidError, WebPushException
from ._auth import BatchKeyArg, check_key, sign
from ._batch import BatchTask
from ._dispatch import fan_out
from ._report import FanOutHandle, Keys, clean_detail, record
from ._worker import run_batch

__all__ = ["WebPushTasks"]

log = logging.getLogger("webpush_core.celery")

# What WebPushTasks passes on to each worker process's PushClient.
_CLIENT_OPTIONS = frozenset(inspect.signature(PushClient).parameters) - {
    "vapid_private_key",
    "vapid_claims",
}


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
            base=BatchTask,
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
        return fan_out(
            self,
            subscriptions,
            data,
            ttl=ttl,
            urgency=urgency,
            topic=topic,
            batch_size=batch_size,
            queue=queue,
            on_expired=on_expired,
        )

    def handle(self, fan_out_id: str) -> FanOutHandle:
        """The handle of a fan-out started elsewhere (its :attr:`FanOutHandle.id`)."""
        return FanOutHandle(self._redis, fan_out_id, None, self.batch_size)

    def _enqueue(self, fan_out_id: str, batch: dict[str, Any], countdown: float = 0.0) -> None:
        # (argsrepr, what logs and monitors show: BatchTask sets it on every publish.)
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

    def _run_batch(self, fan_out_id: str, batch: dict[str, Any]) -> None:
        """Send one batch; record final entries, re-enqueue the retryable rest."""
        run_batch(self, fan_out_id, batch)
