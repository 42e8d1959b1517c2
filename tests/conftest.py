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
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import settings

from peers import webpush_testing_server
from webpush_core import _endpoint, _origin
from webpush_core._wire import proxy as _proxy
from webpush_core.vapid import _claims

# `make mutate` runs the property tests under this profile: the same examples for
# every mutant (a verdict must not depend on the draw) and no example database
# (a failure found for one mutant must not be replayed against the next).
settings.register_profile("mutation", derandomize=True, database=None)

__all__ = ["webpush_testing_server"]

TESTS = Path(__file__).resolve().parent

# The modules whose tests start real components, in three groups. `make test`
# runs pytest with four workers (pytest-xdist, --dist loadfile): each group runs
# in one worker, its modules one after another as in a run without workers,
# and the groups start first, one in each worker; every other module runs
# whole in one worker, its module fixtures made once.
# - celery: redis-server and Celery workers;
# - pip: fresh venvs built and installed into (no service, no fixed port);
# - peers: tinyproxy, node and its web-push-testing service (every module with
#   a test marked `node`), the local push service.
REAL_GROUPS: dict[str, frozenset[str]] = {
    "real-celery": frozenset(
        {
            "adversarial/test_celery_forged_batches.py",
            "adversarial/test_celery_task_metadata.py",
            "adversarial/test_forged_batch_cannot_pause_another_origin.py",
            "test_celery.py",
        }
    ),
    "real-pip": frozenset({"test_packaging.py"}),
    "real-peers": frozenset(
        {
            "test_local_service.py",
            "test_peer_webpush_testing.py",
            "test_proxy.py",
            "test_send_peer.py",
            "unit/test_ece_interop.py",
            "unit/test_vapid_node.py",
        }
    ),
}
REAL_COMPONENTS = frozenset().union(*REAL_GROUPS.values())

# The modules that measure isolation by the clock: a ratio of two timings, or a
# bound with less than a second to spare. Their tests are marked `timed`, and
# `make test` runs them after the rest, with nothing else running.
TIMED = frozenset(
    {
        "adversarial/test_a_dripping_server_cannot_hold_a_worker.py",
        "adversarial/test_a_paused_origin_holds_its_own_messages_only.py",
        "adversarial/test_obs_fold_costs_linear_work.py",
        "adversarial/test_one_origin_cannot_stall_another.py",
        "adversarial/test_parser_work_is_linear_and_capped.py",
        "test_origins.py",
    }
)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> Optional[bool]:
    """`-m timed` reads only the TIMED modules and `-m "not timed"` every other:
    each phase of `make test` imports (and rewrites the asserts of) only the
    modules it runs."""
    markexpr = config.getoption("markexpr", "")
    if markexpr not in ("timed", "not timed") or not collection_path.name.startswith("test_"):
        return None
    try:
        name = collection_path.relative_to(TESTS).as_posix()
    except ValueError:
        return None
    if (name in TIMED) != (markexpr == "timed"):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """REAL_COMPONENTS and TIMED name modules that exist, TIMED's tests are
    marked `timed`, and REAL_COMPONENTS names every module with a test marked
    `node` (said, not guessed)."""
    for table, names in (("REAL_COMPONENTS", REAL_COMPONENTS), ("TIMED", TIMED)):
        gone = sorted(name for name in names if not (TESTS / name).is_file())
        if gone:
            raise pytest.UsageError(f"{table} names modules that are not there: {gone}")
    for item in items:
        name = item.path.relative_to(TESTS).as_posix()
        if name in TIMED:
            item.add_marker(pytest.mark.timed)
        if item.get_closest_marker("node") and name not in REAL_COMPONENTS:
            raise pytest.UsageError(f"{name} has tests marked node: add it to REAL_COMPONENTS")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With --dist loadfile: one work unit per module, except each of REAL_GROUPS,
    whose modules make one unit together; those units are handed out first
    (they are the longest), in REAL_GROUPS' order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    group_of = {
        (TESTS / name).relative_to(config.rootpath).as_posix(): group
        for group, names in REAL_GROUPS.items()
        for name in names
    }

    class RealComponentsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return group_of.get(module, module)

        def _assign_work_unit(self, node: Any) -> None:
            for group in reversed(REAL_GROUPS):
                if group in self.workqueue:
                    self.workqueue.move_to_end(group, last=False)
            super()._assign_work_unit(node)

    return RealComponentsTogether(config, log)


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    """Each test starts with the library's memos empty (valid VAPID subs and auds,
    parsed proxy URLs, NO_PROXY verdicts, the origins of recent authorities, the
    endpoint policies' verdicts on them):
    what a test checks is worked out while it runs, never read back from an
    earlier test's answer (`make mutate` runs every mutant in a process forked
    after all the tests ran once)."""
    _claims._valid_subs.clear()
    _claims._valid_auds.clear()
    _proxy.parse_proxy.cache_clear()
    _proxy._bypassed.cache_clear()
    _origin._origin.cache_clear()
    _endpoint._verdict.cache_clear()
    yield
