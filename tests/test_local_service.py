"""LocalPushService (webpush_core.testing) against independent senders.

Pushes are built by oracles, not by our sender: http_ece encrypts, py_vapid
signs, plain urllib / http.client send. The service must accept, decrypt
(with our ece) and record what a correct sender sends, and refuse the rest
with the status a real push service gives (RFC 8030 §5, §7; RFC 8292 §4).
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Optional

import http_ece
import py_vapid
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from webpush_core import testing
from webpush_core.errors import VapidError
from webpush_core.testing import LocalPushService, ReceivedMessage, RecordedRequest, _core

# -- oracle-built pushes ------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


class Sender:
    """An application server: a VAPID key (py_vapid) and http_ece encryption."""

    def __init__(self) -> None:
        self.vapid = py_vapid.Vapid02()
        self.vapid.generate_keys()
        self.public_key = b64url(
            self.vapid.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )

    def claims(self, endpoint: str, **extra: Any) -> dict[str, Any]:
        origin = "/".join(endpoint.split("/")[:3])
        return {"sub": "mailto:ops@example.com", "aud": origin, **extra}

    def push(
        self,
        sub: dict[str, Any],
        data: bytes,
        *,
        coding: str = "aes128gcm",
        scheme: Optional[str] = None,
        vapid: bool = True,
        claims: Optional[dict[str, Any]] = None,
        ttl: Optional[str] = "60",
        extra: Optional[dict[str, str]] = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a push to ``sub``, as pywebpush / node web-push build it."""
        ua_public = unb64url(sub["keys"]["p256dh"])
        auth = unb64url(sub["keys"]["auth"])
        sender_key = ec.generate_private_key(ec.SECP256R1())
        headers: dict[str, str] = {"Content-Type": "application/octet-stream"}
        if ttl is not None:
            headers["TTL"] = ttl
        body = b""
        crypto_key = ""
        if data:
            headers["Content-Encoding"] = coding
            if coding == "aes128gcm":
                body = http_ece.encrypt(
                    data, private_key=sender_key, dh=ua_public, auth_secret=auth, version=coding
                )
            else:
                salt = os.urandom(16)
                body = http_ece.encrypt(
                    data,
                    salt=salt,
                    private_key=sender_key,
                    dh=ua_public,
                    auth_secret=auth,
                    version=coding,
                )
                headers["Encryption"] = f"salt={b64url(salt)}"
                crypto_key = f"dh={b64url(point(sender_key))}"
        if vapid:
            claims = claims if claims is not None else self.claims(sub["endpoint"])
            scheme = scheme or ("vapid" if coding == "aes128gcm" else "webpush")
            if scheme == "vapid":
                headers.update(self.vapid.sign(dict(claims)))
            else:
                # RFC 8292's predecessor: "WebPush <jwt>" + Crypto-Key p256ecdsa=.
                legacy = py_vapid.Vapid01(private_key=self.vapid.private_key)
                signed = legacy.sign(dict(claims), crypto_key=crypto_key or None)
                headers["Authorization"] = signed["Authorization"]
                crypto_key = signed["Crypto-Key"]
        if crypto_key:
            headers["Crypto-Key"] = crypto_key
        headers.update(extra or {})
        return headers, body


