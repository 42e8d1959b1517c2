"""The mutation gate's report: kill rate per module and overall, and the survivors to explain.

Reads mutmut's verdicts from ``mutants/<module>/mutants/**/*.meta`` (one
directory per module of :data:`mutation_gate.SCOPE`) and prints, per module
(``--files``: per file too) and overall::

    mutants  killed  timeout  survived  no-tests  equivalent  kill rate  of non-equivalent

``kill rate`` is (killed + timeout) / mutants: a mutant no selected test
reaches ("no tests") counts against it like a survivor. ``equivalent`` are
the survivors listed in ``tests/mutation/equivalent.txt``, one line each::

    <mutant name> <fingerprint> <why no input can tell it from the code>

The fingerprint is a hash of the mutant's diff, so an entry goes stale (and
is reported) when mutmut's numbering moves the name onto another mutation.
Exit status 1 when a module is below :data:`TARGET` or a survivor is not
explained.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mutmut.configuration import reset_config
from mutmut.mutation.diff_apply import get_diff_for_mutant

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
EQUIVALENTS = ROOT / "tests" / "mutation" / "equivalent.txt"
TARGET = 0.90

# mutmut's exit codes (mutmut.stats.status_by_exit_code), grouped as the table counts them.
_STATUS = {
    0: "survived",
    1: "killed",
    3: "killed",  # an internal error in pytest: the mutant broke the tests' run
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    24: "timeout",
    -24: "timeout",  # SIGXCPU: over the CPU-time limit
    152: "timeout",
    255: "timeout",
    -11: "killed",  # crashed (segfault)
    -9: "killed",  # killed at the CPU-time limit
    None: "not checked",
}
KILLED = ("killed", "timeout")


@dataclass(frozen=True)
class Result:
    module: str
    file: str
    name: str
    status: str


@dataclass(frozen=True)
class Equivalent:
    name: str
    fingerprint: str
    reason: str
    line: int


def results(module: str) -> list[Result]:
    """Every mutant of ``module`` with its verdict (empty when it has not run)."""
    found = []
    base = WORK / module / "mutants"
    for meta in sorted(base.rglob("*.py.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        source = meta.relative_to(base).as_posix()[: -len(".meta")]
        for name, code in data["exit_code_by_key"].items():
            found.append(Result(module, source, name, _STATUS.get(code, "suspicious")))
    return found


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, Equivalent]:
    listed: dict[str, Equivalent] = {}
    if not path.exists():
        return listed
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, fingerprint, reason = [*line.split(None, 2), "", ""][:3]
        if not reason:
            raise SystemExit(f"{path}:{number}: expected '<mutant> <fingerprint> <reason>'")
        if name in listed:
            raise SystemExit(f"{path}:{number}: {name} is listed twice")
        listed[name] = Equivalent(name, fingerprint, reason, number)
    return listed


@contextlib.contextmanager
def _in(workdir: Path) -> Iterator[None]:
    """mutmut's functions read its config and files relative to the working directory."""
    old = Path.cwd()
    os.chdir(workdir)
    reset_config()
    try:
        yield
    finally:
        os.chdir(old)
        reset_config()


def _diff(module: str, result: Result) -> str:
    with _in(WORK / module):
        return get_diff_for_mutant(result.name, path=result.file)


def fingerprint(diff_text: str) -> str:
    """A short hash of what the mutant changes (its -/+ lines, whitespace aside)."""
    changed = [
        line[0] + " ".join(line[1:].split())
        for line in diff_text.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    return hashlib.sha256("\n".join(changed).encode("utf-8")).hexdigest()[:10]


def diff(name: str) -> str:
    """The diff of the mutant ``name``, from whichever module's run holds it."""
    for module_dir in sorted(WORK.iterdir()) if WORK.exists() else []:
        for result in results(module_dir.name):
            if result.name == name:
                text = _diff(module_dir.name, result)
                return f"# {name}: {result.status} (fingerprint {fingerprint(text)})\n{text}"
    raise SystemExit(f"no mutant {name} in {WORK}")


def _row(label: str, rs: list[Result], equivalent: int) -> str:
    count = {s: sum(1 for r in rs if r.status == s) for s in _STATUS.values()}
    total = len(rs)
    killed = count["killed"] + count["timeout"]
    rate = killed / total if total else 0.0
    rest = total - equivalent
    of_rest = killed / rest if rest else 1.0
    return (
        f"{label:<34} {total:>7} {count['killed']:>6} {count['timeout']:>7} "
        f"{count['survived']:>8} {count['no tests']:>8} {equivalent:>10} "
        f"{rate:>9.1%} {of_rest:>17.1%}"
    )


def main(modules: list[str], *, per_file: bool = False) -> int:
    listed = load_equivalents()
    header = (
        f"{'module':<34} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} "
        f"{'no-tests':>8} {'equivalent':>10} {'kill rate':>9} {'of non-equivalent':>17}"
    )
    lines = [header, "-" * len(header)]
    everything: list[Result] = []
    unexplained: list[tuple[Result, str]] = []
    stale: list[str] = []
    equivalent_names: set[str] = set()
    below: list[str] = []
    seen: set[str] = set()
    for module in modules:
        rs = results(module)
        if not rs:
            lines.append(f"{module:<34} (no results: run the gate for it)")
            below.append(module)
            continue
        everything += rs
        module_equivalent = 0
        for r in rs:
            seen.add(r.name)
            if r.status in KILLED:
                if r.name in listed:
                    stale.append(f"{r.name}: listed as equivalent but {r.status}; remove the line")
                continue
            entry = listed.get(r.name)
            if entry is not None and r.status == "survived":
                text = _diff(module, r)
                if fingerprint(text) == entry.fingerprint:
                    module_equivalent += 1
                    equivalent_names.add(r.name)
                    continue
                unexplained.append((r, f"listed, but the mutant changed: {fingerprint(text)}"))
                continue
            unexplained.append((r, ""))
        lines.append(_row(module, rs, module_equivalent))
        if per_file:
            for file in sorted({r.file for r in rs}):
                frs = [r for r in rs if r.file == file]
                feq = sum(1 for r in frs if r.name in equivalent_names)
                lines.append(_row("  " + file.replace("src/webpush_core/", ""), frs, feq))
        killed = sum(1 for r in rs if r.status in KILLED)
        if killed / len(rs) < TARGET:
            below.append(module)
    lines.append("-" * len(header))
    lines.append(_row("overall", everything, len(equivalent_names)))
    print("\n".join(lines))
    if everything and sum(1 for r in everything if r.status in KILLED) / len(everything) < TARGET:
        below.append("overall")
    if unexplained:
        print(f"\n{len(unexplained)} survivor(s) not in {EQUIVALENTS.relative_to(ROOT)}:")
        for r, note in unexplained:
            print(f"  {r.name}: {r.status}{'; ' + note if note else ''}")
        print("Each needs a test that fails on it, or (if no input can tell it from the code)")
        print("a line in the list: python tools/mutation_gate.py --show NAME shows it.")
    ran = {r.name.split(".x")[0] for r in everything}  # the Python modules that were mutated
    for name in sorted(set(listed) - seen):
        if name.split(".x")[0] in ran:
            stale.append(f"{name}: listed as equivalent but no such mutant any more")
    if stale:
        print(f"\nStale lines in {EQUIVALENTS.relative_to(ROOT)}:")
        for text in stale:
            print(f"  {text}")
    if below:
        print(f"\nBelow {TARGET:.0%}: {', '.join(below)}")
    return 1 if (unexplained or below) else 0
