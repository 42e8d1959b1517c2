"""VAPID (RFC 8292): identify the sender to push services with signed tokens.

>>> from webpush_core.vapid import Vapid
>>> vapid = Vapid.generate()                # or Vapid.from_file("private_key.pem")
>>> len(vapid.application_server_key)       # what pushManager.subscribe() needs
87
>>> headers = vapid.sign({"sub": "mailto:ops@example.com", "aud": "https://push.example.net"})
>>> headers["Authorization"].startswith("vapid t=eyJ")
True
>>> vapid.verify(headers["Authorization"])["sub"]   # the receiving side's check
'mailto:ops@example.com'

Keys load from PEM, DER, base64url DER (py_vapid) or the raw base64url
scalar (node web-push). Tokens are ES256 JWTs written by hand (RFC 7515,
RFC 7518 §3.4), cached per claims until an hour before they expire. Claims
are checked before signing (:func:`validate_claims`). :func:`parse_authorization`
and :meth:`Vapid.verify` are the receiving side.

Names follow py_vapid where it has them (``Vapid``, ``Vapid01``,
``VapidException``), so code can switch.
"""

from __future__ import annotations

from ..errors import VapidError
from ._claims import validate_claims
from ._token import VapidToken, parse_authorization
from ._vapid import Vapid, Vapid01

VapidException = VapidError
"""py_vapid's name for :class:`~webpush_core.errors.VapidError`."""

__all__ = [
    "Vapid",
    "Vapid01",
    "VapidError",
    "VapidException",
    "VapidToken",
    "parse_authorization",
    "validate_claims",
]
