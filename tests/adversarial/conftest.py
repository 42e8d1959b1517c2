"""Fixtures the adversarial tests share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable, Optional

import pytest

from servers.hostile import octets
from servers.loopback import Server


@pytest.fixture
def servers() -> Iterator[Callable[[Optional[bytes]], Server]]:
    """Servers on 127.0.0.1 answering every request with these octets (None: never)."""
    made: list[Server] = []

    def make(answer: Optional[bytes]) -> Server:
        made.append(Server(octets(answer)))
        return made[-1]

    yield make
    for server in made:
        server.stop()
