"""The writers stream: they take bases one at a time and write as they go, in bounded chunks, so
memory stays flat however large the month is."""

from __future__ import annotations

import dataclasses
import itertools
import os
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exports.formats import agresso_cs15, agresso_lg04, visma_file
from exports.formats.types import Basis
from tests.export_formats import samples
from tests.export_formats.ids import synthetic_fnrs

PAYERS = [
    dataclasses.replace(samples.KARI, identifier=number, customer_number=str(i + 1))
    for i, number in enumerate(synthetic_fnrs(2000))
]
# Bases that raise no warning: warnings are per basis by design and would grow with the month.
TEMPLATES = (samples.BASES[0], samples.BASES[3])


def month(count: int, taken: list[int] | None = None, payers: int = len(PAYERS)) -> Iterator[Basis]:
    """`count` bases over `payers` payers, made on demand; `taken[0]` counts how many the
    writer has pulled so far."""
    for pk in range(1, count + 1):
        if taken is not None:
            taken[0] = pk
        template = TEMPLATES[pk % len(TEMPLATES)]
        yield dataclasses.replace(template, pk=pk, payer=PAYERS[pk % payers])


class Recorder:
    """A binary sink that remembers, for each write, its size and how far the input had got."""

    def __init__(self, taken: list[int]) -> None:
        self.taken = taken
        self.writes: list[tuple[int, int]] = []

    def write(self, data: bytes) -> int:
        self.writes.append((self.taken[0], len(data)))
        return len(data)


WRITERS: dict[str, Callable[[Iterator[Basis], Any], Any]] = {
    "visma": lambda bases, out: visma_file.write(bases, samples.VISMA_EXTENDED, out),
    "lg04_wide": lambda bases, out: agresso_lg04.write(
        bases, samples.LG04_WIDE, out, itertools.count(1)
    ),
    "cs15": lambda bases, out: agresso_cs15.write_customers(
        (b.payer for b in bases), samples.CS15, out
    ),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writes_while_reading(name: str) -> None:
    taken = [0]
    out = Recorder(taken)
    WRITERS[name](month(2000, taken), out)
    assert len(out.writes) > 3
    first_taken, _ = out.writes[0]
    assert first_taken < 2000  # the first bytes left before the input was exhausted
    assert max(size for _, size in out.writes) < 2_000_000


def _peak(name: str, count: int) -> int:
    class Null:
        def write(self, data: bytes) -> int:
            return len(data)

    tracemalloc.start()
    try:
        WRITERS[name](month(count, payers=40), Null())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["visma", "lg04_wide"])
def test_memory_does_not_grow_with_the_file(name: str) -> None:
    if "MUTANT_UNDER_TEST" in os.environ:
        # tools/mutation.py: mutmut wraps every function of the writers in a trampoline that
        # keeps its own bookkeeping, so their peak memory cannot be measured under it.
        pytest.skip("memory is not measurable under mutation testing")
    _peak(name, 50)  # warm the per-process caches (layouts, generated render functions)
    small, large = _peak(name, 200), _peak(name, 2000)
    # What may grow is bookkeeping per basis (its order id): about a hundred bytes, where the
    # file holds over 500 bytes per basis in Visma and over 10 000 in LG04 wide. (Per payer
    # there is a little more, the running numbers; the payers repeat here.)
    assert (large - small) / 1800 < 150, (small, large)
