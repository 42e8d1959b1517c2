"""The fan-out benchmark's report: markdown tables, ratios to ours, targets met or not.

What :func:`render` writes goes to stdout and ``benchmarks/out/results.md`` (the
raw numbers to ``results.json``); the README's tables are taken from it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import cryptography
from cryptography.hazmat.backends.openssl.backend import backend

import webpush_core

from .contenders import NODE_DIR
from .measure import CpuCost, MemoryResult, Throughput

if TYPE_CHECKING:
    from .fanout import Results, Settings

# Throughput: ours / this, at least (the row's name starts with the key).
RATE_TARGETS = {"pywebpush webpush() per message, with requests.Session": 8.0, "node": 6.0}
# Per-call: ours (build_request) / this, at most.
CPU_TARGETS = {
    "pywebpush webpush()": ("<= 0.45x", 0.45),
    "floor for a dict subscription": ("<= 1.3x", 1.3),  # build_request is given dicts
}


def md_row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def fmt_ratio(ours: Optional[float], other: Optional[float]) -> str:
    if ours is None or other is None or other == 0:
        return "n/a"
    return f"{ours / other:.2f}x"


def verdict(ratio: Optional[float], target: float, higher_is_better: bool) -> str:
    if ratio is None:
        return "-"
    good = ratio >= target if higher_is_better else ratio <= target
    return "met" if good else "NOT met"


def environment(stand_in: str) -> dict[str, str]:
    """What the numbers depend on: machine, interpreter, every contender's version."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node_v = webpush_v = "absent"
    node = shutil.which("node")
    if node:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
        node_v = out.stdout.strip()
    with contextlib.suppress(OSError, ValueError):
        package = json.loads((NODE_DIR / "node_modules/web-push/package.json").read_text())
        webpush_v = package["version"]
    return {
        "cpu": f"{cpu} x {os.cpu_count()} (available to us: {len(os.sched_getaffinity(0))})",
        "os": platform.platform(),
        "python": platform.python_version(),
        "cryptography": f"{cryptography.__version__} ({backend.openssl_version_text()})",
        "urllib3": importlib.metadata.version("urllib3"),
        "webpush_core": webpush_core.__version__,
        "pywebpush": importlib.metadata.version("pywebpush"),
        "requests": importlib.metadata.version("requests"),
        "node": node_v,
        "web-push (node)": webpush_v,
        "stand-in": stand_in,
    }


