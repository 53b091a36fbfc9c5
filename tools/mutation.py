#!/usr/bin/env python3
"""Mutation testing of the modules where a bug costs money, identity or tenancy (docs/testing.md).

    .venv/bin/python tools/mutation.py run [TARGET ...] [--max-children N]
    .venv/bin/python tools/mutation.py run --fresh [TARGET ...] # forget earlier results first
    .venv/bin/python tools/mutation.py retest [TARGET ...]      # only the mutants not killed
    .venv/bin/python tools/mutation.py retest delivery --only _claim_rows --postgres
    .venv/bin/python tools/mutation.py results [TARGET ...]     # counts and survivors again
    .venv/bin/python tools/mutation.py show TARGET MUTANT       # the diff of one mutant
    .venv/bin/python tools/mutation.py clean                    # forget all results

Each target is a few modules and the narrowest tests that exercise them. mutmut 3 copies the
project into `var/mutation/<target>/mutants/`, records which of those tests call each function,
and then runs, for every mutant, only the tests that reach the mutated function. A target's state
stays in its folder, so a second `run` only retries mutants whose function changed, not those a
new test may now kill: `retest` runs the survivors again, `run --fresh` everything. Slow (minutes
to an hour per target) and not part of `./dev.py test` or CI.

Runs on SQLite (DATABASE_URL is dropped unless `--postgres`), under `nice`, one mutant at a time
unless `--max-children` says otherwise. A survivor is printed with `documented` when docs/testing.md
names it (with the sentence why it is equivalent or irrelevant), else with `NEW`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
WORK = ROOT / "var" / "mutation"
DOC = ROOT / "docs" / "testing.md"

# What a copy of the project needs to import Django and run the tests (linked, not copied, into
# each target's folder; mutmut copies them on into its own `mutants/`).
PROJECT = [
    "aidn_billing",
    "accounts",
    "core",
    "exports",
    "integrations",
    "invoices",
    "operations",
    "bench",
    "manage.py",
]
ALSO_COPY = ["templates", "static", "locale", "bench", "manage.py"]
SOURCE_PATHS = [
    "aidn_billing",
    "accounts",
    "core",
    "exports",
    "integrations",
    "invoices",
    "operations",
]


@dataclass(frozen=True)
class Target:
    mutate: tuple[str, ...]
    tests: tuple[str, ...]
    # The tests use the database: each mutant's run builds the tables from the models
    # (--nomigrations) instead of migrating, several times faster for the same tests.
    database: bool = True


TARGETS: dict[str, Target] = {
    "amounts": Target(
        ("invoices/amounts.py",),
        ("tests/intake/test_validation.py",),
    ),
    "identifiers": Target(
        ("invoices/identifiers.py",),
        ("tests/test_identifiers.py",),
        database=False,
    ),
    "access": Target(
        ("invoices/access.py",),
        (
            "tests/test_access.py",
            "tests/test_access_matrix.py",
            "tests/test_switch_municipality.py",
        ),
    ),
    "state": Target(
        ("invoices/state.py",),
        ("tests/test_state.py",),
    ),
    "delivery": Target(
        ("integrations/delivery.py", "integrations/outcome.py"),
        (
            "tests/test_state.py",
            "tests/integrations/test_delivery.py",
            "tests/integrations/test_fault_injection.py",
            "tests/integrations/test_worker_crash.py",
        ),
    ),
    "writers": Target(
        ("exports/formats/visma_file.py", "exports/formats/agresso_lg04.py"),
        ("tests/export_formats",),
        database=False,
    ),
    "fixedwidth": Target(
        ("exports/formats/fixedwidth.py",),
        ("tests/export_formats",),
        database=False,
    ),
}


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(name: str) -> Path:
    """The target's folder: links to the project and a pyproject.toml with its mutmut section."""
    target = TARGETS[name]
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    for entry in {*PROJECT, *ALSO_COPY, "tests"}:
        link = folder / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    pytest_args = ["-p", "no:cacheprovider", "-q", *(["--nomigrations"] if target.database else [])]
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["pytest"]
    pytest_section = "[tool.pytest.ini_options]\n" + "".join(
        f"{key} = {_toml_list(value) if isinstance(value, list) else json.dumps(value)}\n"
        for key, value in pytest_options["ini_options"].items()
    )
    (folder / "pyproject.toml").write_text(
        pytest_section
        + "\n[tool.mutmut]\n"
        + f"source_paths = {_toml_list(SOURCE_PATHS)}\n"
        + f"only_mutate = {_toml_list(target.mutate)}\n"
        + f"also_copy = {_toml_list(ALSO_COPY)}\n"
        + f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}\n"
        # No cache (the last-failed plugin would reorder runs); quiet output.
        + f"pytest_add_cli_args = {_toml_list(pytest_args)}\n",
        "utf-8",
    )
    return folder


