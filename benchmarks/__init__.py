"""webpush_core's benchmarks: side by side, ratios, one run on one machine.

Run from the repository root as modules (``.venv/bin/python -m benchmarks ...``);
nothing here is part of ``make test`` or of the installed package.

Parts, each used by every benchmark:

* ``keys``: subscriptions with real P-256 keys, the VAPID key, payloads, and the
  http_ece check that a body decrypts;
* ``server``: the TLS push-service stand-in (nginx, or loudly a Python fallback),
  and redis-server for the Celery benchmark;
* ``contenders``: the fan-out contenders (ours, pywebpush, node web-push);
  ``per_call``: one message's work in each library, no network;
* ``floor``: the crypto floor, straight on ``cryptography``;
* ``measure``: CPU of process trees (the client and its children), throughput
  windows, interleaved rounds and medians, per-call CPU, memory;
* ``report``: the fan-out benchmark's markdown report;
* ``baseline``: ``webpush_core`` at a git revision, imported beside this tree's,
  for before/after comparisons in one process.

The command-line entry points: ``benchmarks`` (``__main__``: the fan-out
benchmark, run by ``make bench``; ``fanout`` holds its steps), ``benchmarks.transports``,
``benchmarks.celery_bench``, ``benchmarks.dict_subscription``, ``benchmarks.vapid_sign``,
``benchmarks.parser``, ``benchmarks.calls``.
"""
