"""`manage.py generate_invoice_bases`: write a synthetic month as an intake document (JSON)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from invoices.demo_data import DEMO_NUMBER, SIZES, parse_period, previous_period, write_document


class Command(BaseCommand):
    help = (
        "Skriver en måned syntetiske fakturagrunnlag som JSON i mottaksformatet "
        "(for import_invoice_bases og ytelsestester). Samme frø gir samme fil."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=list(SIZES), default="S")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--period", type=parse_period, default=None, help="YYYY-MM")
        parser.add_argument("--municipality", default=DEMO_NUMBER, help="kommunenummer (9999)")
        parser.add_argument("--output", required=True, help="filnavn, eller - for stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        period = options["period"] or previous_period()
        target = sys.stdout if options["output"] == "-" else options["output"]
        count = write_document(
            target,
            options["size"],
            seed=options["seed"],
            period=period,
            municipality=options["municipality"],
        )
        if target is sys.stdout:
            return  # keep stdout pure JSON
        size = SIZES[options["size"]]
        self.stdout.write(
            f"{options['output']}: {count} fakturagrunnlag, {size.lines} linjer, periode {period}"
        )
