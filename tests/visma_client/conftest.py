"""A Visma simulator on loopback for the whole module, reset before every test, and a client
with short timeouts pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from integrations.visma.client import VismaClient
from integrations.visma.types import SoapBasis, SoapLine
from integrations.visma_simulator import Faults, SimulatorHandle, start_simulator
from tests.factories import FNR_CLASSIC

USER = "demo"
PASSWORD = "demo-visma-2026"


@pytest.fixture(scope="session")
def _running_simulator() -> Iterator[SimulatorHandle]:
    handle = start_simulator()
    yield handle
    handle.stop()


@pytest.fixture
def simulator(_running_simulator: SimulatorHandle) -> SimulatorHandle:
    _running_simulator.set_faults(Faults())
    _running_simulator.reset()
    return _running_simulator


@pytest.fixture
def client(simulator: SimulatorHandle) -> Iterator[VismaClient]:
    # Generous: a loaded test machine must not turn an ordinary answer into a timeout; the tests
    # of timeouts make their own quick client.
    c = VismaClient(simulator.url, USER, PASSWORD, connect_timeout=2.0, read_timeout=10.0)
    yield c
    c.close()


def line(
    varenr: str = "0100",
    antall: str = "4",
    pris: int = 21500,
    belop: int | None = None,
    **kwargs: object,
) -> SoapLine:
    if belop is None:
        belop = int(Decimal(antall) * pris)
    return SoapLine(varenr=varenr, antall=Decimal(antall), pris=pris, belop=belop, **kwargs)  # type: ignore[arg-type]


def basis(referanse: str = "9999-000000123", *lines: SoapLine, **kwargs: object) -> SoapBasis:
    fields: dict[str, object] = {
        "referanse": referanse,
        "periode": "2026-10",
        "kundenr": FNR_CLASSIC,
        "navn": "Kari Nordmann",
        "oppdragsgiver": "013",
        "adresse1": "Eksempelveien 1",
        "postnr": "9999",
        "poststed": "Testbygd",
        "linjer": lines or (line(),),
    }
    fields.update(kwargs)
    return SoapBasis(**fields)  # type: ignore[arg-type]
