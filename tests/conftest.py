"""Shared fixtures: personas of two municipalities, and the rule that CI never skips.

Personas (style.md): admin, merkantil and superbruker of kommune A (9999 Demo kommune), and
merkantil of kommune B (9998 Nabokommune). Two more belong to both municipalities with a different
role in each, so a role taken from the wrong membership shows: `admin_a_lese_b`
(systemadministrator in A, lesetilgang in B) and `merkantil_a_admin_b` (the reverse).

Tests that need PostgreSQL, Redis or Chromium call `require_service(...)`; without the service
they skip, and with REQUIRE_ALL_SERVICES=1 (set by CI) that skip becomes a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import connection
from hypothesis import settings as hypothesis_settings

from invoices.models import Municipality, Role
from tests import factories
from tests.skip_summary import pytest_terminal_summary  # noqa: F401  (the hook, registered here)

REQUIRE_ALL = os.environ.get("REQUIRE_ALL_SERVICES", "") in {"1", "true", "yes"}

# The mutation run (tools/mutation.py, docs/testing.md) sets HYPOTHESIS_PROFILE=mutation: no
# deadline, so a busy machine cannot kill a mutant, and a fixed seed, so a run can be repeated.
hypothesis_settings.register_profile("mutation", deadline=None, derandomize=True)
if os.environ.get("HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


def require_service(name: str, available: bool, why: str = "") -> None:
    if available:
        return
    message = f"needs {name}{': ' + why if why else ''}"
    if REQUIRE_ALL:
        pytest.fail(f"{message} (REQUIRE_ALL_SERVICES=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped while REQUIRE_ALL_SERVICES=1: {report.longrepr}"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test database, with autovacuum off on its tables (PostgreSQL).

    Tests fill tables and roll back or empty them, thousands of rows at a time. Autovacuum then
    vacuums tables that still have their pages but no live row and records that as their
    statistics: many pages, zero rows. A later test's month, seeded in its own transaction, is
    then estimated at no rows at all, and PostgreSQL joins it with nested loops over every line:
    a query of a second took minutes and CI's duration became a matter of luck. Without
    autovacuum the planner estimates from the tables' real size; production keeps autovacuum,
    whose tables hold real months."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
            )
            for (table,) in cursor.fetchall():
                cursor.execute(
                    f"ALTER TABLE {table} SET "  # names from the catalogue, quoted
                    "(autovacuum_enabled = false, toast.autovacuum_enabled = false)"
                )


@pytest.fixture
def requires_postgres(db: None) -> None:
    require_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL")


@pytest.fixture
def requires_redis() -> str:
    url = os.environ.get("REDIS_URL", "")
    ok = False
    if url:
        import redis

        try:
            ok = bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            ok = False
    require_service("Redis", ok, "set REDIS_URL to a running server")
    return url


@pytest.fixture
def kommune_a(db: None) -> Municipality:
    m = factories.municipality("9999", "Demo kommune", org_number="988077917")
    factories.dimensions(m)
    return m


@pytest.fixture
def kommune_b(db: None) -> Municipality:
    m = factories.municipality("9998", "Nabokommune")
    factories.dimensions(m)
    return m


@pytest.fixture
def admin_a(kommune_a: Municipality):  # type: ignore[no-untyped-def]
    return factories.user("admin_a", kommune_a, Role.SYSTEMADMINISTRATOR)


@pytest.fixture
def merkantil_a(kommune_a: Municipality):  # type: ignore[no-untyped-def]
    return factories.user("merkantil_a", kommune_a, Role.MERKANTIL)


@pytest.fixture
def superbruker_a(kommune_a: Municipality):  # type: ignore[no-untyped-def]
    return factories.user("superbruker_a", kommune_a, Role.SUPERBRUKER)


@pytest.fixture
def merkantil_b(kommune_b: Municipality):  # type: ignore[no-untyped-def]
    return factories.user("merkantil_b", kommune_b, Role.MERKANTIL)


@pytest.fixture
def personas(admin_a, merkantil_a, superbruker_a, merkantil_b) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {
        "admin_a": admin_a,
        "merkantil_a": merkantil_a,
        "superbruker_a": superbruker_a,
        "merkantil_b": merkantil_b,
        "anonymous": None,
    }


@pytest.fixture
def admin_a_lese_b(kommune_a: Municipality, kommune_b: Municipality):  # type: ignore[no-untyped-def]
    factories.user("admin_a_lese_b", kommune_a, Role.SYSTEMADMINISTRATOR)
    return factories.user("admin_a_lese_b", kommune_b, Role.LESETILGANG)


@pytest.fixture
def merkantil_a_admin_b(kommune_a: Municipality, kommune_b: Municipality):  # type: ignore[no-untyped-def]
    factories.user("merkantil_a_admin_b", kommune_a, Role.MERKANTIL)
    return factories.user("merkantil_a_admin_b", kommune_b, Role.SYSTEMADMINISTRATOR)


@pytest.fixture
def two_municipality_users(admin_a_lese_b, merkantil_a_admin_b) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"admin_a_lese_b": admin_a_lese_b, "merkantil_a_admin_b": merkantil_a_admin_b}


def refresh_planner_statistics() -> None:
    """ANALYZE the tables a test has just filled with a whole demo (PostgreSQL only).

    The suite's one test database lives long: tests that commit thousands of rows and then empty
    the tables leave statistics that say "many pages, almost no rows", and the planner then
    estimates a freshly seeded month at a handful of rows and joins it with nested loops over
    every line (a crawl of the demo took minutes in CI instead of seconds). Production has
    autovacuum's statistics of real months. ANALYZE counts the rows of the test's own
    transaction."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE invoices_invoicebasis, invoices_invoiceline, invoices_party, invoices_unit, "
            "invoices_service"
        )
