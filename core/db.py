"""Database helpers the ORM lacks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Lookup, Q, QuerySet


@Field.register_lookup
class AnyOf(Lookup):
    """`field = ANY(%s)` with the whole list as one array parameter (PostgreSQL)."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, list(self.rhs)]


def among(field_name: str, values: Sequence[object]) -> Q:
    """`field IN values` for thousands of values. On PostgreSQL one array parameter: Django would
    otherwise prepare, and psycopg parse, one parameter per value."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field_name}__any_of": list(values)})
    return Q(**{f"{field_name}__in": list(values)})


def fetch_rows(qs: QuerySet[Any]) -> list[tuple[Any, ...]]:
    """The rows of a `values_list` query. On PostgreSQL straight from the driver: psycopg already
    returns these columns as the ORM would (Decimal, date, aware datetime, text; JSON columns as
    their text, which the caller decodes once per distinct value), and skipping the ORM's row
    iteration is a large part of reading a month. SQLite needs the ORM's converters."""
    if connection.vendor != "postgresql":
        return list(qs)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