def environment(*, postgres: bool = False) -> dict[str, str]:
    dropped = {"PYTEST_SKIP_SUMMARY"} | (set() if postgres else {"DATABASE_URL"})
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.pop("REQUIRE_ALL_SERVICES", None)
    env["DJANGO_ENV"] = "test"
    # tests/conftest.py: no deadlines and a fixed seed, so a mutant is killed by what it
    # changes, not by a slow moment of a shared machine or a lucky draw.
    env["HYPOTHESIS_PROFILE"] = "mutation"
    return env


def mutmut(
    folder: Path, *args: str, capture: bool = False, postgres: bool = False
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nice", "-n", "10", str(PY), "-m", "mutmut", *args],
        cwd=folder,
        env=environment(postgres=postgres),
        text=True,
        capture_output=capture,
        check=False,
    )


def status_of(code: int | None) -> str:
    from mutmut.stats import status_by_exit_code

    return str(status_by_exit_code[code])


def not_killed(name: str) -> list[str]:
    names = []
    for path in TARGETS[name].mutate:
        meta = WORK / name / "mutants" / (path + ".meta")
        if meta.exists():
            codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
            names += [k for k, code in codes.items() if status_of(code) != "killed"]
    return sorted(names)


def changed_lines(folder: Path, path: str, mutant: str) -> list[str]:
    """The lines a mutant changes, read from mutmut's copy in the target's folder."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    here = Path.cwd()
    os.chdir(folder)
    try:
        diff = get_diff_for_mutant(mutant, path=path)
    finally:
        os.chdir(here)
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def report(name: str, *, diffs: bool = False) -> bool:
    """Print killed/survived per module and each survivor (with its diff if `diffs`); True if
    no survivor is undocumented."""
    folder = WORK / name
    documented = DOC.read_text("utf-8") if DOC.exists() else ""
    ok = True
    for path in TARGETS[name].mutate:
        meta = folder / "mutants" / (path + ".meta")
        if not meta.exists():
            print(f"  {path}: not run")
            ok = False
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        counts: dict[str, int] = {}
        for code in codes.values():
            counts[status_of(code)] = counts.get(status_of(code), 0) + 1
        summary = ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
        print(f"  {path}: {len(codes)} mutants: {summary}")
        for key, code in sorted(codes.items()):
            status = status_of(code)
            # A mutant that makes the tests hang (timeout) is caught as surely as a failure.
            if status in ("killed", "timeout", "not checked"):
                ok = ok and status != "not checked"
                continue
            known = key in documented
            ok = ok and known
            print(f"    {status:10} {'documented' if known else 'NEW':10} {key}")
            if diffs:
                print(
                    "".join(f"      {line}\n" for line in changed_lines(folder, path, key)), end=""
                )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "retest", "results", "show", "clean"))
    parser.add_argument("names", nargs="*", help="targets (default: all); for show: TARGET MUTANT")
    parser.add_argument("--max-children", type=int, default=1)
    parser.add_argument("--diff", action="store_true", help="print each survivor's diff")
    parser.add_argument("--fresh", action="store_true", help="run: forget earlier results")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keep DATABASE_URL (one mutant at a time: the children share one test database)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="retest: only mutants whose name has one of these (comma-separated)",
    )
    args = parser.parse_intermixed_args()
    if not PY.exists():
        print("No .venv: run ./dev.py test --co -q once first.", file=sys.stderr)
        return 2
    if args.command == "clean":  # forget every result: the next run starts over
        shutil.rmtree(WORK, ignore_errors=True)
        return 0
    if args.command == "show":
        name, mutant = args.names
        return mutmut(WORK / name, "show", mutant).returncode
    names = args.names or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    ok = True
    for name in names:
        if args.command in ("run", "retest"):
            if args.fresh:
                shutil.rmtree(WORK / name, ignore_errors=True)
            mutants = not_killed(name) if args.command == "retest" else []
            mutants = [m for m in mutants if any(part in m for part in args.only.split(","))]
            if args.postgres:
                args.max_children = 1
            if args.command == "retest" and not mutants:
                print(f"== {name}: nothing to retest")
                continue
            folder = prepare(name)
            started = time.monotonic()
            print(f"== {name}: mutmut {args.command} in {folder.relative_to(ROOT)}", flush=True)
            code = mutmut(
                folder,
                "run",
                "--max-children",
                str(args.max_children),
                *mutants,
                postgres=args.postgres,
            ).returncode
            print(f"== {name}: exit {code}, {time.monotonic() - started:.0f} s wall", flush=True)
        print(f"== {name}")
        ok = report(name, diffs=args.diff) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
