"""Backup and restore (docs/operations.md): `deploy/backup.sh` dumps a database that holds a
finished export and a finished Visma transfer and copies the files; `deploy/restore.sh` restores
them into a new database and a new files directory and runs `check_restore`, which passes. Then
the check fails, naming what is wrong, when a file is missing, when a file changed, and when the
database lost an attempt row."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exports.demo import seed_demo as seed_export_profile
from exports.models import Export, ExportStatus
from integrations.models import AttemptState, Transfer
from integrations.services import transfer_start
from invoices.models import Municipality
from tests import factories
from tests.exports.helpers import DIMS, run_export
from tests.integrations.conftest import configure
from tests.integrations.helpers import run_transfer
from tests.operations.helpers import database_url, fresh_database

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "manage.py", "check_restore"], env)


@pytest.fixture
def installation(
    requires_postgres: None,
    transactional_db: None,
    settings: Any,
    tmp_path: Path,
    kommune_a: Municipality,
    merkantil_a: Any,
    simulator: Any,
) -> dict[str, Any]:
    """A month exported to a file and another sent to Visma, committed, files in MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    seed_export_profile(kommune_a)
    factories.accounting(kommune_a, default_oppdragsgiver="013", kb_slots=["ansvar"] + [""] * 9)
    configure(kommune_a, simulator.url)
    payer = factories.party(kommune_a, factories.FNR_OTHER, name="Kari Nordmann")
    for period in ("2026-10", "2026-11"):
        for _ in range(3):
            factories.basis(kommune_a, period=period, payer=payer, lines=[{"dimensions": DIMS}])
    export = run_export(kommune_a, merkantil_a, period="2026-10")
    assert export.status == ExportStatus.DONE, export.findings
    transfer = run_transfer(transfer_start(kommune_a, period="2026-11", actor=merkantil_a))
    assert transfer.status == "done"
    return {"export": export, "transfer": transfer, "media": Path(settings.MEDIA_ROOT)}


def test_backup_restores_and_the_check_finds_what_is_missing_or_changed(
    installation: dict[str, Any], tmp_path: Path
) -> None:
    export: Export = installation["export"]
    transfer: Transfer = installation["transfer"]
    backup = tmp_path / "backup"
    base_env = {**os.environ, "DJANGO_ENV": "test", "APP_PYTHON": sys.executable}
    made = _run(
        ["deploy/backup.sh", str(backup)],
        {**base_env, "DATABASE_URL": database_url(), "MEDIA_ROOT": str(installation["media"])},
    )
    assert made.returncode == 0, made.stderr
    assert (backup / "database.dump").stat().st_size > 0

    with fresh_database("billing_restore") as url:
        files = tmp_path / "restored-files"
        env = {**base_env, "DATABASE_URL": url, "MEDIA_ROOT": str(files)}
        restored = _run(["deploy/restore.sh", str(backup)], env)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "Kontrollert: 1 eksportfiler, 1 overføringer, 6 fakturagrunnlag." in restored.stdout
        assert "OK: filer og database stemmer med hverandre." in restored.stdout

        stored = files / export.file.name
        data = stored.read_bytes()
        assert hashlib.sha256(data).hexdigest() == export.sha256

        stored.unlink()  # a file lost in the copy
        missing = _check(env)
        assert missing.returncode == 1
        assert "FEIL: 1 eksportfiler som mangler" in missing.stderr
        assert f"eksport {export.pk}: {export.file_name}" in missing.stderr

        stored.write_bytes(data.replace(b"Kari Nordmann", b"Kari Nordmenn", 1))  # a changed file
        changed = _check(env)
        assert changed.returncode == 1
        assert "FEIL: 1 eksportfiler med annen SHA-256 enn eksporten registrerte" in changed.stderr

        stored.write_bytes(data)
        assert _check(env).returncode == 0

        with psycopg.connect(url, autocommit=True) as db:  # a database that lost a row
            db.execute(
                "DELETE FROM integrations_transferattempt WHERE id = "
                "(SELECT min(id) FROM integrations_transferattempt WHERE transfer_id = %s)",
                [transfer.pk],
            )
        lost = _check(env)
        assert lost.returncode == 1
        assert f"overføring {transfer.pk}: 2 forsøk, 3 grunnlag" in lost.stderr, lost.stderr
        assert "FEIL: 1 grunnlag med status «Sendt» uten et sendt forsøk" in lost.stderr
    assert transfer.attempts.filter(state=AttemptState.SENT).count() == 3  # the original is whole
