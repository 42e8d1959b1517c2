"""The sans-IO request builder: subscription + message -> what to POST.

``build.build_request`` checks every input, encrypts (RFC 8291), signs VAPID
(RFC 8292) and returns a frozen :class:`~.value.PushRequest`. It does no
network I/O; the transport sends the result, or you send it with your own HTTP
stack.

One file per idea: ``value`` (``PushRequest``: what to POST), ``options``
(each argument's rule: TTL, Urgency, Topic, the coding, the payload),
``headers`` (the caller's headers: what may be sent, what the builder
computes), ``keys`` (what callers pass as a VAPID key, loaded once),
``signer`` (the VAPID headers: their aud, their conflicts with the caller's
headers, another library's signer), ``plan`` (``MessagePlan``: one checked
message, encrypted and signed per subscription), ``build``
(``build_request`` and ``prepare_message``: every check in its order, the
checked options kept). Depends on ``ece``, ``vapid``, ``_subscription`` and
``_endpoint``; nothing here does I/O but read a key file.
"""
