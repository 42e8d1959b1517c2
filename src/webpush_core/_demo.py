"""``make demo``: placeholder until the ECE layer lands (replaced by it)."""

from __future__ import annotations


def run() -> int:
    raise SystemExit("the demo arrives with the ECE layer")
