"""Headers from another VAPID signer (a py_vapid instance, or the application's own)
are checked like a caller's before anything is sent.

``vapid_private_key`` may be any object with ``sign(claims)``; what it
returned went on the wire as it was. PushClient's own HTTP/1.1 client writes
what it is given, so ``Authorization: WebPush abc\\r\\nX-Injected: yes`` put a
header of the signer's choosing on the wire, and a ``Content-Length: 0`` from
the signer went out before ours (105): two lengths, a request a front proxy
could read as two. The urllib3 path raised http.client's bare ValueError.
Reproduced against a raw loopback server. Now a signer's headers must be
Authorization or Crypto-Key, with values a caller's header could have, or the
send fails with a VapidError before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from servers.hostile import CREATED
from servers.loopback import Conn, Server
from webpush_core import EndpointPolicy, PushClient, webpush
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import VapidError
from webpush_core.vapid import Vapid, Vapid01

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
CLAIMS = {"sub": "mailto:ops@example.com"}
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(bytes(16)),
}


class Recorder(Server):
    """A loopback server that keeps every request's head as it came (octets) and answers 201."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__(self._keep)

    def _keep(self, conn: Conn) -> None:
        head = conn.read_head()
        if head:
            self.received.append(head)
            conn.write(CREATED)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


class Signer:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    def sign(self, claims: Any) -> dict[str, str]:
        return dict(self.headers)


BAD = {
    "crlf-webpush": {"Authorization": "WebPush abc\r\nX-Injected: yes"},
    "crlf-vapid": {"Authorization": "vapid t=abc\r\nX-Injected: yes, k=abc"},
    "lf": {"Authorization": "Bearer a\nb"},
    "nul": {"Authorization": "Bearer a\0b"},
    "non-ascii": {"Authorization": "Bearer \u00e9"},
    "crypto-key-crlf": {"Authorization": "Bearer abc", "Crypto-Key": "p256ecdsa=a\r\nX: y"},
    "content-length": {"Authorization": "Bearer abc", "Content-Length": "0"},
    "ttl": {"Authorization": "Bearer abc", "ttl": "0"},
    "host": {"Authorization": "Bearer abc", "Host": "elsewhere.example"},
    "other": {"Authorization": "Bearer abc", "X-Anything": "1"},
    "bad-name": {"Authorization": "Bearer abc", "X Bad": "1"},
}


@pytest.mark.parametrize("headers", list(BAD.values()), ids=list(BAD))
def test_a_signer_s_bad_headers_fail_before_anything_is_sent(
    recorder: Recorder, headers: dict[str, str]
) -> None:
    sub = {"endpoint": f"http://127.0.0.1:{recorder.port}/push/x", "keys": KEYS}
    signer = Signer(headers)
    with pytest.raises(VapidError, match=r"sign\(\)") as caught:
        webpush(sub, "x", signer, CLAIMS, endpoint_policy=LOCAL)  # urllib3
    assert caught.value.field == "vapid_private_key"
    with PushClient(
        signer, CLAIMS, endpoint_policy=LOCAL, helper_process=False, max_retries=0
    ) as client:
        result = client.send(sub, "x")  # PushClient's own connections
    assert isinstance(result.error, VapidError) and not result.ok
    for value in headers.values():
        assert value not in str(caught.value) and value not in str(result.error)
    assert recorder.received == []


@pytest.mark.parametrize("scheme", ["vapid", "webpush"])
def test_a_signer_s_good_headers_are_sent(recorder: Recorder, scheme: str) -> None:
    sub = {"endpoint": f"http://127.0.0.1:{recorder.port}/push/x", "keys": KEYS}
    signer = (Vapid if scheme == "vapid" else Vapid01).generate()

    class Foreign:  # not a Vapid: the foreign-signer path
        def sign(self, claims: Any) -> dict[str, str]:
            return signer.sign(claims)

    coding = "aes128gcm" if scheme == "vapid" else "aesgcm"
    webpush(sub, "x", Foreign(), CLAIMS, coding, endpoint_policy=LOCAL)
    assert len(recorder.received) == 1
    head = recorder.received[0].partition(b"\r\n\r\n")[0].decode("latin-1")
    assert head.count("\nAuthorization: ") == 1 and head.count("Content-Length") == 1
    assert signer.application_server_key in head
