"""A push message's request, as octets (RFC 9112 §3, §6.2)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["encode_request"]


def encode_request(
    method: str, target: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The request's octets: request line, Host, the headers, Content-Length, body.

    Header names and values must already be valid (build_request checks
    callers' headers; the computed ones are ours). One buffer, so the
    request leaves in one write (one TLS record for a push message).
    """
    lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers.items():
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "".join(lines).encode("latin-1") + body
