"""webpush_core as it was at a git revision, importable beside the working tree's.

A before/after comparison is only worth its ratio when both sides run in the
same process, interleaved, on the same inputs: the machine is shared and its
speed drifts between runs. :func:`load` extracts ``src/webpush_core`` at a
revision (``git archive``) into a temporary folder and imports it under
another name (the package imports itself relatively, so the copy is
self-contained).
"""

from __future__ import annotations

import atexit
import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def resolve(rev: str) -> str:
    """The full commit hash of ``rev`` (so the report names what was measured)."""
    out = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def load(rev: str) -> ModuleType:
    """``webpush_core`` at ``rev``, imported as ``webpush_core_at_<short hash>``."""
    commit = resolve(rev)
    name = f"webpush_core_at_{commit[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "src/webpush_core"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    folder = Path(tempfile.mkdtemp(prefix="webpush-core-baseline-"))
    atexit.register(shutil.rmtree, folder, True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        # Our own repository's files; "data" refuses links and absolute paths
        # where the Python has it (3.9.17+, 3.11.4+).
        try:
            tar.extractall(folder, filter="data")
        except TypeError:
            tar.extractall(folder)  # noqa: S202 - an archive of this repository
    package = folder / "src" / "webpush_core"
    spec = importlib.util.spec_from_file_location(
        name, package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def submodule(package: ModuleType, dotted: str) -> ModuleType:
    """``package``'s submodule ``dotted`` (e.g. ``"_wire.http1"``), imported."""
    return importlib.import_module(f"{package.__name__}.{dotted}")
