"""no_proxy entries with a port that is not ASCII digits match nothing, and never raise.

``_entry_matches`` took ``str.isdigit()`` for a port, then ``int()``: an
entry ``push.example:²`` (or a port of 5000 digits) raised a bare ValueError
out of every send that read the environment, whatever its endpoint.
"""

from __future__ import annotations

import pytest

from webpush_core._wire.proxy import Proxy, proxy_from_environment

URL = "https://push.example:8443/x"
ENV = {"https_proxy": "http://proxy.corp:3128"}

BAD_PORTS = ["²", "٣", "9" * 5000, "999999", "-1", "+443", "0x20fb", ""]


@pytest.mark.parametrize("port", BAD_PORTS, ids=lambda p: repr(p[:6]))
@pytest.mark.parametrize("form", ["{host}:{port}", "[{host}]:{port}"], ids=["name", "bracketed"])
def test_an_entry_with_a_bad_port_matches_nothing(port: str, form: str) -> None:
    for host in ("push.example", "::1"):
        no_proxy = form.format(host=host, port=port)
        chosen = proxy_from_environment(URL, {**ENV, "no_proxy": no_proxy})
        assert chosen == Proxy("proxy.corp", 3128), no_proxy[:40]


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("push.example:8443", True),
        ("push.example:443", False),
        ("push.example:²,push.example:8443", True),  # a bad entry does not hide a good one
        ("push.example:65535", False),
        ("[::1]:8443", False),
    ],
)
def test_good_port_entries_still_decide(no_proxy: str, bypassed: bool) -> None:
    chosen = proxy_from_environment(URL, {**ENV, "no_proxy": no_proxy})
    assert (chosen is None) is bypassed
