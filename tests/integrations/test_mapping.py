"""Invoice basis → SoapBasis: widths, texts, kontering slots, oppdragsgiver, local checks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.visma.mapping import Rejected, context_for, load
from integrations.visma.types import SoapBasis
from invoices.models import BasisKind, BasisStatus
from tests import factories

pytestmark = pytest.mark.django_db


def _one(basis) -> SoapBasis | Rejected:  # type: ignore[no-untyped-def]
    return load([basis.pk], context_for(basis.municipality))[basis.pk]


def test_basis_maps_to_the_contract(kommune_a):
    payer = factories.party(
        kommune_a,
        name="Åse Ørnulvsdatter-Čáhppes " * 3,
        address1="Gate\n1",
        place="Et veldig langt poststed som går over tretti tegn",
    )
    basis = factories.basis(
        kommune_a,
        payer=payer,
        lines=[
            {
                "quantity": "1.5",
                "unit_price_ore": 33333,
                "texts": ["Kort", "Ord " * 20],
                "dimensions": {"ansvar": "3100", "prosjekt": "P9"},
            }
        ],
    )
    soap = _one(basis)
    assert isinstance(soap, SoapBasis)
    assert soap.referanse == basis.reference and len(soap.referanse) <= 20
    assert soap.kundenr == factories.FNR_CLASSIC
    assert len(soap.navn) <= 40 and soap.navn.startswith("Åse Ørnulvsdatter-Čáhppes")
    assert soap.adresse1 == "Gate 1"
    assert len(soap.poststed) <= 30
    assert soap.oppdragsgiver == "013" and soap.periode == "2026-10"
    (line,) = soap.linjer
    assert line.varenr == "0100" and line.antall == Decimal("1.50")
    assert line.pris == 33333 and line.belop == 50000  # 49 999,5 → 50 000 (half up)
    assert line.mvakode == "0"
    # The municipality's dimension order: ansvar, tjeneste, prosjekt → KB1, KB2, KB3.
    assert line.kontering == {1: "3100", 3: "P9"}
    assert line.tekster[0] == "Kort"
    assert all(1 <= len(t) <= 50 for t in line.tekster) and len(line.tekster) == 3


def test_accounting_settings_kb_slots_win(kommune_a):
    factories.accounting(
        kommune_a,
        kb_slots=["", "", "", "prosjekt", "", "", "", "", "", "ansvar"],
        default_oppdragsgiver="014",
    )
    svc = factories.service(kommune_a, code="MAT", visma_oppdragsgiver="", visma_vare="0300")
    basis = factories.basis(
        kommune_a, lines=[{"service": svc, "dimensions": {"ansvar": "1", "prosjekt": "2"}}]
    )
    soap = _one(basis)
    assert isinstance(soap, SoapBasis)
    assert soap.linjer[0].kontering == {4: "2", 10: "1"}
    assert soap.oppdragsgiver == "014"  # the municipality's default for a service without its own


def test_blank_slots_leave_kontering_to_the_vare_as_the_file_does(kommune_a):
    factories.accounting(kommune_a)  # every KB slot blank
    basis = factories.basis(kommune_a, lines=[{"dimensions": {"ansvar": "1"}}])
    soap = _one(basis)
    assert isinstance(soap, SoapBasis)
    assert soap.linjer[0].kontering == {}


def test_service_defaults_are_overlaid_by_line_dimensions(kommune_a):
    svc = factories.service(
        kommune_a, code="TA", visma_vare="0200", default_dimensions={"ansvar": "1", "tjeneste": "2"}
    )
    basis = factories.basis(kommune_a, lines=[{"service": svc, "dimensions": {"ansvar": "9"}}])
    soap = _one(basis)
    assert isinstance(soap, SoapBasis)
    assert soap.linjer[0].kontering == {1: "9", 2: "2"}


def test_credit_note_points_at_the_original(kommune_a):
    original = factories.basis(kommune_a, status=BasisStatus.SENT)
    credit = factories.basis(
        kommune_a,
        kind=BasisKind.CREDIT,
        credits=original,
        lines=[{"quantity": "-4.00", "unit_price_ore": 21500}],
    )
    soap = _one(credit)
    assert isinstance(soap, SoapBasis)
    assert soap.kreditnota_for == original.reference
    assert soap.linjer[0].belop == -86000


def test_organisation_payer_uses_orgnr(kommune_a):
    org = factories.party(kommune_a, org_number=factories.ORGNR, name="Verge AS")
    soap = _one(factories.basis(kommune_a, payer=org))
    assert isinstance(soap, SoapBasis) and soap.kundenr == factories.ORGNR


def test_lines_of_several_oppdragsgivere_are_refused_locally(kommune_a):
    other = factories.service(kommune_a, code="KO", visma_oppdragsgiver="014", visma_vare="0400")
    basis = factories.basis(kommune_a, lines=[{}, {"service": other}])
    result = _one(basis)
    assert isinstance(result, Rejected)
    assert [m.kode for m in result.meldinger] == ["FLERE_OPPDRAGSGIVERE"]
    assert "013" in result.meldinger[0].tekst and "014" in result.meldinger[0].tekst


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"service": {"visma_vare": ""}}, "MANGLER_VARE"),
        ({"service": {"visma_oppdragsgiver": ""}}, "MANGLER_OPPDRAGSGIVER"),
        ({"payer": {"postcode": ""}}, "MANGLER_POSTNR"),
        ({"payer": {"name": "   "}}, "MANGLER_NAVN"),
        ({"line": {"dimensions": {"ansvar": "1234567890123"}}}, "FOR_LANG_KONTERING"),
    ],
)
def test_local_checks(kommune_a, setup, code):
    svc = factories.service(kommune_a, code="S1", **setup.get("service", {}))
    payer = factories.party(kommune_a, factories.FNR_OTHER, **setup.get("payer", {}))
    basis = factories.basis(
        kommune_a, payer=payer, lines=[{"service": svc, **setup.get("line", {})}]
    )
    result = _one(basis)
    assert isinstance(result, Rejected)
    assert code in [m.kode for m in result.meldinger]


def test_amount_mismatch_is_refused(kommune_a):
    basis = factories.basis(kommune_a)
    basis.lines.update(amount_ore=1)
    result = _one(basis)
    assert isinstance(result, Rejected) and result.meldinger[0].kode == "BELOP_STEMMER_IKKE"


def test_batch_load_uses_a_fixed_number_of_queries(kommune_a, django_assert_max_num_queries):
    bases = [factories.basis(kommune_a) for _ in range(30)]
    context = context_for(kommune_a)
    with django_assert_max_num_queries(3):
        out = load([b.pk for b in bases], context)
    assert len(out) == 30 and all(isinstance(v, SoapBasis) for v in out.values())
