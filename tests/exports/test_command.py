"""`manage.py export_invoice_bases`: the same service, synchronously, for scripts and operators."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from exports.models import Export, ExportProfile, ExportStatus
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories
from tests.exports.helpers import DIMS, sha256_of

pytestmark = pytest.mark.django_db


def _call(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("export_invoice_bases", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_writes_the_file_and_reports_its_facts(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile, tmp_path: Path
) -> None:
    basis = factories.basis(kommune_a, lines=[{"quantity": "4", "unit_price_ore": 21550}])
    target = tmp_path / "out.txt"

    out, _err = _call(
        "--municipality", "9999", "--period", "2026-10", "--format", "visma",
        "--user", "merkantil_a", "--output", str(target),
    )  # fmt: skip

    export = Export.objects.get()
    assert export.status == ExportStatus.DONE
    assert target.read_bytes() == Path(export.file.path).read_bytes()
    assert "count: 1" in out
    assert "total: 862.00 kr" in out
    assert "VISMA_9999_202610_001.txt" in out
    assert f"sha256: {sha256_of(target.read_bytes())}" in out
    assert InvoiceBasis.objects.get(pk=basis.pk).status == BasisStatus.EXPORTED


def test_command_into_a_directory_with_layout_unit_and_customer_file(
    kommune_a: Municipality, merkantil_a: Any, agresso_profile: ExportProfile, tmp_path: Path
) -> None:
    ExportProfile.objects.filter(pk=agresso_profile.pk).update(
        cs15_enabled=True, customer_mode="apar_id"
    )
    other = factories.unit(kommune_a, "HJT-SOR", "Sone sør")
    payer = factories.party(kommune_a, factories.FNR_OTHER, customer_number="20000815")
    factories.basis(kommune_a, unit_obj=other, payer=payer, lines=[{"dimensions": DIMS}])
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])

    out, _err = _call(
        "--municipality", "9999", "--period", "2026-10", "--format", "agresso",
        "--layout", "wide", "--unit", "HJT-SOR", "--user", "merkantil_a",
        "--output", str(tmp_path),
    )  # fmt: skip

    export = Export.objects.get()
    assert (export.layout, export.count) == ("wide", 1)
    assert (tmp_path / "AGRESSO_LG04_9999_202610_001.txt").exists()
    assert (tmp_path / "AGRESSO_CS15_9999_202610_001.txt").exists()
    assert "customer sha256:" in out


def test_command_fails_with_the_error_list_and_writes_nothing(
    kommune_a: Municipality, merkantil_a: Any, visma_profile: ExportProfile, tmp_path: Path
) -> None:
    unmapped = factories.service(kommune_a, "UKJENT", visma_vare="")
    bad = factories.basis(kommune_a, lines=[{"service": unmapped}])
    target = tmp_path / "out.txt"
    err = io.StringIO()

    with pytest.raises(CommandError, match="refused"):
        call_command(
            "export_invoice_bases",
            "--municipality", "9999", "--period", "2026-10", "--format", "visma",
            "--user", "merkantil_a", "--output", str(target),
            stderr=err,
        )  # fmt: skip

    assert bad.reference in err.getvalue()
    assert not target.exists()
    assert InvoiceBasis.objects.get(pk=bad.pk).status == BasisStatus.APPROVED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--municipality", "1234"], "unknown municipality"),
        (["--user", "nobody"], "unknown user"),
        (["--unit", "NOPE"], "unknown unit"),
        (["--user", "admin_a"], "tilgang"),
        (["--period", "2026-1"], "ÅÅÅÅ-MM"),
    ],
)
def test_command_refuses_bad_arguments(
    kommune_a: Municipality,
    merkantil_a: Any,
    admin_a: Any,
    visma_profile: ExportProfile,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    base = {
        "--municipality": "9999",
        "--period": "2026-10",
        "--format": "visma",
        "--user": "merkantil_a",
        "--output": str(tmp_path / "x.txt"),
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [part for pair in base.items() for part in pair]
    with pytest.raises(CommandError, match=message):
        _call(*flat)
    assert not Export.objects.filter(status=ExportStatus.DONE).exists()
