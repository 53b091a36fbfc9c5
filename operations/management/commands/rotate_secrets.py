"""`manage.py rotate_secrets [--check]`: re-encrypt every stored secret with the first key in
FERNET_KEYS (docs/operations.md, "Rotating keys")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from operations.secrets import secrets_rotate


class Command(BaseCommand):
    help = (
        "Krypterer alle lagrede hemmeligheter (Visma-passordet) på nytt med den første nøkkelen "
        "i FERNET_KEYS. Med --check telles bare de som ennå står med en eldre nøkkel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="endre ingenting; avslutt med feil hvis noe står med en eldre nøkkel",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = secrets_rotate(dry_run=options["check"])
        for label in report.unreadable:
            self.stderr.write(f"Kan ikke leses med noen nøkkel i FERNET_KEYS: {label}")
        if options["check"]:
            self.stdout.write(f"Står med en eldre nøkkel: {report.were_old}")
            if report.were_old or report.unreadable:
                raise CommandError("Kjør rotate_secrets før den gamle nøkkelen fjernes.")
            return
        self.stdout.write(
            f"Kryptert på nytt med den første nøkkelen: {report.rotated} "
            f"(av dem stod {report.were_old} med en eldre nøkkel)."
        )
        if not report.ok:
            raise CommandError(
                f"{len(report.unreadable)} hemmelighet(er) kunne ikke leses; legg tilbake nøkkelen "
                "de ble kryptert med, eller skriv dem inn på nytt."
            )
