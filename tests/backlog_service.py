"""A push-service stand-in whose listen backlog overflows, made deterministic.

A push service behind a small listen backlog (Python's default of 5) loses
connections when a fan-out opens ``concurrency`` of them at once: the
client's connection attempts time out together, a burst of failures from
requests that were all in flight at the same time, then an occasional one
later. Which connections are lost depends on the kernel's timing; here it
does not:

* the first ``burst`` connections are accepted and never answered (held
  open, unread, until the client gives up on them): with ``burst`` equal to
  the client's ``concurrency`` every one of those requests was under way
  before any of them failed, and no other request can be answered before
  they all time out;
* after that, every ``every``-th connection is lost the same way (``every=25``:
  4 %);
* the others are served HTTP/1.1 keep-alive: 410 for a path with ``/gone``
  in it, 201 otherwise.

The socket listens with a backlog of 5, as the report's stand-in did. Plain
sockets and one thread per connection: nothing here depends on the library
under test.
"""

from __future__ import annotations

import socket
import threading

__all__ = ["BacklogService"]


class BacklogService:
    def __init__(self, *, burst: int, every: int, backlog: int = 5) -> None:
        self.burst = burst
        self.every = every
        self.lock = threading.Lock()
        self.accepted = 0
        self.lost = 0  # connections never answered
        self.statuses: dict[int, int] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> int:
        """Requests answered."""
        with self.lock:
            return sum(self.statuses.values())

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                n = self.accepted
                self.conns.append(conn)
                lost = n <= self.burst or (n - self.burst) % self.every == 0
                self.lost += lost
            if not lost:
                threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                status = 410 if b"/gone" in path else 201
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                reason = b"Gone" if status == 410 else b"Created"
                conn.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n" % (status, reason))
        except OSError:
            return

    def stop(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.thread.join(timeout=5)
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            conn.close()
