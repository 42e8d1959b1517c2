"""Fan-out: ``PushClient`` sends one message to many subscriptions.

One client holds what every message shares: the parsed VAPID key (and its
token cache, so a token is signed once per push-service origin, not per
message), one pool of keep-alive connections, the endpoint policy. Each
message then costs one ephemeral key pair, one ECDH, the HKDF steps and one
AES-GCM seal, plus the POST on an already open connection.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

if TYPE_CHECKING:
    import urllib3

from . import ece
from ._endpoint import DEFAULT_POLICY, EndpointPolicy
from ._request import (
    CONTENT_ENCODINGS,
    PushRequest,
    VapidKeyLike,
    build_request,
    check_options,
    load_vapid_key,
)
from ._response import PushResponse, error_for_response
from ._transport import make_pool_manager, send_request
from .errors import (
    ExpiredSubscription,
    InvalidInput,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    WebPushException,
)

__all__ = ["PushClient", "SendResult"]

DEFAULT_TTL = 2419200  # 28 days: the longest FCM keeps a message
_BACKOFF_BASE = 0.5  # seconds before the first retry (then doubled)
_BACKOFF_CAP = 30.0  # no single wait longer than this
_RETRY_AFTER_CAP = 60.0  # a Retry-After above this is capped (and reported)


@dataclass(frozen=True)
class SendResult:
    """The outcome for one subscription. Never raised: inspect ``ok``.

    ``expired`` means the push service said 404/410: delete the subscription.
    ``error`` is the :class:`WebPushException` that explains a failure.
    """

    subscription: Any = field(repr=False)
    ok: bool
    status_code: Optional[int] = None
    expired: bool = False
    retry_after: Optional[float] = None
    attempts: int = 0
    error: Optional[WebPushException] = None
    response: Optional[PushResponse] = field(default=None, repr=False)

    @property
    def endpoint(self) -> Optional[str]:
        sub = self.subscription
        if isinstance(sub, Mapping):
            value = sub.get("endpoint")
            return value if isinstance(value, str) else None
        return getattr(sub, "endpoint", None)


def _retryable(error: WebPushException) -> bool:
    # 429, 5xx and no-answer failures may succeed later; any other 4xx won't.
    return isinstance(error, (RateLimited, ServerError, TransportError))


class PushClient:
    """Send push messages to many subscriptions over pooled connections.

    Thread-safe; use it as a context manager (or call :meth:`close`) to
    close its connections. ``concurrency`` is how many requests are in
    flight at once (and the size of each origin's connection pool).
    """

    def __init__(
        self,
        vapid_private_key: Optional[VapidKeyLike] = None,
        vapid_claims: Optional[Mapping[str, Any]] = None,
        *,
        ttl: int = DEFAULT_TTL,
        urgency: Optional[str] = "normal",
        content_encoding: str = "aes128gcm",
        timeout: float = 10.0,
        max_retries: int = 3,
        concurrency: int = 32,
        endpoint_policy: Optional[EndpointPolicy] = None,
        pool_manager: Optional[urllib3.PoolManager] = None,
        ca_certs: Optional[str] = None,
    ) -> None:
        if content_encoding not in CONTENT_ENCODINGS:
            raise InvalidRequest(
                f"content_encoding must be one of {', '.join(CONTENT_ENCODINGS)}, "
                f"got {content_encoding!r}",
                field="content_encoding",
            )
        for name, value, low in (("max_retries", max_retries, 0), ("concurrency", concurrency, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidRequest(
                    f"{name} must be an integer >= {low}, got {value!r}", field=name
                )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidRequest(f"timeout must be a number > 0, got {timeout!r}", field="timeout")
        check_options(ttl=ttl, urgency=urgency, topic=None)
        if (vapid_private_key is None) != (not vapid_claims):
            raise InvalidInput(
                "pass vapid_private_key and vapid_claims together (or neither)",
                field="vapid_private_key" if vapid_private_key is None else "vapid_claims",
            )
        self._key = load_vapid_key(vapid_private_key) if vapid_private_key is not None else None
        self._claims: Optional[dict[str, Any]] = dict(vapid_claims) if vapid_claims else None
        self.ttl = ttl
        self.urgency = urgency
        self.content_encoding = content_encoding
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.endpoint_policy = endpoint_policy or DEFAULT_POLICY
        self._own_pool = pool_manager is None
        self._pool = pool_manager or make_pool_manager(maxsize=concurrency, ca_certs=ca_certs)
        self._executor: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._sleep = time.sleep  # tests replace it to observe backoff

    def __repr__(self) -> str:
        return (
            f"PushClient(content_encoding={self.content_encoding!r}, ttl={self.ttl}, "
            f"concurrency={self.concurrency}, vapid={'yes' if self._key else 'no'})"
        )

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> PushClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker threads and close the connections this client opened."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self._own_pool:
            self._pool.clear()

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.concurrency, thread_name_prefix="webpush_core-send"
                )
            return self._executor

    # -- one message -------------------------------------------------------

    def send(
        self,
        subscription: Any,
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
    ) -> SendResult:
        """Encrypt and send to one subscription, retrying as the policy allows.

        Never raises for this subscription's failure: the result says what
        happened. Bad shared arguments (ttl, urgency, topic, data size) raise.
        """
        options = self._options(data, ttl, urgency, topic)
        return self._deliver(subscription, options)

    def _options(
        self,
        data: Union[bytes, str, None],
        ttl: Optional[int],
        urgency: Optional[str],
        topic: Optional[str],
    ) -> dict[str, Any]:
        options = {
            "data": data,
            "ttl": self.ttl if ttl is None else ttl,
            "urgency": self.urgency if urgency is None else urgency,
            "topic": topic,
        }
        check_options(ttl=options["ttl"], urgency=options["urgency"], topic=topic)
        payload = data.encode("utf-8") if isinstance(data, str) else data
        limit = ece.max_plaintext(self.content_encoding)
        if payload is not None and len(payload) > limit:
            raise PayloadTooLarge(
                f"data is {len(payload)} bytes; at most {limit} fit in one "
                f"{self.content_encoding} push message (RFC 8291 §4)",
                field="data",
            )
        options["data"] = payload
        return options

    def _deliver(self, subscription: Any, options: Mapping[str, Any]) -> SendResult:
        try:
            return self._attempt_all(subscription, options)
        except Exception as e:  # a bug must not cost the other subscriptions their results
            error = WebPushException(f"unexpected {type(e).__name__} while sending: {e}")
            error.__cause__ = e
            return SendResult(subscription, ok=False, error=error)

    def _attempt_all(self, subscription: Any, options: Mapping[str, Any]) -> SendResult:
        try:
            request = build_request(
                subscription,
                options["data"],
                self._key,
                self._claims,
                self.content_encoding,
                options["ttl"],
                options["urgency"],
                options["topic"],
                endpoint_policy=self.endpoint_policy,
            )
        except WebPushException as invalid:
            return SendResult(subscription, ok=False, error=invalid)
        attempts = 0
        while True:
            attempts += 1
            response, error = self._attempt(request)
            if error is None:
                return SendResult(
                    subscription,
                    ok=True,
                    status_code=response.status_code if response is not None else None,
                    attempts=attempts,
                    response=response,
                )
            retry_after = response.retry_after if response is not None else None
            if attempts > self.max_retries or not _retryable(error):
                return SendResult(
                    subscription,
                    ok=False,
                    status_code=response.status_code if response is not None else None,
                    expired=isinstance(error, ExpiredSubscription),
                    retry_after=retry_after,
                    attempts=attempts,
                    error=error,
                    response=response,
                )
            self._sleep(self._backoff(attempts, retry_after))

    def _attempt(
        self, request: PushRequest
    ) -> tuple[Optional[PushResponse], Optional[WebPushException]]:
        """One POST: (response, None) if accepted, else what went wrong."""
        try:
            response = send_request(
                request, pool_manager=self._pool, timeout=self.timeout, policy=self.endpoint_policy
            )
        except WebPushException as e:
            return None, e
        return response, error_for_response(response, request.url)

    @staticmethod
    def _backoff(attempt: int, retry_after: Optional[float]) -> float:
        """Exponential backoff with full jitter; a Retry-After is a floor (capped)."""
        wait_for = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2 ** (attempt - 1)))  # noqa: S311
        if retry_after is not None:
            wait_for = max(wait_for, min(retry_after, _RETRY_AFTER_CAP))
        return wait_for

    # -- many messages -----------------------------------------------------

    def send_many(
        self,
        subscriptions: Iterable[Any],
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
    ) -> Iterator[SendResult]:
        """Send ``data`` to every subscription; yield one result per subscription
        as each completes (not in input order).

        ``subscriptions`` may be any iterable, e.g. a generator over a database
        cursor: it is consumed lazily and never held whole (at most twice
        ``concurrency`` are in flight), so memory stays flat.
        """
        # Shared arguments are checked now, before the first message is sent.
        return self._fan_out(subscriptions, self._options(data, ttl, urgency, topic))

    def _fan_out(
        self, subscriptions: Iterable[Any], options: Mapping[str, Any]
    ) -> Iterator[SendResult]:
        executor = self._workers()
        window = 2 * self.concurrency
        pending: set[Future[SendResult]] = set()
        source = iter(subscriptions)
        exhausted = False
        while True:
            while not exhausted and len(pending) < window:
                try:
                    subscription = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.add(executor.submit(self._deliver, subscription, options))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    # -- asyncio -----------------------------------------------------------

    async def send_async(
        self,
        subscription: Any,
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
    ) -> SendResult:
        """:meth:`send` for asyncio callers (runs in the client's worker threads)."""
        options = self._options(data, ttl, urgency, topic)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._workers(), self._deliver, subscription, options)

    async def send_many_async(
        self,
        subscriptions: Iterable[Any],
        data: Union[bytes, str, None],
        *,
        ttl: Optional[int] = None,
        urgency: Optional[str] = None,
        topic: Optional[str] = None,
    ) -> AsyncIterator[SendResult]:
        """:meth:`send_many` for asyncio callers: ``async for result in ...``.

        The same bounded window of worker threads does the work; the event
        loop only waits for each next result.
        """
        results = self.send_many(subscriptions, data, ttl=ttl, urgency=urgency, topic=topic)
        loop = asyncio.get_running_loop()
        done = object()
        while True:
            result = await loop.run_in_executor(None, next, results, done)
            if not isinstance(result, SendResult):  # the end marker
                return
            yield result
