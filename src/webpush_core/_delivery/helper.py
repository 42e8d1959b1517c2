"""The encryption helper process itself: what :class:`.sealer.Sealer` starts.

The helper runs this module as ``__main__`` (``python -c``, :mod:`.spawn`'s
``_BOOT``): a pure function over pipes, stdin to stdout, in length-prefixed
frames. It gets the plaintext and padding (aes128gcm, one record) and up to
:data:`.sealer.BATCH` (p256dh, auth) pairs, and answers, in order, each
body, or a mark for a point that did not load (the parent then parses that
subscription itself, to report the error :meth:`Subscription.from_info`
raises). It holds no keys of ours, opens no connection and writes nothing
else; it ends when its stdin closes (also when the parent dies, even if a
child it forked holds that pipe).

The frames' layout is defined here, for both ends: a batch is
:data:`_HEAD` (plaintext length, padding), the plaintext, then
:data:`_KEYS` octets per pair; an answer is, per pair, a status
(:data:`_OK` or :data:`_BAD`), a length and the body.
"""

from __future__ import annotations

import contextlib
import struct
import sys
import threading
from typing import IO

from .._p256 import public_key_from_point
from ..ece._message import seal_aes128gcm_message
from .spawn import LENGTH, _watch_parent, read_frame, take_pipes, write_frame

_HEAD = struct.Struct(">II")  # plaintext length, padding
_LENGTH = LENGTH
_KEYS = 65 + 16  # p256dh point + auth secret
_READY = b"webpush_core sealer 1"
_OK, _BAD = 0, 1


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """The helper's loop: a frame of keys in, a frame of bodies out, until stdin ends."""
    write_frame(stdout, _READY)
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return
        size, padding = _HEAD.unpack_from(frame)
        start = _HEAD.size + size
        plaintext = frame[_HEAD.size : start]
        out = []
        for at in range(start, len(frame) - _KEYS + 1, _KEYS):
            point, auth = frame[at : at + 65], frame[at + 65 : at + _KEYS]
            try:
                body = seal_aes128gcm_message(
                    plaintext, public_key_from_point(point), point, auth, padding
                )
            except Exception:  # the parent parses this one itself and reports why
                out.append(bytes((_BAD,)) + _LENGTH.pack(0))
                continue
            out.append(bytes((_OK,)) + _LENGTH.pack(len(body)) + body)
        write_frame(stdout, b"".join(out))


if __name__ == "__main__":
    if len(sys.argv) > 1:  # the parent's pid, from Sealer.start
        threading.Thread(
            target=_watch_parent, args=(int(sys.argv[1]),), name="parent-watch", daemon=True
        ).start()
    # Frames only on our own descriptors; anything printed goes to stderr.
    _frames_in, _frames_out = take_pipes()
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        _serve(_frames_in, _frames_out)
