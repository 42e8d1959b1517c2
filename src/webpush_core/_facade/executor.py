"""The bounded thread pool the facade's asyncio calls run blocking work on
(urllib3, key files, signing), so the event loop is never blocked."""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, TypeVar

__all__ = ["async_executor", "in_pool"]

_T = TypeVar("_T")


_executor: Optional[ThreadPoolExecutor] = None
_executor_lock = threading.Lock()


def async_executor() -> ThreadPoolExecutor:
    """The one pool of the process, created on first use (at most 32 threads)."""
    global _executor  # noqa: PLW0603 - one lazily created pool for the process
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=min(32, (os.cpu_count() or 1) + 4),
                thread_name_prefix="webpush_core",
            )
        return _executor


async def in_pool(call: Callable[[], _T]) -> _T:
    """``call()`` on the bounded thread pool: blocking work never runs on the loop."""
    return await asyncio.get_running_loop().run_in_executor(async_executor(), call)
