"""Scripted answers: what a test push service says instead of its own answer.

A test queues answers (``service.answer(429, headers={"Retry-After": "2"})``);
each request takes the first one queued for it, in order. An answer is a status
with headers and a body, or a dropped connection, after an optional delay; a
status of None keeps the service's own answer and only adds the delay.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..errors import InvalidInput

__all__ = ["MAX_SCRIPTED", "Answer", "Script"]

MAX_SCRIPTED = 10000  # answers queued at once: a runaway loop in a test stops here


@dataclass(frozen=True)
class Answer:
    """One scripted answer (see :meth:`LocalPushService.answer`)."""

    status: Optional[int] = None  # None: the service's own answer
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before the answer (or the drop)
    drop: bool = False  # close the connection without a complete answer


def make_answer(
    status: Optional[int],
    headers: Optional[Mapping[str, Any]],
    body: Union[bytes, str],
    delay: float,
    drop: bool,
) -> Answer:
    """An :class:`Answer` from ``answer()``'s arguments, each checked."""
    if status is not None and (
        isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
    ):
        raise InvalidInput(f"status must be an HTTP status 100-599, got {status!r}", field="status")
    if drop and status is not None:
        raise InvalidInput("drop=True answers nothing: give no status with it", field="drop")
    if (
        isinstance(delay, bool)
        or not isinstance(delay, (int, float))
        or not math.isfinite(delay)
        or delay < 0
    ):
        raise InvalidInput(f"delay must be seconds >= 0, got {delay!r}", field="delay")
    fields: dict[str, str] = {}
    for name, value in (headers or {}).items():
        text = str(value)
        if not isinstance(name, str) or any(c in name + text for c in "\r\n\0"):
            raise InvalidInput(f"header {name!r} is not a valid header", field="headers")
        fields[name] = text
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray)):
        raise InvalidInput(f"body must be bytes or str, got {type(body).__name__}", field="body")
    return Answer(status, fields, bytes(body), float(delay), bool(drop))


@dataclass
class _Entry:
    to: Optional[str]  # the endpoint it is for; None: any
    answer: Answer
    left: Optional[int]  # requests it still answers; None: every one


class Script:
    """The queue of scripted answers, each for one request (or every request to
    one endpoint), consumed in order. Thread-safe."""

    def __init__(self) -> None:
        self._queue: deque[_Entry] = deque()
        self._lock = threading.Lock()

    def add(self, answer: Answer, *, times: Optional[int], to: Optional[str]) -> None:
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 1
        ):
            raise InvalidInput(
                f"times must be an integer >= 1 (or None: every request), got {times!r}",
                field="times",
            )
        with self._lock:
            if len(self._queue) >= MAX_SCRIPTED:
                raise InvalidInput(
                    f"more than {MAX_SCRIPTED} answers queued; use times= for repeats",
                    field="times",
                )
            self._queue.append(_Entry(to, answer, times))

    def take(self, endpoint: str) -> Optional[Answer]:
        """The answer for a request to ``endpoint``, used up; None: the service's own."""
        with self._lock:
            for entry in self._queue:
                if entry.to is not None and entry.to != endpoint:
                    continue
                if entry.left is not None:
                    entry.left -= 1
                    if not entry.left:
                        self._queue.remove(entry)
                return entry.answer
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)
