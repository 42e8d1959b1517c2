"""``make mutate``: mutation testing (mutmut) of the modules that decide behaviour.

Each module in :data:`SCOPE` is mutated on its own, against the tests that
cover it: mutmut runs in ``mutants/<module>/`` with a ``[tool.mutmut]``
section written for that module (the files it mutates, the pytest arguments
that select its tests). mutmut then runs, for each mutant, only those of
the selected tests that reached the mutated function. When every module has
run, :mod:`mutation_report` prints the kill rate per module and overall and
the survivors that ``tests/mutation/equivalent.txt`` does not explain.

    python tools/mutation_gate.py                 # every module, from scratch
    python tools/mutation_gate.py http1 proxy     # some modules only
    python tools/mutation_gate.py --resume http1  # keep earlier verdicts; retest
                                                  # the survivors and new mutants
    python tools/mutation_gate.py --report        # the table of the last run
    python tools/mutation_gate.py --show NAME     # a mutant's diff

``MUTATE_CHILDREN`` (default 2, as ``make mutate`` passes it; 1 when run
directly without it) is mutmut's ``--max-children``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mutation_report

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"


def _deselect(path: str, *tests: str) -> list[str]:
    """pytest arguments leaving out ``path``'s tests whose names start with these."""
    return [f"--deselect={path}::test_{name}" for name in tests]


