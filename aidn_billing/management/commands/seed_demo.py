"""`manage.py seed_demo`: Demo kommune, its users and one month of synthetic invoice bases.

It lives in the project package because it sets up every app: the domain's demo municipality and
month, then each channel's own part, called here by name (the export profile, the Visma settings
pointing at the local simulator)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import Count, Sum

from aidn_billing.demo import seed_channels, seed_months
from invoices import anomalies
from invoices.demo_data import (
    DEMO_NUMBER,
    DEMO_USERS,
    SIZES,
    ensure_user,
    parse_period,
    previous_period,
    setup_demo_municipality,
)
from invoices.models import InvoiceBasis
from invoices.templatetags.money import kr


class Command(BaseCommand):
    help = (
        "Oppretter Demo kommune (9999) med demobrukere og én måned syntetiske fakturagrunnlag, "
        "lagret gjennom det vanlige mottaket. Kan kjøres flere ganger."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=list(SIZES), default="S", help="datamengde (S)")
        parser.add_argument("--seed", type=int, default=1, help="samme frø gir samme data (1)")
        parser.add_argument(
            "--period", type=parse_period, default=None, help="YYYY-MM (forrige måned)"
        )
        parser.add_argument(
            "--months",
            type=int,
            default=13,
            help="måneder med data, til og med perioden (13: et år med historikk og en åpen måned)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="gjør ingenting hvis Demo kommune allerede har fakturagrunnlag",
        )
        parser.add_argument(
            "--force", action="store_true", help="kjør også når DJANGO_ENV=production"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.DJANGO_ENV == "production" and not options["force"]:
            raise CommandError(
                "Demodata legges ikke inn i produksjon. Bruk --force hvis dette er et demomiljø."
            )
        if not settings.ALLOW_SYNTHETIC_IDS:
            raise CommandError(
                "Demodata bruker syntetiske fødselsnumre; sett ALLOW_SYNTHETIC_IDS=true."
            )
        if (
            options["if_empty"]
            and InvoiceBasis.objects.filter(municipality__number=DEMO_NUMBER).exists()
        ):
            self.stdout.write("Demo kommune har allerede fakturagrunnlag; ingenting å gjøre.")
            return

        size, seed, months = options["size"], options["seed"], options["months"]
        if not 1 <= months <= 36:
            raise CommandError("--months må være fra 1 til 36.")
        period = options["period"] or previous_period()
        # All or nothing: a failure leaves no half-seeded demo behind for --if-empty to skip.
        with transaction.atomic():
            municipality = setup_demo_municipality()
            users = [
                (username, password, role, ensure_user(username, password, municipality, role))
                for username, password, role in DEMO_USERS
            ]
            hooks = seed_channels(municipality)
            # The history's approvals and exports are the demo merkantil's, as if done by hand.
            clerk = get_user_model().objects.get(username="merkantil")
            loaded = seed_months(
                municipality, size, seed=seed, period=period, months=months, actor=clerk
            )
            totals = loaded[period]

        out = self.stdout
        out.write(self.style.SUCCESS(f"{municipality}: {period}, størrelse {size}, frø {seed}"))
        out.write(
            f"  fakturagrunnlag: {totals.created} nye, {totals.updated} oppdatert, "
            f"{totals.unchanged} uendret"
        )
        per_unit = (
            InvoiceBasis.objects.filter(municipality=municipality, period=period)
            .values("unit__code", "unit__name")
            .annotate(count=Count("id"), line_total=Sum("line_count"), total=Sum("total_ore"))
            .order_by("unit__code")
        )
        rows = list(per_unit)
        rows.append(
            {
                "unit__code": "",
                "unit__name": "Sum",
                **{key: sum(r[key] for r in rows) for key in ("count", "line_total", "total")},
            }
        )
        for row in rows:
            out.write(
                f"  {row['unit__code']:<9} {row['unit__name']:<28} {row['count']:>6} grunnlag"
                f" {row['line_total']:>7} linjer {kr(row['total']):>16} kr"
            )
        if len(loaded) > 1:
            history = sorted(loaded)[:-1]
            out.write(
                f"  historikk: {len(history)} måneder ({history[0]}–{history[-1]}), "
                "godkjent og eksportert til Visma-fil"
            )
        warnings = anomalies.for_period(municipality, period)
        if warnings.computed:
            kinds = ", ".join(f"{c.label} {c.total}" for c in warnings.counts) or "ingen"
            out.write(f"  avviksvarsler {period}: {kinds}")
        for label, result in hooks:
            out.write(f"  {label}: {result if result is not None else 'ok'}")
        out.write("  Demobrukere:")
        for username, password, role, created in users:
            note = f"passord {password}" if created else "fantes fra før, passord uendret"
            out.write(f"    {username:<12} {role.label:<30} {note}")
