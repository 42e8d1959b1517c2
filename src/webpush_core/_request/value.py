"""The request value: an encrypted push message ready to POST (RFC 8030 §5)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PushRequest"]


@dataclass(frozen=True)
class PushRequest:
    """An encrypted push message ready to POST (RFC 8030 §5).

    ``repr`` omits the headers: they carry the VAPID token.
    """

    url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    method: str = "POST"

    def __repr__(self) -> str:
        return f"PushRequest(url={self.url!r}, body=<{len(self.body)} bytes>)"
