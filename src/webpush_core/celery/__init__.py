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
  with it (HMAC-SHA256, :mod:`._auth`): see :class:`WebPushTasks`;
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

One file per idea: ``_tasks`` (:class:`WebPushTasks`: the settings, each
worker process's client and Redis connection), ``_dispatch`` (``fan_out``:
subscriptions read once, batched by origin, enqueued), ``_worker`` (one
batch sent, its entries recorded, the retryable rest enqueued again),
``_batch`` (what a batch message is: its items, their checks, what logs
show of it), ``_report`` (the report in Redis, its scripts, the handle),
``_auth`` (the batches' HMAC).
"""

from __future__ import annotations

from ._report import PREFIX as PREFIX
from ._report import FanOutHandle, FanOutReport, outcome
from ._report import Keys as Keys
from ._tasks import WebPushTasks

__all__ = ["FanOutHandle", "FanOutReport", "WebPushTasks", "outcome"]
