"""A push service that offers only TLS 1.0 or 1.1 gets no request from PushClient's own client.

The server speaks TLS 1.1 (a control handshake proves it); PushClient's
handshake with it fails, and nothing is sent over it.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from servers.hostile import CREATED, octets
from servers.loopback import Server
from webpush_core import EndpointPolicy, PushClient
from webpush_core._b64 import b64url_encode
from webpush_core._p256 import generate_private_key, uncompressed_point
from webpush_core.errors import TransportError

LOCAL = EndpointPolicy(allow_http=True, allow_private=True)
KEYS = {
    "p256dh": b64url_encode(uncompressed_point(generate_private_key().public_key())),
    "auth": b64url_encode(os.urandom(16)),
}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 on purpose
def test_tls_older_than_1_2_is_refused(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_path = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Server(octets(CREATED), tls=context) as server:
        # Control: this server does speak TLS 1.1 to a client that allows it.
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(ca_path)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with old.wrap_socket(
                socket.create_connection(("127.0.0.1", server.port), timeout=5),
                server_hostname="127.0.0.1",
            ):
                pass
        except ssl.SSLError:
            pytest.skip("this OpenSSL cannot speak TLS 1.1 at all")
        sub = {"endpoint": f"{server.url}/push/old", "keys": KEYS}
        with PushClient(max_retries=0, endpoint_policy=LOCAL, ca_certs=ca_path) as client:
            result = client.send(sub, b"x")
        deadline = time.monotonic() + 5  # the server sees the refused handshake a moment later
        while len(server.tls_versions) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        versions = list(server.tls_versions)
    assert versions[0] in ("TLSv1", "TLSv1.1")
    assert not result.ok and isinstance(result.error, TransportError)
    assert "TLS failure" in result.error.message
    assert versions[1:] == [None] and server.requests == []
