"""pytest fixtures for applications that send Web Push with webpush_core.

Registered through the ``pytest11`` entry point (named
``webpush_core.pytest_plugin``), so installing webpush_core makes them
available in any test suite. A vendored copy (``src/webpush_core`` copied
into a project) is not installed: its ``conftest.py`` loads the plugin with
``pytest_plugins = ["webpush_core.pytest_plugin"]``, a line that does nothing
where the package is installed too.

* ``push_service``: a started :class:`webpush_core.testing.LocalPushService`
  for one test, stopped afterwards;
* ``push_service_session``: one service shared by the whole session;
* ``push_mock``: an active :class:`webpush_core.testing.MockPushService`:
  every send of the test is answered by it, with no network.

Sending to ``push_service`` needs ``endpoint_policy=push_service.endpoint_policy``
(:meth:`EndpointPolicy.for_testing`), since its endpoints are plain-HTTP
loopback URLs that the strict default policy refuses; ``push_mock``'s are
https URLs the default policy accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import LocalPushService, MockPushService

__all__ = ["push_mock", "push_service", "push_service_session"]


def _serve() -> Iterator[LocalPushService]:
    # Imported here, not at plugin load: pytest loads this plugin in every
    # suite where webpush_core is installed, most of which never use it.
    from .testing import LocalPushService  # noqa: PLC0415

    service = LocalPushService().start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def push_service() -> Iterator[LocalPushService]:
    """A running local push service, fresh for each test."""
    yield from _serve()


@pytest.fixture(scope="session")
def push_service_session() -> Iterator[LocalPushService]:
    """A running local push service shared by every test of the session."""
    yield from _serve()


@pytest.fixture
def push_mock() -> Iterator[MockPushService]:
    """A MockPushService answering every send of the test; no network."""
    from .testing import MockPushService  # noqa: PLC0415 - see _serve

    with MockPushService() as mock:
        yield mock
