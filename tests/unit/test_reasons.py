"""Reasons and actions: each push service's dialect, row by row, as the service sends it.

Every row cites where its response comes from. Quotes from public issue
threads are the services' words as their users pasted them; the others are
the documented shapes (autopush's "Error Codes" page, Apple's web push
reason strings, Microsoft's WNS response codes and headers).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webpush_core import _reasons
from webpush_core._classify import error_for_response
from webpush_core._delivery.client import SendResult
from webpush_core._reasons import ACTIONS, MAX_DETAIL, REASONS, classify, clip
from webpush_core._response import PushResponse
from webpush_core.errors import (
    ExpiredSubscription,
    InvalidInput,
    PushRejected,
    PushTimeout,
    RateLimited,
    ServerError,
    TooLarge,
    TransportError,
    Unauthorized,
    VapidError,
    WebPushException,
)

ENDPOINT = "https://push.example.com/p/1"
AUTOPUSH_DOC = "autopush 'Error Codes' (mozilla-services.github.io/autopush-rs/errors.html)"
APPLE_DOC = "Apple: web push reason strings ('Sending web push notifications in web apps')"
WNS_DOC = "Microsoft: WNS 'push notification service request and response headers'"


def autopush(code: int, errno: int, error: str, message: str) -> bytes:
    return json.dumps(
        {
            "code": code,
            "errno": errno,
            "error": error,
            "more_info": "http://autopush.readthedocs.io/en/latest/http.html#error-codes",
            "message": message,
        }
    ).encode()


JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}

# (status, headers, body, reason, action, a piece of detail, source)
ROWS: list[tuple[int, dict[str, str], bytes, str, Optional[str], str, str]] = [
    # ---- Mozilla autopush ------------------------------------------------
    (
        410,
        JSON,
        autopush(410, 103, "Gone", "Request did not validate subscription expired"),
        "unsubscribed",
        "delete",
        "(errno 103)",
        AUTOPUSH_DOC + ": errno 103 expired URL endpoint",
    ),
    (
        404,
        JSON,
        autopush(404, 102, "Not Found", "Request did not validate invalid token"),
        "unsubscribed",
        "delete",
        "(errno 102)",
        AUTOPUSH_DOC + ": errno 102 invalid URL endpoint",
    ),
    (
        410,
        JSON,
        autopush(410, 105, "Gone", "Endpoint became unavailable during request"),
        "unsubscribed",
        "delete",
        "errno 105",
        AUTOPUSH_DOC + ": errno 105",
    ),
    (
        410,
        JSON,
        autopush(410, 106, "Gone", "Invalid subscription"),
        "unsubscribed",
        "delete",
        "errno 106",
        AUTOPUSH_DOC + ": errno 106",
    ),
    (
        413,
        JSON,
        autopush(413, 104, "Payload Too Large", "Data payload too large"),
        "payload-too-large",
        "fix-request",
        "Data payload too large (errno 104)",
        AUTOPUSH_DOC + ": errno 104 data payload too large",
    ),
    (
        401,
        JSON,
        autopush(401, 109, "Unauthorized", "Request did not validate missing authorization header"),
        "bad-jwt",
        "fix-credentials",
        "missing authorization header (errno 109)",
        "webpush-java #147 (Firefox's answer, quoted in the issue)",
    ),
    (
        401,
        JSON,
        autopush(
            401,
            109,
            "Unauthorized",
            "Request did not validate Invalid bearer token: Auth > 24 hours in the future",
        ),
        "jwt-expired",
        "fix-credentials",
        "Auth > 24 hours",
        "zaru/webpush #81 (updates.push.services.mozilla.com's 401 body)",
    ),
    (
        401,
        JSON,
        autopush(401, 109, "Unauthorized", "Key mismatch"),
        "vapid-key-mismatch",
        "fix-credentials",
        "errno 109",
        AUTOPUSH_DOC + ": errno 109 invalid authentication",
    ),
    (
        400,
        JSON,
        autopush(400, 110, "Bad Request", "Invalid crypto keys specified"),
        "invalid-encryption",
        "fix-request",
        "errno 110",
        AUTOPUSH_DOC + ": errno 110 invalid crypto keys specified",
    ),
    (
        400,
        JSON,
        autopush(400, 111, "Bad Request", "Missing TTL header"),
        "missing-header",
        "fix-request",
        "errno 111",
        AUTOPUSH_DOC + ": errno 111 missing required header",
    ),
    (
        400,
        JSON,
        autopush(400, 112, "Bad Request", "Invalid TTL header value"),
        "invalid-ttl",
        "fix-request",
        "errno 112",
        AUTOPUSH_DOC + ": errno 112 invalid TTL header value",
    ),
    (
        400,
        JSON,
        autopush(400, 113, "Bad Request", "Topic must be no greater than 32 characters"),
        "invalid-topic",
        "fix-request",
        "errno 113",
        AUTOPUSH_DOC + ": errno 113 invalid Topic header value",
    ),
    (
        503,
        JSON,
        autopush(503, 201, "Service Unavailable", "Please slow message send rate"),
        "service-unavailable",
        "retry",
        "errno 201",
        AUTOPUSH_DOC + ": errno 201 use exponential back-off for retries",
    ),
    (
        503,
        JSON,
        autopush(503, 202, "Service Unavailable", "Immediately retry the message"),
        "service-unavailable",
        "retry",
        "errno 202",
        AUTOPUSH_DOC + ": errno 202 immediately retry the message",
    ),
    # ---- Apple -----------------------------------------------------------
    (
        403,
        JSON,
        b'{"reason":"BadJwtToken"}',
        "bad-jwt",
        "fix-credentials",
        "BadJwtToken",
        "web-push-libs/web-push #947 (web.push.apple.com's 403 body)",
    ),
    (410, JSON, b'{"reason":"Unregistered"}', "unsubscribed", "delete", "Unregistered", APPLE_DOC),
    (
        400,
        JSON,
        b'{"reason":"VapidPkHashMismatch"}',
        "vapid-key-mismatch",
        "fix-credentials",
        "VapidPkHashMismatch",
        APPLE_DOC,
    ),
    (
        400,
        JSON,
        b'{"reason":"BadWebPushTopic"}',
        "invalid-topic",
        "fix-request",
        "BadWebPushTopic",
        APPLE_DOC,
    ),
    (
        400,
        JSON,
        b'{"reason":"BadExpirationDate"}',
        "invalid-ttl",
        "fix-request",
        "BadExpirationDate",
        APPLE_DOC,
    ),
    (
        413,
        JSON,
        b'{"reason":"PayloadTooLarge"}',
        "payload-too-large",
        "fix-request",
        "PayloadTooLarge",
        APPLE_DOC,
    ),
    (
        429,
        JSON,
        b'{"reason":"TooManyRequests"}',
        "rate-limited",
        "retry",
        "TooManyRequests",
        APPLE_DOC,
    ),
    (
        503,
        JSON,
        b'{"reason":"ServiceUnavailable"}',
        "service-unavailable",
        "retry",
        "ServiceUnavailable",
        APPLE_DOC,
    ),
    (
        500,
        JSON,
        b'{"reason":"InternalServerError"}',
        "service-error",
        "retry",
        "InternalServerError",
        APPLE_DOC,
    ),
    # ---- FCM (plain text) ------------------------------------------------
    (
        403,
        TEXT,
        b"the VAPID credentials in the authorization header do not correspond to the "
        b"credentials used to create the subscriptions.\n",
        "vapid-key-mismatch",
        "fix-credentials",
        "do not correspond to the credentials",
        "webpush-java #212 (fcm.googleapis.com's 403 body)",
    ),
    (
        403,
        TEXT,
        b"the key in the authorization header does not correspond to the sender ID used to "
        b"subscribe this user. Please ensure you are using the correct sender ID and server "
        b"Key from the Firebase console.\n",
        "vapid-key-mismatch",
        "fix-credentials",
        "sender ID",
        "web-push-libs/web-push #600 (fcm.googleapis.com's 403 body)",
    ),
    (
        403,
        TEXT,
        b"exp claim MUST NOT be more than 24 hours from the time of the request\n",
        "jwt-expired",
        "fix-credentials",
        "24 hours",
        "zaru/webpush #81 (fcm.googleapis.com's 403 body)",
    ),
    (
        401,
        TEXT,
        b"authorization header must be specified.\n",
        "bad-jwt",
        "fix-credentials",
        "authorization header must be specified",
        "web-push-php #325 (fcm.googleapis.com's 401 body)",
    ),
    # FCM's answer to an Authorization header it cannot split into t= and k=.
    (
        403,
        TEXT,
        b"authorization header had invalid format. authorization header should have the "
        b"following format: t=jwtToken; k=base64(publicApplicationServerKey)",
        "vapid-header-invalid",
        "fix-credentials",
        "had invalid format",
        "tpeczek/Lib.Net.Http.WebPush #29 (fcm.googleapis.com's 403 body, pasted in the issue)",
    ),
    (
        400,
        TEXT,
        b"authorization header had invalid format. authorization header should have the "
        b"following format: t=jwtToken; k=base64(publicApplicationServerKey)\n",
        "vapid-header-invalid",
        "fix-credentials",
        "t=jwtToken",
        "the same FCM sentence (tpeczek/Lib.Net.Http.WebPush #29) answered with a 400",
    ),
    (
        401,
        TEXT,
        b"Authorization header had invalid format.",
        "vapid-header-invalid",
        "fix-credentials",
        "invalid format",
        "its first sentence alone, capitalised (tpeczek/Lib.Net.Http.WebPush #29)",
    ),
    (
        400,
        TEXT,
        b"invalid JWT provided\n",
        "bad-jwt",
        "fix-credentials",
        "invalid JWT",
        "FCM's plain-text answer to a malformed VAPID token",
    ),
    (
        400,
        TEXT,
        b"invalid authorization header\n",
        "bad-jwt",
        "fix-credentials",
        "invalid authorization header",
        "FCM's plain-text answer to a malformed Authorization header",
    ),
    (
        410,
        TEXT,
        b"NotRegistered\n",
        "unsubscribed",
        "delete",
        "NotRegistered",
        "FCM's plain-text answer for an unsubscribed token",
    ),
    # ---- WNS (headers) ---------------------------------------------------
    (
        406,
        {"X-WNS-Error-Description": "appthrottled", "X-WNS-Status": "dropped"},
        b"",
        "rate-limited",
        "retry",
        "appthrottled",
        WNS_DOC + ": 406 Not Acceptable, the cloud service exceeded its throttle limit",
    ),
    (
        410,
        {"X-WNS-Error-Description": "The channel expired", "X-WNS-Status": "dropped"},
        b"",
        "unsubscribed",
        "delete",
        "The channel expired",
        WNS_DOC + ": 410 Gone, the channel expired",
    ),
    (
        413,
        {"X-WNS-Error-Description": "Payload exceeds 5000 bytes"},
        b"",
        "payload-too-large",
        "fix-request",
        "5000 bytes",
        WNS_DOC + ": 413 the notification payload exceeds the 5000 byte size limit",
    ),
    (
        403,
        {"X-WNS-Error-Description": "Access token does not match", "X-WNS-Msg-ID": "1"},
        b"",
        "vapid-key-mismatch",
        "fix-credentials",
        "Access token",
        WNS_DOC + ": 403 the access token does not match the app's credentials",
    ),
]


# "owner/repo #123": a public issue thread (where the service's words were pasted).
_ISSUE = re.compile(r"[\w.-]+(?:/[\w.-]+)? #\d+")
# The status a source says the words came with: "fcm...'s 403 body", "answered with a 400".
_CITED_STATUS = re.compile(r"'s (\d{3}) body|answered with a (\d{3})")


def check_source(status: int, headers: dict[str, str], body: bytes, source: str) -> None:
    """A row's source agrees with the row: it names a document, an issue thread, or the
    service whose plain answer it is; the errno or status it cites is the one the row sends."""
    if source.startswith(AUTOPUSH_DOC):
        cited = re.fullmatch(re.escape(AUTOPUSH_DOC) + r": errno (\d+)(?: .+)?", source)
        assert cited, source
        assert json.loads(body)["errno"] == int(cited.group(1)), source
    elif source.startswith(WNS_DOC):
        cited = re.fullmatch(re.escape(WNS_DOC) + r": (\d{3}) .+", source)
        assert cited and int(cited.group(1)) == status, source
        assert any(name.startswith("X-WNS-") for name in headers)
    elif source == APPLE_DOC:
        assert list(json.loads(body)) == ["reason"]  # Apple's shape: {"reason": "..."}
    elif _ISSUE.search(source):
        for match in _CITED_STATUS.finditer(source):
            assert int(match.group(1) or match.group(2)) == status, source
    else:
        assert source.startswith("FCM's plain-text answer"), source
        assert headers == TEXT


def test_each_row_names_its_source() -> None:
    # The check itself must be able to fail: a row whose source cites another errno or status.
    errno_103 = autopush(410, 103, "Gone", "expired")
    check_source(410, JSON, errno_103, AUTOPUSH_DOC + ": errno 103 expired URL endpoint")
    with pytest.raises(AssertionError):
        check_source(410, JSON, errno_103, AUTOPUSH_DOC + ": errno 102 invalid URL endpoint")
    with pytest.raises(AssertionError):
        check_source(404, {"X-WNS-Status": "dropped"}, b"", WNS_DOC + ": 410 Gone")
    with pytest.raises(AssertionError):
        check_source(401, TEXT, b"x", "zaru/webpush #81 (fcm.googleapis.com's 403 body)")
    with pytest.raises(AssertionError):
        check_source(401, TEXT, b"x", "the same sentence (a/b #1) answered with a 400")
    with pytest.raises(AssertionError):
        check_source(401, TEXT, b"x", "a forum post")


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason", "action", "detail", "source"),
    ROWS,
    ids=[f"{r[0]}-{r[3]}-{i}" for i, r in enumerate(ROWS)],
)
def test_each_dialect_row(
    status: int,
    headers: dict[str, str],
    body: bytes,
    reason: str,
    action: Optional[str],
    detail: str,
    source: str,
) -> None:
    check_source(status, headers, body, source)  # every row says where its response comes from
    response = PushResponse(status, "", headers, body, ENDPOINT)
    error = error_for_response(response, ENDPOINT)
    assert error is not None
    assert (error.reason, error.action) == (reason, action), error.detail
    assert REASONS[reason] == action
    assert detail in error.detail
    assert error.detail in error.message  # the message still carries the service's words
    # The error class follows the status, except WNS's throttle.
    if status in (404, 410):
        assert isinstance(error, ExpiredSubscription)
    if status == 406:
        assert isinstance(error, RateLimited)
    result = SendResult({"endpoint": ENDPOINT}, ok=False, error=error, status_code=status)
    assert (result.reason, result.action, result.detail) == (reason, action, error.detail)


def test_unknown_bodies_fall_back_on_the_status() -> None:
    table = {
        400: ("bad-request", "fix-request", PushRejected),
        401: ("unauthorized", "fix-credentials", Unauthorized),
        403: ("unauthorized", "fix-credentials", Unauthorized),
        404: ("unsubscribed", "delete", ExpiredSubscription),
        405: ("rejected", "fix-request", PushRejected),
        406: ("rejected", "fix-request", PushRejected),  # not WNS: a plain refusal
        410: ("unsubscribed", "delete", ExpiredSubscription),
        413: ("payload-too-large", "fix-request", TooLarge),
        429: ("rate-limited", "retry", RateLimited),
        500: ("service-error", "retry", ServerError),
        502: ("service-error", "retry", ServerError),
        503: ("service-unavailable", "retry", ServerError),
        301: ("redirected", "fix-request", PushRejected),
        204: ("unknown", "retry", PushRejected),
    }
    for body in (b"", b"<html>oops</html>", b'{"what": "ever"}', b'{"reason": "NewThing"}'):
        for status, (reason, action, cls) in table.items():
            error = error_for_response(PushResponse(status, "", {}, body), ENDPOINT)
            assert isinstance(error, cls)
            assert (error.reason, error.action) == (reason, action), (status, body)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        # A body cannot turn a refusal into "delete", nor a gone subscription into anything else.
        (400, b'{"reason":"Unregistered"}', "bad-request"),
        (403, b"NotRegistered", "unauthorized"),
        (404, b'{"reason":"BadJwtToken"}', "unsubscribed"),
        (410, autopush(410, 104, "Gone", "too large"), "unsubscribed"),
        # nor a retried status into a fix, nor a fix into "retry"
        (500, b"invalid JWT provided", "service-error"),
        (400, autopush(400, 201, "Bad Request", "slow down"), "bad-request"),
        # but within its kind, it refines
        (400, b'{"reason":"VapidPkHashMismatch"}', "vapid-key-mismatch"),
    ],
)
def test_a_body_never_contradicts_the_status(status: int, body: bytes, reason: str) -> None:
    assert classify(status, {}, body).reason == reason


def test_success_has_no_action() -> None:
    assert classify(201, {}, b"whatever") == _reasons.Classification("accepted", None, "")
    ok = SendResult({"endpoint": ENDPOINT}, ok=True, status_code=201)
    assert (ok.reason, ok.action, ok.detail) == ("accepted", None, "")


def test_error_classes_carry_defaults() -> None:
    assert (InvalidInput("x").reason, InvalidInput("x").action) == ("invalid-input", "fix-request")
    assert (VapidError("x").reason, VapidError("x").action) == ("invalid-vapid", "fix-credentials")
    assert (TransportError("x").reason, TransportError("x").action) == (
        "connection-failed",
        "retry",
    )
    assert (PushTimeout("x").reason, PushTimeout("x").action) == ("timeout", "retry")
    assert WebPushException("x").reason == "unknown"
    for cls in (ExpiredSubscription, Unauthorized, TooLarge, RateLimited, ServerError):
        assert cls("x").reason in REASONS and cls("x").action == REASONS[cls("x").reason]


def test_detail_is_clipped_cleaned_and_token_free() -> None:
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJodHRwczovL3gifQ.c2lnbmF0dXJl"
    message = f"bad token {jwt}\r\n\x1b[31mred\x00\u2028" + "x" * 5000
    body = json.dumps({"code": 401, "errno": 109, "message": message}).encode()
    error = error_for_response(PushResponse(401, "", JSON, body), ENDPOINT)
    assert error is not None
    assert jwt not in error.detail and "eyJ" not in error.message and "[token]" in error.detail
    assert not re.search(r"[\x00-\x1f\x7f\u2028]", error.detail + error.message)
    assert len(error.detail) <= MAX_DETAIL and error.detail.endswith("...")
    # WNS header values are the service's words too
    error = error_for_response(
        PushResponse(406, "", {"X-WNS-Error-Description": "throttled\r\nX-Evil: 1" + "y" * 999}),
        ENDPOINT,
    )
    assert error is not None and "\n" not in error.detail and len(error.detail) <= MAX_DETAIL


def test_parsing_is_bounded() -> None:
    # Work is capped however large or nested the body: a 1 MB body, deep JSON,
    # a text made of JWT prefixes (the redaction regex's worst case).
    bodies = [
        b"a" * 1_000_000,
        b'{"error":' * 200_000,
        b"eyJ" * 300_000,
        b'{"errno": 109, "message": "' + b"eyJa." * 200_000 + b'"}',
    ]
    for body in bodies:
        start = time.perf_counter()
        said = classify(400, JSON, body)
        assert time.perf_counter() - start < 2.0  # generous: a hang check, not a benchmark
        assert len(said.detail) <= MAX_DETAIL


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(100, 699),
    headers=st.dictionaries(
        st.sampled_from(["X-WNS-Status", "X-WNS-Error-Description", "Content-Type", "X-Other"]),
        st.text(max_size=40),
    ),
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(
            lambda d: json.dumps(d).encode(),
            st.dictionaries(
                st.sampled_from(["errno", "reason", "message", "error", "code"]),
                st.one_of(st.integers(-5, 300), st.text(max_size=30), st.booleans(), st.none()),
            ),
        ),
    ),
)
def test_classify_is_total(status: int, headers: dict[str, str], body: bytes) -> None:
    said = classify(status, headers, body)
    assert said.reason in REASONS or said.reason == "accepted"
    assert said.action in (*ACTIONS, None)
    assert len(said.detail) <= MAX_DETAIL and not re.search(r"[\x00-\x1f\x7f]", said.detail)
    if said.action == "delete":
        assert status in (404, 410)
    if status in (404, 410):
        assert said.action == "delete"


def test_clip() -> None:
    assert clip("a\tb\n\nc") == "a b c"
    assert clip("x" * 10, limit=5) == "xx..."


def _readme_reason_rows() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`[a-z-]+`", cells[2]):
            rows[cells[2].strip("`")] = cells[3].strip("`")
    return rows


def test_readme_documents_every_reason_with_its_action() -> None:
    rows = _readme_reason_rows()
    for reason, action in REASONS.items():
        assert reason in rows, f"README's reason table lacks {reason}"
        assert rows[reason] == (action or "None"), reason


# --------------------------------------------------------------------------
# Each dialect's table, over the whole table: every entry read as the service sends it

# A status of each kind of action: a body refines its status's reason only
# within its kind (delete, retry, fix).
STATUS_OF_KIND = {"delete": 410, "retry": 503, "fix-credentials": 401, "fix-request": 400}


@pytest.mark.parametrize(("errno", "reason"), sorted(_reasons._AUTOPUSH_ERRNO.items()))
def test_every_autopush_errno(errno: int, reason: str) -> None:
    action = REASONS[reason]
    assert action is not None
    body = autopush(STATUS_OF_KIND[action], errno, "Error", "as autopush says it")
    said = classify(STATUS_OF_KIND[action], JSON, body)
    assert (said.reason, said.action) == (reason, action)
    assert said.detail == f"as autopush says it (errno {errno})"


@pytest.mark.parametrize(("value", "reason"), sorted(_reasons._APPLE.items()))
def test_every_apple_reason(value: str, reason: str) -> None:
    action = REASONS[reason]
    assert action is not None
    said = classify(STATUS_OF_KIND[action], JSON, json.dumps({"reason": value}).encode())
    assert (said.reason, said.action, said.detail) == (reason, action, value)


@pytest.mark.parametrize(("needle", "reason"), _reasons._FCM_TEXT)
def test_every_fcm_sentence(needle: str, reason: str) -> None:
    action = REASONS[reason]
    assert action is not None
    # As FCM writes it (in its own case), inside a longer answer.
    text = f"Error: {needle.upper()} (see the documentation)."
    said = classify(STATUS_OF_KIND[action], TEXT, text.encode())
    assert (said.reason, said.action, said.detail) == (reason, action, text)


def test_every_reason_has_one_of_the_actions() -> None:
    for reason, action in REASONS.items():
        assert action in (*ACTIONS, None), reason
    for table in (_reasons._AUTOPUSH_ERRNO, _reasons._APPLE, dict(_reasons._FCM_TEXT)):
        assert set(table.values()) <= set(REASONS)


# What the words of a VAPID refusal mean (autopush's errno 109 message, FCM's
# and WNS's text, a JSON "message"): each phrase alone, and none.
AUTH_WORDS = [
    ("token valid for more than 24 hours", "jwt-expired"),
    ("the token expired", "jwt-expired"),
    ("public key mismatch", "vapid-key-mismatch"),
    ("the credentials do not correspond", "vapid-key-mismatch"),
    ("the key does not match", "vapid-key-mismatch"),
    ("missing bearer", "bad-jwt"),
    ("could not decode the jwt", "bad-jwt"),
    ("the authorization header is wrong", "bad-jwt"),
    ("something else entirely", None),
]


@pytest.mark.parametrize(("words", "reason"), AUTH_WORDS)
def test_the_words_of_a_vapid_refusal(words: str, reason: Optional[str]) -> None:
    # autopush's 109 covers every VAPID failure: its message says which one.
    said = classify(401, JSON, autopush(401, 109, "Unauthorized", words.upper()))
    assert said.reason == (reason or "vapid-key-mismatch")
    # A JSON body of no known dialect, at 401 and 403: its message says which.
    for status in (401, 403):
        body = json.dumps({"message": words}).encode()
        assert classify(status, JSON, body).reason == (reason or "unauthorized")
    # WNS's description, at 401.
    wns = {"X-WNS-Error-Description": words}
    assert classify(401, wns, b"").reason == (reason or "unauthorized")


def test_autopush_reads_its_message_and_error_as_one_text() -> None:
    body = json.dumps({"errno": 109, "message": "valid for at most 24", "error": "hours"}).encode()
    assert classify(401, JSON, body).reason == "jwt-expired"


def test_autopush_without_words_says_its_errno() -> None:
    assert classify(410, JSON, b'{"errno": 103}').detail == "(errno 103)"


def test_only_a_refusal_of_the_credentials_reads_the_words_as_one() -> None:
    # At 400, the same words are a bad request: neither a JSON message's nor WNS's.
    assert classify(400, JSON, b'{"message": "invalid jwt"}').reason == "bad-request"
    wns = {"X-WNS-Error-Description": "invalid jwt"}
    assert classify(400, wns, b"").reason == "bad-request"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (199, "unknown"),
        (203, "unknown"),
        (299, "unknown"),
        (300, "redirected"),
        (399, "redirected"),
        (400, "bad-request"),
        (401, "unauthorized"),
        (403, "unauthorized"),
        (404, "unsubscribed"),
        (405, "rejected"),
        (410, "unsubscribed"),
        (413, "payload-too-large"),
        (429, "rate-limited"),
        (499, "rejected"),
        (500, "service-error"),
        (503, "service-unavailable"),
        (599, "service-error"),
        (600, "unknown"),
    ],
)
def test_the_status_alone_at_each_range_and_one_past(status: int, reason: str) -> None:
    assert classify(status, {}, b"") == _reasons.Classification(reason, REASONS[reason], "", False)


@pytest.mark.parametrize(
    ("status", "accepted"), [(199, False), (200, True), (202, True), (203, False)]
)
def test_accepted_is_200_to_202(status: int, accepted: bool) -> None:
    assert (classify(status, {}, b"nothing").reason == "accepted") is accepted


# WNS: the answer is in its headers.


def test_wns_description_and_status_are_its_detail() -> None:
    headers = {"X-WNS-Error-Description": "channel expired", "X-WNS-Status": "dropped"}
    said = classify(410, headers, b"")
    assert (said.reason, said.detail) == ("unsubscribed", "channel expired; dropped")
    assert classify(410, {"X-WNS-Status": "dropped"}, b"").detail == "dropped"


def test_a_wns_406_is_a_throttle_whatever_it_says() -> None:
    for headers, detail in (
        ({"X-WNS-Msg-ID": "1234"}, "throttled"),  # nothing said: a 406 from WNS
        ({"X-WNS-Error-Description": "limit reached"}, "limit reached"),
    ):
        said = classify(406, headers, b"")
        assert (said.reason, said.action, said.detail, said.throttle) == (
            "rate-limited",
            "retry",
            detail,
            True,
        )
    # a 406 from anyone else is a refusal
    assert classify(406, {}, b"").reason == "rejected"


def test_a_wns_throttle_at_another_status_is_a_throttle() -> None:
    said = classify(400, {"X-WNS-Error-Description": "Throttle limit exceeded"}, b"")
    assert (said.reason, said.throttle) == ("rate-limited", True)


def test_wns_headers_are_read_as_wns_sends_them() -> None:
    # classify takes any mapping: the names as WNS spells them.
    assert classify(401, {"X-WNS-Error-Description": "jwt"}, b"").reason == "bad-jwt"
    assert classify(401, {"X-WNS-Status": "expired"}, b"").reason == "jwt-expired"


def test_wns_read_first_then_no_text_matching_of_the_body() -> None:
    wns = {"X-WNS-Error-Description": "token expired", "Content-Type": "text/plain"}
    said = classify(401, wns, b"invalid JWT")
    assert (said.reason, said.detail) == ("jwt-expired", "token expired")


# JSON bodies


def test_json_after_white_space_is_json() -> None:
    body = b"\r\n  " + autopush(410, 103, "Gone", "expired")
    assert classify(410, JSON, body).detail == "expired (errno 103)"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"message": "the words", "error": "Bad Request"}, "the words"),  # the message first
        ({"error": "Bad Request"}, "Bad Request"),
        (
            {"error": {"message": "Invalid", "status": "INVALID_ARGUMENT"}},
            "Invalid (INVALID_ARGUMENT)",
        ),
        ({"error": {"message": "Invalid"}}, "Invalid"),
    ],
)
def test_the_words_of_json_of_no_known_dialect(body: dict[str, object], detail: str) -> None:
    assert classify(400, JSON, json.dumps(body).encode()).detail == detail


def test_a_json_body_is_not_matched_as_text() -> None:
    said = classify(401, JSON, b'{"note": "invalid JWT"}')
    assert (said.reason, said.detail) == ("unauthorized", '{"note": "invalid JWT"}')


def test_a_body_of_another_kind_cannot_move_a_gone_subscription() -> None:
    # autopush's errno 201 means "retry"; at 404 the subscription is gone all the same.
    said = classify(404, JSON, autopush(404, 201, "Not Found", "try later"))
    assert (said.reason, said.action) == ("unsubscribed", "delete")


# Text: the Content-Type's charset


def _sample(name: str) -> str:
    for char in ("\u00e9", "\u0416", "\u4e2d", "\u0151", "\u00c4"):
        try:
            char.encode(name)
        except UnicodeEncodeError:
            continue
        return f"words {char}"
    assert name == "ascii", name
    return "words"  # (ASCII's own bytes read the same in UTF-8)


@pytest.mark.parametrize("name", sorted(_reasons._CHARSETS))
def test_every_charset_of_the_table_decodes_the_body(name: str) -> None:
    text = _sample(name)
    for spelling in (name, name.upper()):
        assert _reasons.decode_body(text.encode(name), f"text/plain; charset={spelling}") == text
        quoted = f'text/plain; CHARSET="{spelling}"'
        assert _reasons.decode_body(text.encode(name), quoted) == text


@pytest.mark.parametrize("name", ["utf-7", "punycode", "rot13", "base64", "idna", "no-such-codec"])
def test_a_charset_not_in_the_table_is_read_as_utf_8(name: str) -> None:
    body = b"+AGEAYgBj- caf\xc3\xa9"
    assert _reasons.decode_body(body, f"text/plain; charset={name}") == "+AGEAYgBj- caf\u00e9"


def test_the_charset_is_looked_for_in_the_first_200_characters() -> None:
    # A 16-bit charset's name at the end of the window: "utf-16" read, "utf-16-be" cut.
    text = "hi"
    head = "text/plain; " + "x" * (200 - len("text/plain; ") - len("charset=utf-16"))
    at = head + "charset=utf-16-be"
    assert len(at[:200]) == 200 and at[:200].endswith("charset=utf-16")
    assert _reasons.decode_body(text.encode("utf-16"), at) == text
    past = "x" + head + "charset=utf-16"  # one past: the name is cut to "utf-1"
    assert _reasons.decode_body(text.encode("utf-16"), past) != text


def test_the_body_is_decoded_with_its_charset_for_the_sentence_and_the_detail() -> None:
    utf16 = {"Content-Type": "text/plain; charset=utf-16-le"}
    said = classify(400, utf16, "invalid JWT".encode("utf-16-le"))
    assert (said.reason, said.detail) == ("bad-jwt", "invalid JWT")
    latin = {"Content-Type": "application/json; charset=latin-1"}
    assert classify(400, latin, b'{"a": "\xc3\xa9"}').detail == '{"a": "\u00c3\u00a9"}'


def test_only_the_first_1200_octets_are_read_for_the_sentence() -> None:
    # In UTF-16 1200 octets are 600 characters: the sentence ending at the last
    # of them is read, one character later it is not.
    utf16 = {"Content-Type": "text/plain; charset=utf-16-le"}
    sentence = "invalid JWT"
    at = "x" * (600 - len(sentence)) + sentence
    assert classify(400, utf16, at.encode("utf-16-le")).reason == "bad-jwt"
    past = "x" + at
    assert classify(400, utf16, past.encode("utf-16-le")).reason == "bad-request"
