"""Small helpers shared by the export tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from exports.formats import agresso_lg04, visma_file
from exports.models import Export
from exports.run import export_run
from exports.services import export_create
from invoices.models import BasisKind, BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.export_formats import readers

DIMS = {"ansvar": "3100", "tjeneste": "25300", "prosjekt": "9"}


def run_export(m: Municipality, actor: Any, **kw: Any) -> Export:
    """Create and run an export synchronously, as the command does."""
    kw.setdefault("period", "2026-10")
    kw.setdefault("fmt", "visma")
    export = export_create(m, actor=actor, enqueue=False, **kw)
    return export_run(export.pk)


def file_bytes(export: Export) -> bytes:
    return Path(export.file.path).read_bytes()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_files(media_root: Path) -> list[Path]:
    """Every file under MEDIA_ROOT/exports, temporary ones included."""
    base = media_root / "exports"
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def read_visma(export: Export, layout: str = "extended") -> readers.ParsedVismaFile:
    with open(export.file.path, "rb") as fh:
        return readers.read_visma(fh, visma_file.VismaFileOptions(layout=layout))  # type: ignore[arg-type]


def read_agresso(
    export: Export, layout: str = "classic", line_ending: str = "\r\n"
) -> list[readers.ParsedOrder]:
    options = agresso_lg04.AgressoOptions(layout=layout, line_ending=line_ending)  # type: ignore[arg-type]
    with open(export.file.path, "rb") as fh:
        return readers.read_agresso(fh, options)


def month(m: Municipality) -> dict[str, InvoiceBasis]:
    """A small month: two invoices (one with two lines, one in another unit), a credit note for an
    earlier exported invoice, plus bases that must stay out (received, other period)."""
    other_unit = factories.unit(m, "HJT-SOR", "Hjemmetjenesten sone sør")
    payer2 = factories.party(m, factories.FNR_OTHER, name="Ola Nordmann")
    org = factories.party(m, org_number=factories.ORGNR, name="Omsorg AS")
    original = factories.basis(m, status=BasisStatus.EXPORTED, period="2026-09", payer=payer2)
    return {
        "two_lines": factories.basis(
            m,
            lines=[
                {"quantity": "4.00", "unit_price_ore": 21500, "dimensions": DIMS},
                {"quantity": "12.50", "unit_price_ore": 9500, "dimensions": DIMS},
            ],
        ),
        "other_unit": factories.basis(
            m, unit_obj=other_unit, payer=org, lines=[{"dimensions": DIMS}]
        ),
        "credit": factories.basis(
            m,
            kind=BasisKind.CREDIT,
            credits=original,
            payer=payer2,
            lines=[{"quantity": "-1.00", "unit_price_ore": 21500, "dimensions": DIMS}],
        ),
        "received": factories.basis(m, status=BasisStatus.RECEIVED, lines=[{"dimensions": DIMS}]),
        "other_period": factories.basis(m, period="2026-11", lines=[{"dimensions": DIMS}]),
        "original": original,
    }
