"""Coverage-guided fuzzing (atheris / libFuzzer) of the code that reads untrusted input.

Run by hand; not part of ``make test`` (atheris ships wheels for some
Pythons and platforms only, so it is the ``fuzz`` extra, not a test one)::

    pip install -e '.[fuzz]'
    python tests/fuzz/fuzz_webpush.py decrypt -max_total_time=60
    python tests/fuzz/fuzz_webpush.py decrypt corpus_dir/ -jobs=2     # keep a corpus

Targets: ``decrypt``, ``subscription``, ``vapid_key``, ``vapid_verify``,
``retry_after``, ``response``. Each fails on any exception other than the
library's documented error for that input (and on a mutated valid body
that decrypts to something else).
``tests/adversarial/test_untrusted_input_raises_only_library_errors.py`` runs
the same properties with hypothesis on every ``make test``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Callable

import atheris

with atheris.instrument_imports():
    from webpush_core import ece, vapid
    from webpush_core._classify import error_for_response
    from webpush_core._p256 import generate_private_key, uncompressed_point
    from webpush_core._response import PushResponse, parse_retry_after
    from webpush_core._subscription import Subscription
    from webpush_core.errors import ECEError, InvalidSubscription, VapidError
    from webpush_core.vapid import Vapid

UA_KEY = generate_private_key()
UA_PUBLIC = uncompressed_point(UA_KEY.public_key())
AUTH = bytes(range(16))
SENDER = generate_private_key()
SALT = bytes(range(16, 32))
VALID = {
    version: ece.encrypt(
        b"fuzz me" * 5,
        salt=SALT,
        private_key=SENDER,
        dh=UA_PUBLIC,
        auth_secret=AUTH,
        rs=25 if version == "aes128gcm" else 23,  # several records
        version=version,
    )
    for version in ("aes128gcm", "aesgcm")
}
SIGNER = Vapid()
HEADERS = SIGNER.sign({"sub": "mailto:ops@example.com", "aud": "https://push.example.net"})
CLAIMS = vapid.parse_authorization(HEADERS["Authorization"]).claims


def _receiver_kwargs(version: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"private_key": UA_KEY, "auth_secret": AUTH, "version": version}
    if version == "aesgcm":
        kwargs.update(salt=SALT, dh=uncompressed_point(SENDER.public_key()), rs=23)
    return kwargs


def fuzz_decrypt(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    version = fdp.PickValueInList(["aes128gcm", "aesgcm"])
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        # A valid body with bytes flipped / cut: fails, or is the original.
        body = bytearray(VALID[version])
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            body[fdp.ConsumeIntInRange(0, len(body) - 1)] ^= fdp.ConsumeIntInRange(1, 255)
        del body[fdp.ConsumeIntInRange(0, len(body)) :][: fdp.ConsumeIntInRange(0, 8)]
        try:
            plaintext = ece.decrypt(bytes(body), **_receiver_kwargs(version))
        except ECEError:
            return
        assert plaintext == b"fuzz me" * 5, "a mutated body decrypted to other plaintext"
        return
    kwargs: dict[str, Any] = {"version": version}
    if mode == 1:
        kwargs.update(_receiver_kwargs(version))
        kwargs["rs"] = fdp.ConsumeIntInRange(0, 2**32)
        kwargs["salt"] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(15, 17))
        if fdp.ConsumeBool():
            kwargs["dh"] = fdp.ConsumeBytes(65)
    else:
        kwargs["key"] = fdp.ConsumeBytes(16)
        kwargs["salt"] = fdp.ConsumeBytes(16)
    with contextlib.suppress(ECEError):
        ece.decrypt(fdp.ConsumeBytes(fdp.remaining_bytes()), **kwargs)


def fuzz_subscription(data: bytes) -> None:
    try:
        info = json.loads(data)
    except (ValueError, RecursionError):
        fdp = atheris.FuzzedDataProvider(data)
        info = {
            "endpoint": fdp.ConsumeUnicodeNoSurrogates(60),
            "keys": {
                "p256dh": fdp.ConsumeUnicodeNoSurrogates(90),
                "auth": fdp.ConsumeUnicodeNoSurrogates(24),
            },
        }
    try:
        sub = Subscription.from_info(info)
    except InvalidSubscription:
        return
    assert Subscription.from_info(sub.to_info()) == sub


def fuzz_vapid_key(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    raw = fdp.ConsumeBytes(fdp.remaining_bytes())
    loaders: list[Callable[[Any], Vapid]] = [
        Vapid.from_pem,
        Vapid.from_der,
        Vapid.from_raw,
        Vapid.from_raw_public,
    ]
    for value in (raw, raw.decode("latin-1")):
        for load in [Vapid.from_string, *loaders]:
            with contextlib.suppress(VapidError):
                load(value)


def fuzz_vapid_verify(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        # The genuine header with a few characters changed.
        chars = list(HEADERS["Authorization"])
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            chars[fdp.ConsumeIntInRange(0, len(chars) - 1)] = chr(fdp.ConsumeIntInRange(32, 126))
        authorization = "".join(chars)
    else:
        authorization = fdp.ConsumeUnicodeNoSurrogates(400)
    crypto_key = fdp.ConsumeUnicodeNoSurrogates(100) if fdp.ConsumeBool() else None
    for verify in (
        lambda: vapid.parse_authorization(authorization, crypto_key).claims,
        lambda: SIGNER.verify(authorization, crypto_key),
    ):
        try:
            claims = verify()
        except VapidError:
            continue
        assert claims == CLAIMS, "a changed token verified with other claims"


def fuzz_retry_after(data: bytes) -> None:
    seconds = parse_retry_after(data.decode("latin-1"))
    assert seconds is None or seconds >= 0


def fuzz_response(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    status = fdp.ConsumeIntInRange(0, 999)
    headers = [
        (fdp.ConsumeUnicodeNoSurrogates(16), fdp.ConsumeUnicodeNoSurrogates(64))
        for _ in range(fdp.ConsumeIntInRange(0, 4))
    ]
    if fdp.ConsumeBool():
        headers.append(("Retry-After", fdp.ConsumeUnicodeNoSurrogates(40)))
    if fdp.ConsumeBool():
        headers.append(
            ("Content-Type", "text/plain; charset=" + fdp.ConsumeUnicodeNoSurrogates(12))
        )
    response = PushResponse(
        status, fdp.ConsumeUnicodeNoSurrogates(20), headers, fdp.ConsumeBytes(4096), "https://x/p"
    )
    error = error_for_response(response, response.url)
    assert (error is None) == (200 <= status <= 202)
    assert isinstance(response.text, str)
    with contextlib.suppress(ValueError):
        response.json()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decrypt": fuzz_decrypt,
    "subscription": fuzz_subscription,
    "vapid_key": fuzz_vapid_key,
    "vapid_verify": fuzz_vapid_verify,
    "retry_after": fuzz_retry_after,
    "response": fuzz_response,
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
        sys.exit(2)
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
