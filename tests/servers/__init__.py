"""Loopback servers the network tests share, 127.0.0.1 only (tests/ is on sys.path).

``servers.loopback``      the core: a listener, a thread per connection, a
                          handler per connection, every request recorded;
                          ``free_port``, ``silent_listener``, ``server_context``
``servers.push_service``  ``PushService``: a scripted push-service stand-in
                          (status, headers, body, delay or close per request)
``servers.hostile``       hostile peers: floods, drips, garbage, resets, data
                          before the request; also run as a process of its own
``servers.proxy``         forward proxies: a real tinyproxy, a refusing stand-in
``servers.backlog``       ``BacklogService``: a push service whose listen backlog
                          overflows (a burst of lost connections, then one in N),
                          deterministically

The independent peers (node web-push, web-push-testing) are in tests/peers.py;
webpush_core.testing.LocalPushService is the stand-in that decrypts.
"""
