"""A push request as a curl command: pasted into a shell, it sends that request.

It reads like pywebpush's (``curl -vX POST <url>``, one ``-H "name: value"``
per header, lower-case names, an explicit ``content-length``), and is safe
with what a subscriber chose: the endpoint.

* The URL is quoted with :func:`shlex.quote` (a plain URL stays as it is, any
  other is single-quoted) and must be an http(s) URL without whitespace or
  control characters: the shell reads it as one word, curl never as an option.
* ``--globoff``: curl sends the URL as it is, never expands ``[1-50]`` or
  ``{a,b}`` in it into many requests.
* Each header line passes the check every request's headers pass (no CR, LF
  or NUL; visible ASCII) and is double-quoted unless it holds a character the
  shell still reads inside double quotes (``$``, a backquote, ``"``, ``\\``,
  ``!`` for history): then it is single-quoted. (A tab, which a header may
  hold, stays a tab: a shell reading a paste without bracketed paste may take
  it for completion.)
* The body travels inside the command as base64 (no side file is written).
"""

from __future__ import annotations

import base64
import shlex
from typing import Optional

from ._request.headers import check_header
from ._request.value import PushRequest
from ._subscription import _check_endpoint
from ._wire.proxy import Proxy, ProxyArg
from .errors import InvalidRequest

__all__ = ["as_curl"]

# What bash and zsh still expand or end inside "...": parameter and command
# substitution, the quote itself, the escape, and history expansion.
_DOUBLE_QUOTE_UNSAFE = frozenset('$`"\\!')


def header_arg(line: str) -> str:
    """One ``name: value`` line as a shell word: double-quoted when that is inert."""
    if _DOUBLE_QUOTE_UNSAFE.isdisjoint(line):
        return f'"{line}"'
    return shlex.quote(line)


def as_curl(
    request: PushRequest, *, timeout: Optional[float] = None, proxy: ProxyArg = None
) -> str:
    """A shell command that sends ``request`` with curl: paste it and it runs.

    Note that it carries the VAPID token: treat it as a credential. An
    explicit ``proxy`` URL appears as ``--proxy`` with its password masked
    (``***``: put it back by hand); ``proxy=False`` gives ``--noproxy '*'``;
    with None curl reads the same proxy environment variables itself.
    Raises :class:`InvalidRequest` (or ``InvalidSubscription`` for the URL)
    for what could not be sent as it is.
    """
    _check_endpoint(request.url)  # an http(s) URL: no whitespace, never an option
    parts = ["curl", "-vX", "POST", shlex.quote(request.url), "--globoff"]
    parts += ["--silent", "--show-error", "--include"]
    if timeout is not None:
        parts += ["--max-time", f"{timeout:g}"]
    if proxy is False:
        parts += ["--noproxy", shlex.quote("*")]
    elif isinstance(proxy, Proxy):
        parts += ["--proxy", shlex.quote(proxy.masked)]
    length = str(len(request.body))
    for raw_name, raw_value in request.headers.items():
        name, value = check_header(raw_name, raw_value)
        if name.lower() == "content-length":
            if value.strip() != length:
                raise InvalidRequest(
                    f"header 'Content-Length' is {value!r}, but the body is {length} bytes: "
                    "drop the header (it is computed)",
                    field="headers",
                )
            continue
        parts += ["-H", header_arg(f"{name.lower()}: {value}")]
    parts += ["-H", header_arg(f"content-length: {length}")]
    if not request.body:
        return " ".join(parts)
    parts += ["--data-binary", "@-"]
    encoded = base64.b64encode(request.body).decode("ascii")
    # `base64 -d` reads it back on both GNU coreutils and macOS.
    return f"printf %s {shlex.quote(encoded)} | base64 -d | {' '.join(parts)}"
