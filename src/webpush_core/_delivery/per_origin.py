"""What one call decides per origin, decided once per origin (:class:`PerOrigin`).

A fan-out's messages mostly go to a handful of push services, and two
answers depend only on the endpoint's origin: the forward proxy (the
environment's ``*_proxy`` / ``no_proxy``, or the client's ``proxy=``) and
the VAPID headers. Each is worked out on the first message to an origin and
reused for the rest of that call. A call makes its own :class:`PerOrigin`,
so an environment changed between calls is seen by the next call; within one
call every message to an origin gets the same answer. (The endpoint policy
remembers its own verdict per authority: :meth:`EndpointPolicy.check`.)

Keys are the URL's text up to the end of its authority (``scheme://host:port``
as written, :func:`._origin.authority_prefix`).
"""

from __future__ import annotations

import time

from .._endpoint import EndpointPolicy
from .._origin import authority_prefix
from .._request.plan import MessagePlan
from .._wire.proxy import Proxy, ProxyArg, select_proxy

__all__ = ["PerOrigin"]

# Distinct authorities kept per call: a fan-out over more origins than this
# starts again (each decision is then made again, never a wrong one).
_KEPT = 4096
# VAPID headers are reused this long (the plan renews its tokens after a minute:
# a long fan-out never sends a token near its exp).
_HEADERS_FOR = 30.0


class PerOrigin:
    """One call's per-origin decisions: proxy, VAPID headers; and its policy.

    Not shared between calls; used from the thread that reads the call's
    subscriptions and from the event loop (a retry's proxy): each lookup is
    one dict operation, and a decision made twice by a race is the same one.
    """

    __slots__ = ("_headers", "_proxies", "policy", "proxy_arg")

    def __init__(self, policy: EndpointPolicy, proxy_arg: ProxyArg) -> None:
        self.policy = policy
        self.proxy_arg = proxy_arg
        self._proxies: dict[str, ProxyArg] = {}
        self._headers: dict[str, tuple[dict[str, str], list[str], float]] = {}

    def proxy(self, url: str) -> ProxyArg:
        """The proxy for ``url`` as the transport's ``proxy=`` argument: a
        :class:`Proxy`, or False for none. Where the choice raises (a malformed
        proxy variable), the client's own argument, so the transport reports it."""
        if self.proxy_arg is False or isinstance(self.proxy_arg, Proxy):
            return self.proxy_arg
        prefix = authority_prefix(url)
        if prefix is None:
            return self.proxy_arg
        chosen = self._proxies.get(prefix)
        if chosen is not None:
            return chosen
        try:
            via = select_proxy(url, self.proxy_arg)
        except Exception:  # the transport raises it, as without this memo
            return self.proxy_arg
        chosen = via if via is not None else False
        if len(self._proxies) >= _KEPT:
            self._proxies.clear()
        self._proxies[prefix] = chosen
        return chosen

    def headers_for(self, plan: MessagePlan, origin: str) -> tuple[dict[str, str], list[str]]:
        """:meth:`MessagePlan.headers_for` (new copies each time: finish completes
        them), worked out once per origin (again after :data:`_HEADERS_FOR`
        seconds); an error is raised each time, never remembered."""
        now = time.monotonic()
        hit = self._headers.get(origin)
        if hit is None or now >= hit[2]:
            out, crypto_key = plan.headers_for(origin)
            if len(self._headers) >= _KEPT:
                self._headers.clear()
            hit = self._headers[origin] = (out, crypto_key, now + _HEADERS_FOR)
        return hit[0].copy(), list(hit[1])
