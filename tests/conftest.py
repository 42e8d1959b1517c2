"""Shared fixtures: the real web-push-testing peer (tests/peers.py) for every module.

The local push service fixtures (``push_service``) come from webpush_core's own
pytest plugin (registered through the ``pytest11`` entry point).

This directory is on sys.path, so helpers import as top-level modules:

``unit/``         the sans-IO modules, one test file per module (no servers)
``adversarial/``  hostile peers and hostile input, one file per behaviour
                  defended, named after it
``servers/``      the loopback servers every network test shares
``peers.py``      the independent peers (node web-push, web-push-testing)
the rest          each a public piece end to end over loopback sockets
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from peers import webpush_testing_server
from webpush_core import _origin
from webpush_core._wire import proxy as _proxy
from webpush_core.vapid import _claims

# `make mutate` runs the property tests under this profile: the same examples for
# every mutant (a verdict must not depend on the draw) and no example database
# (a failure found for one mutant must not be replayed against the next).
settings.register_profile("mutation", derandomize=True, database=None)

__all__ = ["webpush_testing_server"]


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    """Each test starts with the library's memos empty (valid VAPID subs and auds,
    parsed proxy URLs, NO_PROXY verdicts, the origins of recent authorities):
    what a test checks is worked out while it runs, never read back from an
    earlier test's answer (`make mutate` runs every mutant in a process forked
    after all the tests ran once)."""
    _claims._valid_subs.clear()
    _claims._valid_auds.clear()
    _proxy.parse_proxy.cache_clear()
    _proxy._bypassed.cache_clear()
    _origin._origin.cache_clear()
    yield
