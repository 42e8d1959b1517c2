"""What a declarative push message is: its actions, its checked members, its bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Union

__all__ = ["WEB_PUSH", "Action", "DeclarativeMessage", "JSONValue", "Members"]

WEB_PUSH = 8030  # the member that marks a declarative push message (the RFC's number)

JSONValue = Any


@dataclass(frozen=True)
class Action:
    """A notification action: a button that opens ``navigate`` when chosen."""

    action: str
    title: str
    navigate: str
    icon: Optional[str] = None


@dataclass(frozen=True)
class Members:
    """A declarative message's checked members (None: not given)."""

    title: str
    navigate: str
    body: Optional[str] = None
    lang: Optional[str] = None
    dir: Optional[str] = None
    tag: Optional[str] = None
    image: Optional[str] = None
    icon: Optional[str] = None
    badge: Optional[str] = None
    vibrate: Optional[Union[int, tuple[int, ...]]] = None
    timestamp: Optional[int] = None
    renotify: Optional[bool] = None
    silent: Optional[bool] = None
    require_interaction: Optional[bool] = None
    data: JSONValue = None
    actions: tuple[Action, ...] = ()
    app_badge: Optional[int] = None
    mutable: Optional[bool] = None


class DeclarativeMessage(bytes):
    """A checked declarative push message: its bytes are the compact JSON that is
    encrypted and sent (so it is ``data=`` everywhere), ``members`` its parsed form.

    Immutable; equal to another exactly when the members are (the encoding is
    deterministic). The repr shows the size, never the contents.
    """

    members: Members

    def __new__(cls, encoded: bytes, members: Members) -> DeclarativeMessage:
        self = super().__new__(cls, encoded)
        object.__setattr__(self, "members", members)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a DeclarativeMessage is immutable")

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        from ._parse import parse  # noqa: PLC0415 - parse builds DeclarativeMessages

        return parse, (bytes(self),)

    def __repr__(self) -> str:
        return f"<DeclarativeMessage {len(self)} bytes>"

    def as_json(self) -> dict[str, Any]:
        """The JSON object (a fresh dict) this message encodes."""
        loaded: dict[str, Any] = json.loads(self)
        return loaded
