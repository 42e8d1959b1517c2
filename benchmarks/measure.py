"""How the benchmarks measure: CPU of process trees, throughput windows, interleaved
rounds, per-call CPU, memory.

Side by side, always: contenders run in interleaved rounds (every contender once
per round) and the median round stands for each, so slow drift on a shared
machine hits all alike; per-call rows are interleaved the same way and each
keeps its best run (interference only ever adds time).

Client CPU is the client's process *and its descendants* (PushClient encrypts
long fan-outs in a helper process; a sharded sender would have more): read from
/proc, so Linux only. Services the benchmark starts (the stand-in, redis, Celery
workers) are children too; they are passed as ``services`` and left out.
"""

from __future__ import annotations

import gc
import os
import resource
import time
import tracemalloc
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

R = TypeVar("R")

_TICK = os.sysconf("SC_CLK_TCK")


# -- CPU of processes ------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (field 3 on); [] if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, and of the children it has waited for
    (cutime + cstime); 0.0 if it is gone."""
    fields = _stat_fields(pid)
    if not fields:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / _TICK


def _children() -> dict[int, list[int]]:
    """Every process's children, from one pass over /proc."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                out.setdefault(int(fields[1]), []).append(int(entry.name))
    return out


def descendants(root: int, skip: Collection[int] = ()) -> list[int]:
    """Every process below ``root``, not entering the subtrees rooted at ``skip``."""
    children, found, todo = _children(), [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            if pid not in skip:
                found.append(pid)
                todo.append(pid)
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root`` and everything below it (a server: nginx master and workers)."""
    return sum(proc_cpu_seconds(pid) for pid in (root, *descendants(root)))


@dataclass(frozen=True)
class CpuSample:
    own: float  # this process, all threads
    children: dict[int, float]  # live descendants outside the services
    reaped: float  # this process's children that have ended and been waited for


def sample_client_cpu(services: Collection[int] = ()) -> CpuSample:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        own=time.process_time(),
        children={pid: proc_cpu_seconds(pid) for pid in descendants(os.getpid(), services)},
        reaped=usage.ru_utime + usage.ru_stime,
    )


def children_cpu_between(before: CpuSample, after: CpuSample) -> float:
    """CPU the descendants spent between two samples: those alive at the end, and those
    that ended and were waited for meanwhile (their whole life, less what ``before`` saw)."""
    live = sum(cpu - before.children.get(pid, 0.0) for pid, cpu in after.children.items())
    ended = sum(cpu for pid, cpu in before.children.items() if pid not in after.children)
    return live + (after.reaped - before.reaped) - ended


# -- Throughput ------------------------------------------------------------------------


@dataclass
class Throughput:
    """One contender's fan-out (one round, or the median round of several)."""

    name: str
    payload: int
    messages: int = 0
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    client_cpu_s: float = 0.0  # the client's process and its descendants
    children_cpu_s: float = 0.0  # the descendants' part of it
    server_cpu_s: float = 0.0
    note: str = ""
    first_error: str = ""
    available: bool = True
    round_rates: list[float] = field(default_factory=list)  # msgs/s of every round

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def client_us_per_msg(self) -> float:
        return self.client_cpu_s / max(self.messages, 1) * 1e6

    @property
    def server_us_per_msg(self) -> float:
        return self.server_cpu_s / max(self.messages, 1) * 1e6

    @property
    def valid(self) -> bool:
        """Fit for a ratio: it ran, and every message got its 201."""
        return self.available and self.messages > 0 and self.failed == 0

    def add_note(self, text: str) -> None:
        self.note = f"{self.note}; {text}" if self.note else text


class Window:
    """Wall time, client CPU (this process and its descendants, ``services`` left out)
    and the services' CPU (``server_cpu``) over a block, written into ``row``."""

    def __init__(
        self, row: Throughput, server_cpu: Callable[[], float], services: Collection[int]
    ) -> None:
        self.row, self.server_cpu, self.services = row, server_cpu, services

    def __enter__(self) -> Window:
        gc.collect()
        self.srv0 = self.server_cpu()
        self.cpu0 = sample_client_cpu(self.services)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.row.seconds = time.perf_counter() - self.t0
        cpu1 = sample_client_cpu(self.services)
        self.row.children_cpu_s = children_cpu_between(self.cpu0, cpu1)
        self.row.client_cpu_s = cpu1.own - self.cpu0.own + self.row.children_cpu_s
        self.row.server_cpu_s = self.server_cpu() - self.srv0


def interleaved(
    contenders: Sequence[tuple[str, Callable[[], R]]],
    rounds: int,
    label: str,
    describe: Callable[[R], str],
) -> dict[str, list[R]]:
    """Every contender once per round, ``rounds`` times; progress on stdout."""
    out: dict[str, list[R]] = {}
    for r in range(rounds):
        for key, run in contenders:
            print(f"[{label}, round {r + 1}] {key} ...", end=" ", flush=True)
            result = run()
            out.setdefault(key, []).append(result)
            print(describe(result), flush=True)
    return out


def median_round(rows: list[Throughput]) -> Throughput:
    """The round with the median rate stands for the contender; all rates are kept."""
    done = sorted((r for r in rows if r.available), key=lambda r: r.rate)
    if not done:
        return rows[0]
    mid = done[len(done) // 2]
    mid.round_rates = [round(r.rate, 1) for r in rows if r.available]
    return mid


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


# -- Per-call CPU ----------------------------------------------------------------------

PerCall = Callable[[int], object]  # call i works on the i-th subscription (modulo)


def per_call_runs(
    rows: Sequence[tuple[str, PerCall]], iterations: int, repeats: int, *, alternate: bool = False
) -> dict[str, list[float]]:
    """µs of thread CPU per call, one entry per repeat, the rows interleaved.

    Thread CPU (not wall) so that other processes on the cores do not count.
    With ``alternate`` every other repeat runs the rows in reverse order, so
    that a drift of the machine's speed during a repeat favours no row.
    """
    for _, fn in rows:
        for i in range(min(50, iterations)):  # warm caches and lazy imports
            fn(i)
    runs: dict[str, list[float]] = {name: [] for name, _ in rows}
    for repeat in range(repeats):
        for name, fn in rows if not (alternate and repeat % 2) else rows[::-1]:
            gc.collect()
            t0 = time.thread_time()
            for i in range(iterations):
                fn(i)
            runs[name].append((time.thread_time() - t0) / iterations * 1e6)
    return runs


@dataclass
class CpuCost:
    """A per-call row: the best run's µs per call, every run kept."""

    name: str
    payload: int
    us_per_msg: float = 0.0
    runs_us: list[float] = field(default_factory=list)
    note: str = ""
    available: bool = True

    @classmethod
    def of(cls, name: str, payload: int, runs: list[float], note: str = "") -> CpuCost:
        return cls(name, payload, min(runs), [round(r, 2) for r in runs], note)


def ratios(top: list[float], bottom: list[float]) -> tuple[float, float]:
    """(ratio of the best runs, median of the per-repeat ratios) of two per-call rows."""
    return min(top) / min(bottom), median([a / b for a, b in zip(top, bottom)])


# -- Memory ----------------------------------------------------------------------------


def current_rss_mib() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class MemoryPoint:
    sent: int
    maxrss_mib: float  # ru_maxrss so far (high-water mark)
    rss_mib: float  # current RSS
    traced_mib: float  # tracemalloc current
    traced_peak_mib: float  # tracemalloc peak within this window


@dataclass
class MemoryResult:
    total: int
    available: bool = True
    note: str = ""
    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    points: list[MemoryPoint] = field(default_factory=list)
    rss_start_mib: float = 0.0  # current RSS before the run

    @property
    def traced_peak_mib(self) -> float:
        """tracemalloc's peak over the whole run (the max of the window peaks)."""
        return max((p.traced_peak_mib for p in self.points), default=0.0)

    @property
    def maxrss_end_mib(self) -> float:
        return self.points[-1].maxrss_mib if self.points else 0.0


class MemoryRun:
    """tracemalloc on over a block; :meth:`record` each result, sampled every
    ``checkpoint``; it says stop once ``time_limit`` has passed at a sample."""

    def __init__(self, res: MemoryResult, checkpoint: int, time_limit: float) -> None:
        self.res, self.checkpoint, self.time_limit = res, checkpoint, time_limit

    def __enter__(self) -> MemoryRun:
        gc.collect()
        self.res.rss_start_mib = current_rss_mib()
        self.deadline = time.monotonic() + self.time_limit
        tracemalloc.start()
        self.t0 = time.perf_counter()
        return self

    def record(self, n: int, ok: bool) -> bool:
        """Count the n-th result; False: stop here (the time limit has passed)."""
        res = self.res
        if ok:
            res.ok += 1
        else:
            res.failed += 1
        if n % self.checkpoint == 0 or n == res.total:
            cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            res.points.append(
                MemoryPoint(n, maxrss_mib(), current_rss_mib(), cur / 2**20, peak / 2**20)
            )
            if time.monotonic() > self.deadline and n < res.total:
                res.note = f"stopped at {n} after the {self.time_limit:.0f} s limit"
                return False
        return True

    def __exit__(self, *exc: object) -> None:
        self.res.seconds = time.perf_counter() - self.t0
        tracemalloc.stop()
