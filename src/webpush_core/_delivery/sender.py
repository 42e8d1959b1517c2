"""A sender process: one ``PushClient`` of its own, fed by :mod:`.shard` (its parent's end:
:mod:`.sender_channel`).

Run as ``__main__`` (``python -c``, :mod:`.spawn`'s ``_BOOT``: this very
copy of webpush_core, the standard library first). Frames in on stdin: the
client's configuration (once), then per call ``call`` (the message, the
deadline, the settings as they are for that call), ``subs`` batches and
``end``; out on stdout: ``ready``, a frame per result (``a``: accepted, as
plain values; ``r``: any other, its fields), ``done`` after a call's last.
It ends when its stdin closes or its parent dies.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any, Optional

from .._response import PushResponse
from ..vapid import Vapid, Vapid01
from .result import _unexpected
from .sender_channel import _READY, SenderConfig
from .shard import PROXY_ENVIRONMENT
from .spawn import _watch_parent, read_frame, take_pipes, write_frame


def _write(out: IO[bytes], lock: threading.Lock, obj: object) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        write_frame(out, payload)


def _read(stream: IO[bytes]) -> Optional[Any]:
    payload = read_frame(stream)
    if payload is None:
        return None
    return pickle.loads(payload)  # noqa: S301 - from the parent, over a private pipe


def _client(config: SenderConfig) -> Any:
    from .client import PushClient  # noqa: PLC0415 - client.py imports this module

    options = dict(config["options"])
    key = config["key"]
    if isinstance(key, tuple):  # (class name, PEM) of a Vapid the parent was given
        key = (Vapid01 if key[0] == "Vapid01" else Vapid).from_pem(key[1])
    return PushClient(key, config["claims"], **options)


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Frames in: config, then per call "call", "subs"..., "end"; results out."""
    first = _read(stdin)
    if first is None or first[0] != "config":
        return
    client = _client(first[1])
    lock = threading.Lock()
    _write(stdout, lock, ("ready", _READY))
    end = object()
    while True:
        frame = _read(stdin)
        if frame is None:
            break
        if frame[0] != "call":
            continue
        _, (data, ttl, urgency, topic, deadline), settings = frame
        _apply(client, settings)
        inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        indexes: dict[int, int] = {}  # id(subscription) -> its index
        worker = threading.Thread(
            target=_send_call,
            args=(client, inbox, end, indexes, (data, ttl, urgency, topic, deadline), stdout, lock),
            daemon=True,
        )
        worker.start()
        while True:
            frame = _read(stdin)
            if frame is None or frame[0] == "end":
                inbox.put(end)
                break
            if frame[0] == "subs":  # handed over a batch at a time, not one by one
                for index, subscription in frame[1]:
                    indexes[id(subscription)] = index
                inbox.put([subscription for _, subscription in frame[1]])
        worker.join()
        if frame is None:
            break
    client.close()


def _apply(client: Any, settings: dict[str, Any]) -> None:
    """The parent's settings for this call: policy, proxy, retries, proxy environment."""
    client.endpoint_policy = settings["endpoint_policy"]
    client.proxy = settings["proxy"]
    client.max_retries = settings["max_retries"]
    for name in PROXY_ENVIRONMENT:
        value = settings["environment"].get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _send_call(
    client: Any,
    inbox: Any,
    end: object,
    indexes: dict[int, int],
    message: tuple[Any, ...],
    stdout: IO[bytes],
    lock: threading.Lock,
) -> None:
    data, ttl, urgency, topic, deadline = message

    def source() -> Iterator[Any]:
        while True:
            batch = inbox.get()
            if batch is end:
                return
            yield from batch

    try:
        for result in client.send_many(
            source(), data, ttl=ttl, urgency=urgency, topic=topic, deadline=deadline
        ):
            fields = dict(result.__dict__)
            index = indexes.pop(id(fields.pop("subscription")))
            response = result.response
            try:
                if result.ok and not result.held and type(response) is PushResponse:
                    # The common result, as plain values (pickled without a
                    # class lookup); the parent rebuilds the same objects.
                    head = (response.status_code, response.reason, list(response.headers.items()))
                    answer = (*head, response.content, response.url)
                    _write(stdout, lock, ("a", index, result.status_code, result.attempts, answer))
                    continue
                _write(stdout, lock, ("r", [(index, fields)]))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                # Never expected (our results are plain values): still exactly one result.
                failed = vars(_unexpected(None, exc)).copy()
                del failed["subscription"]
                _write(stdout, lock, ("r", [(index, failed)]))
    except Exception as exc:  # never expected (the parent checked the message first)
        # Still exactly one result each: every subscription not answered yet fails.
        failed = vars(_unexpected(None, exc)).copy()
        del failed["subscription"]
        left = list(indexes.values())
        indexes.clear()
        _write(stdout, lock, ("r", [(index, failed) for index in left]))
    _write(stdout, lock, ("done",))


if __name__ == "__main__":
    if len(sys.argv) > 1:  # the parent's pid
        threading.Thread(
            target=_watch_parent, args=(int(sys.argv[1]),), name="parent-watch", daemon=True
        ).start()
    # Frames only on our own descriptors; anything printed goes to stderr.
    _frames_in, _frames_out = take_pipes()
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        _serve(_frames_in, _frames_out)
