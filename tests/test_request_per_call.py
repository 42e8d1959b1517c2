"""What a single call (``build_request``, ``webpush``, ``WebPusher.encode``) does once,
and what it does every time.

* A VAPID key given as text (PEM, base64url DER, raw scalar) is read as a key,
  with no file-system call; only a string that is not a key is a path, whose
  file is read again once it changes.
* A call's options (everything but the data) are checked once per distinct
  options and kept, without the data, in a small bounded cache
  (``_request._plans``); a call with the same options checks only its data.
  Every bad input raises exactly what it raised before anything was kept.
* ``WebPusher.encode`` encrypts with the subscription's point as given.

No timing here: benchmarks/calls.py measures what this saves.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any, Callable

import http_ece
import pytest

from test_send_inputs import VAPID_PEM
from test_send_wire import Browser, CaptureServer, b64url
from webpush_core import (
    EndpointPolicy,
    PushRequest,
    Vapid,
    _request,
    build_request,
)
from webpush_core._request import load_vapid_key
from webpush_core.vapid import parse_authorization

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
PEM = VAPID_PEM.encode()
SIGNED = {"Authorization": "WebPush a.b.c", "Crypto-Key": "p256ecdsa=x"}  # pre-signed by the caller
CLAIMS = {"sub": "mailto:ops@example.com"}


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    """Every test starts with no key kept, and leaves none."""
    _request._key_cache.clear()
    yield
    _request._key_cache.clear()


@pytest.fixture(scope="module")
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def browsers(n: int) -> list[Browser]:
    return [Browser.new(f"https://push.example.net/push/{i}") for i in range(n)]


def decrypt(browser: Browser, request: PushRequest) -> bytes:
    out: bytes = http_ece.decrypt(
        request.body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
    )
    return out


def der_b64(vapid: Vapid) -> str:
    from cryptography.hazmat.primitives import serialization

    assert vapid.private_key is not None
    der = vapid.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return b64url(der)


def raw_b64(vapid: Vapid) -> str:
    assert vapid.private_key is not None
    return b64url(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))


# --------------------------------------------------------------------------
# VAPID keys given as text: no file-system call.


class FileSystemSpy:
    """Records every stat-like call and every open() while active."""

    NAMES = ("stat", "lstat", "access", "open", "scandir", "listdir")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, Any]] = []
        for name in self.NAMES:
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._spy(name, real))
        real_open = open
        monkeypatch.setattr("builtins.open", self._spy("builtins.open", real_open))

    def _spy(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args[:1]))
            return real(*args, **kwargs)

        return spy


KEY_TEXTS: list[tuple[str, Callable[[Vapid], str]]] = [
    ("pem", lambda v: v.private_pem().decode()),
    ("pem-with-newline-at-the-end", lambda v: v.private_pem().decode() + "\n"),
    ("der-base64url", der_b64),
    ("raw-base64url", raw_b64),
    ("raw-base64url-with-newline", lambda v: raw_b64(v) + "\n"),
]


@pytest.mark.parametrize("form", [f for _, f in KEY_TEXTS], ids=[n for n, _ in KEY_TEXTS])
def test_a_key_given_as_text_costs_no_file_system_call(
    monkeypatch: pytest.MonkeyPatch, form: Callable[[Vapid], str]
) -> None:
    vapid = Vapid.generate()
    text = form(vapid)
    browser = browsers(1)[0]
    spy = FileSystemSpy(monkeypatch)
    first = load_vapid_key(text)  # read (the cache is empty)
    again = load_vapid_key(text)  # kept
    request = build_request(browser.info(), b"hello", text, CLAIMS)  # and a whole call
    assert spy.calls == []
    assert first is again and first.application_server_key == vapid.application_server_key
    token = parse_authorization(request.headers["Authorization"])
    assert b64url(token.public_key) == vapid.application_server_key


def test_a_key_string_that_also_names_a_file_is_the_key(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given, in_the_file = Vapid.generate(), Vapid.generate()
    text = raw_b64(given)
    monkeypatch.chdir(tmp_path)
    (tmp_path / text).write_bytes(in_the_file.private_pem())
    assert load_vapid_key(text).application_server_key == given.application_server_key


@pytest.mark.parametrize("as_pathlike", [False, True], ids=["str", "PathLike"])
def test_a_key_file_is_read_and_read_again_once_changed(
    tmp_path: pathlib.Path, as_pathlike: bool
) -> None:
    path = tmp_path / "vapid_private.pem"
    first, second = Vapid.generate(), Vapid.generate()
    path.write_bytes(first.private_pem())
    given: Any = path if as_pathlike else str(path)
    loaded = load_vapid_key(given)
    assert loaded.application_server_key == first.application_server_key
    assert load_vapid_key(given) is loaded  # unchanged: kept
    stamp = path.stat().st_mtime_ns
    path.write_bytes(second.private_pem())
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))  # a later mtime, whatever the clock
    assert load_vapid_key(given).application_server_key == second.application_server_key


def test_a_pathlike_is_always_a_path(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named, in_the_file = Vapid.generate(), Vapid.generate()
    monkeypatch.chdir(tmp_path)
    (tmp_path / raw_b64(named)).write_bytes(in_the_file.private_pem())
    loaded = load_vapid_key(pathlib.Path(raw_b64(named)))
    assert loaded.application_server_key == in_the_file.application_server_key


# (what is passed, the words of the VapidError): a string that is not a key is a
# path; the error says which, and names it only when it looks like one.
NOT_KEYS: list[tuple[str, str]] = [
    ("not a key!", "not a key: expected PEM text"),
    ("notakeyatall", "not a key: 9 bytes decoded"),
    ("/nonexistent/vapid_private.pem", "no key file at '/nonexistent/vapid_private.pem'"),
    ("./missing", "no key file at './missing'"),
    ("vapid.key", "no key file at 'vapid.key'"),
    ("QUJD", "not a key: 3 bytes decoded"),
]


@pytest.mark.parametrize(("given", "words"), NOT_KEYS)
def test_a_string_that_is_not_a_key_is_a_path(given: str, words: str) -> None:
    with pytest.raises(_request.VapidError) as caught:
        load_vapid_key(given)
    assert caught.value.field == "vapid_private_key"
    assert words in caught.value.message


def test_a_mistyped_key_with_a_dot_is_not_shown() -> None:
    typo = raw_b64(Vapid.generate())
    typo = typo[:20] + "." + typo[21:]
    with pytest.raises(_request.VapidError) as caught:
        load_vapid_key(typo)
    assert "not shown" in caught.value.message and typo not in str(caught.value)
