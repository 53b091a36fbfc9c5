"""Where export files go (docs/operations.md, "Several hosts"): a run writes its temporary file
inside the storage's own directory, so storing it is a rename on one filesystem; and with a
storage that has no local path, the file is saved through Django's storage API and downloads
with its SHA-256 checked all the same. (That a web process and a worker on different hosts see
the same files is shown by tests/operations/test_production_run.py.)"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, ClassVar

from django.core.files import File
from django.core.files.storage import Storage, default_storage

from exports.demo import seed_demo as seed_export_profile
from exports.files import tmp_dir
from exports.models import ExportStatus
from exports.services import export_download
from invoices.models import Municipality
from tests import factories
from tests.exports.helpers import DIMS, run_export


class RemoteLikeStorage(Storage):
    """Files kept away from this host's filesystem, as an object store keeps them: no `path()`
    (Django's in-memory storage has one, and uses it itself)."""

    blobs: ClassVar[dict[str, bytes]] = {}

    def _save(self, name: str, content: Any) -> str:
        self.blobs[name] = content.read()
        return name

    def _open(self, name: str, mode: str = "rb") -> File:
        if name not in self.blobs:
            raise FileNotFoundError(name)
        return File(io.BytesIO(self.blobs[name]), name=name)

    def exists(self, name: str) -> bool:
        return name in self.blobs

    def delete(self, name: str) -> None:
        self.blobs.pop(name, None)

    def size(self, name: str) -> int:
        return len(self.blobs[name])


def _month(m: Municipality) -> None:
    seed_export_profile(m)
    factories.accounting(m, default_oppdragsgiver="013", kb_slots=["ansvar"] + [""] * 9)
    payer = factories.party(m, factories.FNR_OTHER, name="Kari Nordmann")
    for _ in range(2):
        factories.basis(m, period="2026-10", payer=payer, lines=[{"dimensions": DIMS}])


def test_temporary_files_sit_on_the_storage_filesystem(
    db: None, settings: Any, tmp_path: Path, kommune_a: Municipality, merkantil_a: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "shared")
    assert tmp_dir().is_relative_to(tmp_path / "shared")
    _month(kommune_a)
    export = run_export(kommune_a, merkantil_a)
    assert export.status == ExportStatus.DONE, export.findings
    stored = Path(default_storage.path(export.file.name))
    assert stored.is_relative_to(tmp_path / "shared")
    assert os.stat(stored).st_dev == os.stat(tmp_dir()).st_dev
    assert list(tmp_dir().iterdir()) == []  # moved, not copied


def test_a_storage_without_local_paths_saves_through_the_storage_api(
    db: None, settings: Any, kommune_a: Municipality, merkantil_a: Any
) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.operations.test_storage.RemoteLikeStorage"},
    }
    _month(kommune_a)
    export = run_export(kommune_a, merkantil_a)
    assert export.status == ExportStatus.DONE, export.findings
    assert default_storage.exists(export.file.name)
    fh, name = export_download(export, actor=merkantil_a)
    with fh:
        data = fh.read()
    assert name == export.file_name
    assert hashlib.sha256(data).hexdigest() == export.sha256
    assert not list(tmp_dir().glob(f"{export.pk}-*"))  # the local temporary file is gone
