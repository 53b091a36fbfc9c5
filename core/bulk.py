"""Set-based writes for tens of thousands of rows without building model instances.

Intake stores a month's lines, an export records the bases it covers and their order numbers.
Django's `bulk_create` and `bulk_update` build a model instance per row and, for updates, a CASE
expression per row and field; at 20 000 rows that costs more than the database's own work. These
helpers send plain rows instead, and go through the same tables, constraints and transaction as
any other write.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Model, QuerySet

# Rows per UPDATE on databases without array parameters: two parameters a row, well under
# SQLite's limit of 32 766.
_VALUES_PER_STATEMENT = 2000


def columns(model: type[Model], attnames: Sequence[str]) -> list[str]:
    """The database column of each attribute name (`basis_id` → `basis_id`, `payer` → …)."""
    by_attname = {f.attname: str(f.column) for f in model._meta.concrete_fields}
    return [by_attname[name] for name in attnames]


def insert_rows(model: type[Model], attnames: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Insert plain rows, one value per attribute name in `attnames`.

    PostgreSQL gets COPY; other databases a prepared multi-row insert. JSON columns must already
    be JSON text. The rows go through the same constraints as any other write.
    """
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns(model, attnames))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The raw psycopg cursor bypasses Django's error translation; keep it, so that a
            # concurrent insert surfaces as IntegrityError and the intake retries.
            with (
                connection.wrap_database_errors,
                cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for values in rows:
                    copy.write_row(values)
            return
        placeholders = ", ".join(["%s"] * len(attnames))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
        cursor.executemany(sql, [portable(values) for values in rows])


def insert_from(
    model: type[Model], attnames: Sequence[str], constants: Sequence[Any], rows: QuerySet[Any]
) -> int:
    """`INSERT … SELECT`: one row per row of `rows` (a `values_list` query), each preceded by
    `constants`, into the attributes `attnames`; how many rows were inserted. The rows never
    leave the database."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(c) for c in columns(model, attnames))
    sql, params = rows.query.sql_with_params()
    leading = ", ".join(["%s"] * len(constants))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {leading}, s.* FROM ({sql}) AS s",  # noqa: S608
            [*constants, *params],
        )
        return int(cursor.rowcount)


def portable(values: Sequence[Any]) -> tuple[Any, ...]:
    """Values as Django itself adapts them for databases without COPY."""
    ops = connection.ops
    return tuple(
        ops.adapt_datetimefield_value(v)
        if isinstance(v, datetime.datetime)
        else ops.adapt_datefield_value(v)
        if isinstance(v, datetime.date)
        else str(v)
        if isinstance(v, Decimal)
        else v
        for v in values
    )


def update_by_key(
    model: type[Model],
    *,
    key: str,
    value: str,
    values: Mapping[int, int | None],
    where: Mapping[str, int],
) -> int:
    """`SET value = values[key]` for every row whose `key` is in `values` and whose columns match
    `where` (integer attributes, e.g. `{"export_id": 7}`); how many rows changed.

    One statement for the whole mapping on PostgreSQL (two array parameters), one per 2 000 rows
    elsewhere (a VALUES list). Rows not in `values` are left alone.
    """
    if not values:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_col, value_col = (quote(c) for c in columns(model, (key, value)))
    where_cols = [quote(c) for c in columns(model, tuple(where))]
    conditions = "".join(f" AND {table}.{c} = %s" for c in where_cols)
    changed = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET {value_col} = v.value "  # noqa: S608 - quoted names only
                "FROM unnest(%s::bigint[], %s::bigint[]) AS v(key, value) "
                f"WHERE {table}.{key_col} = v.key{conditions}",
                [list(values), list(values.values()), *where.values()],
            )
            return int(cursor.rowcount)
        pairs = list(values.items())
        for start in range(0, len(pairs), _VALUES_PER_STATEMENT):
            part = pairs[start : start + _VALUES_PER_STATEMENT]
            rows = ", ".join(["(%s, %s)"] * len(part))
            cursor.execute(
                f"UPDATE {table} SET {value_col} = v.column2 "  # noqa: S608 - quoted names only
                f"FROM (VALUES {rows}) AS v WHERE {table}.{key_col} = v.column1{conditions}",
                [*(x for pair in part for x in pair), *where.values()],
            )
            changed += cursor.rowcount
    return changed
