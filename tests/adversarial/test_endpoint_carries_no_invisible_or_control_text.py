"""A subscription's endpoint is the subscriber's text: no C1 controls, separators or bidi.

``_check_endpoint`` (and ``EndpointPolicy.check``) refused C0 controls, space
and DEL only. An endpoint path could carry U+0085 (NEL) and U+2028/U+2029
(line and paragraph separators: ``str.splitlines()`` and many log viewers
break lines there), U+009B (CSI, which some terminals act on in UTF-8),
U+202E (a bidi override that reverses what follows), zero-width characters
and U+FEFF. Such an endpoint reached, as it was, ``webpush(verbose=True)``'s
and ``WebPusher``'s log lines, the ``curl=True`` command and the first line
of ``webpush-core explain``. Browsers and push services only ever produce
ASCII URLs (RFC 3986), so an endpoint is now visible ASCII only (0x21-0x7E),
in the shortcut for plain URLs and the general path alike; the refusal names
the character by its code point, never as it is. The whole table of code
points is in ``tests/unit/test_subscription.py``.
"""

from __future__ import annotations

import pytest

from webpush_core import Subscription, webpush
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import InvalidSubscription

KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(16)),
}
# C1 (NEL, CSI), NBSP, the Unicode line/paragraph separators, bidi controls
# (RLO, ALM), zero-width space/joiner, BOM.
INVISIBLE = [
    "\x85",
    "\x9b",
    "\xa0",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u061c",
    "\u200b",
    "\u200d",
    "\ufeff",
]


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["path", "query"])
def test_an_endpoint_with_invisible_or_control_text_is_refused(char: str, where: str) -> None:
    endpoint = {
        "path": f"https://push.example.com/push/a{char}b",
        "query": f"https://push.example.com/push/a?k={char}",
    }[where]
    info = {"endpoint": endpoint, "keys": KEYS}
    with pytest.raises(InvalidSubscription) as caught:
        Subscription.from_info(info)
    assert caught.value.field == "endpoint" and char not in str(caught.value)
    with pytest.raises(InvalidSubscription):
        webpush(info, "x", curl=True)  # the command would carry it to a terminal
