"""What SECURITY.md promises, tested.

* a fresh ephemeral key and salt for every message;
* TLS certificates verified by default;
* no secret (VAPID private key, subscription auth secret) in any exception,
  traceback, log line (captured at DEBUG, urllib3 included), CLI output or repr;
* key files written 0600;
* redirects from a push service never followed (an SSRF bypass of the
  EndpointPolicy), whichever way the message is sent;
* a printed curl command sends one request to the endpoint as written:
  nothing in the endpoint or a header is expanded, globbed or ends it.

Every server here listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shlex
import shutil
import socket
import stat
import subprocess
import time
import traceback
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import requests
import trustme
from cryptography.hazmat.primitives import serialization

from manual_time import use_manual_time
from servers.loopback import free_port, server_context, silent_listener
from servers.push_service import Answer, PushService
from test_send_wire import Browser
from webpush_core import (
    EndpointPolicy,
    ExpiredSubscription,
    PushClient,
    PushRejected,
    PushTimeout,
    ServerError,
    Subscription,
    TransportError,
    Unauthorized,
    VapidError,
    WebPusher,
    _cli,
    build_request,
    ece,
    webpush,
)
from webpush_core._b64 import b64url_decode, b64url_encode
from webpush_core._curl import header_arg
from webpush_core._p256 import generate_private_key
from webpush_core._wire.urllib3_pools import make_pool_manager
from webpush_core.errors import InvalidInput, InvalidRequest, InvalidSubscription
from webpush_core.testing import LocalPushService
from webpush_core.vapid import Vapid, Vapid01

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}


# --------------------------------------------------------------------------
# Fresh ephemeral key and salt per message


def _aes128gcm_key_and_salt(body: bytes) -> tuple[bytes, bytes]:
    """RFC 8188 §2.1 header: salt(16) | rs(4) | idlen(1) | keyid (the sender's key, RFC 8291 §4)."""
    idlen = body[20]
    assert idlen == 65
    return body[21 : 21 + idlen], body[:16]


def _aesgcm_key_and_salt(headers: dict[str, str]) -> tuple[bytes, bytes]:
    """draft-ietf-webpush-encryption-04: Crypto-Key dh=..., Encryption salt=..."""
    params = {}
    for header in ("Crypto-Key", "Encryption"):
        for part in headers[header].replace(",", ";").split(";"):
            name, _, value = part.strip().partition("=")
            params[name] = value
    return b64url_decode(params["dh"]), b64url_decode(params["salt"])


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_fresh_ephemeral_key_and_salt_per_message(coding: str) -> None:
    with LocalPushService() as service:
        sub = service.subscribe()
    n = 200
    keys, salts = set(), set()
    for _ in range(n):
        request = build_request(
            sub, b"same message", content_encoding=coding, ttl=60, endpoint_policy=LOCAL
        )
        if coding == "aes128gcm":
            key, salt = _aes128gcm_key_and_salt(request.body)
        else:
            key, salt = _aesgcm_key_and_salt(request.headers)
        assert len(key) == 65 and key[0] == 4 and len(salt) == 16
        keys.add(key)
        salts.add(salt)
    assert len(keys) == n and len(salts) == n
    assert b64url_decode(sub["keys"]["p256dh"]) not in keys  # ours, not the browser's


def test_fresh_key_and_salt_through_push_client(push_service: LocalPushService) -> None:
    sub = push_service.subscribe()
    with PushClient(concurrency=4, endpoint_policy=LOCAL) as client:
        results = list(client.send_many([sub] * 40, b"same message"))
    assert all(r.ok for r in results)
    messages = push_service.messages(sub)
    assert len(messages) == 40 and all(m.plaintext == b"same message" for m in messages)
    pairs = [_aes128gcm_key_and_salt(m.body) for m in messages]
    assert len({k for k, _ in pairs}) == 40 and len({s for _, s in pairs}) == 40
    assert len({m.body for m in messages}) == 40


def test_fresh_key_and_salt_through_webpusher_encode(push_service: LocalPushService) -> None:
    pusher = WebPusher(push_service.subscribe())
    encoded = [pusher.encode(b"x", "aesgcm") for _ in range(30)]
    assert len({e["crypto_key"] for e in encoded}) == 30
    assert len({e["salt"] for e in encoded}) == 30


# --------------------------------------------------------------------------
# TLS verification is on by default


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_push_service(ca: trustme.CA, name: str = "127.0.0.1") -> PushService:
    """201 to every request, over TLS with a certificate from ``ca`` for ``name``."""
    return PushService(tls=server_context(ca, name))


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[PushService]:
    with tls_push_service(ca) as server:
        yield server


def _sub_at(url: str) -> dict[str, Any]:
    with LocalPushService() as service:
        sub = service.subscribe()
    return {**sub, "endpoint": url}


def test_tls_verified_by_default(tls_server: PushService, ca: trustme.CA, tmp_path: Any) -> None:
    sub = _sub_at(f"{tls_server.url}/push/tls")
    # webpush() with the module's default pool, a PushClient, a fresh pool:
    # none of them trusts a certificate the system store does not.
    with pytest.raises(TransportError) as info:
        webpush(sub, "x", endpoint_policy=LOCAL, timeout=5)
    assert not isinstance(info.value, PushTimeout)
    assert "certificate verify failed" in info.value.message
    with PushClient(endpoint_policy=LOCAL, max_retries=0) as client:
        result = client.send(sub, "x")
    assert isinstance(result.error, TransportError) and "certificate" in result.error.message
    pool = make_pool_manager()
    with pytest.raises(TransportError, match="certificate verify failed"):
        webpush(sub, "x", endpoint_policy=LOCAL, pool_manager=pool)
    deadline = time.monotonic() + 5
    while tls_server.handshakes_failed < 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # the server notices a refused handshake a moment later
    assert tls_server.requests == [] and tls_server.handshakes_failed >= 3

    # Control: the same server is fine once its CA is trusted.
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    with PushClient(endpoint_policy=LOCAL, ca_certs=str(ca_path)) as client:
        assert client.send(sub, "x").ok
    assert len(tls_server.requests) == 1


def test_tls_hostname_checked(ca: trustme.CA, tmp_path: Any) -> None:
    with tls_push_service(ca, name="push.example.org") as server:  # trusted CA, wrong name
        ca_path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        with PushClient(endpoint_policy=LOCAL, ca_certs=str(ca_path), max_retries=0) as client:
            result = client.send(_sub_at(f"{server.url}/push/tls"), "x")
        assert isinstance(result.error, TransportError)
        assert "TLS failure" in result.error.message
        assert server.requests == []


# --------------------------------------------------------------------------
# No secret in exceptions, tracebacks, logs, CLI output or reprs

WINDOW = 16


def _windows(text: str) -> set[str]:
    return {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def _key_encodings(key: Any) -> dict[str, str]:
    """Every way a private key is written down: PEM body, DER base64, raw scalar."""
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    sec1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return {
        # The PEM body is the standard base64 of the PKCS#8 DER.
        "PEM body": "".join(line for line in pem.splitlines() if not line.startswith("-----")),
        "PKCS#8 DER base64url": b64url_encode(pkcs8),
        "SEC1 DER base64url": b64url_encode(sec1),
        "raw scalar base64url": b64url_encode(raw),
        "raw scalar base64": base64.b64encode(raw).decode(),
        "raw scalar hex": raw.hex(),
    }


class SecretScanner:
    """Collects every text a run produced and looks for the secrets in it.

    A secret matches when any 16-character window of any of its encodings
    shows up. Windows shared with another key's encodings (the fixed DER
    structure) or with the public key's encodings (public, and shown on
    purpose) are not secret and are left out.
    """

    def __init__(self, vapid: Vapid, auth: bytes) -> None:
        encodings = _key_encodings(vapid.private_key)
        public = _windows(vapid.application_server_key) | _windows(vapid.public_pem().decode())
        public |= _windows("".join(vapid.public_pem().decode().splitlines()[1:-1]))
        structure: set[str] = set()
        for _ in range(2):
            for text in _key_encodings(generate_private_key()).values():
                structure |= _windows(text)
        self.needles: dict[str, str] = {}
        for name, text in encodings.items():
            for window in _windows(text) - structure - public:
                self.needles[window] = f"VAPID private key ({name})"
        for name, text in (
            ("base64url", b64url_encode(auth)),
            ("base64", base64.b64encode(auth).decode()),
            ("hex", auth.hex()),
        ):
            for window in _windows(text):
                self.needles[window] = f"auth secret ({name})"
        assert len(self.needles) > 200
        self.texts: list[tuple[str, str]] = []

    def add(self, where: str, text: Any) -> None:
        self.texts.append((where, str(text)))

    def add_error(self, where: str, error: BaseException) -> None:
        self.add(f"{where}: str", str(error))
        self.add(f"{where}: repr", repr(error))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(error)))
        for name in ("message", "field", "endpoint"):
            if hasattr(error, name):
                self.add(f"{where}: .{name}", getattr(error, name))

    def add_object(self, where: str, obj: Any) -> None:
        self.add(f"{where}: repr", repr(obj))
        self.add(f"{where}: str", str(obj))

    def leaks(self) -> list[tuple[str, str]]:
        found = []
        for where, text in self.texts:
            for window in _windows(text) & self.needles.keys():
                found.append((where, self.needles[window]))
                break
        return found


