"""``make demo``: encrypt a message for a fresh browser key pair, step by step.

Plays both sides of RFC 8291: the browser (user agent) key pair and auth
secret are generated here, the message is encrypted with aes128gcm as an
application server would, every step of the key schedule is printed by its
RFC 8291 §3.4 name, and the body is decrypted back as the browser would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

from . import ece
from ._b64 import b64url_encode
from ._p256 import generate_private_key, uncompressed_point

__all__ = ["print_trace", "run"]

MESSAGE = b"When I grow up, I want to be a watermelon"


def print_trace(steps: Sequence[tuple[str, bytes]], out: TextIO = sys.stdout) -> None:
    """Print ``ece.trace`` steps as aligned ``name: base64url`` lines."""
    width = max((len(name) for name, _ in steps), default=0)
    for name, value in steps:
        out.write(f"  {name:<{width}} : {b64url_encode(value)}\n")


def run() -> int:
    ua_key = generate_private_key()
    ua_public = uncompressed_point(ua_key.public_key())
    auth_secret = os.urandom(16)
    out = sys.stdout
    out.write("Browser (user agent) subscription keys, freshly generated:\n")
    print_trace([("ua_public", ua_public), ("auth_secret", auth_secret)], out)

    steps = ece.trace(
        MESSAGE, private_key=generate_private_key(), dh=ua_public, auth_secret=auth_secret
    )
    out.write(f"\nEncrypting {len(MESSAGE)} octets with aes128gcm (RFC 8291 §3.4, RFC 8188):\n")
    print_trace(steps, out)

    body = b"".join(value for name, value in steps if name in ("header", "ciphertext"))
    plaintext = ece.decrypt(body, private_key=ua_key, auth_secret=auth_secret)
    out.write(
        f"\nBody: {len(body)} octets. Decrypted by the browser key:\n  {plaintext.decode()}\n"
    )
    return 0 if plaintext == MESSAGE else 1
