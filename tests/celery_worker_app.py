"""The Celery app of tests/test_celery.py: imported by its workers (``celery -A``) and by the tests.

Configured from the environment the test sets (WEBPUSH_TEST_*), as an
application's own tasks module would be. The VAPID key is a file read by a
callable: in the workers, on their first send.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import redis
from celery import Celery

from webpush_core import EndpointPolicy, PushClient
from webpush_core.celery import WebPushTasks

REDIS_URL = os.environ["WEBPUSH_TEST_REDIS"]
# The reports' Redis, when a test wants it elsewhere than the broker (unreachable).
REPORT_REDIS_URL = os.environ.get("WEBPUSH_TEST_REPORT_REDIS") or REDIS_URL
KEY_FILE = pathlib.Path(os.environ["WEBPUSH_TEST_VAPID_KEY_FILE"])
# The worker-side on_expired callback writes here, so the test can read it.
EXPIRED_KEY = "test:expired-endpoints"

app = Celery("webpush_core_tests", broker=REDIS_URL)
app.conf.update(
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_default_queue="webpush-tests",
    # A whole worker lost: its unacknowledged batches go back to the queue after
    # visibility_timeout, found by a sweep every second.
    broker_transport_options={
        "visibility_timeout": int(os.environ.get("WEBPUSH_TEST_VISIBILITY", "30")),
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    },
    # Celery's saferepr depth for arguments without an argsrepr (default 3).
    task_repr_maxlevels=int(os.environ.get("WEBPUSH_TEST_REPR_LEVELS", "3")),
)


def record_expired(endpoints: list[str]) -> None:
    redis.Redis.from_url(REDIS_URL).rpush(EXPIRED_KEY, *endpoints)


push = WebPushTasks(
    app,
    vapid_private_key=KEY_FILE.read_text,
    vapid_claims={"sub": "mailto:ops@example.com"},
    redis_url=REPORT_REDIS_URL,
    batch_key=os.environ.get("WEBPUSH_TEST_BATCH_KEY") or None,
    retries=int(os.environ.get("WEBPUSH_TEST_RETRIES", "2")),
    retry_backoff=0.2,
    retry_backoff_max=5.0,
    on_expired=record_expired,
    endpoint_policy=EndpointPolicy(allow_http=True, allow_private=True),
    ca_certs=os.environ.get("WEBPUSH_TEST_CA") or None,
    concurrency=int(os.environ.get("WEBPUSH_TEST_CONCURRENCY", "8")),
    timeout=10.0,
)


if os.environ.get("WEBPUSH_TEST_BUG"):
    # A bug inside the worker's send, raised with a subscription's endpoint and
    # keys in its message: what the worker logs and reports must hold none of them.
    def _broken_send_many(self: Any, subscriptions: Any, *_: Any, **__: Any) -> Any:
        sub = subscriptions[0]
        raise RuntimeError(
            f"simulated bug for {sub['endpoint']} with {sub['keys']['auth']} "
            f"and {sub['keys']['p256dh']}"
        )

    PushClient.send_many = _broken_send_many  # type: ignore[method-assign]
