"""`manage.py approve_invoice_bases --municipality 9999 --period YYYY-MM [--unit CODE] --user U`.

Approves the received bases of the period (and unit) that pass validation, as `U` (who must be
merkantil or superbruker there), lists those with errors, and exits non-zero if none could be
approved.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoices.access import BILLING_ROLES, role_of
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from invoices.services import invoice_basis_approve
from invoices.templatetags.money import money


class Command(BaseCommand):
    help = "Godkjenn gyldige mottatte fakturagrunnlag for en periode."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--municipality", required=True, help="kommunenummer, 4 siffer")
        parser.add_argument("--period", required=True, help="ÅÅÅÅ-MM")
        parser.add_argument("--unit", default="", help="bare denne enheten (kode)")
        parser.add_argument("--user", required=True, help="brukernavn til den som godkjenner")

    def handle(self, *args: Any, **options: Any) -> None:
        municipality = Municipality.objects.filter(number=options["municipality"]).first()
        if municipality is None:
            raise CommandError(f"Kommunenummer {options['municipality']} finnes ikke")
        period = options["period"]
        if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period):
            raise CommandError("Periode må skrives ÅÅÅÅ-MM")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"Brukeren {options['user']} finnes ikke")
        if role_of(user, municipality) not in BILLING_ROLES:
            raise CommandError(
                f"{user} er ikke merkantil eller superbruker i {municipality} og kan ikke godkjenne"
            )

        bases = InvoiceBasis.objects.filter(
            municipality=municipality, period=period, status=BasisStatus.RECEIVED
        )
        if options["unit"]:
            bases = bases.filter(unit__code=options["unit"])
        result = invoice_basis_approve(bases, user)

        for report in result.invalid:
            self.stderr.write(f"Ikke godkjent: {report.source_reference}")
            for issue in report.errors:
                self.stderr.write(f"  {issue.as_text()}")
        self.stdout.write(
            f"Godkjent: {result.approved} grunnlag, til sammen {money(result.total_ore)}"
            + (f" ({result.warnings} med advarsler)" if result.warnings else "")
        )
        if result.invalid:
            self.stdout.write(f"Med feil (fortsatt mottatt): {len(result.invalid)}")
        if not result.approved:
            raise CommandError("Ingen grunnlag kunne godkjennes")
