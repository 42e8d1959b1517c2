"""Every code example in the docs runs, so none can rot.

* Each ```python block in README.md and docs/*.md runs, in order, per file,
  in one namespace (a later block may use what an earlier one defined), in a
  temporary working directory holding a fresh ``private_key.pem`` (what
  ``webpush-core keygen`` writes). After each block, every new function
  named ``test_*`` (or redefined by the block) is called like a pytest test: parameters named
  ``push_service`` get a running :class:`LocalPushService`, ``push_mock`` an
  active :class:`MockPushService`, ``tmp_path`` a temporary directory.
* The convention for a block that cannot run as written (it talks to a real
  push service, or shows a piece of a larger program): put the HTML comment
  ``<!-- fragment -->`` on the line just before its opening fence. It is
  invisible once rendered; the block is still compiled, so its syntax cannot
  rot either. Other languages (```sh, ```js, ```text) are not run.
* Every docstring example (``>>>``) in the package runs with doctest.
* docs/api.md names every public name (``webpush_core.__all__`` and the
  sub-packages' ``__all__``).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest

import webpush_core
from webpush_core.testing import LocalPushService, MockPushService
from webpush_core.vapid import Vapid

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENT = "<!-- fragment -->"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """(line number, code, is a fragment) for each ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        if match.group(1) not in ("python", "py"):
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, match.group(2), before == FRAGMENT))
    return blocks


def test_the_fence_parser_sees_fragments(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "a\n```python\nx = 1\n```\n\n<!-- fragment -->\n```python\ny(\n```\n```sh\nls\n```\n"
    )
    assert python_blocks(doc) == [(3, "x = 1\n", False), (8, "y(\n", True)]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_markdown_python_blocks_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(path)
    monkeypatch.chdir(tmp_path)
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    Vapid.generate().save_key(tmp_path / "private_key.pem")
    namespace: dict[str, Any] = {"__name__": f"doc_{path.stem}"}
    for line, code, fragment in blocks:
        where = f"{path.name}:{line}"
        compiled = compile(code, where, "exec")
        if fragment:
            continue
        before = dict(namespace)
        exec(compiled, namespace)  # noqa: S102 - our own documentation
        # New test functions, and those a block redefines (a "before" and an
        # "after" version of one test share its name).
        for name in sorted(n for n in namespace if namespace[n] is not before.get(n)):
            if name.startswith("test_") and callable(namespace[name]):
                run_test(namespace[name], tmp_path / f"{name}-{line}", where)


def run_test(function: Any, tmp: Path, where: str) -> None:
    tmp.mkdir()
    kwargs: dict[str, Any] = {}
    services = []
    for parameter in inspect.signature(function).parameters:
        if parameter in ("push_service", "push_mock"):
            service: Any = (LocalPushService if parameter == "push_service" else MockPushService)()
            services.append(service.start())
            kwargs[parameter] = service
        elif parameter == "tmp_path":
            kwargs[parameter] = tmp
        else:
            raise AssertionError(f"{where}: {function.__name__} asks for unknown {parameter!r}")
    try:
        function(**kwargs)
    finally:
        for service in services:
            service.stop()


def test_docs_have_runnable_examples() -> None:
    runnable = sum(not fragment for path in DOCS for _, _, fragment in python_blocks(path))
    assert runnable >= 8


def modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(webpush_core.__path__, "webpush_core."):
        if info.name.endswith("pytest_plugin"):
            continue  # pytest's own entry point: importing it twice warns
        names.append(info.name)
    return ["webpush_core", *names]


def test_docstring_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    attempted = 0
    for name in modules():
        module = importlib.import_module(name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 10


def test_api_page_names_every_public_name() -> None:
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = [n for n in webpush_core.__all__ if f"`{n}" not in page and n not in page]
    for sub in ("webpush_core.vapid", "webpush_core.ece", "webpush_core.testing"):
        module = importlib.import_module(sub)
        missing += [f"{sub}.{n}" for n in module.__all__ if n not in page]
    assert missing == []


def test_docs_speak_of_the_project_only() -> None:
    for path in [
        *DOCS,
        ROOT / "CHANGELOG.md",
        ROOT / "SECURITY.md",
        *(ROOT / "examples").glob("*.py"),
    ]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bissue\s*#?\d+", text, re.I), path.name
        assert "not built yet" not in text.lower(), path.name


def _architecture_rows() -> dict[str, str]:
    """The README's architecture table: each row's module cell, by layer."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("layer", "---"):
            rows[cells[0]] = cells[1]
    return rows


def test_architecture_section_names_every_module_where_it_lives() -> None:
    src = ROOT / "src" / "webpush_core"
    rows = _architecture_rows()
    assert len(rows) == 5
    text = " ".join(rows.values())
    skip = {"__init__.py", "__main__.py", "_version.py"}
    unnamed = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if path.name in skip:
            continue
        if len(rel.parts) == 1:
            named = f"`{path.name}`" in text
        else:
            # A sub-package's file is named in the row that names its package, or the
            # package is named as a whole (ece/, vapid/, testing/).
            package = f"`{rel.parts[0]}/`"
            named = any(
                package in cell
                and (
                    f"`{path.name}`" in cell
                    or f"{package} (" in cell
                    or f"{package}," in cell
                    or cell.endswith(package)
                )
                for cell in rows.values()
            )
        if not named:
            unnamed.append(str(rel))
    assert unnamed == []


def test_architecture_section_names_no_module_that_is_gone() -> None:
    src = ROOT / "src" / "webpush_core"
    existing = {p.name for p in src.rglob("*.py")} | {
        p.name + "/" for p in src.rglob("*") if p.is_dir() and p.name != "__pycache__"
    }
    named = re.findall(
        r"`([A-Za-z0-9_]+\.py|[A-Za-z0-9_]+/)`", " ".join(_architecture_rows().values())
    )
    assert named and sorted(set(named) - existing) == []