def answer_with(status: int, headers: Optional[dict[str, str]] = None) -> Answer:
    """One fixed status (and optional extra headers) with a JSON body, to every request."""
    body = json.dumps({"code": status, "message": "fixed answer"}).encode()
    return Answer(status, {**(headers or {}), "Content-Type": "application/json"}, body)


@pytest.fixture
def answer_server() -> Iterator[Callable[..., PushService]]:
    servers: list[PushService] = []

    def start(status: int, headers: Optional[dict[str, str]] = None) -> PushService:
        servers.append(PushService(answer_with(status, headers)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _bad_key_strings(vapid: Vapid) -> list[str]:
    encodings = _key_encodings(vapid.private_key)
    raw = encodings["raw scalar base64url"]
    der = encodings["PKCS#8 DER base64url"]
    pem = vapid.private_pem().decode()
    lines = pem.splitlines()
    return [
        raw + "x",  # 33 bytes
        raw[:-2],  # 31 bytes
        raw + ".",  # a typo'd trailing period
        raw[:10] + "!" + raw[11:],  # not base64
        der[:-6],  # truncated DER
        der[:40] + ("A" if der[40] != "A" else "B") + der[41:],  # corrupted DER
        "\n".join(lines[:2] + lines[3:]),  # a PEM line missing
        pem.replace("PRIVATE KEY", "PUBLIC KEY"),
        pem.replace("PRIVATE KEY", "RSA PRIVATE KEY"),
    ]


def _bad_subscriptions(sub: dict[str, Any]) -> list[Any]:
    auth = sub["keys"]["auth"]
    raw_auth = b64url_decode(auth)
    keys = sub["keys"]
    return [
        {**sub, "keys": {**keys, "auth": auth + "AAA"}},  # 18 bytes
        {**sub, "keys": {**keys, "auth": b64url_encode(raw_auth[:15])}},
        {**sub, "keys": {**keys, "auth": auth[:5] + "*" + auth[6:]}},
        {**sub, "keys": {**keys, "auth": raw_auth}},  # bytes, not text
        {**sub, "keys": {**keys, "auth": raw_auth.hex()}},
        {**sub, "keys": {**keys, "p256dh": auth * 4}},
        {**sub, "keys": {"auth": auth}},
        {"keys": keys},
        {**sub, "endpoint": "ftp://x/" + auth},  # an attacker-made endpoint: echo is fine?
        {**sub, "keys": [auth]},
    ]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    for name in ("webpush_core", "webpush_core.testing", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_no_secret_in_errors_logs_or_reprs(
    logs: pytest.LogCaptureFixture,
    answer_server: Callable[..., PushService],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
    ca: trustme.CA,
) -> None:
    vapid = Vapid()
    key_text = _key_encodings(vapid.private_key)
    service = LocalPushService().start()
    try:
        sub = service.subscribe(vapid.application_server_key)
        scanner = SecretScanner(vapid, b64url_decode(sub["keys"]["auth"]))

        def expect_error(
            where: str, cls: type, call: Callable[..., Any], *args: Any, **kw: Any
        ) -> None:
            with pytest.raises(cls) as info:
                call(*args, **kw)
            scanner.add_error(where, info.value)

        # Deliveries that work, with every key form and both codings, verbose.
        for name, key in (
            ("raw", key_text["raw scalar base64url"]),
            ("der", key_text["PKCS#8 DER base64url"]),
            ("pem", vapid.private_pem().decode()),
            ("object", vapid),
        ):
            for coding in ("aes128gcm", "aesgcm"):
                response = webpush(
                    sub, f"hello {name}", key, CLAIMS, coding, verbose=True, endpoint_policy=LOCAL
                )
                scanner.add_object(f"response {name} {coding}", response)
        scanner.add(
            "curl command", webpush(sub, "x", vapid, CLAIMS, curl=True, endpoint_policy=LOCAL)
        )
        request = build_request(sub, b"x", vapid, CLAIMS, endpoint_policy=LOCAL)
        message = ece.encrypt_message(
            b"x", b64url_decode(sub["keys"]["p256dh"]), b64url_decode(sub["keys"]["auth"])
        )
        with PushClient(vapid.private_pem().decode(), CLAIMS, endpoint_policy=LOCAL) as client:
            results = list(client.send_many([sub, sub], "many"))
            assert all(r.ok for r in results)
            scanner.add_object("client", client)
        for obj in (
            vapid,
            Vapid01.from_pem(vapid.private_pem()),
            Vapid.from_raw_public(vapid.application_server_key),
            Subscription.from_info(sub),
            request,
            message,
            *results,
            *service.messages(sub),
            *service.requests,
            WebPusher(sub),
            service,
        ):
            scanner.add_object(type(obj).__name__, obj)

        # Bad keys, everywhere a key is taken.
        for i, bad in enumerate(_bad_key_strings(vapid)):
            expect_error(f"Vapid.from_string #{i}", VapidError, Vapid.from_string, bad)
            expect_error(
                f"webpush bad key #{i}",
                VapidError,
                webpush,
                sub,
                "x",
                bad,
                CLAIMS,
                endpoint_policy=LOCAL,
            )
            expect_error(f"PushClient bad key #{i}", VapidError, PushClient, bad, CLAIMS)
            key_file = tmp_path / f"bad{i}.pem"
            key_file.write_text(bad)
            expect_error(f"Vapid.from_file #{i}", VapidError, Vapid.from_file, key_file)

        # Bad subscriptions.
        with PushClient(vapid, CLAIMS, endpoint_policy=LOCAL) as client:
            for i, bad_sub in enumerate(_bad_subscriptions(sub)):
                expect_error(
                    f"from_info bad sub #{i}", InvalidInput, Subscription.from_info, bad_sub
                )
                expect_error(
                    f"webpush bad sub #{i}",
                    InvalidInput,
                    webpush,
                    bad_sub,
                    "x",
                    vapid,
                    CLAIMS,
                    endpoint_policy=LOCAL,
                )
                result = client.send(bad_sub, "x")
                assert isinstance(result.error, InvalidInput)
                scanner.add_error(f"client bad sub #{i}", result.error)
                scanner.add_object(f"client result bad sub #{i}", result)

        # The push service refuses: 401 (no token), 403 (another key), 410, 500, 429.
        expect_error("401", Unauthorized, webpush, sub, "x", endpoint_policy=LOCAL)
        other = service.subscribe(Vapid().application_server_key)
        expect_error("403", Unauthorized, webpush, other, "x", vapid, CLAIMS, endpoint_policy=LOCAL)
        gone = service.subscribe(vapid.application_server_key)
        service.expire(gone)
        expect_error(
            "410", ExpiredSubscription, webpush, gone, "x", vapid, CLAIMS, endpoint_policy=LOCAL
        )
        failing = answer_server(500)
        at_500 = {**sub, "endpoint": f"{failing.url}/push/x"}
        expect_error("500", ServerError, webpush, at_500, "x", vapid, CLAIMS, endpoint_policy=LOCAL)
        limited = answer_server(429, {"Retry-After": "1"})
        with PushClient(vapid, CLAIMS, endpoint_policy=LOCAL, max_retries=1) as client:
            use_manual_time(client)
            for target in (other, gone, at_500, {**sub, "endpoint": f"{limited.url}/push/y"}):
                result = client.send(target, "x")
                assert not result.ok and result.error is not None
                scanner.add_error("client refusal", result.error)
                scanner.add_object("client refusal result", result)
                scanner.add_object("client refusal response", result.response)

        # Transport failures: refused, timed out, TLS refused, name not resolved.
        refused = {**sub, "endpoint": f"http://127.0.0.1:{free_port()}/push/z"}
        expect_error(
            "refused", TransportError, webpush, refused, "x", vapid, CLAIMS, endpoint_policy=LOCAL
        )
        with silent_listener() as silent:  # accepts, never answers
            stalled = {**sub, "endpoint": f"http://{silent}/push/s"}
            expect_error(
                "timeout",
                PushTimeout,
                webpush,
                stalled,
                "x",
                vapid,
                CLAIMS,
                timeout=0.3,
                endpoint_policy=LOCAL,
            )
        with tls_push_service(ca) as tls:
            untrusted = {**sub, "endpoint": f"{tls.url}/push/tls"}
            expect_error(
                "tls", TransportError, webpush, untrusted, "x", vapid, CLAIMS, endpoint_policy=LOCAL
            )

        def no_dns(*args: Any, **kwargs: Any) -> Any:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_dns)
        public = {**sub, "endpoint": "https://push.no-such-host.example/push/a"}
        expect_error("dns", TransportError, webpush, public, "x", vapid, CLAIMS)
        monkeypatch.undo()

        # The CLI, verbose, with a good key, a bad key, a gone subscription.
        info_path, gone_path, claims_path = (
            tmp_path / n for n in ("sub.json", "gone.json", "claims.json")
        )
        info_path.write_text(json.dumps(sub))
        gone_path.write_text(json.dumps(gone))
        claims_path.write_text(json.dumps(CLAIMS))
        base = ["send", "--claims", str(claims_path), "--allow-private", "--verbose", "-m", "hi"]
        assert (
            _cli.main([*base, "--info", str(info_path), "--key", key_text["raw scalar base64url"]])
            == 0
        )
        assert (
            _cli.main(
                [*base, "--info", str(info_path), "--key", key_text["raw scalar base64url"] + "."]
            )
            == 2
        )
        assert (
            _cli.main([*base, "--info", str(gone_path), "--key", key_text["PKCS#8 DER base64url"]])
            == 1
        )
        captured = capsys.readouterr()
        scanner.add("cli stdout", captured.out)
        scanner.add("cli stderr", captured.err)
    finally:
        service.stop()

    # The logs, formatted as a handler would write them (tracebacks included).
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in logs.records:
        scanner.add(f"log {record.name}", formatter.format(record))
        scanner.add(f"log args {record.name}", repr(record.args))
    names = {record.name for record in logs.records}
    assert any(n.startswith("urllib3") for n in names), names  # DEBUG really was captured
    assert "webpush_core" in names and "webpush_core.testing" in names, names

    assert len(scanner.texts) > 300
    assert scanner.leaks() == []


def test_scanner_finds_a_leak() -> None:
    # The scan above can fail: a planted secret is found in every form.
    vapid = Vapid()
    auth = os.urandom(16)
    encodings = _key_encodings(vapid.private_key)
    for name, text in encodings.items():
        scanner = SecretScanner(vapid, auth)
        windows = sorted(_windows(text) & scanner.needles.keys())
        assert len(windows) >= 10, name  # every form of the key is looked for
        scanner.add("planted", f"error: bad key {windows[len(windows) // 2]} here")
        assert scanner.leaks(), name
    for text in (b64url_encode(auth), base64.b64encode(auth).decode(), auth.hex()):
        scanner = SecretScanner(vapid, auth)
        scanner.add("planted", f"auth={text}")
        assert scanner.leaks()
    scanner = SecretScanner(vapid, auth)
    scanner.add("public only", repr(vapid) + vapid.public_pem().decode())
    assert scanner.leaks() == []


# --------------------------------------------------------------------------
# Key files are written 0600


def _mode(path: Any) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_key_files_written_0600(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    old_umask = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        vapid = Vapid()
        path = tmp_path / "vapid.pem"
        vapid.save_key(path)
        assert _mode(path) == 0o600
        assert Vapid.from_file(path).application_server_key == vapid.application_server_key

        # Overwriting a world-readable file makes it private.
        loose = tmp_path / "loose.pem"
        loose.write_text("old")
        os.chmod(loose, 0o644)
        vapid.save_key(loose)
        assert _mode(loose) == 0o600

        vapid.save_public_key(tmp_path / "public.pem")
        assert _mode(tmp_path / "public.pem") == 0o644  # public: readable is fine

        cli_key = tmp_path / "cli.pem"
        assert _cli.main(["keygen", "--out", str(cli_key)]) == 0
        assert _mode(cli_key) == 0o600
        printed = capsys.readouterr().out
        generated = Vapid.from_file(cli_key)
        assert generated.application_server_key in printed
        scanner = SecretScanner(generated, os.urandom(16))
        scanner.add("keygen output", printed)
        assert scanner.leaks() == []
        # No temporary file left behind next to the keys.
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "cli.pem",
            "loose.pem",
            "public.pem",
            "vapid.pem",
        ]
    finally:
        os.umask(old_umask)


# --------------------------------------------------------------------------
# Redirects are never followed


REDIRECTS = [301, 302, 303, 307, 308]


@pytest.mark.parametrize("status", REDIRECTS)
def test_redirect_never_followed(answer_server: Callable[..., PushService], status: int) -> None:
    target = answer_server(201)
    redirector = answer_server(status, {"Location": f"{target.url}/internal/admin"})
    sub = _sub_at(f"{redirector.url}/push/r")

    with pytest.raises(PushRejected) as info:
        webpush(sub, "x", endpoint_policy=LOCAL)
    assert info.value.status_code == status
    assert "redirects are not followed" in info.value.message

    with PushClient(endpoint_policy=LOCAL, max_retries=3) as client:
        result = client.send(sub, "x")
    assert not result.ok and isinstance(result.error, PushRejected)
    assert result.attempts == 1  # a redirect is not retried either

    response = WebPusher(sub).send("x", endpoint_policy=LOCAL)
    assert response.status_code == status  # type: ignore[union-attr]

    # pywebpush's requests_session hook: requests would follow by itself.
    with requests.Session() as session, pytest.raises(PushRejected):
        webpush(sub, "x", requests_session=session, endpoint_policy=LOCAL)

    assert len(redirector.requests) == 4
    assert target.requests == []  # the other host never heard a thing


def test_session_that_follows_redirects_anyway_is_not_reported_delivered(
    answer_server: Callable[..., PushService],
) -> None:
    # A duck-typed session we cannot tell not to follow: if its reply shows
    # it did, the send is an error, not a success.
    target = answer_server(201)
    redirector = answer_server(307, {"Location": f"{target.url}/elsewhere"})
    sub = _sub_at(f"{redirector.url}/push/r")

    class FollowingSession:
        def __init__(self) -> None:
            self.inner = requests.Session()

        def post(self, url: str, **kwargs: Any) -> Any:
            return self.inner.post(url, **kwargs)  # follows

    with pytest.raises(TransportError, match="followed a redirect"):
        webpush(sub, "x", requests_session=FollowingSession(), endpoint_policy=LOCAL)


def test_redirect_to_a_policy_refused_host_is_not_reached(
    answer_server: Callable[..., PushService],
) -> None:
    # The endpoint passes an allow-list; the redirect points at a loopback
    # admin port the policy would refuse. Nothing reaches it.
    target = answer_server(201)
    redirector = answer_server(308, {"Location": f"{target.url}/admin"})
    policy = EndpointPolicy(allow_http=True, allow_private=True, allowed_hosts=["127.0.0.1"])
    with pytest.raises(PushRejected):
        webpush(_sub_at(f"{redirector.url}/push/a"), "x", endpoint_policy=policy)
    assert target.requests == [] and len(redirector.requests) == 1


def test_invalid_subscription_error_names_field_not_value() -> None:
    with LocalPushService() as service:
        sub = service.subscribe()
    auth = sub["keys"]["auth"]
    with pytest.raises(InvalidSubscription) as info:
        Subscription.from_info({**sub, "keys": {**sub["keys"], "auth": auth + "AAAA"}})
    assert info.value.field == "keys.auth"
    assert auth not in str(info.value) and auth not in repr(info.value)
    assert "16 bytes" in str(info.value)


# --------------------------------------------------------------------------
# A printed curl command is one request to the endpoint as written: nothing in
# the endpoint (the subscriber's choice) or a header is expanded by the shell,
# globbed by curl, or ends the command.

HOSTILE_PATHS = [
    "/push/$(touch${IFS}pwned)",
    "/push/`touch${IFS}pwned`",
    "/push/x;touch${IFS}pwned",
    "/push/x|touch${IFS}pwned",
    "/push/x&&touch${IFS}pwned",
    "/push/x>pwned",
    "/push/x[1-50]",
    "/push/{a,b,c}",
    "/push/[0-9]{x,y}",
    "/push/it's\"quoted\"",
    "/push/!!x!$",
    "/push/~root/*?q=$HOME",
    "/push/a\\b",
    "/push/-o/pwned",
]
# How a pasted command is run: by a script's shell, by POSIX sh, and typed into an
# interactive bash (history expansion on: a "!!" in double quotes would expand).
SHELLS = {
    "bash -c": lambda command: (["bash", "-c", command], None),
    "sh -c": lambda command: (["sh", "-c", command], None),
    "interactive bash": lambda command: (
        ["bash", "--norc", "--noprofile", "-i"],
        f"echo history-entry\n{command}\nexit\n",
    ),
}
needs_shells = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("curl", "bash", "sh", "base64")),
    reason="curl, bash, sh and base64 are needed to run the printed commands",
)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Any]:
    with PushService() as server:
        yield server


