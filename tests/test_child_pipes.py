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

from webpush_core._delivery.spawn import LENGTH, _reap_from_loop

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


def test_nothing_printed_in_a_child_reaches_its_frames() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=LENGTH.pack(5) + b"hello",
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert done.stdout == LENGTH.pack(10) + b"echo:hello"  # the frame, and only it
    err = done.stderr.decode()
    for stray in ("stray print", "stray write to fd 1", "stray from a subprocess"):
        assert stray in err
    assert "stdin gave 0 characters" in err  # fd 0 reads nothing: the frame stayed ours


def test_a_child_is_ended_from_the_loop_without_waiting_for_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    threads = threading.active_count()
    start = time.monotonic()
    _reap_from_loop(proc)  # what the event loop runs once the grace is over
    assert time.monotonic() - start < 0.5  # never blocks (a kill, then a thread waits)
    deadline = time.monotonic() + 30
    while proc.returncode is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.returncode == -9  # killed, and its exit status collected
    _reap_from_loop(proc)  # already gone: nothing to do, no thread started
    time.sleep(0.05)
    assert threading.active_count() <= threads


def test_a_child_that_exited_is_not_killed() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    _reap_from_loop(proc)
    assert proc.returncode == 0
