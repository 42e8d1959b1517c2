"""An endpoint holding invisible or control characters is refused before anything shows it.

The endpoint is the subscriber's text, and it is shown: in errors, log lines,
``webpush-core send`` output and ``curl=True`` commands. A browser's
``PushSubscription.endpoint`` is a serialized URL (ASCII), so a C1 control, a
bidi override (which makes a pasted command read differently from what it
runs), a zero-width character or a line separator in one is an attack:
refused as bad input by the subscription check and by the endpoint policy.
Letters beyond ASCII stay accepted (they are percent-encoded on the wire).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from webpush_core import (
    EndpointNotAllowed,
    EndpointPolicy,
    InvalidInput,
    InvalidSubscription,
    PushClient,
    Subscription,
    webpush,
)
from webpush_core.testing import LocalPushService

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
HIDDEN = {
    "RIGHT-TO-LEFT OVERRIDE": "\u202e",
    "ARABIC LETTER MARK": "\u061c",
    "ZERO WIDTH SPACE": "\u200b",
    "ZERO WIDTH NO-BREAK SPACE": "\ufeff",
    "LINE SEPARATOR": "\u2028",
    "NEXT LINE (C1)": "\x85",
    "CONTROL SEQUENCE INTRODUCER (C1)": "\x9b",
    "TAG LATIN SMALL LETTER A": "\U000e0061",
    "SOFT HYPHEN": "\xad",
    "NO-BREAK SPACE": "\xa0",  # a space (Zs), shown as one
    "IDEOGRAPHIC SPACE": "\u3000",
}


def test_every_character_here_is_invisible_a_control_or_a_space() -> None:
    for name, char in HIDDEN.items():
        assert unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp", "Zs"}, name


@pytest.fixture(scope="module")
def sub() -> dict[str, Any]:
    with LocalPushService() as service:
        return service.subscribe()


@pytest.mark.parametrize("where", ["path", "query", "host"])
@pytest.mark.parametrize("name", sorted(HIDDEN))
def test_an_endpoint_with_a_hidden_character_is_refused_everywhere(
    sub: dict[str, Any], name: str, where: str
) -> None:
    char = HIDDEN[name]
    url = {
        "path": f"https://push.example.com/send/{char}gpj.exe",
        "query": f"https://push.example.com/send?x={char}1",
        "host": f"https://push{char}.example.com/send",
    }[where]
    info = {**sub, "endpoint": url}
    with pytest.raises(InvalidSubscription) as caught:
        Subscription.from_info(info)
    assert caught.value.field == "endpoint"
    assert char not in str(caught.value)
    with pytest.raises(EndpointNotAllowed):
        EndpointPolicy().check(url)
    with pytest.raises(EndpointNotAllowed):
        LOCAL.check(url)
    with pytest.raises(InvalidInput):  # nothing built, not even a curl command
        webpush(info, "x", curl=True, endpoint_policy=LOCAL)
    with PushClient(endpoint_policy=LOCAL, max_retries=0) as client:
        result = client.send(info, b"x")
    assert isinstance(result.error, InvalidInput) and result.attempts == 0


@pytest.mark.parametrize(
    "url", ["https://push.example.com/p\u00e4th/\u4e2d", "https://push.example.com/x?q=\u00fc"]
)
def test_letters_beyond_ascii_are_refused_with_the_fix(sub: dict[str, Any], url: str) -> None:
    # Browsers serialize endpoints as ASCII (percent-encoded path, punycoded host):
    # a letter beyond ASCII is refused too, named by its code point, with the fix.
    with pytest.raises(InvalidInput, match=r"U\+[0-9A-F]{4}.*percent-encode"):
        Subscription.from_info({**sub, "endpoint": url})
    with pytest.raises(EndpointNotAllowed, match="visible ASCII"):
        EndpointPolicy().check(url)
