"""What goes over the wire: I/O to push services, and nothing about delivery policy.

PushClient's own client, one file per idea: ``http1`` (sans-IO HTTP/1.1, RFC
9112), ``tls`` (one connection: TLS over memory BIOs, a proxy's CONNECT
tunnel), ``exchange`` (one request's state machine: lookup, policy check,
connection, response, deadline), ``pool`` (the connections kept per origin
and the event loop thread that owns them), ``backend`` (where a connection's
stream comes from: TCP, or a test's bytes), ``resolver`` (name lookups off
the event loop). The urllib3 path: ``urllib3_transport`` (``send_request``),
``urllib3_pools`` (its pool managers and their checked, watched
connections), ``urllib3_errors`` (urllib3's failures as ours), with
``watchdog`` (shuts a blocking socket down at its deadline). Shared by both:
``proxy`` (forward proxies and the choice of one) and ``resend`` (the one
resend a transport makes on its own: a request that met a closed keep-alive
connection), ``standin`` (a test's MockPushService answers instead of the
network). Depends on the message layer (``_request``, ``_response``,
``_classify``, ``_endpoint``) and never on ``_delivery``.
"""
