"""Send a period's approved bases to Visma through the same service and workers as the page."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import selectors, services
from integrations.models import Transfer
from invoices.models import Municipality


class Command(BaseCommand):
    help = "Start a Visma transfer (or a test transfer) for a period; --wait follows it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--municipality", required=True, help="kommunenummer, e.g. 9999")
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument(
            "--test",
            action="store_true",
            help=f"test transfer of the first {services.MAX_TEST_BASES} approved bases "
            "(testmodus, nothing locked)",
        )
        parser.add_argument("--wait", action="store_true", help="wait until the transfer ends")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for --wait")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            municipality = Municipality.objects.get(number=options["municipality"])
        except Municipality.DoesNotExist as exc:
            raise CommandError(f"Ukjent kommune {options['municipality']}") from exc
        period = options["period"]
        basis_ids = None
        if options["test"]:
            basis_ids = list(
                selectors.sendable_bases(municipality, period)
                .order_by("pk")
                .values_list("pk", flat=True)[: services.MAX_TEST_BASES]
            )
            if not basis_ids:
                raise CommandError("Ingen godkjente grunnlag i perioden.")
        try:
            transfer = services.transfer_start(
                municipality,
                period=period,
                basis_ids=basis_ids,
                actor=None,
                test=options["test"],
            )
        except services.TransferError as exc:
            raise CommandError(exc.message) from None
        label = "Testoverføring" if transfer.is_test else "Overføring"
        self.stdout.write(f"{label} #{transfer.pk} startet: {transfer.basis_count} grunnlag.")
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        last = ""
        while True:
            transfer = Transfer.objects.get(pk=transfer.pk)
            counts = selectors.transfer_counts(transfer)
            line = ", ".join(f"{state}={n}" for state, n in sorted(counts.items()))
            if line != last:
                self.stdout.write(f"  {transfer.get_status_display()}: {line}")
                last = line
            if not transfer.is_active:
                break
            if time.monotonic() > deadline:
                raise CommandError("Tidsfristen gikk ut; overføringen fortsetter i bakgrunnen.")
            time.sleep(1.0)
        if transfer.stop_reason:
            self.stdout.write(f"Stoppet: {transfer.stop_reason}")
        self.stdout.write(f"{label} #{transfer.pk}: {transfer.get_status_display()}.")
        for state, n in sorted(counts.items()):
            self.stdout.write(f"{state}\t{n}")
