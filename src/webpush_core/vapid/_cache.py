"""A small cache of signed VAPID headers.

Signing costs an ECDSA signature, and Apple asks senders not to mint tokens
more often than needed, so a sender fanning out to many subscribers of one
push service reuses one token per (scheme, claims) until it is close to
expiring. A hit is a lock, a dict lookup and a time comparison.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Callable

__all__ = ["REFRESH_MARGIN", "TokenCache"]

# Refresh a token this long before its exp: the request may queue, retry,
# and meet a push service whose clock runs ahead.
REFRESH_MARGIN = 3600.0
MAX_ENTRIES = 1024

Headers = dict[str, str]
# What the signer returns on a miss: the headers and the token's exp.
Minted = tuple[Headers, int]


class TokenCache:
    """Bounded, thread-safe LRU of signed headers, each valid until ``exp - margin``.

    ``clock`` returns the current time in seconds since the epoch; tests
    pass a fake one to move time.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_entries: int = MAX_ENTRIES,
        margin: float = REFRESH_MARGIN,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.clock = clock
        self.max_entries = max_entries
        self.margin = margin
        self._entries: OrderedDict[Hashable, tuple[Headers, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def get_or_mint(self, key: Hashable, mint: Callable[[float], Minted]) -> Headers:
        """The cached headers for ``key``, or ``mint(now)``'s, cached.

        Minting happens under the lock, so threads racing on a miss all get
        the same token (misses are rare: once per key per ~11 hours).
        Returns a copy: callers may add their own headers to it.
        """
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now < entry[1]:
                self._entries.move_to_end(key)
                return dict(entry[0])
            headers, exp = mint(now)
            self._entries[key] = (headers, exp - self.margin)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return dict(headers)
