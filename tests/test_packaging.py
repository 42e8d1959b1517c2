"""Packaging: what ``pip install`` pulls in, what ``import`` loads, vendoring, urllib3 1.26.

* A clean ``pip install`` in a new venv pulls only cryptography and urllib3
  (and what they need), the installed package sends, and its console script
  and pytest plugin are registered.
* ``import webpush_core`` (and touching ``webpush``, ``PushClient``, ...)
  loads none of requests, aiohttp, http_ece, py_vapid, jwt, pywebpush, even
  where they are installed (the project venv has them all, as test oracles).
* ``src/webpush_core`` copied into another project's folder imports and
  sends from there, and knows its ``__version__``; the README's
  ``pytest_plugins`` line gives its tests the fixtures.
* The README's install commands run as written from the repository's folder
  (``pip install .``, ``pip install '.[celery]'``, the vendoring ``cp``).
* With urllib3 1.26 the same sends work, timeouts included.

The venv tests (marked slow, still part of ``make test``) share one venv per
kind for the session, the three kinds made side by side. Each installs from a
copy of its own of the repository (source files only), so no build writes into
the working tree or into another's.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from packaging.requirements import Requirement

REPO = pathlib.Path(__file__).resolve().parent.parent
SOURCE = REPO / "src" / "webpush_core"
NOT_OURS = {
    "requests",
    "aiohttp",
    "http_ece",
    "py_vapid",
    "jwt",
    "pywebpush",
    # The celery extra: only webpush_core.celery imports them.
    "celery",
    "kombu",
    "billiard",
    "redis",
}
PIP_TIMEOUT = 600


def _version_in_source() -> str:
    text = (SOURCE / "_version.py").read_text()
    match = re.search(r'__version__ = "([^"]+)"', text)
    assert match
    return match.group(1)


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False, **kw
    )
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _run_json(python: str, script: str, *, env: Any = None, cwd: Any = None) -> Any:
    done = _run([python, "-c", script], env=env, cwd=cwd)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- what every environment runs -------------------------------------------------------

# Sends with whatever webpush_core the interpreter finds: both codings to a
# LocalPushService, an expired subscription (410), and a body dripped one
# byte at a time that must time out (the transport's watchdog reaches into
# urllib3's response internals, which differ between 1.26 and 2.x).
SEND_SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, threading, time
    import urllib3
    import webpush_core
    from webpush_core import EndpointPolicy, ExpiredSubscription, PushTimeout, webpush
    from webpush_core.testing import LocalPushService
    from webpush_core.vapid import Vapid

    local = EndpointPolicy(allow_http=True, allow_private=True)
    claims = {"sub": "mailto:ops@example.com"}
    out = {
        "file": webpush_core.__file__,
        "version": webpush_core.__version__,
        "urllib3": urllib3.__version__,
        "delivered": [],
    }
    with LocalPushService() as svc:
        key = Vapid.generate()
        sub = svc.subscribe(key.application_server_key)
        for coding in ("aes128gcm", "aesgcm"):
            r = webpush(sub, "sent with " + coding, key, claims, coding, ttl=60,
                        endpoint_policy=local)
            out["delivered"].append([r.status_code, svc.messages(sub)[-1].text])
        svc.expire(sub)
        try:
            webpush(sub, "late", key, claims, endpoint_policy=local)
        except ExpiredSubscription as ex:
            out["expired"] = [ex.response.status_code, bool(ex.response)]

    listener = socket.create_server(("127.0.0.1", 0))
    def drip():
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 201 Created\\r\\nContent-Length: 50\\r\\n\\r\\n")
        try:
            for _ in range(50):
                conn.sendall(b"x")
                time.sleep(0.2)
        except OSError:
            pass
        conn.close()
    threading.Thread(target=drip, daemon=True).start()
    dripping = dict(sub, endpoint="http://127.0.0.1:%d/push/x" % listener.getsockname()[1])
    started = time.monotonic()
    try:
        webpush(dripping, "x", timeout=1.0, endpoint_policy=local)
        out["drip"] = "no error"
    except PushTimeout:
        out["drip"] = "PushTimeout"
    out["drip_seconds"] = time.monotonic() - started
    out["modules"] = sorted({m.split(".")[0] for m in sys.modules})
    out["ours"] = sorted(
        getattr(m, "__file__", None) or "" for n, m in list(sys.modules.items())
        if n == "webpush_core" or n.startswith("webpush_core.")
    )
    print(json.dumps(out))
    """
)


