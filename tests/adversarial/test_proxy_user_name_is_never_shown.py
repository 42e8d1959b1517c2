"""A proxy's credentials in a user name: masked like a password, and no control characters.

Some proxy services take an API key as the user name with an empty password
(Zyte Smart Proxy Manager documents ``http://<API KEY>:@proxy.zyte.com:8011``).
Only the password was masked, so the key itself appeared in every
``ProxyError`` (its message and ``.proxy``), the ``Proxy`` repr, log lines
and the ``curl=True`` command: ``http://<API KEY>:***@proxy...``. A user name
without a password is now masked whole (``http://***@host:port``).

The user name is shown when there is a password, so it must not carry what a
terminal or a log reader acts on: a proxy URL with controls (C0, DEL, C1,
Unicode separators or bidi overrides), raw or percent-encoded in the user
name, is refused before anything is sent, without echoing it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest

from servers.proxy import refusing_proxy
from webpush_core import EndpointPolicy, PushClient, webpush
from webpush_core._b64 import b64url_encode
from webpush_core._cli import main
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core._wire.proxy import Proxy, parse_proxy, proxy_refused
from webpush_core.errors import InvalidInput, ProxyError

API_KEY = "k3y-0f-th3-pr0xy-acc0unt"
LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
SUB = {
    "endpoint": "https://push.example:8443/push/x",
    "keys": {
        "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
        "auth": b64url_encode(bytes(range(16))),
    },
}
REFUSED = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def refusing() -> Iterator[str]:
    with refusing_proxy(REFUSED) as url:
        yield url


def with_key(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@")


# Every way a proxy URL carries an API key as its user name.
KEY_ONLY = [f"{API_KEY}:", API_KEY]


@pytest.mark.parametrize("userinfo", KEY_ONLY, ids=["empty-password", "no-password"])
def test_a_user_name_without_a_password_is_masked_whole(userinfo: str) -> None:
    proxy = parse_proxy(f"http://{userinfo}@proxy.example:8011")
    assert proxy.username == API_KEY
    # Still sent, in Proxy-Authorization (RFC 7617: user-id ":" password).
    assert proxy.headers()["Proxy-Authorization"] != ""
    assert proxy.masked == "http://***@proxy.example:8011"
    assert repr(proxy) == "Proxy('http://***@proxy.example:8011')"
    for status, invalid in ((407, False), (None, False), (None, True)):
        error = proxy_refused(proxy, SUB["endpoint"], status, "no", invalid=invalid)
        for text in (str(error), repr(error), error.proxy):
            assert API_KEY not in text


def test_a_user_name_with_a_password_is_still_shown() -> None:
    proxy = parse_proxy("http://ops:s3cret@proxy.example:3128")
    assert proxy.masked == "http://ops:***@proxy.example:3128"


@pytest.mark.parametrize("userinfo", KEY_ONLY, ids=["empty-password", "no-password"])
def test_the_key_is_in_no_proxy_error_from_either_transport(refusing: str, userinfo: str) -> None:
    url = with_key(refusing, userinfo)
    with pytest.raises(ProxyError) as caught:
        webpush(SUB, "x", endpoint_policy=LOCAL, proxy=url, timeout=5)  # urllib3
    errors: list[Any] = [caught.value]
    with PushClient(
        endpoint_policy=LOCAL, proxy=url, max_retries=0, helper_process=False, timeout=5
    ) as client:
        result = client.send(SUB, "x")  # PushClient's own connections
    errors.append(result.error)
    for error in errors:
        assert isinstance(error, ProxyError) and error.proxy_status == 407
        for text in (str(error), repr(error), error.proxy):
            assert API_KEY not in text, text


@pytest.mark.parametrize("userinfo", KEY_ONLY, ids=["empty-password", "no-password"])
def test_the_key_is_not_in_the_curl_command(userinfo: str) -> None:
    command = webpush(
        SUB, "x", endpoint_policy=LOCAL, curl=True, proxy=f"http://{userinfo}@p.corp:8011"
    )
    assert "--proxy 'http://***@p.corp:8011'" in command and API_KEY not in command


def test_the_key_is_not_on_the_cli_s_stderr(refusing: str, tmp_path: Path) -> None:
    info = tmp_path / "sub.json"
    info.write_text(json.dumps(SUB))
    err = io.StringIO()
    with redirect_stderr(err):
        status = main(
            [
                "send",
                "-i",
                str(info),
                "-m",
                "x",
                "--allow-private",
                "--timeout",
                "5",
                "--proxy",
                with_key(refusing, f"{API_KEY}:"),
            ],
            out=io.StringIO(),
        )
    assert status == 1 and "407" in err.getvalue()
    assert API_KEY not in err.getvalue()


# Characters a terminal or a log reader acts on: C0 (ESC, BEL, VT, FF), DEL,
# C1 (CSI, NEL), the Unicode line and paragraph separators, a bidi override,
# a zero-width space. Raw anywhere in the URL, and percent-encoded in the user
# name (which is shown when a password follows it).
CONTROLS = [
    "\x1b",
    "\x07",
    "\x0b",
    "\x0c",
    "\x7f",
    "\x9b",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u200b",
]


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
@pytest.mark.parametrize("where", ["user", "password", "host"])
def test_a_raw_control_anywhere_in_the_proxy_url_is_refused(char: str, where: str) -> None:
    user, password, host = "ops", "pw", "proxy.example"
    if where == "user":
        user = f"o{char}ps"
    elif where == "password":
        password = f"p{char}w"
    else:
        host = f"pro{char}xy.example"
    with pytest.raises(InvalidInput, match="control characters") as caught:
        parse_proxy(f"http://{user}:{password}@{host}:3128", "HTTPS_PROXY")
    assert caught.value.field == "HTTPS_PROXY" and char not in str(caught.value)


@pytest.mark.parametrize("char", [*CONTROLS, "\r", "\n"], ids=lambda c: f"U+{ord(c):04X}")
def test_a_percent_encoded_control_in_the_user_name_is_refused(char: str) -> None:
    encoded = "".join(f"%{b:02X}" for b in char.encode("utf-8"))
    with pytest.raises(InvalidInput, match="user name contains control characters"):
        parse_proxy(f"http://o{encoded}ps:pw@proxy.example:3128")


def test_percent_encoded_printable_user_names_still_parse() -> None:
    proxy = parse_proxy("http://al%40ice%3A%20x:pw@proxy.example:3128")
    assert (
        proxy.username == "al@ice: x" and proxy.masked == "http://al@ice: x:***@proxy.example:3128"
    )
    # A password may hold anything: it is only ever base64 in Proxy-Authorization.
    assert parse_proxy("http://ops:p%0D%0Aw@proxy.example:3128").password == "p\r\nw"


def test_proxy_repr_is_the_masked_url() -> None:
    assert repr(Proxy("p.example", 1, API_KEY, "")) == "Proxy('http://***@p.example:1')"
    assert repr(Proxy("p.example", 1, API_KEY, None)) == "Proxy('http://***@p.example:1')"
