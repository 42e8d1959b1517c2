"""Shared fixtures: the real web-push-testing peer (tests/peers.py) for every module.

The local push service fixtures (``push_service``) come from webpush_core's own
pytest plugin (registered through the ``pytest11`` entry point).
"""

from __future__ import annotations

from peers import webpush_testing_server

__all__ = ["webpush_testing_server"]
