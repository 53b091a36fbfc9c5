"""PostgreSQL databases of their own for the operations tests: created with a unique name and
always dropped, on the server the test database lives on."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

from django.db import connection


def database_url(name: str | None = None) -> str:
    s = connection.settings_dict
    auth = f"{quote(s['USER'])}:{quote(s['PASSWORD'])}@" if s["USER"] else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name or s['NAME']}"


def _admin() -> object:
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new empty database for the block (its URL); dropped afterwards, even on failure."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin() as admin:  # type: ignore[attr-defined]
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        with _admin() as admin:  # type: ignore[attr-defined]
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
