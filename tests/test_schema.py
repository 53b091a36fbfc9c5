"""The tables that grow by a month's worth of rows carry no index another index already serves.

Every index costs a write per inserted row and per status change that touches it; a month is
20 000 bases and 100 000 lines in a large municipality. An index whose columns lead another
index (a plain `db_index` on a column that a composite or unique index starts with, or the
`_like` twin PostgreSQL adds for a `CharField`) only costs.
"""

from __future__ import annotations

import pytest
from django.db import connection

from exports.models import ExportItem
from invoices.models import AuditedBasis, InvoiceBasis, InvoiceLine

pytestmark = pytest.mark.django_db

MONTH_TABLES = [InvoiceBasis, InvoiceLine, ExportItem, AuditedBasis]


def _indexes(table: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """name -> (columns, unique) for every index on the table, unique constraints included."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: (tuple(info["columns"]), bool(info["unique"] or info["primary_key"]))
        for name, info in constraints.items()
        if info["index"] or info["unique"] or info["primary_key"]
    }


@pytest.mark.parametrize("model", MONTH_TABLES, ids=lambda m: m.__name__)
def test_no_index_is_served_by_another(model):
    indexes = _indexes(model._meta.db_table)
    redundant = [
        (name, other)
        for name, (columns, unique) in indexes.items()
        if not unique
        for other, (other_columns, _) in indexes.items()
        if other != name and other_columns[: len(columns)] == columns
    ]
    assert redundant == []


def test_the_month_list_index_is_there():
    # The list pages and the month's reads need (municipality, period, id); the check above must
    # not be met by dropping it.
    columns = {cols for cols, _ in _indexes(InvoiceBasis._meta.db_table).values()}
    assert ("municipality_id", "period", "id") in columns
    assert ("municipality_id", "period", "status") in columns
