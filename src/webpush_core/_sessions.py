"""pywebpush's session hooks: a caller's ``requests_session`` or ``aiohttp_session``.

pywebpush sends through a session the caller passes (``requests_session=`` in
``webpush`` and ``WebPusher``; ``aiohttp_session=`` in 2.x's ``webpush_async``
and ``WebPusher``). Both are honoured here as duck types (any object with
``.post(url, data=, headers=, timeout=)``, awaitable for the aiohttp one), so
neither library is imported. The endpoint policy still applies before the
session sees the URL; a name that does not resolve here is passed on (the
session, or its proxy, resolves it: SECURITY.md says what can and cannot be
checked then). Redirects are not followed, and a reply that did follow one is
refused. What comes back becomes a :class:`PushResponse` (always truthy).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Mapping
from concurrent.futures import Executor
from typing import Any, Optional
from urllib.parse import urlsplit

from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._request.value import PushRequest
from ._response import CaseInsensitiveDict, PushResponse
from ._wire import standin
from ._wire.proxy import admit_resolved_elsewhere
from .errors import InvalidInput, PushTimeout, TransportError

__all__ = ["MAX_BODY", "adopt_response", "check_aiohttp_session", "post_aiohttp", "post_requests"]

MAX_BODY = 65536  # octets of a session's reply body kept, as our own transports do


def _admit(policy: Optional[EndpointPolicy], url: str) -> None:
    policy = policy or DEFAULT_POLICY
    if standin.current() is not None:
        policy.check(url)  # a test's MockPushService is active: no name is looked up
        return
    admit_resolved_elsewhere(policy, url)


def post_requests(
    request: PushRequest, session: Any, *, timeout: float, policy: Optional[EndpointPolicy]
) -> PushResponse:
    """POST ``request`` with a requests-like ``session`` (blocking)."""
    _admit(policy, request.url)
    options: dict[str, Any] = {}
    if hasattr(session, "resolve_redirects"):
        # A requests.Session follows redirects by default: a 307 would re-POST
        # the message to a host the policy never checked (an SSRF bypass).
        options["allow_redirects"] = False
    reply = session.post(
        request.url, data=request.body, headers=_headers(request), timeout=timeout, **options
    )
    _refuse_followed(reply, request.url, "requests_session")
    return adopt_response(reply, request.url)


async def post_aiohttp(
    request: PushRequest,
    session: Any,
    *,
    timeout: float,
    policy: Optional[EndpointPolicy],
    executor: Executor,
) -> PushResponse:
    """POST ``request`` with an aiohttp-like ``session``; the whole exchange, the
    body included, ends by ``timeout`` (:class:`PushTimeout`)."""
    loop = asyncio.get_running_loop()
    # The policy's lookup blocks: never on the event loop.
    await loop.run_in_executor(executor, functools.partial(_admit, policy, request.url))
    try:
        return await asyncio.wait_for(_exchange(request, session, timeout), timeout)
    except asyncio.TimeoutError:
        parts = urlsplit(request.url)
        raise PushTimeout(
            f"timed out after {timeout:g} s waiting for {parts.scheme}://{parts.netloc} "
            "(aiohttp_session)",
            endpoint=request.url,
        ) from None


async def _exchange(request: PushRequest, session: Any, timeout: float) -> PushResponse:
    # aiohttp's post() is awaitable (its _RequestContextManager); redirects are
    # followed by default, so say no.
    reply = await session.post(
        request.url,
        data=request.body,
        headers=_headers(request),
        timeout=timeout,
        allow_redirects=False,
    )
    try:
        _refuse_followed(reply, request.url, "aiohttp_session")
        content, complete = await _read_body(reply)
    except BaseException:
        _close(reply)
        raise
    if complete:
        await _release(reply)
    else:
        _close(reply)  # over MAX_BODY: the rest goes with the connection
    return adopt_response(reply, request.url, content)


async def _read_body(reply: Any) -> tuple[bytes, bool]:
    """At most :data:`MAX_BODY` octets of an aiohttp reply's body; (body, complete?).

    Read from its stream in chunks (``await reply.read()`` would take all a
    hostile server sends); a stub without one gives b"".
    """
    stream = getattr(reply, "content", None)
    read = getattr(stream, "read", None)
    if not callable(read):
        return b"", True
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = read(MAX_BODY + 1 - size)
        if inspect.isawaitable(chunk):
            chunk = await chunk
        if not isinstance(chunk, (bytes, bytearray)) or not chunk:
            break  # the end (or a stub's Mock)
        chunks.append(bytes(chunk))
        size += len(chunk)
    body = b"".join(chunks)
    return body[:MAX_BODY], size <= MAX_BODY


async def _release(reply: Any) -> None:
    release = getattr(reply, "release", None)
    if callable(release):
        done = release()
        if inspect.isawaitable(done):
            await done


def _close(reply: Any) -> None:
    close = getattr(reply, "close", None)
    if callable(close):
        done = close()
        if inspect.iscoroutine(done):
            done.close()  # a stub's coroutine: nothing to wait for


def _headers(request: PushRequest) -> CaseInsensitiveDict[str]:
    # Case-insensitive, as pywebpush hands them over (code reads headers.get("ttl")).
    return CaseInsensitiveDict(request.headers)


def _refuse_followed(reply: Any, url: str, name: str) -> None:
    # requests and aiohttp list the followed redirects in .history; only a real,
    # non-empty sequence means one was followed (a stub's Mock attribute does not).
    history = getattr(reply, "history", None)
    if isinstance(history, (list, tuple)) and history:
        raise TransportError(
            f"the {name} followed a redirect from {url}; redirects from a push service "
            "must not be followed (pass a session that does not follow them)",
            endpoint=url,
        )


def adopt_response(reply: Any, url: str, content: Any = None) -> PushResponse:
    """Wrap a session's response (requests, aiohttp, or alike) as an always-truthy
    PushResponse. Leniently: a test's stub may lack any part (its absent parts
    read as empty, a status that is no number as 0)."""
    headers = getattr(reply, "headers", None)
    fields = [(str(k), str(v)) for k, v in headers.items()] if isinstance(headers, Mapping) else []
    if content is None:
        content = getattr(reply, "content", b"")
    if isinstance(content, str):
        content = content.encode("utf-8")
    status = _status(reply)
    reason = getattr(reply, "reason", "")
    return PushResponse(
        status,
        reason if isinstance(reason, str) else "",
        fields,
        bytes(content[:MAX_BODY]) if isinstance(content, (bytes, bytearray)) else b"",
        url,
    )


def _status(reply: Any) -> int:
    """requests' ``status_code`` or aiohttp's ``status``: the one that is a number
    (on a stub both exist, one of them a Mock); 0 when neither is."""
    values = [getattr(reply, name, None) for name in ("status_code", "status")]
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    for value in values:
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                pass
    return 0


def check_aiohttp_session(session: Any) -> None:
    """An ``aiohttp_session`` argument: None, or an object with ``post``."""
    if session is None:
        return
    if isinstance(session, bool):
        raise InvalidInput(
            "aiohttp_session must be an aiohttp.ClientSession (or alike), got a bool: in "
            "pywebpush 2.x's order WebPusher's third parameter is aiohttp_session and the "
            "fourth verbose; pass verbose=True by keyword",
            field="aiohttp_session",
        )
    if not callable(getattr(session, "post", None)):
        raise InvalidInput(
            "aiohttp_session must have an async post(url, data=, headers=, timeout=) "
            f"(an aiohttp.ClientSession), got {type(session).__name__}",
            field="aiohttp_session",
        )
