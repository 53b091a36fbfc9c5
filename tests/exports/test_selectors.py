"""The selector: bases as the writers need them, read with a fixed number of queries per chunk."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exports.selectors import Selection, iter_bases, iter_chunks, iter_rows, mismatched_totals
from invoices.models import BasisKind, BasisStatus, Municipality
from tests import factories

pytestmark = pytest.mark.django_db


def test_lines_carry_service_mapping_and_overlaid_dimensions(kommune_a: Municipality) -> None:
    service = factories.service(
        kommune_a,
        "TA",
        visma_vare="0200",
        agresso_article="TA01",
        default_dimensions={"ansvar": "3000", "tjeneste": "25400", "prosjekt": "9"},
    )
    recipient = factories.party(kommune_a, factories.FNR_OTHER, name="Per Mottaker")
    payer = factories.party(kommune_a, org_number=factories.ORGNR, name="Verge AS")
    basis = factories.basis(
        kommune_a,
        payer=payer,
        recipient=recipient,
        lines=[
            {"service": service, "dimensions": {}, "texts": ["a", "b"]},
            {"service": service, "dimensions": {"ansvar": "3100", "prosjekt": ""}},
        ],
    )

    (read,) = list(iter_bases(Selection(kommune_a, "2026-10")))

    assert read.pk == basis.pk and read.reference == basis.reference
    assert (read.payer.identifier, read.payer.is_organisation) == (factories.ORGNR, True)
    assert read.recipient.name == "Per Mottaker"
    first, second = read.lines
    assert (first.visma_vare, first.agresso_article, first.texts) == ("0200", "TA01", ("a", "b"))
    assert dict(first.dimensions) == {"ansvar": "3000", "tjeneste": "25400", "prosjekt": "9"}
    assert dict(second.dimensions) == {"ansvar": "3100", "tjeneste": "25400"}
    assert first.quantity == Decimal("4.00") and isinstance(first.quantity, Decimal)
    assert read.total_ore == basis.total_ore


def test_credit_note_points_at_its_original(kommune_a: Municipality) -> None:
    original = factories.basis(kommune_a, status=BasisStatus.EXPORTED)
    credit = factories.basis(
        kommune_a,
        kind=BasisKind.CREDIT,
        credits=original,
        lines=[{"quantity": "-2", "unit_price_ore": 21500}],
    )
    (read,) = list(iter_bases(Selection(kommune_a, "2026-10")))
    assert read.pk == credit.pk
    assert (read.kind, read.credits_reference) == ("credit", original.reference)
    assert read.lines[0].amount_ore == -43000


def test_queries_per_chunk_do_not_grow_with_the_month(kommune_a: Municipality) -> None:
    for _ in range(9):
        factories.basis(kommune_a, lines=[{}, {}, {"texts": ["x"] * 5}])
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    selection = Selection(kommune_a, "2026-10")

    with CaptureQueriesContext(connection) as queries:
        chunks = list(iter_chunks(selection, chunk_size=4))

    assert [len(c.bases) for c in chunks] == [4, 4, 1]
    # One catalogue read, then bases + lines per chunk.
    assert len(queries.captured_queries) == 1 + 2 * len(chunks)
    assert sum(len(b.lines) for c in chunks for b in c.bases) == 27


def test_raw_rows_are_the_rows_the_chunks_are_built_from(kommune_a: Municipality) -> None:
    for n in range(9):
        factories.basis(kommune_a, lines=[{}] * (1 + n % 3))
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    selection = Selection(kommune_a, "2026-10")

    raw = list(iter_rows(selection, chunk_size=4))
    chunks = list(iter_chunks(selection, chunk_size=4))

    assert [[r[0] for r in rows] for rows, _ in raw] == [[b.pk for b in c.bases] for c in chunks]
    assert [[(r[0], r[1]) for r in lines] for _, lines in raw] == [
        [(b.pk, line.line_no) for b in c.bases for line in b.lines] for c in chunks
    ]


def test_other_tenants_and_statuses_stay_out(
    kommune_a: Municipality, kommune_b: Municipality
) -> None:
    mine = factories.basis(kommune_a)
    factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    factories.basis(kommune_b)
    assert [b.pk for b in iter_bases(Selection(kommune_a, "2026-10"))] == [mine.pk]


def test_mismatched_totals_are_reported(kommune_a: Municipality) -> None:
    from invoices.models import InvoiceBasis

    basis = factories.basis(kommune_a, lines=[{}, {}])
    factories.basis(kommune_a)
    no_lines = factories.basis(kommune_a)
    no_lines.lines.all().delete()  # stored total 86 000 øre, no lines
    InvoiceBasis.objects.filter(pk=basis.pk).update(total_ore=1)
    assert mismatched_totals(Selection(kommune_a, "2026-10")) == [basis.pk, no_lines.pk]
