"""The structure's rules are checks: `lint-imports` (run by `./dev.py test`) keeps the contracts in
pyproject.toml, and each contract fails when an import it forbids is planted in a copy of the
project."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aidn_billing", "operations", "core", "invoices", "exports", "integrations", "accounts")
LINT = Path(sys.executable).parent / "lint-imports"

# (the module an import is planted in, what it imports, the contract that must break)
PLANTS = [
    ("invoices/services.py", "import exports.models", "the channels stand side by side"),
    ("core/db.py", "import invoices.models", "the channels stand side by side"),
    ("exports/views.py", "import integrations.models", "the channels stand side by side"),
    ("integrations/services.py", "from exports import services", "the channels stand side by side"),
    ("exports/formats/fixedwidth.py", "from django.db import models", "no Django"),
    ("integrations/visma/client.py", "import integrations.models", "not the models"),
]


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        # Wide enough that no contract's result line is wrapped.
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "pyproject.toml", target)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=shutil.ignore_patterns("__pycache__", "migrations", "templates", "*.csv"),
        )
    return target


def test_the_project_keeps_its_contracts(copy: Path) -> None:
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(("where", "line", "contract"), PLANTS, ids=[p[0] for p in PLANTS])
def test_a_forbidden_import_breaks_its_contract(
    copy: Path, where: str, line: str, contract: str
) -> None:
    module = copy / where
    original = module.read_text(encoding="utf-8")
    module.write_text(f"{original}\n{line}\n", encoding="utf-8")
    try:
        result = _lint(copy)
    finally:
        module.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    verdicts = [
        line
        for line in result.stdout.splitlines()
        if contract in line and line.endswith(("KEPT", "BROKEN"))
    ]
    assert verdicts and all(line.endswith("BROKEN") for line in verdicts), result.stdout
    assert "1 broken" in result.stdout
