"""What callers pass as ``vapid_private_key``, loaded once into a signer."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional, Union

from .._b64 import b64url_decode
from ..errors import VapidError
from ..vapid import Vapid

__all__ = ["VapidKeyLike", "load_vapid_key", "loaded_from_text", "vapid_signer"]

VapidKeyLike = Union[Vapid, str, "os.PathLike[str]", Any]

# --------------------------------------------------------------------------
# VAPID keys: parsed once, reused (a key string passed on every call costs one
# dict lookup and no file-system call, and the Vapid object's token cache keeps
# working). Key text is cached under (text, 0), a key file under (path, mtime).

_KEY_CACHE_SIZE = 64
_key_cache: OrderedDict[tuple[str, int], Vapid] = OrderedDict()
_key_lock = threading.Lock()
_KEY_TEXT = 0  # the "modification time" of a key given as text


def _may_be_key(text: str) -> bool:
    """Whether ``text`` decodes like a key (a 32-byte scalar or DER): never echo it."""
    try:
        raw = b64url_decode(text)
    except ValueError:
        return False
    return len(raw) == 32 or raw[:1] == b"\x30"


def _cached_key(cache_key: tuple[str, int]) -> Optional[Vapid]:
    with _key_lock:
        found = _key_cache.get(cache_key)
        if found is not None:
            _key_cache.move_to_end(cache_key)
        return found


def _cache_key_of(cache_key: tuple[str, int], vapid: Vapid) -> Vapid:
    with _key_lock:
        _key_cache[cache_key] = vapid
        while len(_key_cache) > _KEY_CACHE_SIZE:
            _key_cache.popitem(last=False)
    return vapid


def load_vapid_key(key: VapidKeyLike) -> Any:
    """Turn what callers pass as ``vapid_private_key`` into a signer.

    Accepts a :class:`~webpush_core.vapid.Vapid`, any object with a
    ``sign(claims)`` method (a py_vapid instance), a key string (PEM,
    base64url DER, raw base64url scalar), or a path to a key file: a
    ``PathLike``, or a string that is not a key. A key string is read as a
    key with no file-system call; a key file is read again once it changes.
    """
    if isinstance(key, Vapid) or (not isinstance(key, (str, os.PathLike)) and hasattr(key, "sign")):
        return key
    given_a_path = isinstance(key, os.PathLike)
    if given_a_path:
        key = os.fspath(key)
    if not isinstance(key, str) or not key.strip():
        raise VapidError(
            "vapid_private_key must be a Vapid instance, a key file path or a key string",
            field="vapid_private_key",
        )
    not_a_key: Optional[VapidError] = None
    if not given_a_path:
        found = _cached_key((key, _KEY_TEXT))
        if found is not None:
            return found
        try:
            return _cache_key_of((key, _KEY_TEXT), Vapid.from_string(key))
        except VapidError as exc:
            not_a_key = exc  # raised below unless the string names a key file
    # Not a key: a path. A changed file is re-read (the cache key has its mtime).
    is_file = "\n" not in key and len(key) < 4096 and os.path.isfile(key)
    # No key string (PEM, base64, base64url) contains a ".": with one, or
    # given as a PathLike, it is a path whose file is missing. Saying so beats
    # "not a key". It is named only when it looks like a path: a key with a
    # stray "." (a copy-paste slip) must not end up in an error or a log.
    if not is_file and (given_a_path or ("\n" not in key and "." in key)):
        _, dot, ext = os.path.basename(key).rpartition(".")
        if given_a_path or (
            (key.startswith(("./", "../", "~")) or (dot and ext.isalnum() and len(ext) <= 5))
            and not _may_be_key(key.replace(".", ""))
        ):
            where = f"at {key!r}"
        else:
            where = "at the given path (not shown: it may be a mistyped key string)"
        raise VapidError(f"vapid_private_key: no key file {where}", field="vapid_private_key")
    if not is_file and not_a_key is not None:
        raise not_a_key  # (a PathLike that is no file was refused above)
    cache_key = (key, os.stat(key).st_mtime_ns)
    found = _cached_key(cache_key)
    if found is not None:
        return found
    return _cache_key_of(cache_key, Vapid.from_file(key))


def loaded_from_text(key: Any, signer: Any) -> bool:
    """Whether ``signer`` is ``key`` read as key text (not as a file)."""
    return isinstance(key, str) and _cached_key((key, _KEY_TEXT)) is signer


def vapid_signer(
    key: Optional[VapidKeyLike], claims: Optional[Mapping[str, Any]]
) -> tuple[Any, Optional[dict[str, Any]]]:
    """The loaded signer and a copy of the claims, or (None, None) without VAPID."""
    if key is None and not claims:
        return None, None
    if key is None:
        raise VapidError(
            "vapid_claims were given without vapid_private_key", field="vapid_private_key"
        )
    if not claims:
        raise VapidError(
            "vapid_claims are required with vapid_private_key: at least "
            '{"sub": "mailto:you@example.com"}',
            field="vapid_claims",
        )
    if not isinstance(claims, Mapping):
        raise VapidError("vapid_claims must be a dict", field="vapid_claims")
    # A copy: the caller's dict is reused for the next endpoint (pywebpush
    # writes aud into it, leaking one push service's audience into the next).
    return load_vapid_key(key), dict(claims)
