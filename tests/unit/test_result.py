"""_delivery.result: the delivered message's result, made without the
dataclass's __init__, is the very result that __init__ makes."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any, Optional

import pytest

from webpush_core import SendResult
from webpush_core._delivery.result import _accepted
from webpush_core._response import PushResponse

RESPONSE = PushResponse(201, "Created", [("Location", "/m/1")], b"", "https://push.example/x")
CASES = [
    ({"endpoint": "https://push.example/x"}, 201, 1, RESPONSE),
    ({"endpoint": "https://push.example/x"}, 200, 3, None),
    ("not a mapping", None, 0, None),
    (None, 202, 2, RESPONSE),
]


@pytest.mark.parametrize("subscription,status,attempts,response", CASES)
def test_accepted_is_what_the_constructor_makes(
    subscription: Any, status: Optional[int], attempts: int, response: Optional[PushResponse]
) -> None:
    fast = _accepted(subscription, status, attempts, response)
    slow = SendResult(
        subscription, ok=True, status_code=status, attempts=attempts, response=response
    )
    assert type(fast) is SendResult
    assert fast == slow
    assert repr(fast) == repr(slow)
    # Every field, in the dataclass's order (a field added to SendResult fails here).
    assert list(vars(fast).items()) == list(vars(slow).items())
    assert [f.name for f in dataclasses.fields(SendResult)] == list(vars(fast))
    assert fast.endpoint == slow.endpoint
    assert dataclasses.replace(fast, held=1.5) == dataclasses.replace(slow, held=1.5)
    if response is None and isinstance(subscription, (str, type(None))):
        assert pickle.loads(pickle.dumps(fast)) == slow  # noqa: S301 - our own bytes


def test_accepted_stays_frozen() -> None:
    fast = _accepted({"endpoint": "https://push.example/x"}, 201, 1, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.ok = False  # type: ignore[misc]