def render(command: str, results: Results, settings: Settings) -> str:
    env = results.environment
    lines = ["# webpush_core fan-out benchmark", "", "Command:", "", "```", command, "```", ""]
    if "FALLBACK" in env.get("stand-in", ""):
        lines += [
            "**WARNING: the Python fallback stand-in served this run, not nginx; "
            "throughput is not comparable with nginx runs.**",
            "",
        ]
    lines += ["| environment | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in env.items()] + [""]
    lines += throughput_section(results.throughput, settings)
    lines += cpu_section(results.cpu, settings)
    lines += memory_section(results.memory, settings)
    return "\n".join(lines)


def throughput_section(throughput: list[Throughput], settings: Settings) -> list[str]:
    lines = [
        "## Messages per second (local TLS stand-in, HTTP/1.1 keep-alive)",
        "",
        f"{settings.subscribers} distinct subscriptions (real P-256 keys), aes128gcm + VAPID, "
        f"TTL {settings.ttl}; {settings.warmup} untimed warm-up messages per contender. "
        "Client CPU = the contender's process CPU (all threads, and its child processes) "
        "per message; stand-in CPU = nginx's per message.",
        "",
    ]
    for size in sorted({t.payload for t in throughput}):
        rows = [t for t in throughput if t.payload == size]
        ours = next((t for t in rows if t.name.startswith("webpush_core") and t.valid), None)
        ours_rate = ours.rate if ours else None
        lines += [
            f"### payload {size} bytes",
            "",
            md_row(
                "contender",
                "msgs/s",
                "ours / this",
                "target",
                "client CPU µs/msg",
                "stand-in CPU µs/msg",
                "ok/failed",
                "note",
            ),
            "|---|---:|---:|---|---:|---:|---|---|",
        ]
        for t in rows:
            vs = ours_rate / t.rate if ours_rate and t.valid else None
            target = next(
                (
                    f">= {x:g}x: {verdict(vs, x, True)}"
                    for k, x in RATE_TARGETS.items()
                    if t.name.startswith(k)
                ),
                "",
            )
            if not t.available:
                lines.append(f"| {t.name} | {t.note} | | {target} | | | | |")
                continue
            lines.append(
                md_row(
                    t.name,
                    f"{t.rate:,.0f}",
                    "-" if t is ours else fmt_ratio(ours_rate, t.rate if t.valid else None),
                    target,
                    f"{t.client_us_per_msg:,.0f}",
                    f"{t.server_us_per_msg:,.0f}",
                    f"{t.ok}/{t.failed}",
                    _throughput_note(t),
                )
            )
        lines.append("")
    return lines


def _throughput_note(t: Throughput) -> str:
    notes = [t.note] if t.note else []
    if len(t.round_rates) > 1:
        notes.append("rounds: " + " / ".join(f"{r:,.0f}" for r in t.round_rates))
    if t.seconds and t.server_cpu_s / t.seconds > 0.8:
        notes.append("stand-in busy >80%: may be server-bound")
    if t.failed:
        notes.append("FAILURES: rate not comparable, no ratio")
    if t.first_error:
        notes.append(f"first error: {t.first_error[:120]}")
    return "; ".join(notes)


def cpu_section(cpu: list[CpuCost], settings: Settings) -> list[str]:
    lines = [
        "## Per-message CPU (one thread, no network; thread CPU time, best of "
        f"{settings.cpu_repeats} x {settings.cpu_iterations} calls over distinct subscriptions)",
        "",
    ]
    for size in sorted({c.payload for c in cpu}):
        rows = [c for c in cpu if c.payload == size]
        build = next((c for c in rows if "build_request" in c.name and c.available), None)
        enc = next((c for c in rows if "encryption" in c.name and c.available), None)
        lines += [
            f"### payload {size} bytes",
            "",
            md_row(
                "what",
                "µs/msg",
                "ours (build_request) / this",
                "ours (encryption) / this",
                "target (whole request)",
                "note",
            ),
            "|---|---:|---:|---:|---|---|",
        ]
        for c in rows:
            if not c.available:
                lines.append(f"| {c.name} | {c.note} | | | | |")
                continue
            target = ""
            for key, (text, limit) in CPU_TARGETS.items():
                if c.name.startswith(key):
                    r = build.us_per_msg / c.us_per_msg if build else None
                    target = f"{text}: {verdict(r, limit, False)}"
            informational = c.note.startswith("informational") or "webpush_core" in c.name
            r_build = r_enc = ""
            if not informational:
                r_build = fmt_ratio(build.us_per_msg if build else None, c.us_per_msg)
                r_enc = fmt_ratio(enc.us_per_msg if enc else None, c.us_per_msg)
            note = "" if c.note == "informational" else c.note.replace("informational ", "")
            lines.append(md_row(c.name, f"{c.us_per_msg:,.1f}", r_build, r_enc, target, note))
        lines.append("")
    return lines


def memory_section(runs: Optional[list[MemoryResult]], settings: Settings) -> list[str]:
    lines = ["## Memory: send_many over lazily generated subscriptions", ""]
    if runs is None:
        return [*lines, "skipped (--skip memory)", ""]
    lines += [
        f"Subscriptions come from a generator (distinct endpoints, {settings.subscribers} key "
        "sets reused round-robin); tracemalloc is on, so these runs are slower than the ones "
        "above. A run 10x longer must not need more memory: a client that materialized its "
        "input or kept its results would.",
        "",
        md_row(
            "subscriptions",
            "ok/failed",
            "seconds",
            "tracemalloc peak MiB",
            "ru_maxrss after MiB",
            "RSS before MiB",
            "note",
        ),
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            md_row(
                f"{r.total:,}",
                f"{r.ok}/{r.failed}",
                f"{r.seconds:.1f}",
                f"{r.traced_peak_mib:.2f}",
                f"{r.maxrss_end_mib:.1f}",
                f"{r.rss_start_mib:.1f}",
                r.note,
            )
        )
    small, big = runs[0], runs[-1]
    if len(runs) >= 2 and small.points and big.points:
        rss_growth = big.maxrss_end_mib - small.maxrss_end_mib
        traced_ratio = big.traced_peak_mib / small.traced_peak_mib if small.traced_peak_mib else 0
        flat = rss_growth < 5 and big.traced_peak_mib < 1.5 * small.traced_peak_mib + 1
        lines += [
            "",
            f"{small.total:,} vs {big.total:,}: peak RSS +{rss_growth:.1f} MiB, tracemalloc peak "
            f"x{traced_ratio:.2f}: **{'flat' if flat else 'NOT flat'}** (flat = peak RSS grows "
            "< 5 MiB and the tracemalloc peak < 1.5x + 1 MiB).",
        ]
    lines += [
        "",
        f"Samples over the {big.total:,} run:",
        "",
        md_row(
            "sent",
            "ru_maxrss MiB",
            "RSS now MiB",
            "tracemalloc now MiB",
            "tracemalloc peak in window MiB",
        ),
        "|---:|---:|---:|---:|---:|",
    ]
    for p in big.points:
        lines.append(
            md_row(
                f"{p.sent:,}",
                f"{p.maxrss_mib:.1f}",
                f"{p.rss_mib:.1f}",
                f"{p.traced_mib:.2f}",
                f"{p.traced_peak_mib:.2f}",
            )
        )
    return [*lines, ""]
