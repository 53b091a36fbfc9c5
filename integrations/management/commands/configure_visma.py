"""Set a municipality's Visma settings from the command line (same checks and audit as the page).

The password is read from a file (never from the command line, where it would land in the shell
history and the process list) and is never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import services
from integrations.forms import VismaSettingsForm
from invoices.models import Municipality


class Command(BaseCommand):
    help = "Set the Visma web-service settings of a municipality."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--municipality", required=True, help="kommunenummer, e.g. 9999")
        parser.add_argument("--company", help="selskap (from page 4 of Visma's documentation)")
        parser.add_argument("--url", help="base URL ending in fakturering_ws/")
        parser.add_argument("--username", help="Visma username (Initialer)")
        parser.add_argument(
            "--password-file", help="file holding the password (a trailing newline is ignored)"
        )
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--enable", action="store_true")
        group.add_argument("--disable", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            municipality = Municipality.objects.get(number=options["municipality"])
        except Municipality.DoesNotExist as exc:
            raise CommandError(f"Ukjent kommune {options['municipality']}") from exc
        current = services.visma_settings_for(municipality)
        password = ""
        if options["password_file"]:
            try:
                password = Path(options["password_file"]).read_text(encoding="utf-8")
            except (OSError, UnicodeError) as exc:
                raise CommandError(
                    f"Kan ikke lese passordfilen: {exc.__class__.__name__}"
                ) from None
            password = password.rstrip("\r\n")
        enabled = current.enabled if current else False
        if options["enable"]:
            enabled = True
        if options["disable"]:
            enabled = False
        data = {
            "selskap": options["company"] or (current.selskap if current else ""),
            "base_url": options["url"] or (current.base_url if current else ""),
            "username": options["username"] or (current.username if current else ""),
            "password": password,
        }
        if enabled:
            data["enabled"] = "on"
        form = VismaSettingsForm(data, instance=current)
        if not form.is_valid():
            problems = "; ".join(
                f"{form.fields[field].label if field in form.fields else field}: "
                + " ".join(str(m) for m in errors)
                for field, errors in form.errors.items()
            )
            raise CommandError(f"Ugyldige innstillinger: {problems}")
        try:
            obj = services.visma_settings_update(
                municipality, actor=None, via="configure_visma", **form.cleaned_data
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        state = "aktivert" if obj.enabled else "ikke aktivert"
        stored = "lagret" if obj.has_password else "mangler"
        self.stdout.write(
            f"Visma-innstillinger for {municipality}: selskap {obj.selskap}, {obj.base_url}, "
            f"bruker {obj.username}, passord {stored}, {state}."
        )
