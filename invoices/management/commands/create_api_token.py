"""`manage.py create_api_token --municipality 9999 --name NAME`: a key for the care system.

The key is printed once; only its SHA-256 is stored. Revoke it on the API-key page.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from invoices.models import Municipality
from invoices.services import BasisActionError, api_token_create


class Command(BaseCommand):
    help = "Lag en API-nøkkel for fagsystemet. Nøkkelen skrives ut én gang og lagres bare som hash."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--municipality", required=True, help="kommunenummer, 4 siffer")
        parser.add_argument("--name", required=True, help="hva nøkkelen er til, f.eks. fagsystemet")

    def handle(self, *args: Any, **options: Any) -> None:
        municipality = Municipality.objects.filter(number=options["municipality"]).first()
        if municipality is None:
            raise CommandError(f"Kommunenummer {options['municipality']} finnes ikke")
        try:
            token, plaintext = api_token_create(municipality, options["name"], actor=None)
        except BasisActionError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(
            f"API-nøkkel «{token.name}» for {municipality}. Den vises bare nå; ta vare på den:"
        )
        self.stdout.write(plaintext)
