"""The README's benchmark summary, rendered from one run's raw numbers.

``python -m benchmarks --readme`` (what ``make bench`` runs) keeps that run's raw
numbers in ``benchmarks/readme_run.json`` and rewrites the part of README.md
between the two markers below with :func:`summary` of them: the tables are
never copied by hand, and ``tests/test_docs.py`` checks that the README shows
exactly what the recorded run measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(__file__).resolve().parent / "readme_run.json"
BEGIN = "<!-- make bench: begin (generated from benchmarks/readme_run.json) -->"
END = "<!-- make bench: end -->"

OURS = "webpush_core PushClient.send_many"
SESSION = "pywebpush webpush() per message, with requests.Session"
NO_SESSION = "pywebpush webpush() per message, no session"
NODE = "node web-push sendNotification"
FLOOR = "bare primitives (the floor)"
# The floor for what every fan-out and one-call row is given: a dict subscription.
DICT_FLOOR = "floor for a dict subscription"
BUILD = "webpush_core build_request (whole request)"
ENCRYPT = "webpush_core encryption (ece.encrypt_message)"
ENCODE = "pywebpush WebPusher(sub).encode(data)"
ONE_CALL = "pywebpush webpush() one call, network mocked"
IN_SEND_MANY = "  ours per message in send_many (dict subscription)"
KEPT = "  ours per message in send_many (Subscription kept)"

# (what, the bound, higher is better, the payload it is set at or None for
# every one): the targets the summary says met or not. The contenders' targets
# are set at a 100-byte message; the other payloads' ratios are shown beside.
TARGETS = (
    ("fan-out >= 8x pywebpush with a session", 8.0, True, 100),
    ("fan-out >= 6x node web-push", 6.0, True, 100),
    (
        "client CPU per delivered message <= 2.5x the floor for a dict subscription",
        2.5,
        False,
        None,
    ),
    ("`build_request` <= 1.3x the floor for a dict subscription", 1.3, False, None),
    ("`build_request` <= 0.45x pywebpush's one call", 0.45, False, None),
)


def _row(rows: list[dict[str, Any]], name: str, payload: int) -> Optional[dict[str, Any]]:
    """The row whose name starts with ``name`` at ``payload`` (None: absent or unusable)."""
    for row in rows:
        if row["name"].startswith(name) and row["payload"] == payload and row["available"]:
            return row
    return None


def _rate(row: Optional[dict[str, Any]]) -> Optional[float]:
    if row is None or row["failed"] or not row["seconds"]:
        return None
    return float(row["messages"]) / float(row["seconds"])


def _cpu_us(row: Optional[dict[str, Any]]) -> Optional[float]:
    if row is None or not row["messages"]:
        return None
    return float(row["client_cpu_s"]) / float(row["messages"]) * 1e6


def _ratio(ours: Optional[float], other: Optional[float]) -> Optional[float]:
    return ours / other if ours is not None and other else None


def _x(ratio: Optional[float]) -> str:
    return "n/a" if ratio is None else f"{ratio:.1f}x"


def _throughput(raw: dict[str, Any]) -> tuple[list[str], dict[str, list[Optional[float]]]]:
    rows = raw["throughput"]
    lines = [
        "| payload | webpush_core `send_many` | pywebpush + `requests.Session` "
        "| node web-push, in flight as ours | pywebpush, no session |",
        "|---|---:|---:|---:|---:|",
    ]
    ratios: dict[str, list[Optional[float]]] = {"session": [], "node": [], "cpu": []}
    floors = {
        c["payload"]: c["us_per_msg"]
        for c in raw["cpu"]
        if c["name"].startswith(DICT_FLOOR) and c["available"]
    }
    for payload in sorted({r["payload"] for r in rows}):
        ours = _row(rows, OURS, payload)
        mine = _rate(ours)
        cells = [
            f"{payload} B",
            "n/a" if mine is None else f"**{mine:,.0f}** (CPU {_cpu_us(ours):,.0f})",
        ]
        for key, name in (("session", SESSION), ("node", NODE), ("", NO_SESSION)):
            row = _row(rows, name, payload)
            rate = _rate(row)
            ratio = _ratio(mine, rate)
            if key:
                ratios[key].append(ratio)
            if rate is None:
                cells.append("n/a")
            elif key:
                cells.append(f"{rate:,.0f} ({_cpu_us(row):,.0f}) → ours **{_x(ratio)}**")
            else:
                cells.append(f"{rate:,.0f} → {_x(ratio)}")
        ratios["cpu"].append(_ratio(_cpu_us(ours), floors.get(payload)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines, ratios


def _per_call(raw: dict[str, Any]) -> tuple[list[str], dict[str, list[Optional[float]]]]:
    names = (FLOOR, DICT_FLOOR, BUILD, ENCRYPT, ENCODE, ONE_CALL, IN_SEND_MANY, KEPT)
    heads = (
        "floor, points loaded",
        "floor, dict subscription",
        "ours `build_request`",
        "ours, encryption only",
        "pywebpush `encode`",
        "pywebpush one-call `webpush()`",
        "ours in `send_many`",
        "same, `Subscription`s kept",
    )
    lines = [
        "| payload | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(heads),
    ]
    ratios: dict[str, list[Optional[float]]] = {"floor": [], "one_call": []}
    for payload in sorted({c["payload"] for c in raw["cpu"]}):
        best = {
            name: float(c["us_per_msg"])
            for name in names
            for c in raw["cpu"]
            if c["name"].startswith(name) and c["payload"] == payload and c["available"]
        }
        cells = [f"{payload} B"] + [f"{best[n]:.1f}" if n in best else "n/a" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
        ratios["floor"].append(_ratio(best.get(BUILD), best.get(DICT_FLOOR)))
        ratios["one_call"].append(_ratio(best.get(BUILD), best.get(ONE_CALL)))
    return lines, ratios


def _verdict(
    values: list[Optional[float]],
    payloads: list[int],
    bound: float,
    higher: bool,
    at: Optional[int],
) -> str:
    """Met or not over the payloads the target is set at (``at``, or every one),
    the ratios of the others shown beside."""
    judged = [v for v, p in zip(values, payloads) if at is None or p == at]
    others = [(v, p) for v, p in zip(values, payloads) if at is not None and p != at]
    if not judged or any(v is None for v in judged):
        return "not measured"
    met = all((v >= bound) if higher else (v <= bound) for v in judged if v is not None)
    shown = ", ".join(f"{v:.2f}x" for v in judged if v is not None)
    text = f"**{'met' if met else 'not met'}** ({shown})"
    for v, p in others:
        text += f"; at {p} B {'n/a' if v is None else f'{v:.2f}x'}"
    return text


def _memory(raw: dict[str, Any]) -> list[str]:
    runs = [m for m in raw.get("memory") or [] if m["available"] and m["points"]]
    if len(runs) < 2:
        return []
    small, big = runs[0], runs[-1]

    def peak(m: dict[str, Any]) -> float:
        return max(float(p["traced_peak_mib"]) for p in m["points"])

    def rss(m: dict[str, Any]) -> float:
        return float(m["points"][-1]["maxrss_mib"])

    return [
        f"Memory: `send_many` over {big['total']:,} subscriptions from a generator peaks as over "
        f"{small['total']:,} (peak RSS {rss(big) - rss(small):+.1f} MiB, tracemalloc peak "
        f"{peak(big):.2f} vs {peak(small):.2f} MiB).",
        "",
    ]


def summary(raw: dict[str, Any]) -> str:
    """The README's benchmark summary for one run's raw numbers (``results.json``)."""
    env = raw["environment"]
    load = raw.get("load_average")
    seconds = raw.get("seconds")
    facts = [
        f"{env['cpu']}",
        f"Python {env['python']}",
        f"cryptography {env['cryptography'].split(' ')[0]}",
        f"urllib3 {env['urllib3']}",
        f"node {env['node']}",
    ]
    if load is not None:
        facts.append(f"load average {load:.1f} at the start")
    if seconds is not None:
        facts.append(f"{seconds:.0f} s in all")
    fan_out, rate_ratios = _throughput(raw)
    per_call, call_ratios = _per_call(raw)
    values = (
        rate_ratios["session"],
        rate_ratios["node"],
        rate_ratios["cpu"],
        call_ratios["floor"],
        call_ratios["one_call"],
    )
    rate_payloads = sorted({r["payload"] for r in raw["throughput"]})
    call_payloads = sorted({c["payload"] for c in raw["cpu"]})
    payloads = (rate_payloads, rate_payloads, rate_payloads, call_payloads, call_payloads)
    targets = [
        f"- {what}{'' if at is None else f', at {at} B'}: {_verdict(v, ps, bound, higher, at)}."
        for (what, bound, higher, at), v, ps in zip(TARGETS, values, payloads)
    ]
    lines = [
        BEGIN,
        f"`make bench` ran this, in one run on one machine ({'; '.join(facts)}):",
        "",
        "```",
        raw["command"],
        "```",
        "",
        "Messages per second through a local nginx (TLS, keep-alive, one worker), median",
        "of the rounds; client CPU per message in µs (ours includes its helper process):",
        "",
        *fan_out,
        "",
        "Per-message CPU, one thread, µs (best of the repeats):",
        "",
        *per_call,
        "",
        *_memory(raw),
        "Targets (ratios per payload):",
        *targets,
        END,
    ]
    return "\n".join(lines)


def rewrite(readme: str, raw: dict[str, Any]) -> str:
    """``readme`` with the part between the markers replaced by :func:`summary`."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no {BEGIN!r} ... {END!r} section")
    return readme[:start] + summary(raw) + readme[end + len(END) :]


def record(raw: dict[str, Any], readme: Path = ROOT / "README.md") -> None:
    """Keep ``raw`` as the README's run and rewrite the README's summary from it."""
    RUN.write_text(json.dumps(raw, indent=2) + "\n")
    readme.write_text(rewrite(readme.read_text(), raw))
