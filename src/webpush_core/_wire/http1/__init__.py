"""HTTP/1.1 for push messages, sans-IO (RFC 9112): request bytes, a response parser.

What a Web Push sender needs and no more: one ``POST`` with a
Content-Length body per request, and a response framed by Content-Length,
the chunked transfer coding or the end of the connection (RFC 9112 §6.3).
:class:`.parser.ResponseParser` is fed whatever the socket returned and says
when the response is complete and whether the connection can carry the next
request. It never reads, writes or waits: :mod:`..exchange` does.

The peer may be hostile (a subscription's endpoint is anyone's server), so:

* the work is linear in the octets received: one buffer with a read
  offset, compacted only when most of it is consumed, and a line search
  that resumes where the last one stopped (nothing is searched or copied
  twice, however the socket cuts the stream);
* everything has a cap (:mod:`.limits`): the heads of a response (interim
  ones included) ``max_head`` octets and ``max_fields`` field lines each
  (obs-fold continuations included; the trailers too), at most
  ``max_interim`` interim 1xx responses, a chunk-size line
  :data:`.limits.MAX_CHUNK_LINE` octets and all chunk extensions together
  ``max_head``, at most ``max_chunks`` chunks, the trailer section
  ``max_head``, the body ``max_body`` (a longer one ends the response
  early, cut, and the connection is not reused);
* the grammar is RFC 9112's, and anything else is one
  :class:`.limits.HTTPProtocolError` (the connection is then dropped). The
  only leniencies are those RFC 9112 allows a recipient: a bare LF as a line
  end (§2.2), obs-fold replaced by a space (§5.2), a reason phrase left
  out with its space, and a list of identical Content-Length values
  (§6.3).

One file per idea, as h11 does it: ``limits`` (the caps and the one error),
``request`` (``encode_request``: a request's octets), ``head`` (the grammar
of a head: status line, field lines, obs-fold, trailer lines), ``framing``
(how the body ends, from the head: Content-Length, chunked, until the close;
and whether the connection stays open), ``fast`` (the shortcut for the
answer nearly every push message gets: one plain ``2xx`` head in the first
read), ``parser`` (``ResponseParser``: the buffer and the explicit states
that read a response as it arrives).
"""
