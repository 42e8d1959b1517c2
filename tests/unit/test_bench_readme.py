"""The README's benchmark summary is what the recorded run measured (benchmarks/readme.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks import readme, versus
from benchmarks.measure import Throughput

ROOT = Path(__file__).resolve().parent.parent.parent


def recorded() -> dict[str, Any]:
    return dict(json.loads(readme.RUN.read_text()))


def test_the_readme_shows_the_recorded_run_as_rendered() -> None:
    text = (ROOT / "README.md").read_text()
    start, end = text.index(readme.BEGIN), text.index(readme.END) + len(readme.END)
    assert text[start:end] == readme.summary(recorded())
    # Its command is a full run of the benchmark, not a smoke run.
    command = recorded()["command"].split()
    assert command[:3] == [".venv/bin/python", "-m", "benchmarks"]
    assert int(command[command.index("--messages") + 1]) >= 5000
    assert int(command[command.index("--rounds") + 1]) >= 3


def test_rewrite_replaces_only_the_marked_part() -> None:
    raw = recorded()
    before = f"intro\n{readme.BEGIN}\nstale table\n{readme.END}\noutro\n"
    after = readme.rewrite(before, raw)
    assert after == f"intro\n{readme.summary(raw)}\noutro\n"
    assert readme.rewrite(after, raw) == after  # idempotent


@pytest.mark.parametrize(
    "text", ["no markers", f"{readme.END}\n{readme.BEGIN}", f"{readme.BEGIN} only"]
)
def test_rewrite_refuses_a_readme_without_its_markers(text: str) -> None:
    with pytest.raises(ValueError, match="make bench"):
        readme.rewrite(text, recorded())


def _with_rates(ours: float, session: float, node: float) -> dict[str, Any]:
    """The recorded run with the 100-byte rates set (1 s each, no failures)."""
    raw = copy.deepcopy(recorded())
    raw["throughput"] = [r for r in raw["throughput"] if r["payload"] == 100]
    for row in raw["throughput"]:
        for prefix, rate in ((readme.OURS, ours), (readme.SESSION, session), (readme.NODE, node)):
            if row["name"].startswith(prefix):
                row.update(messages=int(rate), seconds=1.0, failed=0, available=True)
    return raw


def _target(raw: dict[str, Any], what: str) -> str:
    line = next(x for x in readme.summary(raw).splitlines() if x.startswith(f"- {what}"))
    return line


@pytest.mark.parametrize(
    ("ours", "session", "node", "session_met", "node_met"),
    [
        (8000, 1000, 1000, True, True),  # 8.00x and 8.00x: at the bound
        (7999, 1000, 1333, False, True),  # one below 8x; 6.00x
        (6000, 1000, 1001, False, False),  # 6.00x and 5.99x
    ],
)
def test_rate_targets_are_met_at_the_bound_and_not_one_below(
    ours: int, session: int, node: int, session_met: bool, node_met: bool
) -> None:
    raw = _with_rates(ours, session, node)
    assert ("**met**" in _target(raw, "fan-out >= 8x")) is session_met
    assert ("**met**" in _target(raw, "fan-out >= 6x")) is node_met


def test_a_failed_or_missing_contender_is_not_measured_never_met() -> None:
    raw = _with_rates(8000, 1000, 1000)
    for row in raw["throughput"]:
        if row["name"].startswith(readme.SESSION):
            row["failed"] = 1
    assert _target(raw, "fan-out >= 8x").endswith("not measured.")
    raw["throughput"] = [r for r in raw["throughput"] if not r["name"].startswith(readme.NODE)]
    assert _target(raw, "fan-out >= 6x").endswith("not measured.")


def _with_dict_floor(raw: dict[str, Any], us: float) -> dict[str, Any]:
    """``raw`` at 100 bytes only, its floor for a dict subscription set to ``us``."""
    raw = copy.deepcopy(raw)
    raw["cpu"] = [
        c for c in raw["cpu"] if c["payload"] == 100 and not c["name"].startswith(readme.DICT_FLOOR)
    ]
    raw["cpu"].append(
        {"name": readme.DICT_FLOOR, "payload": 100, "us_per_msg": us, "available": True}
    )
    raw["throughput"] = [r for r in raw["throughput"] if r["payload"] == 100]
    return raw


@pytest.mark.parametrize(("build", "met"), [(130.0, True), (130.1, False)])
def test_the_floor_target_is_met_at_the_bound_and_not_past_it(build: float, met: bool) -> None:
    raw = _with_dict_floor(recorded(), 100.0)
    for row in raw["cpu"]:
        if row["name"] == readme.FLOOR:
            row["us_per_msg"] = 50.0  # the floor with points loaded is not the bound
        if row["name"] == readme.BUILD:
            row["us_per_msg"] = build
    assert ("**met**" in _target(raw, "`build_request` <= 1.3x")) is met


@pytest.mark.parametrize(("cpu_s", "met"), [(0.25, True), (0.2501, False)])
def test_the_client_cpu_target_is_met_at_the_bound_and_not_past_it(cpu_s: float, met: bool) -> None:
    """2.5x a 100 µs floor: 250 µs per message (1,000 messages in 0.25 s of CPU)."""
    raw = _with_dict_floor(recorded(), 100.0)
    for row in raw["throughput"]:
        if row["name"].startswith(readme.OURS):
            row.update(messages=1000, seconds=1.0, failed=0, available=True, client_cpu_s=cpu_s)
    assert ("**met**" in _target(raw, "client CPU per delivered message")) is met


def test_a_run_without_the_dict_floor_measures_no_floor_target() -> None:
    raw = copy.deepcopy(recorded())
    raw["cpu"] = [c for c in raw["cpu"] if not c["name"].startswith(readme.DICT_FLOOR)]
    assert _target(raw, "`build_request` <= 1.3x").endswith("not measured.")
    assert _target(raw, "client CPU per delivered message").endswith("not measured.")


def _row(rate: float, client_us: float, helper_us: float, stand_in_us: float) -> Throughput:
    n = 10_000
    return Throughput(
        "own",
        100,
        messages=n,
        seconds=n / rate,
        ok=n,
        client_cpu_s=client_us * n / 1e6,
        children_cpu_s=helper_us * n / 1e6,
        server_cpu_s=stand_in_us * n / 1e6,
    )


def test_versus_reports_medians_ratios_and_the_machines_bound() -> None:
    """2 cores, the revision at a median of 5,000 msgs/s: twice that leaves
    2e6 / 10,000 = 200 µs per message for everything, 175 after the stand-in's
    25, and 175 - 120 = 55 for the main process beside the helper's 120."""
    rows = {
        "old": [_row(4000, 300, 130, 30), _row(5000, 280, 125, 25), _row(6000, 260, 120, 20)],
        "new": [_row(6000, 250, 120, 25), _row(6500, 240, 120, 25), _row(6600, 230, 120, 25)],
    }
    text = "\n".join(versus.report(rows, cores=2))
    assert "| old | 5,000 | 280 | 155 | 125 | 25 |" in text
    assert "| new | 6,500 | 240 | 120 | 120 | 25 |" in text
    assert "per pair: 1.50x, 1.30x, 1.10x (median 1.30x)" in text
    assert "Twice old's median is 10,000 msgs/s" in text
    assert "200 µs of CPU per message for everything, 175 µs for the client" in text
    assert "leaving 55 µs for the main process" in text
    assert "which spends 120 µs" in text


