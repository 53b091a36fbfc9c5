"""The benchmarks' own database, and the months they measure.

`bench_database()` creates a database of its own for the run (`bench_<name>` on PostgreSQL,
`var/bench.sqlite3` on SQLite) with Django's test-database machinery, points the default connection
at it, and drops it afterwards: a benchmark never sees or touches the developer's data.
`BENCH_DATABASE_NAME` overrides the name (two people benchmarking on one server).

`load_month(size)` fills it with a generated month through the real intake, once per run: every
size has its own period, so one database holds S and XL side by side (B5 compares them).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections

from aidn_billing.demo import seed_channels
from invoices import demo_data
from invoices.demo_data import (
    SIZES,
    ensure_user,
    iter_invoice_bases,
    setup_demo_municipality,
    write_document,
)
from invoices.models import InvoiceBasis, Membership, Municipality, Role

# One period per size, far from any real month, so sizes never overwrite each other.
BENCH_PERIODS = {"S": "2025-01", "M": "2025-02", "L": "2025-03", "XL": "2025-04"}
SIZE_ORDER = list(SIZES)


class Unavailable(Exception):
    """This benchmark cannot run here (a service is missing); the runner says why and goes on."""


@dataclass(frozen=True)
class Month:
    municipality: Municipality
    size: str
    seed: int
    period: str
    bases: int
    lines: int
    load_seconds: float  # 0.0 when it was already in the database


_active: dict[str, Any] = {}
_months: dict[tuple[str, int], Month] = {}


def is_postgres() -> bool:
    return connections["default"].vendor == "postgresql"


def require_postgres(what: str) -> None:
    if not is_postgres():
        raise Unavailable(
            f"{what} needs PostgreSQL: set DATABASE_URL=postgres://user:pw@127.0.0.1:5432/db"
        )


def require_redis(what: str) -> str:
    url = settings.REDIS_URL
    if not url:
        raise Unavailable(f"{what} needs Redis: set REDIS_URL=redis://127.0.0.1:6379/<db>")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        raise Unavailable(f"{what} needs Redis at {url}: {exc}") from exc
    return str(url)


def bench_database_name() -> str:
    configured = os.environ.get("BENCH_DATABASE_NAME", "")
    if connections["default"].vendor == "sqlite":
        return configured or str(settings.VAR_DIR / "bench.sqlite3")
    return configured or f"bench_{connections['default'].settings_dict['NAME']}"


@contextlib.contextmanager
def bench_database(*, keep: bool = False) -> Iterator[str]:
    """Create the benchmark database and make it the default connection's, for the block.

    Re-entrant: inside a block it just yields the active name. `keep=True` reuses an existing
    bench database (and the months already in it) and leaves it behind for the next run.
    """
    if _active:
        yield _active["name"]
        return
    connection = connections["default"]
    name = bench_database_name()
    if not Path(name).name.startswith("bench"):
        # create_test_db drops what it replaces: never let that be anything but a bench database.
        raise Unavailable(f"refusing to use {name!r}: the benchmark database's name starts bench")
    original = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=keep)
    _active["name"] = connection.settings_dict["NAME"]
    try:
        yield _active["name"]
    finally:
        _months.clear()
        _active.clear()
        connection.creation.destroy_test_db(original, verbosity=0, keepdb=keep)


def database_url() -> str:
    """DATABASE_URL of the active bench database, for worker processes a benchmark starts."""
    if not _active:
        raise RuntimeError("no bench database is active")
    s = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = quote(str(s.get("USER") or ""), safe="")
    password = quote(str(s.get("PASSWORD") or ""), safe="")
    host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{s['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a worker or server process that must use the bench database."""
    return {**os.environ, "DATABASE_URL": database_url(), **extra}


def bench_municipality() -> Municipality:
    """Demo kommune in the bench database, set up like the demo (each app's demo hook: export
    profile, Visma settings pointing at the local simulator), once per run."""
    if not _active:
        raise RuntimeError("bench_municipality() runs inside bench_database()")
    if "municipality" not in _active:
        municipality = setup_demo_municipality()
        seed_channels(municipality)
        _active["municipality"] = municipality
    return _active["municipality"]  # type: ignore[no-any-return]


def load_month(size: str, seed: int = 1) -> Month:
    """The month of `size` in the bench database, stored through the intake once per run.

    With a kept database a month that is already complete (same count, same first basis) is
    reused instead of loaded again.
    """
    if not _active:
        raise RuntimeError("load_month() runs inside bench_database()")
    if (size, seed) in _months:
        return _months[(size, seed)]
    municipality = bench_municipality()
    period = BENCH_PERIODS[size]
    started = time.perf_counter()
    if not _already_loaded(municipality, size, seed, period):
        demo_data.load_month(municipality, size, seed=seed, period=period)
    elapsed = time.perf_counter() - started
    month = Month(
        municipality=municipality,
        size=size,
        seed=seed,
        period=period,
        bases=SIZES[size].bases,
        lines=SIZES[size].lines,
        load_seconds=elapsed,
    )
    _months[(size, seed)] = month
    return month


def _already_loaded(municipality: Municipality, size: str, seed: int, period: str) -> bool:
    stored = InvoiceBasis.objects.filter(municipality=municipality, period=period)
    if stored.count() != SIZES[size].bases:
        return False
    first = next(iter_invoice_bases(size, seed=seed, period=period))
    return stored.filter(
        source_reference=first["source_reference"],
        payer__national_id=first["payer"].get("national_id", ""),
        payer__org_number=first["payer"].get("org_number", ""),
    ).exists()


_files: dict[str, tempfile.TemporaryDirectory[str]] = {}


def month_file(size: str, seed: int = 1, period: str | None = None) -> Path:
    """The month as an intake document on disk (for import benchmarks), written once per run."""
    if "dir" not in _files:
        _files["dir"] = tempfile.TemporaryDirectory(prefix="bench-months-")
    period = period or BENCH_PERIODS[size]
    path = Path(_files["dir"].name) / f"{size}-{seed}-{period}.json"
    if not path.exists():
        write_document(path, size, seed=seed, period=period)
    return path


def bench_user(role: Role = Role.MERKANTIL) -> Any:
    """A user with `role` in Demo kommune (the bench database's municipality)."""
    from django.contrib.auth import get_user_model

    municipality = bench_municipality()
    username = f"bench_{role.value}"
    ensure_user(username, "bench-only-password", municipality, role)
    return get_user_model().objects.get(username=username)


def largest_size(args: Any, default: str = "XL") -> str:
    """The spec's size, or the largest one `--sizes` allows (quick runs on small machines)."""
    allowed = getattr(args, "sizes", None) or SIZE_ORDER
    if default in allowed:
        return default
    return max(allowed, key=SIZE_ORDER.index)


def bench_users(count: int, role: Role = Role.MERKANTIL) -> list[tuple[str, str]]:
    """`count` users of Demo kommune with `role`, as (username, password) for a real login.

    They share one password hash: hashing is deliberately slow, and twenty of them would be
    seconds of set-up for nothing."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    municipality = bench_municipality()
    password = "bench-only-password"
    hashed = make_password(password)
    users = []
    for i in range(1, count + 1):
        user, _ = get_user_model().objects.update_or_create(
            username=f"bench_{role.value}_{i:02d}", defaults={"password": hashed}
        )
        Membership.objects.update_or_create(
            user=user, municipality=municipality, defaults={"role": role}
        )
        users.append((user.get_username(), password))
    return users
