"""The Celery app of the Celery benchmark: its workers (``celery -A
benchmarks.celery_app worker``) and its dispatcher import it. Configured from
the environment the benchmark sets: BENCH_REDIS (broker and report store),
BENCH_VAPID (the VAPID key), BENCH_CA and BENCH_PORT (the stand-in's CA and port).
"""

from __future__ import annotations

import os

from celery import Celery

from webpush_core import EndpointPolicy
from webpush_core.celery import WebPushTasks

app = Celery("bench", broker=os.environ["BENCH_REDIS"])
app.conf.worker_prefetch_multiplier = 1
app.conf.worker_hijack_root_logger = False
push = WebPushTasks(
    app,
    vapid_private_key=os.environ["BENCH_VAPID"],
    vapid_claims={"sub": "mailto:bench@example.com"},
    queue="bench",
    endpoint_policy=EndpointPolicy(
        allow_private=True, allowed_ports=(443, int(os.environ["BENCH_PORT"]))
    ),
    ca_certs=os.environ["BENCH_CA"],
    concurrency=32,
)
