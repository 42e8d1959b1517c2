"""What goes over the wire: I/O to push services, and nothing about delivery policy.

``http1`` (sans-IO HTTP/1.1, RFC 9112), ``connections`` (PushClient's own
client: TLS, the per-request exchange, the pool and its loop thread),
``urllib3_transport`` (the urllib3 path), ``proxy`` (forward proxies and the
choice of one), ``resolver`` (name lookups off the event loop). Depends on the
message layer (``_request``, ``_response``, ``_endpoint``) and never on
``_delivery``.
"""
