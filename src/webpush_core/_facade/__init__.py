"""The pywebpush-compatible facade: ``webpush``, ``webpush_async``, ``WebPusher``.

Thin on purpose: checks and encryption live in the sans-IO builder
(``_request``), the wire in ``_wire``. As in pywebpush, ``webpush()`` checks
and signs, then sends with ``WebPusher(...).send(...)`` (``webpush_async``
with ``send_async``), so a test that replaces ``WebPusher.send`` stubs the
network for both. What differs from pywebpush is listed in the README's
"Migrating from pywebpush".

One file per idea: ``webpush`` (``webpush()`` and what it shares with
``webpush_async``: the checks and signing before ``send``, the answer after
it), ``webpush_async`` (``webpush_async()``), ``pusher`` (``WebPusher``:
encode, curl, send), ``signing`` (the VAPID headers ``webpush()`` hands to
``send``), ``executor`` (the bounded thread pool that keeps blocking work off
an event loop).
"""
