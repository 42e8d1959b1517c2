"""Delivery policy and fan-out: what to send when, and what became of it.

``client`` (PushClient's sending methods), ``client_base`` (what a client is
made of: its arguments checked, its settings, engine, resources, close),
``prepare`` (one subscription's request, or why there is none), ``fanout``
(one send_many), ``attempt`` (one subscription's attempts: the retry loop),
``retry`` (the retry policy, a value), ``engine`` (what the deliveries
share: slots, parking, the origins, time), ``origins`` (per-origin pause and
breaker state), ``result`` (SendResult and a call's deadline bookkeeping),
``sealer`` (the channel to the encryption helper process), ``helper`` (that
process itself), ``spawn`` (how our child processes start and end),
``shard`` (one fan-out over sender processes, results merged),
``sender_channel`` (the parent's end of a sender process), ``sender`` (that
process itself). The origin identity they key on is
``webpush_core._origin``. Depends on ``_wire`` and the message layer;
nothing below depends on it.
"""
