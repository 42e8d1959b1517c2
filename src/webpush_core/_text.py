"""Text another party wrote, made safe to show: the one function every display of it calls.

A push service's reason phrase and error body, a proxy's answer to CONNECT,
a TLS peer's certificate names, a request path in the local test service: all
of it can reach a log line, an exception message or a terminal. Written by
someone else, it may carry terminal escapes (``ESC ]0;...BEL``, ``ESC [2J``,
OSC 52 clipboard writes), line breaks that forge a second log record, or
invisible characters that make a line read differently from what it holds
(bidi marks such as U+202E and U+061C, zero-width characters, U+FEFF, the
deprecated format characters U+206A-206F, tag characters U+E0000-E007F).

:func:`clean` removes every character of the Unicode general categories
``Cc`` (C0 and C1 controls, DEL), ``Cf`` (format: bidi, zero-width, tags),
``Zl`` and ``Zp`` (line and paragraph separators), and ``Cs`` (a lone
surrogate cannot be written as UTF-8, so it would break a log handler);
replaces JWT-shaped tokens (a VAPID token echoed back is still a bearer
token); collapses whitespace; and clips.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["BREAKS", "REMOVED", "clean", "has_hidden"]

# Categories whose characters never reach the output. Controls and separators
# become a space first (a word boundary), format characters and surrogates
# vanish (a zero-width joiner between two letters is not a word boundary).
BREAKS = frozenset({"Cc", "Zl", "Zp"})
REMOVED = BREAKS | {"Cf", "Cs"}

# A JWT (RFC 7519 §3: base64url header starting '{"' = "eyJ", dot, payload, dot,
# signature): a VAPID token echoed back is still a bearer token for a day.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{0,2000}\.[A-Za-z0-9_-]{0,4000}\.?[A-Za-z0-9_-]{0,200}")


def clean(text: str, limit: int) -> str:
    """``text`` safe to show: no character of :data:`REMOVED`, JWT-shaped tokens
    ``[token]``, runs of whitespace one space, at most ``limit`` characters
    (ending in ``...`` when cut).

    The work is bounded by ``limit``, whatever the length of ``text``: only its
    first ``4 * limit`` characters are looked at.
    """
    text = text[: 4 * limit]
    if not text.isprintable():  # str.isprintable is False for every category removed
        text = "".join(_keep(c) for c in text)
    text = " ".join(_JWT.sub("[token]", text).split())
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def _keep(char: str) -> str:
    category = unicodedata.category(char)
    if category in BREAKS:
        return " "
    return "" if category in REMOVED else char


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds, beyond ASCII, a character :func:`clean` would remove
    (a C1 control, a bidi or zero-width mark, a separator, ...) or a space (NBSP,
    U+3000, ...): what a URL shown to someone must not hide."""
    return not text.isascii() and any(
        unicodedata.category(c) in REMOVED or c.isspace() for c in text
    )