def _check_sent(result: dict[str, Any]) -> None:
    assert result["delivered"] == [[201, "sent with aes128gcm"], [201, "sent with aesgcm"]]
    assert result["expired"] == [410, True]
    assert result["drip"] == "PushTimeout"
    assert result["drip_seconds"] < 5.0
    assert not NOT_OURS & set(result["modules"])


# -- imports ---------------------------------------------------------------------------

IMPORT_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import webpush_core
    after_import = sorted({m.split(".")[0] for m in sys.modules})
    import webpush_core.ece, webpush_core.vapid
    after_crypto = sorted({m.split(".")[0] for m in sys.modules})
    for name in ("webpush", "webpush_async", "WebPusher", "PushClient", "SendResult",
                 "build_request", "Vapid", "EndpointPolicy", "PushResponse", "Subscription"):
        getattr(webpush_core, name)
    missing = [name for name in webpush_core.__all__ if not hasattr(webpush_core, name)]
    print(json.dumps({
        "after_import": after_import,
        "after_crypto": after_crypto,
        "after_all": sorted({m.split(".")[0] for m in sys.modules}),
        "missing": missing,
    }))
    """
)


def test_import_loads_none_of_the_test_oracles() -> None:
    """In the project venv, where all of them are installed, none is loaded."""
    for name in NOT_OURS:
        # installed here (celery's module, once imported, has no __spec__ for find_spec)
        assert name in sys.modules or importlib.util.find_spec(name) is not None
    result = _run_json(sys.executable, IMPORT_SCRIPT)
    assert result["missing"] == []
    for stage in ("after_import", "after_crypto", "after_all"):
        assert not NOT_OURS & set(result[stage]), stage
    # The transport (urllib3) loads on first use of the sending API, not before.
    assert "urllib3" not in result["after_import"]
    assert "urllib3" not in result["after_crypto"]
    assert "urllib3" in result["after_all"]


# -- a vendored copy -------------------------------------------------------------------


def test_vendored_copy_imports_and_sends(tmp_path: pathlib.Path) -> None:
    vendor = tmp_path / "vendor"
    shutil.copytree(SOURCE, vendor / "webpush_core", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(vendor))
    env.pop("PYTHONHOME", None)
    result = _run_json(sys.executable, SEND_SCRIPT, env=env, cwd=tmp_path)
    _check_sent(result)
    assert pathlib.Path(result["file"]) == vendor / "webpush_core" / "__init__.py"
    # Every module of ours came from the copy, none from the repository's src.
    assert result["ours"] and all(f.startswith(str(vendor)) for f in result["ours"])
    assert result["version"] == _version_in_source()


def _readme_install_blocks() -> tuple[list[str], list[str], str]:
    """The README's install commands: (pip lines, vendoring lines, conftest line)."""
    text = (REPO / "README.md").read_text()
    start = text.index("\n## Install\n")
    section = text[start : text.index("\n## ", start + 1)]
    sh = re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)
    (conftest,) = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    pip, vendor = ([line for line in block.splitlines() if line.strip()] for block in sh)
    return pip, vendor, conftest


def _bash(line: str, cwd: pathlib.Path, bin_dir: pathlib.Path) -> None:
    """One README command, as written, with ``bin_dir``'s pip and python first on PATH."""
    env = dict(os.environ, PATH=os.pathsep.join([str(bin_dir), os.environ["PATH"]]))
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    _run(["bash", "-c", f"set -e\n{line}"], cwd=cwd, env=env)


_FIXTURE_TEST = textwrap.dedent(
    """
    import webpush_core


    def test_the_fixture_is_the_vendored_copys(push_service):
        assert webpush_core.__file__.startswith(VENDOR)
        sub = push_service.subscribe()
        assert sub["endpoint"].startswith("http://127.0.0.1:")
    """
)


def _pytest(project: pathlib.Path, *, autoload: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(project))
    if not autoload:  # as where webpush_core is not installed: no pytest11 entry point
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    else:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_push.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )


def test_readme_vendoring_and_its_pytest_plugins_line(tmp_path: pathlib.Path) -> None:
    """README "Install": the cp line as written, then the conftest line gives the fixture."""
    _, vendor_lines, conftest = _readme_install_blocks()
    copy, deps = vendor_lines
    assert deps.split() == ["pip", "install", "cryptography", "urllib3"]  # this venv has both
    project = tmp_path / "project"
    project.mkdir()
    # In the repository's folder (cp only reads there).
    _bash(
        copy.replace("/path/to/your/project/", f"{project}/"),
        REPO,
        pathlib.Path(sys.executable).parent,
    )
    assert (project / "webpush_core" / "pytest_plugin.py").is_file()
    (project / "test_push.py").write_text(
        f"VENDOR = {str(project / 'webpush_core')!r}\n" + _FIXTURE_TEST
    )
    # Without the line, a vendored copy's tests have no fixture: the line is what gives it.
    done = _pytest(project, autoload=False)
    assert done.returncode == 1 and "fixture 'push_service' not found" in done.stdout, done.stdout
    (project / "conftest.py").write_text(conftest)
    done = _pytest(project, autoload=False)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
    # Where webpush_core is installed too (its pytest11 entry point loads), the line
    # does nothing: no "Plugin already registered" error.
    done = _pytest(project, autoload=True)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr


