"""`manage.py check_restore`: is a restored installation whole? Exit 0 if so, 1 with a report of
what is missing or inconsistent if not (docs/operations.md, "Backup and restore")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from operations.restore import restore_check


class Command(BaseCommand):
    help = (
        "Kontrollerer en gjenopprettet installasjon: hver lagrede eksportfil finnes med "
        "SHA-256-en eksporten registrerte, og hver overførings grunnlag stemmer med forsøkene."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = restore_check()
        out = self.stdout
        out.write(
            f"Kontrollert: {report.files_checked} eksportfiler, {report.transfers_checked} "
            f"overføringer, {report.bases_checked} fakturagrunnlag."
        )
        for note in report.notes:
            out.write(f"  {note}")
        if report.ok:
            out.write(self.style.SUCCESS("OK: filer og database stemmer med hverandre."))
            return
        for finding in report.problems:
            self.stderr.write(f"FEIL: {finding.count} {finding.kind}")
            for example in finding.examples:
                self.stderr.write(f"    {example}")
            if finding.count > len(finding.examples):
                self.stderr.write(f"    … og {finding.count - len(finding.examples)} til")
        raise CommandError(f"{len(report.problems)} slags avvik; se over.")