# module -> (the files mutmut mutates, the pytest arguments selecting the tests
# that cover them). A module is added by one line here. Keep the tests fast and
# deterministic: every mutant that survives runs all of them.
SCOPE: dict[str, tuple[list[str], list[str]]] = {
    "http1": (
        ["src/webpush_core/_wire/http1/*"],
        [
            "tests/unit/test_http1.py",
            "tests/adversarial/test_parser_accepts_only_rfc9112.py",
            "tests/adversarial/test_parser_fast_path_never_accepts_what_the_full_parser_refuses.py",
            "tests/adversarial/test_parser_work_is_linear_and_capped.py",
            "tests/adversarial/test_obs_fold_costs_linear_work.py",
            # CPU-per-octet ratios (benchmarks inside tests: seconds each, per mutant)
            # and a fold's cost to another origin (a server on loopback).
            *_deselect(
                "tests/adversarial/test_parser_work_is_linear_and_capped.py",
                "cpu_per_octet_is_flat_from_64_kib_to_1_mib",
                "a_chunk_size_line_is_parsed_in_linear_time",
                "error_detail_work_is_linear_in_the_body_whatever_its_charset",
            ),
            *_deselect(
                "tests/adversarial/test_obs_fold_costs_linear_work.py",
                "obs_fold_cpu_per_octet_is_flat_from_64_kib_to_1_mib",
                "folded_responses_do_not_delay_another_origin",
            ),
        ],
    ),
    "ece": (
        ["src/webpush_core/ece/*"],
        [
            "tests/unit/test_ece_api.py",
            "tests/unit/test_ece_vectors.py",
            "tests/unit/test_ece_properties.py",
            "tests/unit/test_ece_interop.py",
            "tests/unit/test_ece_explain.py",
        ],
    ),
    "vapid": (
        ["src/webpush_core/vapid/*"],
        [
            "tests/unit/test_vapid_cache.py",
            "tests/unit/test_vapid_claims.py",
            "tests/unit/test_vapid_keys.py",
            "tests/unit/test_vapid_sign.py",
            "tests/unit/test_vapid_node.py",
            # The valid subs and auds kept (checked once), at their bound.
            *(
                f"tests/unit/test_request_per_call.py::test_{name}"
                for name in (
                    "valid_claims_are_checked_once",
                    "invalid_claims_raise_every_time",
                    "at_most_the_limit_of_valid_claims_are_kept",
                    "a_str_subclass_is_checked_every_time",
                )
            ),
        ],
    ),
    "resolver": (
        ["src/webpush_core/_wire/resolver.py"],
        [
            "tests/test_resolver.py",
            "tests/adversarial/test_slow_zones_cannot_starve_a_known_push_service.py",
            # PushClient with a resolver (the policy on its addresses, the loop never
            # blocked): the sending engine's tests, seconds each; the unit tests cover it.
            *_deselect(
                "tests/test_resolver.py",
                "connects_to_the_checked_address_not_a_second_lookup",
                "the_policy_refuses_a_private_address_from_the_lookup",
                "send_async_never_blocks_the_callers_loop_on_a_lookup",
                "a_lookup_slower_than_the_timeout_is_a_timeout_within_it",
            ),
        ],
    ),
    "proxy": (
        ["src/webpush_core/_wire/proxy.py"],
        [
            "tests/test_proxy.py",
            "tests/adversarial/test_no_proxy_port_is_ascii_digits.py",
            "tests/adversarial/test_proxy_user_name_is_never_shown.py",
            # Through a real tinyproxy, push services and the CLI on loopback: the
            # transports' tests (seconds each, a process per fixture).
            *_deselect(
                "tests/test_proxy.py",
                "http_endpoint_through_the_proxy",
                "environment_proxy_and_no_proxy_bypass",
                "connect_tunnel_to_https_verified_end_to_end",
                "every_urllib3_path_goes_through_the_proxy",
                "407_names_the_proxy_without_its_password",
                "proxy_that_cannot_reach_the_endpoint",
                "502_and_unreachable_proxy",
                "policy_still_checks_the_endpoint",
                "curl_and_requests_session",
                "proxy_log_has_no_password",
                "push_client_own_transport",  # (a prefix: both of them)
                "hostile_connect_answers_are_capped",
                "a_proxy_that_never_answers_connect_times_out",
            ),
            *_deselect(
                "tests/adversarial/test_proxy_user_name_is_never_shown.py",
                "the_key_is_in_no_proxy_error_from_either_transport",
                "the_key_is_not_on_the_cli_s_stderr",
            ),
        ],
    ),
    "classify": (
        ["src/webpush_core/_classify.py", "src/webpush_core/_reasons.py"],
        [
            "tests/unit/test_classify.py",
            "tests/unit/test_reasons.py",
            "tests/unit/test_response.py",
            # mutmut runs a copy of tests/ (mutants/<module>/mutants/tests): no README beside it.
            *_deselect(
                "tests/unit/test_reasons.py", "readme_documents_every_reason_with_its_action"
            ),
        ],
    ),
    "text": (
        ["src/webpush_core/_text.py"],
        [
            "tests/unit/test_text.py",
            "tests/adversarial/test_invisible_text_never_shown.py",
        ],
    ),
    "endpoint": (
        [
            "src/webpush_core/_endpoint.py",
            "src/webpush_core/_hosts.py",
            "src/webpush_core/_origin.py",
        ],
        [
            "tests/unit/test_endpoint.py",
            "tests/unit/test_origin.py",
            "tests/adversarial/test_endpoint_address_ranges.py",
            "tests/adversarial/test_endpoint_carries_no_invisible_or_control_text.py",
            "tests/adversarial/test_endpoint_hidden_characters.py",
            *_deselect(
                "tests/adversarial/test_endpoint_address_ranges.py",
                "security_md_lists_every_range_of_the_table",  # reads SECURITY.md (not copied)
            ),
        ],
    ),
    "origins": (
        ["src/webpush_core/_delivery/origins.py"],
        [
            "tests/unit/test_origins.py",
            "tests/unit/test_origins_bounded.py",
            "tests/unit/test_origin.py",
            "tests/unit/test_engine.py",
        ],
    ),
    "retry": (
        ["src/webpush_core/_delivery/retry.py"],
        ["tests/unit/test_retry_policy.py"],
    ),
    "result": (
        ["src/webpush_core/_delivery/result.py"],
        ["tests/unit/test_result.py", "tests/unit/test_result_deadline.py"],
    ),
    "declarative": (
        ["src/webpush_core/declarative/*"],
        [
            "tests/unit/test_declarative_rules.py",
            "tests/test_declarative.py",
            "tests/adversarial/test_declarative_hostile_documents.py",
            # Ten megabytes parsed (seconds each): the work bound; the same echo rule
            # is checked at the size limit.
            *_deselect(
                "tests/adversarial/test_declarative_hostile_documents.py",
                "ten_megabytes_of_unknown_members_give_a_short_error",
            ),
        ],
    ),
    "celery": (
        ["src/webpush_core/celery/_report.py"],
        [
            "tests/unit/test_celery_report.py",
            # The pure ones (no Redis, no worker): what a result's entry says.
            *(
                f"tests/test_celery.py::test_{name}"
                for name in (
                    "outcome_is_the_results_own_reason_and_action",
                    "outcome_of_a_result_without_reason_and_action",
                    "clean_detail",
                    "describe_a_failed_result",
                )
            ),
        ],
    ),
}