def post(
    url: str, headers: dict[str, str], body: bytes, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def sender() -> Sender:
    return Sender()


# -- success -------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
@pytest.mark.parametrize("scheme", ["vapid", "webpush"])
def test_accepts_and_decrypts_an_oracle_push(
    push_service: LocalPushService, sender: Sender, coding: str, scheme: str
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    message = "Grüße, ".encode() + os.urandom(64).hex().encode()
    headers, body = sender.push(
        sub, message, coding=coding, scheme=scheme, extra={"Urgency": "high", "Topic": "news_1"}
    )
    status, answer_headers, answer = post(sub["endpoint"], headers, body)

    assert status == 201, answer
    assert answer == b""
    assert answer_headers["Location"].startswith(f"{push_service.url}/message/")
    [received] = push_service.messages(sub)
    assert received.plaintext == message
    assert received.text == message.decode()
    assert received.encoding == coding
    assert received.ttl == 60
    assert received.urgency == "high"
    assert received.topic == "news_1"
    assert received.body == body
    assert received.endpoint == sub["endpoint"]
    assert received.headers["content-encoding"] == coding
    assert received.headers["authorization"] == headers["Authorization"]
    assert received.vapid_claims is not None
    assert received.vapid_claims["aud"] == push_service.url
    assert received.vapid_claims["sub"] == "mailto:ops@example.com"


def test_subscription_looks_like_a_browsers(push_service: LocalPushService) -> None:
    sub = push_service.subscribe()
    assert set(sub) == {"endpoint", "expirationTime", "keys"}
    assert sub["expirationTime"] is None
    assert sub["endpoint"].startswith(f"{push_service.url}/push/")
    p256dh = unb64url(sub["keys"]["p256dh"])
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)  # on the curve
    assert len(p256dh) == 65
    assert len(unb64url(sub["keys"]["auth"])) == 16
    other = push_service.subscribe()
    assert other["endpoint"] != sub["endpoint"]
    assert other["keys"] != sub["keys"]


def test_without_application_server_key_vapid_is_optional(
    push_service: LocalPushService, sender: Sender
) -> None:
    sub = push_service.subscribe()
    headers, body = sender.push(sub, b"anonymous", vapid=False)
    assert post(sub["endpoint"], headers, body)[0] == 201
    signed_headers, signed_body = sender.push(sub, b"signed")
    assert post(sub["endpoint"], signed_headers, signed_body)[0] == 201
    first, second = push_service.messages(sub)
    assert (first.plaintext, first.vapid_claims) == (b"anonymous", None)
    assert second.plaintext == b"signed"
    assert second.vapid_claims is not None


def test_push_without_payload(push_service: LocalPushService, sender: Sender) -> None:
    # RFC 8030 §5: a push message may have no payload; then no Content-Encoding is needed.
    sub = push_service.subscribe(application_server_key=sender.public_key)
    headers, body = sender.push(sub, b"")
    assert "Content-Encoding" not in headers
    assert post(sub["endpoint"], headers, body)[0] == 201
    [received] = push_service.messages(sub)
    assert (received.plaintext, received.encoding, received.body) == (b"", "", b"")


def test_status_endpoint(push_service: LocalPushService) -> None:
    for method in ("GET", "POST"):
        request = urllib.request.Request(f"{push_service.url}/status", method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200


# -- refusals -------------------------------------------------------------------


def _drop(name: str) -> Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]:
    def change(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        return {k: v for k, v in headers.items() if k.lower() != name.lower()}, body

    return change


def _set(name: str, value: str) -> Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]:
    def change(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
        return {**headers, name: value}, body

    return change


def _flip_last_byte(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body[:-1] + bytes([body[-1] ^ 1])


def _oversize(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    return headers, body + bytes(4097 - len(body))


REFUSALS = [
    ("no TTL", _drop("TTL"), 400, 111),
    ("negative TTL", _set("TTL", "-1"), 400, 112),
    ("TTL not a number", _set("TTL", "soon"), 400, 112),
    ("fractional TTL", _set("TTL", "1.5"), 400, 112),
    ("no Content-Encoding", _drop("Content-Encoding"), 400, 111),
    ("unknown coding", _set("Content-Encoding", "gzip"), 400, 110),
    ("bad Urgency", _set("Urgency", "urgent"), 400, 113),
    ("Topic of 33 chars", _set("Topic", "a" * 33), 400, 113),
    ("Topic outside base64url", _set("Topic", "no spaces"), 400, 113),
    ("body over 4096 bytes", _oversize, 413, 104),
    ("ciphertext changed", _flip_last_byte, 400, 110),
    ("no Authorization", _drop("Authorization"), 401, 109),
    ("garbage token", _set("Authorization", "vapid t=abc.def.ghi,k=xyz"), 401, 109),
    ("unknown auth scheme", _set("Authorization", "Bearer abc"), 401, 109),
]


@pytest.mark.parametrize(
    ("change", "status", "errno"),
    [pytest.param(c, s, e, id=name) for name, c, s, e in REFUSALS],
)
def test_refusals(
    push_service: LocalPushService,
    sender: Sender,
    change: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]],
    status: int,
    errno: int,
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    headers, body = change(*sender.push(sub, b"refuse me"))
    got, answer_headers, answer = post(sub["endpoint"], headers, body)
    assert got == status, answer
    error = json.loads(answer)
    assert error["code"] == status
    assert error["errno"] == errno
    assert error["error"] == http.client.responses[status]
    assert error["message"]
    assert answer_headers["Content-Type"] == "application/json"
    assert push_service.messages(sub) == []
    assert push_service.requests[-1].status == status


def test_aesgcm_missing_salt_or_dh(push_service: LocalPushService, sender: Sender) -> None:
    sub = push_service.subscribe()
    headers, body = sender.push(sub, b"x", coding="aesgcm", vapid=False)
    for name in ("Encryption", "Crypto-Key"):
        bad = {k: v for k, v in headers.items() if k != name}
        got, _, answer = post(sub["endpoint"], bad, body)
        assert got == 400
        assert json.loads(answer)["errno"] == 101
    bad_salt = {**headers, "Encryption": "salt=" + b64url(bytes(15))}
    assert post(sub["endpoint"], bad_salt, body)[0] == 400
    assert push_service.messages(sub) == []


def test_encrypted_for_someone_else(push_service: LocalPushService, sender: Sender) -> None:
    sub = push_service.subscribe()
    stranger = {**sub, "keys": {**sub["keys"], "auth": b64url(os.urandom(16))}}
    headers, body = sender.push(stranger, b"wrong auth secret", vapid=False)
    got, _, answer = post(sub["endpoint"], headers, body)
    assert got == 400
    assert "decrypt" in json.loads(answer)["message"]


@pytest.mark.parametrize("scheme", ["vapid", "webpush"])
def test_vapid_key_mismatch_is_403(
    push_service: LocalPushService, sender: Sender, scheme: str
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    impostor = Sender()
    coding = "aes128gcm" if scheme == "vapid" else "aesgcm"
    headers, body = impostor.push(sub, b"not my key", coding=coding, scheme=scheme)
    got, _, answer = post(sub["endpoint"], headers, body)
    assert got == 403, answer
    assert json.loads(answer)["errno"] == 109
    assert push_service.messages(sub) == []


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"aud": "https://push.example.net"}, id="aud-other-origin"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
        pytest.param({"exp": int(time.time()) + 3 * 86400}, id="exp-beyond-24h"),
    ],
)
def test_bad_vapid_claims_are_401(
    push_service: LocalPushService, sender: Sender, claims: dict[str, Any]
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    headers, body = sender.push(sub, b"x", claims=sender.claims(sub["endpoint"], **claims))
    got, _, answer = post(sub["endpoint"], headers, body)
    assert got == 401, answer
    assert push_service.messages(sub) == []


def test_expired_subscription_is_410(push_service: LocalPushService, sender: Sender) -> None:
    sub = push_service.subscribe()
    headers, body = sender.push(sub, b"before", vapid=False)
    assert post(sub["endpoint"], headers, body)[0] == 201
    push_service.expire(sub)
    headers, body = sender.push(sub, b"after", vapid=False)
    got, _, answer = post(sub["endpoint"], headers, body)
    assert got == 410
    assert json.loads(answer)["errno"] == 103
    assert [m.plaintext for m in push_service.messages(sub)] == [b"before"]


def test_unknown_subscription_and_paths_are_404(
    push_service: LocalPushService, sender: Sender
) -> None:
    sub = push_service.subscribe()
    headers, body = sender.push(sub, b"x", vapid=False)
    for path in ("/push/not-a-subscription", "/", "/push/", "/message/x"):
        assert post(push_service.url + path, headers, body)[0] == 404
    with pytest.raises(KeyError):
        push_service.messages(f"{push_service.url}/push/not-a-subscription")
    with pytest.raises(KeyError):
        push_service.expire({"endpoint": "https://elsewhere.example/push/x"})


def test_other_methods_are_405(push_service: LocalPushService) -> None:
    sub = push_service.subscribe()
    for method in ("GET", "PUT", "DELETE"):
        got, headers, _ = post(sub["endpoint"], {}, b"", method=method)
        assert got == 405
        assert headers["Allow"] == "POST"


def test_huge_content_length_refused_unread(push_service: LocalPushService) -> None:
    sub = push_service.subscribe()
    conn = http.client.HTTPConnection(push_service.url.split("//")[1], timeout=5)
    try:
        conn.putrequest("POST", sub["endpoint"].split(push_service.url)[1])
        conn.putheader("TTL", "0")
        conn.putheader("Content-Length", str(64 << 20))
        conn.endheaders()  # the 64 MiB never follow
        response = conn.getresponse()
        assert response.status == 413
        assert response.getheader("Connection") == "close"
        assert json.loads(response.read())["errno"] == 104
    finally:
        conn.close()
    assert push_service.requests[-1].body_length == 64 << 20


def test_invalid_application_server_key(push_service: LocalPushService) -> None:
    for bad in ("not base64!", b64url(bytes(65)), b64url(b"\x04" + bytes(64)), b64url(b"\x04")):
        with pytest.raises(VapidError) as info:
            push_service.subscribe(application_server_key=bad)
        assert info.value.field == "application_server_key"


# -- records --------------------------------------------------------------------


def test_messages_in_order_by_dict_or_endpoint(
    push_service: LocalPushService, sender: Sender
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    other = push_service.subscribe()
    texts = [f"message {i}".encode() for i in range(5)]
    for i, text in enumerate(texts):
        coding = "aesgcm" if i % 2 else "aes128gcm"
        assert post(sub["endpoint"], *sender.push(sub, text, coding=coding))[0] == 201
    assert post(other["endpoint"], *sender.push(other, b"elsewhere"))[0] == 201
    assert [m.plaintext for m in push_service.messages(sub)] == texts
    assert push_service.messages(sub["endpoint"]) == push_service.messages(sub)
    assert [m.plaintext for m in push_service.messages(other)] == [b"elsewhere"]


def test_wait_for_message_hands_out_each_once(
    push_service: LocalPushService, sender: Sender
) -> None:
    sub = push_service.subscribe()
    push = sender.push(sub, b"later", vapid=False)
    timer = threading.Timer(0.2, post, args=(sub["endpoint"], *push))
    timer.start()
    try:
        assert push_service.wait_for_message(sub, timeout=5).plaintext == b"later"
    finally:
        timer.join()
    assert post(sub["endpoint"], *sender.push(sub, b"next", vapid=False))[0] == 201
    assert push_service.wait_for_message(sub["endpoint"]).plaintext == b"next"
    with pytest.raises(TimeoutError):
        push_service.wait_for_message(sub, timeout=0.05)


def test_message_store_is_bounded(
    push_service: LocalPushService, sender: Sender, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_core, "MAX_MESSAGES", 3)
    sub = push_service.subscribe()
    for i in range(5):
        assert post(sub["endpoint"], *sender.push(sub, b"%d" % i, vapid=False))[0] == 201
    assert [m.plaintext for m in push_service.messages(sub)] == [b"2", b"3", b"4"]
    # The two dropped ones are skipped, not waited for.
    assert push_service.wait_for_message(sub, timeout=0.1).plaintext == b"2"


def test_request_log_has_headers_on_the_wire(
    push_service: LocalPushService, sender: Sender
) -> None:
    sub = push_service.subscribe(application_server_key=sender.public_key)
    headers, body = sender.push(sub, b"logged", extra={"Urgency": "low"})
    post(sub["endpoint"], headers, body)
    post(sub["endpoint"], {**headers, "TTL": "x"}, body)
    accepted, refused = push_service.requests[-2:]
    assert isinstance(accepted, RecordedRequest)
    assert (accepted.method, accepted.status, refused.status) == ("POST", 201, 400)
    assert accepted.path == sub["endpoint"][len(push_service.url) :]
    assert accepted.body_length == len(body)
    assert accepted.headers["ttl"] == "60"
    assert accepted.headers["urgency"] == "low"
    assert accepted.headers["content-type"] == "application/octet-stream"
    assert accepted.headers["authorization"].startswith("vapid t=")


def test_keep_alive_and_concurrent_pushes(push_service: LocalPushService, sender: Sender) -> None:
    sub = push_service.subscribe()
    conn = http.client.HTTPConnection(push_service.url.split("//")[1], timeout=5)
    path = sub["endpoint"][len(push_service.url) :]
    try:
        for text in (b"one", b"two"):  # one connection, two requests (HTTP/1.1)
            headers, body = sender.push(sub, text, vapid=False)
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 201
    finally:
        conn.close()

    pushes = [sender.push(sub, b"parallel %d" % i, vapid=False) for i in range(16)]
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda p=p: statuses.append(post(sub["endpoint"], *p)[0]))
        for p in pushes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 16
    received = {m.plaintext for m in push_service.messages(sub)}
    assert received == {b"one", b"two"} | {b"parallel %d" % i for i in range(16)}


def test_a_burst_of_connections_waits_in_the_listen_queue() -> None:
    """A fan-out opens its connections at once: 100 of them, made while the
    service is not accepting at all, all complete the TCP handshake (with
    socketserver's default backlog of 5, the seventh SYN was dropped)."""
    import socket

    service = LocalPushService().start()
    try:
        assert service._httpd is not None
        service._httpd.shutdown()  # the accept loop stops; the socket still listens
        host, port = service.url.split("//")[1].rsplit(":", 1)
        opened: list[socket.socket] = []
        try:
            for _ in range(100):
                opened.append(socket.create_connection((host, int(port)), timeout=2))
        finally:
            for sock in opened:
                sock.close()
        assert len(opened) == 100
    finally:
        service.stop()


# -- no secrets -------------------------------------------------------------------


def test_no_secret_in_repr_logs_or_answers(
    push_service: LocalPushService, sender: Sender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webpush_core.testing")
    sub = push_service.subscribe(application_server_key=sender.public_key)
    inbox = push_service._inbox(sub)  # the browser's secrets, to look for them
    scalar = inbox.state.private_key.private_numbers().private_value.to_bytes(32, "big")
    secrets = [
        b64url(inbox.state.auth_secret),
        inbox.state.auth_secret.hex(),
        b64url(scalar),
        scalar.hex(),
        str(int.from_bytes(scalar, "big")),
    ]
    headers, body = sender.push(sub, b"secret-free plaintext")
    assert post(sub["endpoint"], headers, body)[0] == 201
    _, _, refusal = post(sub["endpoint"], *_flip_last_byte(headers, body))

    [message] = push_service.messages(sub)
    seen = " ".join(
        [
            repr(push_service),
            repr(message),
            repr(push_service.requests),
            repr(inbox.state),
            refusal.decode(),
            caplog.text,
        ]
    )
    assert caplog.records, "the service logs requests at DEBUG"
    for secret in secrets:
        assert secret not in seen
    # The repr of a message shows sizes, not contents.
    assert "secret-free" not in repr(message)
    assert body.hex()[:16] not in repr(message)
    # Nor does the log carry the VAPID token (a bearer credential until it expires).
    assert headers["Authorization"].split("t=")[1][:40] not in caplog.text


def test_received_message_is_frozen() -> None:
    message = ReceivedMessage("http://x/push/1", b"p", "aes128gcm", 0, None, None)
    with pytest.raises(AttributeError):
        message.plaintext = b"q"  # type: ignore[misc]


def test_context_manager_and_session_fixture(push_service_session: LocalPushService) -> None:
    assert push_service_session.url.startswith("http://127.0.0.1:")
    with LocalPushService() as svc:
        url = svc.url
        assert post(f"{url}/status", {}, b"")[0] == 200
    assert "stopped" in repr(svc)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/status", timeout=2)
    assert testing.__all__ == [
        "CapturedRequest",
        "LocalPushService",
        "MockPushService",
        "ReceivedMessage",
        "RecordedRequest",
    ]


# -- node web-push as the sender ----------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize("coding", ["aes128gcm", "aesgcm"])
def test_node_web_push_is_accepted(push_service: LocalPushService, coding: str) -> None:
    from peers import node_send

    key = ec.generate_private_key(ec.SECP256R1())
    vapid = {
        "subject": "mailto:ops@example.com",
        "publicKey": b64url(point(key)),
        "privateKey": b64url(key.private_numbers().private_value.to_bytes(32, "big")),
    }
    sub = push_service.subscribe(application_server_key=vapid["publicKey"])
    answer = node_send(
        sub, b"from node", vapid=vapid, content_encoding=coding, urgency="low", topic="t1"
    )
    assert answer["status"] == 201, answer["body"]
    assert answer["headers"]["location"].startswith(f"{push_service.url}/message/")
    [received] = push_service.messages(sub)
    assert (received.plaintext, received.encoding) == (b"from node", coding)
    assert (received.urgency, received.topic, received.ttl) == ("low", "t1", 60)
    assert received.vapid_claims is not None
    assert received.vapid_claims["aud"] == push_service.url
