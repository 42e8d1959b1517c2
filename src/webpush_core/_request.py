"""The sans-IO push request: what to POST, where, with which headers.

``build_request`` (arriving with the sending layer) fills one of these; the
transport sends it; users with their own HTTP stack can send it themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict

__all__ = ["PushRequest"]


@dataclass(frozen=True)
class PushRequest:
    """An encrypted push message ready to POST (RFC 8030 §5)."""

    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    method: str = "POST"
