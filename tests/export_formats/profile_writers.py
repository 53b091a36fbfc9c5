"""Time the writers on an in-memory XL month: 20 000 bases, 100 000 lines.

    .venv/bin/python -m tests.export_formats.profile_writers [--bases 20000] [--profile visma]

Prints CPU seconds and lines per second for validate and write of each format, writing to
/dev/null so that only the formatting is measured. Not a test: the benchmarks against PostgreSQL
live in bench/ (B1, B2).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import itertools
import pstats
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exports.formats import agresso_lg04, visma_file
from exports.formats.types import Basis, Customer, Line
from tests.export_formats import samples
from tests.export_formats.ids import synthetic_fnrs

FIRST = ("Kari", "Ola", "Áile", "Ŋiillas", "Øystein", "Åse", "Mathis", "Sára", "Bjørn", "Đuvre")
LAST = ("Nordmann", "Hætta", "Somby", "Bråten", "Ærlig", "Čoalmmi", "Berg", "Sørensen")
TEXTS = (
    "4 timer praktisk bistand",
    "Abonnementsgrense 2-3G",
    "Trygghetsalarm, månedsleie oktober",
    samples.WRAPPING_TEXT,
)


def xl_month(count: int, lines_per_basis: int = 5, seed: int = 1) -> list[Basis]:
    rng = random.Random(seed)
    ids = synthetic_fnrs(min(count, 5000))
    bases = []
    for pk in range(1, count + 1):
        payer = Customer(
            identifier=ids[pk % len(ids)],
            is_organisation=False,
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            address1=f"Eksempelveien {pk % 200 + 1}",
            postcode=f"{rng.randint(1000, 9999)}",
            place="Testbygd",
            customer_number=str(20_000_000 + pk),
        )
        credit = pk % 50 == 0
        lines = []
        for n in range(1, lines_per_basis + 1):
            hundredths = rng.choice((100, 400, 1250, 3000, 75))
            quantity = Decimal(-hundredths if credit else hundredths).scaleb(-2)
            price = rng.choice((21500, 9800, 35000, 18000))
            amount = int(quantity * price)
            lines.append(
                Line(
                    line_no=n,
                    service_code="PB",
                    description="Praktisk bistand oktober",
                    quantity=quantity,
                    unit_price_ore=price,
                    amount_ore=amount,
                    visma_oppdragsgiver="013",
                    visma_vare=f"{100 * n:04d}",
                    agresso_article=f"A{n}",
                    vat_code="0",
                    texts=tuple(rng.sample(TEXTS, rng.randint(0, 3))),
                    dimensions=samples.DIMS,
                )
            )
        bases.append(samples.basis(pk, payer, tuple(lines), kind="credit" if credit else "invoice"))
    return bases


class Null:
    def write(self, data: bytes) -> int:
        return len(data)


def _cpu(work: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bases", type=int, default=20_000)
    parser.add_argument("--profile", choices=("visma", "classic", "wide"))
    args = parser.parse_args()
    bases = xl_month(args.bases)
    line_count = sum(len(b.lines) for b in bases)
    visma = dataclasses.replace(samples.VISMA_EXTENDED)
    classic, wide = samples.LG04_CLASSIC, samples.LG04_WIDE
    jobs: dict[str, Callable[[], Any]] = {
        "visma validate": lambda: visma_file.validate(bases, visma),
        "visma write": lambda: visma_file.write(bases, visma, Null()),  # type: ignore[arg-type]
        "lg04 classic validate": lambda: agresso_lg04.validate(bases, classic),
        "lg04 classic write": lambda: agresso_lg04.write(
            bases,
            classic,
            Null(),  # type: ignore[arg-type]
            itertools.count(1),
        ),
        "lg04 wide write": lambda: agresso_lg04.write(
            bases,
            wide,
            Null(),  # type: ignore[arg-type]
            itertools.count(1),
        ),
    }
    if args.profile:
        names = {"visma": "visma write", "classic": "lg04 classic write", "wide": "lg04 wide write"}
        cProfile.runctx("jobs[name]()", {}, {"jobs": jobs, "name": names[args.profile]}, "/tmp/p")
        pstats.Stats("/tmp/p").sort_stats("tottime").print_stats(15)
        return
    print(f"{len(bases)} bases, {line_count} lines")
    for name, job in jobs.items():
        seconds = _cpu(job)
        print(f"{name:<24} {seconds:6.2f} s cpu  {line_count / seconds:>9,.0f} lines/s")


if __name__ == "__main__":
    main()
