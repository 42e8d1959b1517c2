"""A push service whose listen backlog overflows, made deterministic.

A push service behind a small listen backlog (Python's default of 5) loses
connections when a fan-out opens ``concurrency`` of them at once: the
client's requests time out together, a burst of failures from requests that
were all in flight at the same time, then an occasional one later. Which
connections are lost depends on the kernel's timing; here it does not:

* the first ``burst`` connections (in the order accepted) are held open and
  never answered, until the client gives up on them: with ``burst`` equal to
  the client's ``concurrency`` every one of those requests was under way
  before any of them failed, and no other request can be answered before
  they all time out;
* after that, every ``every``-th connection is lost the same way
  (``every=25``: 4 %);
* the others are served keep-alive (:class:`~servers.push_service.PushService`):
  410 for a path with ``/gone`` in it, 201 otherwise.

The listener's backlog is 5, as in the report this reproduces.
"""

from __future__ import annotations

from servers.loopback import Conn, Request
from servers.push_service import Answer, PushService

__all__ = ["BacklogService"]


class BacklogService(PushService):
    def __init__(self, *, burst: int, every: int, backlog: int = 5) -> None:
        self.burst = burst
        self.every = every
        self.lost = 0  # connections held and never answered
        super().__init__(responder=self._respond, backlog=backlog)

    def _loses(self, number: int) -> bool:
        return number <= self.burst or (number - self.burst) % self.every == 0

    def _serve_requests(self, conn: Conn) -> None:
        if self._loses(conn.number):
            with self.lock:
                self.lost += 1
            conn.wait(60)  # until the client closes it (or the service stops)
            return
        super()._serve_requests(conn)

    @staticmethod
    def _respond(request: Request) -> Answer:
        return Answer(410) if "/gone" in request.path else Answer(201)
