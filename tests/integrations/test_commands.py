"""configure_visma and send_to_visma: the same checks, audit and service as the pages."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from integrations import delivery, wakeup
from integrations.models import Transfer, VismaSettings
from invoices.models import AuditEvent, BasisStatus, InvoiceBasis
from tests.integrations.conftest import DEMO_PASSWORD
from tests.integrations.helpers import bulk_bases


def _configure(*args: str) -> str:
    out = StringIO()
    call_command("configure_visma", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.django_db
def test_configure_visma_sets_everything_and_never_echoes_the_password(
    kommune_a, simulator, tmp_path: Path, caplog
):
    secret = tmp_path / "pw"
    secret.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    output = _configure(
        "--municipality", "9999", "--company", "1", "--url", simulator.url,
        "--username", "demo", "--password-file", str(secret), "--enable",
    )  # fmt: skip
    obj = VismaSettings.objects.get(municipality=kommune_a)
    assert obj.enabled and obj.get_password() == DEMO_PASSWORD
    assert DEMO_PASSWORD not in output and DEMO_PASSWORD not in caplog.text
    event = AuditEvent.objects.get(action="visma.settings_changed")
    assert event.data["via"] == "configure_visma" and event.data["passord"] == "passord endret"
    assert DEMO_PASSWORD not in str(event.data)

    # Later: only disable, everything else kept.
    _configure("--municipality", "9999", "--disable")
    obj.refresh_from_db()
    assert not obj.enabled and obj.get_password() == DEMO_PASSWORD and obj.selskap == "1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://visma.example.no/fakturering_ws/"], "https"),
        (["--url", "https://visma.example.no/other/"], "fakturering_ws/"),
        (["--company", ""], "Selskap"),
        (["--enable"], "passord"),
    ],
)
def test_configure_visma_refuses_bad_settings(kommune_a, args, message):
    base = ["--municipality", "9999", "--company", "1", "--username", "u"]
    base += ["--url", "https://visma.example.no/fakturering_ws/"]
    with pytest.raises(CommandError, match=message):
        _configure(*base, *args)
    assert not VismaSettings.objects.filter(enabled=True).exists()


@pytest.mark.django_db
def test_configure_visma_unknown_municipality():
    with pytest.raises(CommandError, match="Ukjent kommune"):
        _configure("--municipality", "1234", "--disable")


@pytest.mark.django_db
def test_send_to_visma_starts_a_transfer(kommune_a, visma_a, wakeups):
    bulk_bases(kommune_a, 4)
    out = StringIO()
    call_command("send_to_visma", "--municipality", "9999", "--period", "2026-10", stdout=out)
    transfer = Transfer.objects.get()
    assert f"#{transfer.pk}" in out.getvalue() and transfer.basis_count == 4
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.SENDING}
    with pytest.raises(CommandError, match="ingen godkjente"):
        call_command("send_to_visma", "--municipality", "9999", "--period", "2026-10")


@pytest.mark.django_db(transaction=True)
def test_send_to_visma_wait_prints_counts(kommune_a, visma_a, simulator, monkeypatch):
    bulk_bases(kommune_a, 5)

    def work_inline(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
        delivery.transfer_process(transfer_id)

    monkeypatch.setattr(wakeup, "enqueue_send", work_inline)
    out = StringIO()
    call_command(
        "send_to_visma", "--municipality", "9999", "--period", "2026-10", "--wait", stdout=out
    )
    text = out.getvalue()
    assert "sent\t5" in text and "Ferdig" in text
    assert simulator.stats()["stored_unique"] == 5

    out = StringIO()
    bulk_bases(kommune_a, 2, prefix="T")
    call_command(
        "send_to_visma", "--municipality", "9999", "--period", "2026-10", "--test", "--wait",
        stdout=out,
    )  # fmt: skip
    assert "Testoverføring" in out.getvalue() and "validated\t2" in out.getvalue()
