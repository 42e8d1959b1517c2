"""A batch's claimed origin must not decide which origin a worker pauses.

The worker pauses an origin for every worker (``webpush_core:throttle:<o>``
in Redis) when a push service answers 429 or 503 with Retry-After. The key is
built from the batch's ``o`` member, which nothing checks against the
endpoints actually sent to. Where the broker is less trusted than Redis (the
threat model of a shared broker), one forged batch naming
``https://fcm.googleapis.com`` with a single endpoint of the attacker's that
answers 429 pauses every worker's FCM deliveries (up to retry_backoff_max,
again with each forged batch): the attacker never talks to FCM.

The pause belongs to the origin of the endpoint that answered. Reproduced on
loopback with a real redis-server; the batch runs through the task as a
worker runs it. A worker refuses a batch whose items are not all at the
origin ``o`` names (and batch authentication, ``batch_key``, refuses the
forged batch outright).
"""

from __future__ import annotations

import base64
import uuid

from adversarial.test_one_origin_cannot_stall_another import KEYS, LOCAL
from servers.loopback import Server
from test_celery import redis_url

__all__ = ["redis_url"]  # a fixture

TOO_MANY = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"


def test_a_forged_batch_cannot_pause_an_origin_it_never_sent_to(
    redis_url: str, servers: type[Server]
) -> None:
    import redis
    from celery import Celery

    from webpush_core.celery import WebPushTasks

    attacker = servers(TOO_MANY)
    app = Celery("forged", broker=redis_url)
    tasks = WebPushTasks(
        app, name=f"forged{uuid.uuid4().hex[:6]}", endpoint_policy=LOCAL, timeout=5
    )
    endpoint = f"http://127.0.0.1:{attacker.port}/push/x"
    forged = {
        "o": "https://fcm.googleapis.com",  # the claim
        "s": [[0, endpoint, KEYS["p256dh"], KEYS["auth"]]],  # what is sent to
        "a": 0,
        "d": base64.b64encode(b"x").decode(),
        "ttl": None,
        "urgency": None,
        "topic": None,
        "q": None,
    }
    tasks._run_batch(uuid.uuid4().hex, forged)  # the task's body, as a worker runs it
    client = redis.Redis.from_url(redis_url)
    assert client.pttl("webpush_core:throttle:https://fcm.googleapis.com") < 0  # never FCM
    # Sent anyway (a fix may refuse the batch instead): the origin that said 429 waits.
    if attacker.requests:
        attacker_origin = f"http://127.0.0.1:{attacker.port}"
        assert client.pttl(f"webpush_core:throttle:{attacker_origin}") > 0
