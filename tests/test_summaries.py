"""The month's totals stay equal to what the rows say, whatever transitions the bases go through,
and can be rebuilt from the rows. Every write path end to end: tests/exports/test_month_totals.py
"""

from __future__ import annotations

import random

import pytest

from invoices import state, summaries
from invoices.models import (
    InvoiceBasis,
    Municipality,
    ServiceMonthTotal,
    UnitMonthTotal,
)
from tests import factories
from tests.intake import helpers
from tests.month_totals import no_drift

pytestmark = pytest.mark.django_db

PERIOD = helpers.PERIOD
NORTH = {"code": "HJT-NORD", "name": "Hjemmetjenesten sone nord"}
SOUTH = {"code": "HJT-SOR", "name": "Hjemmetjenesten sone sør"}


def test_random_transitions_keep_the_totals(kommune_a: Municipality) -> None:
    rng = random.Random(7)
    south = factories.unit(kommune_a, "HJT-SOR", "Hjemmetjenesten sone sør")
    other = factories.service(kommune_a, "TA", name="Trygghetsalarm", visma_vare="0200")
    for i in range(24):
        factories.basis(
            kommune_a,
            unit_obj=south if i % 3 else None,
            lines=[{}, {"service": other}] if i % 4 == 0 else [{}],
        )
    ids = list(InvoiceBasis.objects.values_list("pk", flat=True))
    for _ in range(40):
        frm = rng.choice(list(state.TRANSITIONS))
        targets = sorted(state.TRANSITIONS[frm])
        if not targets:
            continue
        state.transition(rng.sample(ids, rng.randint(1, 10)), frm=frm, to=rng.choice(targets))
        no_drift(kommune_a)
    assert UnitMonthTotal.objects.filter(municipality=kommune_a).exists()


def test_rebuild_recomputes_from_the_rows(kommune_a: Municipality) -> None:
    basis = factories.basis(kommune_a)
    UnitMonthTotal.objects.all().update(bases=99)
    ServiceMonthTotal.objects.all().delete()
    assert summaries.drift(kommune_a.pk, PERIOD) != {}
    summaries.rebuild(kommune_a.pk)
    assert summaries.drift(kommune_a.pk, PERIOD) == {}
    row = UnitMonthTotal.objects.get(municipality=kommune_a)
    assert (row.bases, row.lines, row.total_ore) == (1, basis.line_count, basis.total_ore)
