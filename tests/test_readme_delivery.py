"""The README's delivery examples (reasons and actions, deadline, Declarative Web Push) run.

Each ```python block of the README that the tests below pick by a phrase is
executed against a LocalPushService, with the names the example leaves to
the reader (``delete``, ``requeue``, ``log``, ...) bound to recorders, and
the recorded calls checked.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any, Callable

import pytest

from webpush_core import EndpointPolicy, PushClient
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid

README = Path(__file__).parent.parent / "README.md"
LOCAL = EndpointPolicy(allow_http=True, allow_private=True)


def block_with(phrase: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if phrase in b]
    assert len(found) == 1, f"expected one README python block containing {phrase!r}"
    return found[0]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, name: str) -> Callable[..., None]:
        def record(*args: Any, **kw: Any) -> None:
            self.calls.append((name, args, kw))

        return record


@pytest.fixture
def service() -> Any:
    with LocalPushService() as svc:
        yield svc


def test_reasons_and_actions_example(service: LocalPushService) -> None:
    vapid = Vapid()
    live = service.subscribe()
    gone = service.subscribe()
    service.expire(gone)
    calls = Recorder()
    log = logging.getLogger("readme")
    log.error = calls("log.error")  # type: ignore[method-assign]
    with PushClient(vapid, {"sub": "mailto:ops@example.com"}, endpoint_policy=LOCAL) as client:
        exec(  # noqa: S102 - the README's own example
            block_with("result.action =="),
            {
                "client": client,
                "subscriptions": [live, gone],
                "delete": calls("delete"),
                "requeue": calls("requeue"),
                "log": log,
            },
        )
    assert [(name, args) for name, args, _ in calls.calls] == [("delete", (gone,))]
    assert service.messages(live)[0].plaintext == b'{"title": "News"}'


def test_declarative_example(service: LocalPushService) -> None:
    subscription = service.subscribe()
    with PushClient(endpoint_policy=LOCAL) as client:
        namespace: dict[str, Any] = {"client": client, "subscription": subscription}
        exec(block_with("declarative.message("), namespace)  # noqa: S102 - the README's example
    assert namespace["result"].ok
    received = service.messages(subscription)[0]
    assert received.declarative is not None
    assert received.declarative.members.app_badge == 3
    assert received.declarative.members.actions[0].navigate.endswith("/reply")


def test_throttling_and_deadline_example(
    service: LocalPushService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Vapid().save_key(str(tmp_path / "private_key.pem"))
    subscriptions = [service.subscribe() for _ in range(5)]
    infos: list[tuple[Any, ...]] = []
    log = logging.getLogger("readme")
    log.info = lambda *args: infos.append(args)  # type: ignore[method-assign]
    namespace: dict[str, Any] = {
        "PushClient": functools.partial(PushClient, endpoint_policy=LOCAL),
        "subscriptions": subscriptions,
        "log": log,
    }
    exec(block_with("origin_stats()"), namespace)  # noqa: S102 - the README's example
    assert len(namespace["results"]) == 5 and all(r.ok for r in namespace["results"])
    assert namespace["late"] == []
    assert infos == [("%s: %d pauses, %d trips", service.url, 0, 0)]
