"""What a Redis server executes, read with MONITOR: the raw broker traffic of the Celery tests.

Every command with its exact arguments (Redis prints them escaped; unescaped
here), so a test can read every message published (``LPUSH`` to a queue, the
``unacked`` hash of the Redis transport, ``PUBLISH`` of task events) as it
reached the broker, and tell what each shows outside its opaque body.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("a"): b"\a", ord("b"): b"\b"}


def unquote_monitor_line(line: bytes) -> list[bytes]:
    """The arguments of one MONITOR line: ``+<time> [<db> <client>] "arg" "arg" ...``."""
    start = line.index(b"] ") + 2
    args: list[bytes] = []
    i = start
    while i < len(line):
        if line[i : i + 1] != b'"':
            i += 1
            continue
        i += 1
        out = bytearray()
        while line[i : i + 1] != b'"':
            c = line[i]
            if c == ord("\\"):
                nxt = line[i + 1]
                if nxt == ord("x"):
                    out.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                out += _ESCAPES.get(nxt, bytes([nxt]))
                i += 2
                continue
            out.append(c)
            i += 1
        args.append(bytes(out))
        i += 1
    return args


class BrokerTap:
    """A MONITOR connection to the broker's Redis, read by a thread of its own."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port or 6379), timeout=30)
        self.sock.sendall(b"MONITOR\r\n")
        self._buffer = b""
        first = self._line()
        assert first == b"+OK", first
        self.sock.settimeout(None)
        self.commands: list[list[bytes]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _line(self) -> Optional[bytes]:
        while b"\r\n" not in self._buffer:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _read(self) -> None:
        while True:
            try:
                line = self._line()
            except OSError:
                return
            if line is None:
                return
            if line.startswith(b"+") and b"] " in line:
                with self._lock:
                    self.commands.append(unquote_monitor_line(line))

    def snapshot(self) -> list[list[bytes]]:
        with self._lock:
            return list(self.commands)

    def wait_for(self, done: Callable[[list[list[bytes]]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done(self.snapshot()):
                return True
            time.sleep(0.1)
        return done(self.snapshot())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(10)


@dataclass
class Envelope:
    """One kombu message as the broker holds it: headers, properties, and its decoded body."""

    command: bytes
    envelope: dict[str, Any]
    body: bytes

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.envelope.get("headers") or {})

    @property
    def outside_body(self) -> str:
        """Everything of the message but its body, as text."""
        return json.dumps({k: v for k, v in self.envelope.items() if k != "body"})


def _envelopes_in(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict) and "body" in value and "properties" in value:
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _envelopes_in(item)


def envelopes(commands: list[list[bytes]]) -> Iterator[Envelope]:
    """Every kombu message in any argument of any command (queues, unacked, events)."""
    for command in commands:
        for arg in command[1:]:
            if not arg.startswith((b"{", b"[")):
                continue
            try:
                value = json.loads(arg)
            except ValueError:
                continue
            for envelope in _envelopes_in(value):
                raw = envelope["body"]
                if envelope.get("properties", {}).get("body_encoding") == "base64":
                    body = base64.b64decode(raw)
                else:
                    body = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
                yield Envelope(command[0].lower(), envelope, body)


def events(commands: list[list[bytes]]) -> list[dict[str, Any]]:
    """The task events published (Celery's event messages: a JSON event per body)."""
    found = []
    for message in envelopes(commands):
        if "task" in message.headers:
            continue
        try:
            event = json.loads(message.body)
        except ValueError:
            continue
        for item in event if isinstance(event, list) else [event]:
            if isinstance(item, dict) and str(item.get("type", "")).startswith("task-"):
                found.append(item)
    return found