def _rates_at(raw: dict[str, Any], payload: int, ours: float, session: float) -> None:
    for row in raw["throughput"]:
        if row["payload"] != payload:
            continue
        for prefix, rate in ((readme.OURS, ours), (readme.SESSION, session)):
            if row["name"].startswith(prefix):
                row.update(messages=int(rate), seconds=1.0, failed=0, available=True)


@pytest.mark.parametrize(
    ("at_100", "at_3000", "met"),
    [
        (8.0, 1.0, True),  # judged at 100 bytes only
        (7.99, 9.0, False),  # 3000 bytes does not make up for 100
    ],
)
def test_the_contender_targets_are_judged_at_100_bytes_the_other_payloads_shown(
    at_100: float, at_3000: float, met: bool
) -> None:
    raw = copy.deepcopy(recorded())
    assert {r["payload"] for r in raw["throughput"]} == {100, 3000}
    _rates_at(raw, 100, at_100 * 1000, 1000)
    _rates_at(raw, 3000, at_3000 * 1000, 1000)
    line = _target(raw, "fan-out >= 8x")
    assert line.startswith("- fan-out >= 8x pywebpush with a session, at 100 B: ")
    assert ("**met**" in line) is met
    assert line.endswith(f"({at_100:.2f}x); at 3000 B {at_3000:.2f}x.")
