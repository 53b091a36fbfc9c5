"""The set-based writers of `core.bulk`: what they change and, as important, what they leave."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from core import bulk
from exports.models import Export, ExportItem
from invoices.models import Municipality
from tests import factories


def _export(m: Municipality) -> Export:
    return Export.objects.create(
        municipality=m, format="agresso", layout="classic", period="2026-10"
    )


def _items(export: Export, bases: list[Any]) -> None:
    approved = timezone.now()
    bulk.insert_rows(
        ExportItem,
        ("export_id", "basis_id", "total_ore", "content_hash", "basis_status", "basis_approved_at"),
        [(export.pk, b.pk, b.total_ore, b.content_hash, b.status, approved) for b in bases],
    )


@pytest.fixture
def two_exports(kommune_a: Municipality) -> tuple[Export, Export, list[Any]]:
    bases = [factories.basis(kommune_a) for _ in range(7)]
    first, second = _export(kommune_a), _export(kommune_a)
    _items(first, bases)
    _items(second, bases[:3])
    return first, second, bases


def _order_ids(export: Export) -> dict[int, int | None]:
    return dict(ExportItem.objects.filter(export=export).values_list("basis_id", "order_id"))


def test_insert_rows_stores_every_value(kommune_a: Municipality) -> None:
    basis = factories.basis(kommune_a)
    export = _export(kommune_a)
    _items(export, [basis])
    item = ExportItem.objects.get(export=export)
    assert (item.basis_id, item.total_ore, item.content_hash, item.basis_status) == (
        basis.pk,
        basis.total_ore,
        basis.content_hash,
        basis.status,
    )
    assert item.basis_approved_at is not None
    assert item.order_id is None


@pytest.mark.parametrize("per_statement", [2000, 2])
def test_update_by_key_sets_only_the_given_rows_of_the_scope(
    two_exports: tuple[Export, Export, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    per_statement: int,
) -> None:
    # A small statement size makes the VALUES path (SQLite) split the mapping; PostgreSQL sends
    # one statement whatever the size.
    monkeypatch.setattr(bulk, "_VALUES_PER_STATEMENT", per_statement)
    first, second, bases = two_exports
    wanted = {b.pk: 380_000_000 + i for i, b in enumerate(bases[:5])}

    changed = bulk.update_by_key(
        ExportItem, key="basis_id", value="order_id", values=wanted, where={"export_id": first.pk}
    )

    assert changed == 5
    assert _order_ids(first) == {**{b.pk: None for b in bases}, **wanted}
    # The same bases in another export keep their own value.
    assert set(_order_ids(second).values()) == {None}


def test_update_by_key_counts_keys_outside_the_scope_as_unchanged(
    two_exports: tuple[Export, Export, list[Any]],
) -> None:
    first, second, bases = two_exports
    wanted = {bases[0].pk: 1, bases[6].pk: 2}  # bases[6] is not in the second export

    changed = bulk.update_by_key(
        ExportItem, key="basis_id", value="order_id", values=wanted, where={"export_id": second.pk}
    )

    assert changed == 1
    assert _order_ids(second)[bases[0].pk] == 1
    assert set(_order_ids(first).values()) == {None}


def test_update_by_key_with_nothing_to_set_sends_nothing(
    two_exports: tuple[Export, Export, list[Any]], django_assert_num_queries: Any
) -> None:
    first, _second, _bases = two_exports
    with django_assert_num_queries(0):
        changed = bulk.update_by_key(
            ExportItem, key="basis_id", value="order_id", values={}, where={"export_id": first.pk}
        )
    assert changed == 0