# Every module's settings besides its scope. The hypothesis profile (tests/conftest.py)
# draws the same examples for every mutant, so a verdict does not depend on luck.
COMMON = {
    "source_paths": ["src/webpush_core"],
    "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q", "--hypothesis-profile=mutation"],
    "use_git_change_detection": False,
    # A mutant that loops is stopped after (its tests' time + 1 s) x 3 x 2 of CPU
    # (mutmut's default 15 spends a minute on each).
    "timeout_multiplier": 3.0,
}


def mutmut_section(module: str) -> str:
    """The ``[tool.mutmut]`` table for ``module`` (TOML; JSON strings are TOML basic strings)."""
    mutate, tests = SCOPE[module]
    settings = {**COMMON, "only_mutate": mutate, "pytest_add_cli_args_test_selection": tests}
    lines = ["[tool.mutmut]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def pyproject_for(module: str) -> str:
    """The project's pyproject.toml (pytest reads its settings there) plus the module's table."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if "\n[tool.mutmut]" in text:
        raise SystemExit("pyproject.toml has a [tool.mutmut] table: the gate writes its own")
    return text.rstrip("\n") + "\n\n" + mutmut_section(module)


def prepare(module: str, resume: bool) -> Path:
    """``mutants/<module>/``: the sources and tests (links) and the module's pyproject.toml."""
    workdir = WORK / module
    if workdir.exists() and not resume:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("src", "tests"):
        link = workdir / name
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(ROOT / name, workdir))
    (workdir / "pyproject.toml").write_text(pyproject_for(module), encoding="utf-8")
    return workdir


def mutmut(workdir: Path, *args: str, log: Path | None = None) -> int:
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    if log is None:
        return subprocess.call(command, cwd=workdir)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        return subprocess.call(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def run(module: str, children: int, resume: bool) -> float:
    """Run mutmut over ``module``; returns the wall time in seconds."""
    start = time.monotonic()
    workdir = prepare(module, resume)
    log = workdir / "mutmut.log"
    if not resume:
        log.write_text("", encoding="utf-8")
    print(f"[{module}] mutmut run (log: {log.relative_to(ROOT)})", flush=True)
    code = mutmut(workdir, "run", f"--max-children={children}", log=log)
    if code == 0 and resume:
        # Verdicts are kept across runs; tests may have changed since: try the survivors again.
        results = mutation_report.results(module)
        survivors = [r.name for r in results if r.status not in mutation_report.KILLED]
        if survivors:
            code = mutmut(workdir, "run", f"--max-children={children}", *survivors, log=log)
    elapsed = time.monotonic() - start
    if code != 0:
        print(f"[{module}] mutmut failed (exit {code}); see {log}", flush=True)
        raise SystemExit(code)
    print(f"[{module}] done in {elapsed:.0f} s", flush=True)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: all ({', '.join(SCOPE)})")
    parser.add_argument("--resume", action="store_true", help="keep earlier verdicts")
    parser.add_argument("--report", action="store_true", help="only print the last run's table")
    parser.add_argument("--show", metavar="MUTANT", help="print a mutant's diff")
    parser.add_argument("--files", action="store_true", help="a line per file in the table")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in SCOPE]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(SCOPE)}")
    modules = args.modules or list(SCOPE)
    if args.show:
        print(mutation_report.diff(args.show))
        return 0
    if not args.report:
        children = int(os.environ.get("MUTATE_CHILDREN", "1"))
        start = time.monotonic()
        for module in modules:
            run(module, children, args.resume)
        print(f"mutation runs: {time.monotonic() - start:.0f} s wall in all", flush=True)
    return mutation_report.main(modules, per_file=args.files)


if __name__ == "__main__":
    sys.exit(main())
