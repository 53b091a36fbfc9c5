"""Fixtures for the Visma integration: the simulator over real HTTP on loopback, settings that
point at it, fast retry timings, and a record of the worker wake-ups instead of a broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from integrations import wakeup
from integrations.models import VismaSettings
from integrations.visma_simulator import Faults, start_simulator
from invoices.models import Municipality

DEMO_PASSWORD = "demo-visma-2026"


@pytest.fixture(scope="session")
def _simulator_server() -> Iterator[Any]:
    handle = start_simulator(port=0)
    yield handle
    handle.stop()


@pytest.fixture
def simulator(_simulator_server: Any) -> Iterator[Any]:
    """A clean simulator (nothing stored, no faults) that does NOT deduplicate: any second
    delivery of a referanse shows up as a second stored copy."""
    _simulator_server.set_faults(Faults(dedup=False))
    _simulator_server.reset()
    yield _simulator_server
    _simulator_server.set_faults(Faults(dedup=False))


@pytest.fixture(autouse=True)
def fast_visma(settings: Any) -> None:
    # Personas are created after autouse fixtures: a cheap hasher saves a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VISMA_RETRY_BASE_SECONDS = 0
    settings.VISMA_RETRY_MAX_SECONDS = 0
    settings.VISMA_STATUS_SETTLE_SECONDS = 0
    settings.VISMA_MAX_SEND_ATTEMPTS = 8
    settings.VISMA_CONNECT_TIMEOUT = 1.0
    settings.VISMA_READ_TIMEOUT = 2.0
    settings.VISMA_LEASE_SECONDS = 30
    settings.VISMA_BATCH_SIZE = 200


@pytest.fixture(autouse=True)
def wakeups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, float | None]]:
    """Workers are driven in-process; record what would have been enqueued."""
    calls: list[tuple[int, int, float | None]] = []

    def record(transfer_id: int, *, copies: int = 1, countdown: float | None = None) -> None:
        calls.append((transfer_id, copies, countdown))

    monkeypatch.setattr(wakeup, "enqueue_send", record)
    return calls


def configure(
    m: Municipality,
    url: str,
    *,
    selskap: str = "1",
    username: str = "demo",
    password: str = DEMO_PASSWORD,
    enabled: bool = True,
) -> VismaSettings:
    obj, _ = VismaSettings.objects.get_or_create(
        municipality=m, defaults={"selskap": selskap, "base_url": url, "username": username}
    )
    obj.selskap, obj.base_url, obj.username, obj.enabled = selskap, url, username, enabled
    obj.set_password(password)
    obj.save()
    return obj


@pytest.fixture
def visma_a(kommune_a: Municipality, simulator: Any) -> VismaSettings:
    return configure(kommune_a, simulator.url)
