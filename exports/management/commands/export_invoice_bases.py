"""Make an export file from the command line, through the same services as the pages."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from exports.models import ExportFormat, ExportStatus
from exports.run import export_run
from exports.services import ExportError, ExportIntegrityError, export_create, export_download
from invoices.models import Municipality, Unit


def _kroner(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


class Command(BaseCommand):
    help = (
        "Export the approved invoice bases of a period to a Visma or Agresso file, synchronously. "
        "Exits non-zero with the list of errors when validation refuses the file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--municipality", required=True, help="kommunenummer, e.g. 9999")
        parser.add_argument("--period", required=True, help="YYYY-MM")
        parser.add_argument("--format", required=True, choices=ExportFormat.values)
        parser.add_argument(
            "--layout",
            choices=["classic", "wide", "basic", "extended"],
            help="default: the municipality's export profile",
        )
        parser.add_argument("--unit", help="unit code; default: every unit")
        parser.add_argument("--user", required=True, help="who exports (merkantil/superbruker)")
        parser.add_argument(
            "--output", required=True, help="file to write, or a directory to write it into"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        municipality = Municipality.objects.filter(number=options["municipality"]).first()
        if municipality is None:
            raise CommandError(f"unknown municipality {options['municipality']}")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"unknown user {options['user']}")
        unit = None
        if options["unit"]:
            unit = Unit.objects.filter(municipality=municipality, code=options["unit"]).first()
            if unit is None:
                raise CommandError(f"unknown unit {options['unit']} in {municipality.number}")
        try:
            export = export_create(
                municipality,
                period=options["period"],
                fmt=options["format"],
                layout=options["layout"],
                unit=unit,
                actor=user,
                enqueue=False,
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        export = export_run(export.pk)

        if export.status == ExportStatus.REFUSED:
            for f in export.errors:
                where = f.get("reference") or "-"
                field = f" [{f['field']}]" if f.get("field") else ""
                self.stderr.write(f"error {where}{field}: {f['message']}")
            raise CommandError(
                f"export {export.pk} refused: {export.error_count} error(s); nothing written"
            )
        if export.status != ExportStatus.DONE:
            raise CommandError(f"export {export.pk} {export.status}: {export.failure}")

        target = Path(options["output"])
        main = target / export.file_name if target.is_dir() else target
        self._copy(export, user, main, customers=False)
        written = [main]
        if export.customer_sha256:
            beside = main.parent / export.customer_file_name
            self._copy(export, user, beside, customers=True)
            written.append(beside)

        for f in export.warnings:
            self.stderr.write(f"warning {f.get('reference') or '-'}: {f['message']}")
        self.stdout.write(f"count: {export.count}")
        self.stdout.write(f"total: {_kroner(export.total_ore)} kr")
        self.stdout.write(f"file: {export.file_name} -> {main}")
        self.stdout.write(f"sha256: {export.sha256}")
        if export.customer_sha256:
            self.stdout.write(f"customer file: {export.customer_file_name} -> {written[1]}")
            self.stdout.write(f"customer sha256: {export.customer_sha256}")

    def _copy(self, export: Any, user: Any, path: Path, *, customers: bool) -> None:
        try:
            handle, _name = export_download(export, actor=user, customers=customers)
        except ExportIntegrityError as exc:
            raise CommandError(f"stored file {exc} does not match its SHA-256") from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        with handle, open(path, "wb") as out:
            shutil.copyfileobj(handle, out)
