"""The Celery app of tests/test_celery.py: imported by its workers (``celery -A``) and by the tests.

Configured from the environment the test sets (WEBPUSH_TEST_*), as an
application's own tasks module would be. The VAPID key is a file read by a
callable: in the workers, on their first send.
"""

from __future__ import annotations

import logging
import os
import pathlib

import redis
from celery import Celery
from celery.signals import worker_process_init

from webpush_core import EndpointPolicy
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


@worker_process_init.connect
def log_library_warnings(**_: object) -> None:
    """As an application would: the library's warnings (a refused batch, a throttle)
    go to the worker's output (the library itself has only a NullHandler)."""
    logging.getLogger("webpush_core").addHandler(logging.StreamHandler())


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
