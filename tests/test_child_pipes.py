"""Our child processes (the encryption helper, the sender processes) keep their
frames on descriptors of their own, and the parent never waits for one on its
event loop.

A child's frames travel on the pipes its parent gave it as fds 0 and 1. Any
code in the child that prints (``print``, a C library writing to fd 1, a
subprocess inheriting it) would otherwise write into the parent's frames, and
anything reading fd 0 would take a frame meant for us.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from webpush_core._delivery.spawn import LENGTH, _reap_in_thread

CHILD = r"""
import os, sys
from webpush_core._delivery.spawn import read_frame, take_pipes, write_frame
frames_in, frames_out = take_pipes()
print("stray print")
sys.stdout.flush()
os.write(1, b"stray write to fd 1\n")
os.system("echo stray from a subprocess")
sys.stderr.write(f"stdin gave {len(sys.stdin.read())} characters\n")
sys.stderr.flush()
frame = read_frame(frames_in)
write_frame(frames_out, b"echo:" + frame)
"""


def run_child(script: str, frame: bytes) -> subprocess.CompletedProcess[bytes]:
    """``script`` in a child Python, handed one frame on its stdin."""
    return subprocess.run(
        [sys.executable, "-c", script],
        input=LENGTH.pack(len(frame)) + frame,
        capture_output=True,
        timeout=60,
        check=True,
    )


def test_nothing_printed_in_a_child_reaches_its_frames() -> None:
    done = run_child(CHILD, b"hello")
    assert done.stdout == LENGTH.pack(10) + b"echo:hello"  # the frame, and only it
    err = done.stderr.decode()
    for stray in ("stray print", "stray write to fd 1", "stray from a subprocess"):
        assert stray in err
    assert "stdin gave 0 characters" in err  # fd 0 reads nothing: the frame stayed ours


def test_a_child_is_ended_from_the_loop_without_waiting_for_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = time.monotonic()
    _reap_in_thread(proc, 0.2)  # what the event loop calls: its grace, then a kill
    assert time.monotonic() - start < 0.1  # the loop never waits
    assert proc.wait(timeout=30) == -9  # killed after its grace, exit status collected
    assert time.monotonic() - start >= 0.2


def test_a_child_that_exits_within_its_grace_is_not_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    _reap_in_thread(proc, 30)
    assert proc.wait(timeout=30) == 0
    threads = threading.active_count()
    _reap_in_thread(proc, 30)  # already gone: no thread for it
    assert threading.active_count() == threads


NO_STDERR = r"""
import os, subprocess, sys
os.close(2)  # the parent had no stderr either
from webpush_core._delivery.spawn import read_frame, take_pipes, write_frame
frames_in, frames_out = take_pipes()
fds = {fd: os.fstat(fd).st_ino for fd in (0, 1, 2)}
pipes = {os.fstat(f.fileno()).st_ino for f in (frames_in, frames_out)}
inheritable = [os.get_inheritable(f.fileno()) for f in (frames_in, frames_out)]
print("stray")  # to nowhere, not into a frame
frame = read_frame(frames_in)
write_frame(frames_out, repr((set(fds.values()) & pipes, inheritable, frame)).encode())
"""


def test_without_a_stderr_the_child_still_keeps_its_frames_to_itself() -> None:
    done = run_child(NO_STDERR, b"hi")
    (size,) = LENGTH.unpack(done.stdout[: LENGTH.size])
    shared, inheritable, frame = eval(done.stdout[LENGTH.size : LENGTH.size + size])  # noqa: S307
    assert shared == set()  # no standard descriptor is one of the frame pipes
    assert inheritable == [False, False]
    assert frame == b"hi"
    assert len(done.stdout) == LENGTH.size + size
