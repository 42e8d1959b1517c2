"""Encrypted Content-Encoding for Web Push.

* RFC 8188 ``aes128gcm`` records, with the RFC 8291 key schedule for Web Push;
* the legacy ``aesgcm`` coding (draft-ietf-webpush-encryption-04).

:func:`encrypt` / :func:`decrypt` take http_ece's keyword arguments, so code
written for http_ece ports by changing the import. :func:`trace` shows every
step of the key schedule by its RFC name; :func:`explain` gives each value
its formula, its section and its meaning, splits the header and the records,
and shows the padding delimiter and the whole body (the auditor's view; the
CLI's ``explain``). :func:`encrypt_message` is the
one-call recipe the request builder uses per push message.

Sans-IO: nothing here touches the network or the file system.
"""

from __future__ import annotations

from ..errors import ECEError
from ._ece import decrypt, encrypt, trace
from ._explain import Step, explain
from ._message import EncryptedMessage, encrypt_message, max_plaintext

__all__ = [
    "ECEError",
    "EncryptedMessage",
    "Step",
    "decrypt",
    "encrypt",
    "encrypt_message",
    "explain",
    "max_plaintext",
    "trace",
]