def _run_pasted(shell: str, command: str, cwd: Any) -> None:
    argv, stdin = SHELLS[shell](command)
    done = subprocess.run(
        argv, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


@needs_shells
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_curl_command_sends_one_request_to_the_endpoint_as_written(
    recorder: Any, tmp_path: Any, path: str, shell: str
) -> None:
    browser = Browser.new(recorder.url + path)
    command = webpush(browser.info(), "hello", curl=True, endpoint_policy=LOCAL)
    assert command.split(" | ")[-1].startswith(f"curl -vX POST {shlex.quote(browser.endpoint)} ")
    assert " --globoff " in command
    before = len(recorder.requests)
    _run_pasted(shell, command, tmp_path)
    [seen] = recorder.requests[before:]
    assert seen.path == path  # one request, to the literal path
    assert browser.decrypt(seen) == b"hello"
    assert list(tmp_path.iterdir()) == []  # nothing ran, nothing was written


# (header value, expected quoting): every character the shell still reads inside
# double quotes sends the line into single quotes; the others are inert there.
DOUBLE_QUOTE_UNSAFE = '$`"\\!'


@pytest.mark.parametrize("char", [chr(c) for c in range(0x20, 0x7F)] + ["\t"])
def test_header_quoting_for_every_printable_character(char: str) -> None:
    line = f"x-a: a{char}b"
    word = header_arg(line)
    if char in DOUBLE_QUOTE_UNSAFE:
        assert word == shlex.quote(line) and word.startswith("'")
    else:
        assert word == f'"{line}"'
    assert shlex.split(word) == [line]  # one word, the line itself


HOSTILE_VALUES = [
    "$(touch pwned)",
    "`touch pwned`",
    'say "hi"',
    "back\\slash",
    "bang!!",
    "it's; touch pwned & | > pwned",
    "~/* [x] {a,b} #not-a-comment",
    "tab\there",
]


@needs_shells
@pytest.mark.parametrize("shell", SHELLS)
def test_webpusher_as_curl_headers_arrive_as_given(
    recorder: Any, tmp_path: Any, shell: str
) -> None:
    browser = Browser.new(recorder.url + "/push/headers")
    pusher = WebPusher(browser.info())
    body = pusher.encode("hi")["body"]
    values = HOSTILE_VALUES
    if shell == "interactive bash":
        # Typed into readline (no bracketed paste), a tab is taken for completion.
        values = [v for v in values if "\t" not in v]
    headers = {f"X-H{i}": value for i, value in enumerate(values)}
    command = pusher.as_curl(browser.endpoint, body, {**headers, "Content-Encoding": "aes128gcm"})
    assert f'-H "content-length: {len(body)}"' in command
    before = len(recorder.requests)
    _run_pasted(shell, command, tmp_path)
    [seen] = recorder.requests[before:]
    for name, value in headers.items():
        assert seen.headers[name.lower()] == value
    assert browser.decrypt(seen) == b"hi"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://push.example.com/a\nb",
        "https://push.example.com/a\rb",
        "https://push.example.com/a b",
        "https://push.example.com/a\x00b",
        "-o/tmp/pwned",
        "--config=/etc/passwd",
        "file:///etc/passwd",
        "ftp://push.example.com/x",
        "",
    ],
)
def test_as_curl_refuses_an_endpoint_that_is_not_one_http_url(endpoint: str) -> None:
    with LocalPushService() as service:
        sub = service.subscribe()
    pusher = WebPusher(sub)
    with pytest.raises(InvalidSubscription) as caught:
        pusher.as_curl(endpoint, b"", {"TTL": "0"})
    assert caught.value.field == "endpoint"
    with pytest.raises(InvalidSubscription):
        webpush({**sub, "endpoint": endpoint}, "x", curl=True, endpoint_policy=LOCAL)


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"X-A": "a\nb"}, "injection"),
        ({"X-A": "a\r\nX-B: c"}, "injection"),
        ({"X-A\nB": "c"}, "token"),
        ({"X-A": "héllo"}, "ASCII"),
        ({"Content-Length": "999"}, "Content-Length"),
    ],
)
def test_as_curl_refuses_a_header_it_could_not_send(headers: dict[str, str], words: str) -> None:
    with LocalPushService() as service:
        sub = service.subscribe()
    with pytest.raises(InvalidRequest) as caught:
        WebPusher(sub).as_curl(sub["endpoint"], b"body", headers)
    assert caught.value.field == "headers" and words in caught.value.message
    # The body's own length is accepted (pywebpush's callers may pass it).
    command = WebPusher(sub).as_curl(sub["endpoint"], b"body", {"Content-Length": "4"})
    assert command.count("content-length") == 1
