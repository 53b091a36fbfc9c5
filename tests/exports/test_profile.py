"""The export profile: validated settings, audited changes, an order-id series that moves on."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.demo import seed_demo
from exports.forms import PROFILE_SECTIONS, ExportProfileForm
from exports.models import Export, ExportProfile, ExportStatus
from exports.services import ExportError, export_profile_get, export_profile_update
from invoices.demo_data import setup_demo_municipality
from invoices.forms import AccountingSettingsForm
from invoices.models import AccountingSettings, AuditEvent, Municipality
from invoices.services import BasisActionError, accounting_settings_get, accounting_settings_update
from tests import factories
from tests.exports.helpers import DIMS, read_agresso, run_export

pytestmark = pytest.mark.django_db


def form_data(profile: ExportProfile, **changes: Any) -> dict[str, Any]:
    """What the page posts for `profile` and the municipality's accounting settings, with
    `changes` applied."""
    municipality = profile.municipality
    form = ExportProfileForm(instance=profile, municipality=municipality)
    accounting = AccountingSettingsForm(
        instance=accounting_settings_get(municipality), municipality=municipality
    )
    data: dict[str, Any] = {}
    for name, field in [*form.fields.items(), *accounting.fields.items()]:
        form_of = form if name in form.fields else accounting
        value = form_of.initial.get(name, field.initial)
        if name in ("kb_slots", "dim_slots"):
            for i, slot in enumerate(value):
                data[f"{name}_{i}"] = slot
        elif name == "dim_required":
            data[name] = [str(n) for n in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    for name, value in changes.items():
        if name in ("kb_slots", "dim_slots"):
            for i, slot in enumerate(value):
                data[f"{name}_{i}"] = slot
        elif value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def test_defaults_are_a_valid_visma_profile(kommune_a: Municipality) -> None:
    profile = export_profile_get(kommune_a)
    profile.full_clean()
    accounting = accounting_settings_get(kommune_a)
    accounting.full_clean()
    assert (accounting.transfer_route, profile.visma_layout, profile.encoding) == (
        "visma_file",
        "extended",
        "iso-8859-1",
    )
    assert (profile.line_ending, profile.quantity_decimals, profile.agresso_layout) == (
        "crlf",
        2,
        "classic",
    )
    assert accounting.kb_slots == [""] * 10 and profile.dim_slots == [""] * 7


def test_every_field_on_the_page_once_and_a_real_profile_or_accounting_field() -> None:
    placed = [name for _title, names in PROFILE_SECTIONS for name in names]
    assert len(placed) == len(set(placed))
    model_fields = {f.name for f in ExportProfileForm.Meta.model._meta.get_fields()}
    accounting_fields = set(AccountingSettingsForm.Meta.fields)
    assert set(placed) == set(ExportProfileForm.Meta.fields) | accounting_fields
    assert set(ExportProfileForm.Meta.fields) <= model_fields
    assert not accounting_fields & model_fields  # each setting has one home
    # What the system keeps to itself is never on the form.
    assert "order_id_next" in model_fields and "order_id_next" not in placed


def test_admin_saves_the_profile_and_the_change_is_audited(
    kommune_a: Municipality, admin_a: Any
) -> None:
    profile = export_profile_get(kommune_a)
    client = Client()
    client.force_login(admin_a)
    data = form_data(
        profile,
        default_oppdragsgiver="013",
        kb_slots=["ansvar", "tjeneste", "", "", "", "", "", "", "", ""],
        line_ending="lf",
    )

    response = client.post(reverse("exports:profile"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    accounting = AccountingSettings.objects.get(municipality=kommune_a)
    assert accounting.default_oppdragsgiver == "013"
    assert accounting.kb_slots[:2] == ["ansvar", "tjeneste"]
    assert profile.line_ending == "lf"
    event = AuditEvent.objects.get(action="export_profile.changed")
    assert event.actor_id == admin_a.pk
    assert event.data["changes"] == {"line_ending": {"before": "crlf", "after": "lf"}}
    event = AuditEvent.objects.get(action="accounting_settings.changed")
    assert event.actor_id == admin_a.pk
    assert event.data["changes"]["default_oppdragsgiver"] == {"before": "", "after": "013"}
    assert "transfer_route" not in event.data["changes"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"default_oppdragsgiver": "13"}, "default_oppdragsgiver", "tre siffer"),
        ({"kb_slots": ["ukjent"] + [""] * 9}, "kb_slots", ""),
        ({"dim_required": ["5"]}, "dim_required", "påkrevd"),
        ({"order_id_start": "100", "order_id_end": "50"}, "order_id_end", "større"),
        ({"order_id_start": "100"}, "order_id_end", "både start og slutt"),
        (
            {"order_id_start": "1", "order_id_end": "1000000000"},
            "order_id_end",
            "9 siffer",
        ),
        ({"batch_prefix": "ABCDEFG"}, "batch_prefix", "Høyst 4"),
        ({"agresso_client": "DKX"}, "agresso_client", "Høyst 2"),
        ({"responsible": "FAK TURA"}, "responsible", "Bare bokstaver"),
        ({"header_text_template": "{navn}"}, "header_text_template", "navn"),
        ({"header_text_template": "{unit_name"}, "header_text_template", "krøllparentes"),
        ({"transfer_route": "agresso_file"}, "agresso_client", "Påkrevd"),
        ({"cs15_enabled": "on", "customer_mode": "id_in_text"}, "cs15_enabled", "apar_id"),
    ],
)
def test_page_refuses_bad_settings_with_a_norwegian_message_and_stores_nothing(
    kommune_a: Municipality, admin_a: Any, changes: dict[str, Any], field: str, message: str
) -> None:
    profile = export_profile_get(kommune_a)
    data = form_data(profile, **changes)
    client = Client()
    client.force_login(admin_a)  # audited as a login, so before the count
    before = (
        list(ExportProfile.objects.values()),
        list(AccountingSettings.objects.values()),
        AuditEvent.objects.count(),
    )

    response = client.post(reverse("exports:profile"), data)

    assert response.status_code == 200
    errors = {**response.context["form"].errors, **response.context["accounting_form"].errors}
    assert field in errors, errors
    assert message in " ".join(str(e) for e in errors[field])
    after = (
        list(ExportProfile.objects.values()),
        list(AccountingSettings.objects.values()),
        AuditEvent.objects.count(),
    )
    assert after == before


def test_wide_layout_allows_wider_site_values(kommune_a: Municipality) -> None:
    profile = export_profile_get(kommune_a)
    data = form_data(
        profile,
        agresso_layout="wide",
        agresso_client="DEMOKOMMUNE",
        batch_prefix="FAKTURAGRUNNLAG",
        order_id_start="100000000000",
        order_id_end="100000999999",
    )
    form = ExportProfileForm(data, instance=profile, municipality=kommune_a)
    assert form.is_valid(), form.errors


def test_only_the_systemadministrator_may_change_it(
    kommune_a: Municipality, merkantil_a: Any, superbruker_a: Any
) -> None:
    profile = export_profile_get(kommune_a)
    for actor in (merkantil_a, superbruker_a, None):
        with pytest.raises(ExportError):
            export_profile_update(profile, values={"line_ending": "lf"}, actor=actor)
        with pytest.raises(BasisActionError):
            accounting_settings_update(
                kommune_a, values={"transfer_route": "agresso_file"}, actor=actor
            )
    client = Client()
    client.force_login(merkantil_a)
    assert client.post(reverse("exports:profile"), form_data(profile)).status_code == 403
    assert ExportProfile.objects.get(pk=profile.pk).line_ending == "crlf"
    assert accounting_settings_get(kommune_a).transfer_route == "visma_file"


def test_order_series_never_moves_back_over_used_ids(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    for _ in range(3):
        factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    export = run_export(kommune_a, merkantil_a, fmt="agresso")
    assert export.status == ExportStatus.DONE
    assert (export.order_id_first, export.order_id_last) == (380_000_000, 380_000_002)

    # Moving to a new series starts at its beginning …
    profile = export_profile_update(
        agresso_profile,
        values={"order_id_start": 390_000_000, "order_id_end": 390_999_999},
        actor=admin_a,
    )
    assert profile.order_id_next == 390_000_000
    # … and moving back continues after what was used, never at the start again.
    profile = export_profile_update(
        profile,
        values={"order_id_start": 380_000_000, "order_id_end": 380_999_999},
        actor=admin_a,
    )
    assert profile.order_id_next == 380_000_003

    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    later = run_export(kommune_a, merkantil_a, fmt="agresso")
    assert [o.order_id for o in read_agresso(later)] == [380_000_003]
    changes = AuditEvent.objects.filter(action="export_profile.changed").count()
    assert changes == 2


def test_a_series_already_used_up_cannot_hand_out_more(
    kommune_a: Municipality, admin_a: Any, merkantil_a: Any, agresso_profile: ExportProfile
) -> None:
    export_profile_update(
        agresso_profile, values={"order_id_start": 10, "order_id_end": 11}, actor=admin_a
    )
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    assert run_export(kommune_a, merkantil_a, fmt="agresso").status == ExportStatus.DONE
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])

    refused = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert refused.status == ExportStatus.REFUSED
    assert [f["code"] for f in refused.errors] == ["order_series_exhausted"]
    assert ExportProfile.objects.get(pk=agresso_profile.pk).order_id_next == 12


def test_demo_profile_is_valid_idempotent_and_exports(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    setup_demo_municipality()
    assert seed_demo(kommune_a) == "export profile created"
    profile = ExportProfile.objects.get(municipality=kommune_a)
    profile.line_ending = "lf"
    profile.save(update_fields=["line_ending"])
    assert seed_demo(kommune_a) == "export profile kept"
    profile.refresh_from_db()
    profile.full_clean()
    assert profile.line_ending == "lf"
    assert (profile.agresso_client, profile.voucher_type, profile.order_type) == ("DK", "FK", "FS")
    assert profile.dim_slots == ["ansvar", "tjeneste", "", "", "prosjekt", "", ""]
    assert profile.dim_required == [5]
    assert accounting_settings_get(kommune_a).kb_slots[:3] == ["ansvar", "tjeneste", "prosjekt"]

    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    visma = run_export(kommune_a, merkantil_a, fmt="visma")
    assert visma.status == ExportStatus.DONE
    factories.basis(kommune_a, lines=[{"dimensions": DIMS}])
    agresso = run_export(kommune_a, merkantil_a, fmt="agresso")
    assert agresso.status == ExportStatus.DONE, agresso.findings
    orders = read_agresso(agresso, line_ending="\n")
    assert orders[0].order_id == 380_000_000
    assert orders[0].items[0].dimensions[4] == "9"  # prosjekt in dim_5


def test_required_dimension_left_empty_blocks_the_agresso_file(
    kommune_a: Municipality, merkantil_a: Any
) -> None:
    seed_demo(kommune_a)
    service = factories.service(kommune_a, "NODIM", default_dimensions={})
    basis = factories.basis(
        kommune_a, lines=[{"service": service, "dimensions": {"ansvar": "3100"}}]
    )

    export = run_export(kommune_a, merkantil_a, fmt="agresso")

    assert export.status == ExportStatus.REFUSED
    assert any(f["basis_pk"] == basis.pk for f in export.errors)
    assert not Export.objects.filter(status=ExportStatus.DONE).exists()