def test_version_in_source_is_the_packages() -> None:
    from importlib.metadata import version

    import webpush_core

    assert webpush_core.__version__ == _version_in_source() == version("webpush-core")


# -- fresh venvs -----------------------------------------------------------------------


def _source_copy(tmp: pathlib.Path) -> pathlib.Path:
    """The repository's files a build reads, without VCS, venvs, caches, node_modules."""
    target = tmp / "webpush-core-src"
    shutil.copytree(
        REPO,
        target,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build", "dist",
            ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "out",
        ),
    )  # fmt: skip
    return target


def _venv(where: pathlib.Path) -> pathlib.Path:
    _run([sys.executable, "-m", "venv", str(where)])
    return where / "bin" / "python"


def _venv_copy(template: pathlib.Path, where: pathlib.Path) -> pathlib.Path:
    """A copy at ``where`` of the new venv ``template`` (``python -m venv`` spends
    seconds of CPU installing pip; a copy, a fraction of one). The same files,
    with the paths that name the template (the scripts' ``#!`` lines, activate,
    pyvenv.cfg) naming the copy; its python runs from the copy, so does its pip."""
    shutil.copytree(template, where, symlinks=True)
    old, new = str(template).encode(), str(where).encode()
    for path in [where / "pyvenv.cfg", *(where / "bin").iterdir()]:
        if path.is_file() and not path.is_symlink() and old in path.read_bytes():
            path.write_bytes(path.read_bytes().replace(old, new))
    python = where / "bin" / "python"
    pip = _run([str(where / "bin" / "pip"), "--version"]).stdout
    assert f" from {where}/lib/" in pip and str(template) not in pip, pip
    return python


def _pip(python: pathlib.Path, *args: str) -> None:
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-cache-dir",
         "--disable-pip-version-check", *args]
    )  # fmt: skip


def _distributions(python: pathlib.Path) -> dict[str, list[str]]:
    """Every installed distribution (normalized name) and its Requires-Dist."""
    script = textwrap.dedent(
        """
        import json, re
        from importlib.metadata import distributions
        norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
        print(json.dumps({norm(d.metadata["Name"]): d.requires or [] for d in distributions()}))
        """
    )
    result: dict[str, list[str]] = _run_json(str(python), script)
    return result


def _clean_install(where: pathlib.Path, new: pathlib.Path) -> tuple[pathlib.Path, Any]:
    """A new venv with only the README's ``pip install .``; also what it held before."""
    source = _source_copy(where)
    python = _venv_copy(new, where / "venv")
    before = _distributions(python)
    pip, _, _ = _readme_install_blocks()
    assert pip[0].split("#")[0].split() == ["pip", "install", "."]
    _bash(pip[0], source, python.parent)  # as written, in the repository's folder
    return python, before


def _celery_install(where: pathlib.Path, new: pathlib.Path) -> pathlib.Path:
    """A new venv with only the README's ``pip install '.[celery]'``."""
    pip, _, _ = _readme_install_blocks()
    assert pip[1].split("#")[0].split() == ["pip", "install", "'.[celery]'"]
    source = _source_copy(where)
    python = _venv_copy(new, where / "venv")
    _bash(pip[1], source, python.parent)  # as written, in the repository's folder
    return python


def _urllib3_126_install(where: pathlib.Path, new: pathlib.Path) -> pathlib.Path:
    source = _source_copy(where)
    python = _venv_copy(new, where / "venv")
    _pip(python, "urllib3<2", "cryptography", str(source))
    return python


@pytest.fixture(scope="session")
def venv_builds(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Any]]]:
    """The fresh venvs the selected tests use, all started when the first is needed.

    Each is a copy of one new venv, untouched, made first. They are filled side
    by side (pip spends most of its time waiting on the package index), each in
    a folder of its own with its own copy of the repository (a build writes into
    the folder it builds), its own venv and its own pip processes: each test
    waits for its own venv only.
    """
    kinds = {
        "clean_venv": _clean_install,
        "celery_venv": _celery_install,
        "urllib3_126_venv": _urllib3_126_install,
    }
    wanted = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    new = tmp_path_factory.mktemp("new") / "venv"
    _venv(new)
    with ThreadPoolExecutor(len(kinds), thread_name_prefix="venv") as pool:
        yield {
            kind: pool.submit(make, tmp_path_factory.mktemp(kind), new)
            for kind, make in kinds.items()
            if kind in wanted
        }


@pytest.fixture(scope="session")
def clean_venv(
    venv_builds: dict[str, Future[Any]],
) -> tuple[pathlib.Path, dict[str, list[str]]]:
    """A new venv with only the README's ``pip install .``; also what it held before."""
    made: tuple[pathlib.Path, dict[str, list[str]]] = venv_builds["clean_venv"].result()
    return made


@pytest.fixture(scope="session")
def celery_venv(venv_builds: dict[str, Future[Any]]) -> pathlib.Path:
    made: pathlib.Path = venv_builds["celery_venv"].result()
    return made


@pytest.fixture(scope="session")
def urllib3_126_venv(venv_builds: dict[str, Future[Any]]) -> pathlib.Path:
    made: pathlib.Path = venv_builds["urllib3_126_venv"].result()
    return made


def _norm(name: str) -> str:
    """A distribution name normalized as PEP 503 does."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(roots: set[str], installed: dict[str, list[str]]) -> set[str]:
    """The distributions ``roots`` need, following Requires-Dist without extras."""
    needed: set[str] = set()
    todo = [_norm(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        for spec in installed.get(name, []):
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_norm(req.name))
    return needed


@pytest.mark.slow
def test_clean_install_pulls_only_cryptography_and_urllib3(
    clean_venv: tuple[pathlib.Path, dict[str, list[str]]],
) -> None:
    python, before = clean_venv
    after = _distributions(python)
    ours = [Requirement(r) for r in after["webpush-core"]]
    runtime = {r.name.lower() for r in ours if r.marker is None}
    assert runtime == {"cryptography", "urllib3"}
    # Every optional requirement is behind an extra (test, bench), never pulled by default.
    assert all(r.marker is not None and "extra" in str(r.marker) for r in ours if r.marker)
    added = set(after) - set(before)
    assert added == _closure({"webpush-core"}, after)
    assert {"webpush-core", "cryptography", "urllib3"} <= added
    for name in ("requests", "aiohttp", "http-ece", "py-vapid", "pyjwt", "pywebpush"):
        assert name not in after


@pytest.mark.slow
def test_clean_install_imports_sends_and_registers(
    clean_venv: tuple[pathlib.Path, dict[str, list[str]]], tmp_path: pathlib.Path
) -> None:
    python, _ = clean_venv
    result = _run_json(str(python), SEND_SCRIPT, cwd=tmp_path)
    _check_sent(result)
    installed = pathlib.Path(result["file"])
    assert "site-packages" in installed.parts and REPO not in installed.parents
    assert (installed.parent / "py.typed").is_file()
    assert result["version"] == _version_in_source()
    assert result["urllib3"].split(".")[0] == "2"

    imports = _run_json(str(python), IMPORT_SCRIPT, cwd=tmp_path)
    assert imports["missing"] == []
    assert not NOT_OURS & set(imports["after_all"])

    script = python.parent / "webpush-core"
    done = _run([str(script), "--version"])
    assert done.stdout.strip() == f"webpush-core {_version_in_source()}"
    entry_points = _run_json(
        str(python),
        "import json; from importlib.metadata import entry_points; "
        "print(json.dumps([e.value for e in entry_points(group='pytest11')]))",
    )
    assert entry_points == ["webpush_core.pytest_plugin"]


@pytest.mark.slow
def test_readme_celery_extra_installs_as_written(
    celery_venv: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """``pip install '.[celery]'`` from the README, as written, in a new venv."""
    loaded = _run_json(
        str(celery_venv),
        "import json, celery, redis, webpush_core.celery as c; "
        "print(json.dumps([c.WebPushTasks.__name__, celery.__version__, redis.__version__]))",
        cwd=tmp_path,
    )
    assert loaded[0] == "WebPushTasks"


@pytest.mark.slow
def test_urllib3_1_26(urllib3_126_venv: pathlib.Path, tmp_path: pathlib.Path) -> None:
    result = _run_json(str(urllib3_126_venv), SEND_SCRIPT, cwd=tmp_path)
    assert result["urllib3"].startswith("1.26.")
    _check_sent(result)
    assert "site-packages" in pathlib.Path(result["file"]).parts
