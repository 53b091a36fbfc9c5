"""Key rotation for secrets at rest (docs/operations.md, "Rotating keys").

FERNET_KEYS holds several keys: the first encrypts, all decrypt. To retire a key: put a new key
first, restart, run `manage.py rotate_secrets` (every stored secret is re-encrypted with the first
key), and once it reports none left under an older key, remove the old key and restart again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction
from django.db.models import Q

from integrations import crypto
from invoices.audit import audit

# Every encrypted column: (app label, model, field). A test finds every `*_encrypted` field of
# every model, so a new one cannot be left out of rotation.
ENCRYPTED_FIELDS = (("integrations", "VismaSettings", "password_encrypted"),)


@dataclass
class RotationReport:
    rotated: int = 0
    were_old: int = 0  # of those, how many were under an older key
    unreadable: list[str] = field(default_factory=list)  # "Model #pk", never the value

    @property
    def ok(self) -> bool:
        return not self.unreadable


def _rows(model: type[models.Model], name: str) -> models.QuerySet[models.Model]:
    return model._default_manager.exclude(Q(**{name: ""}) | Q(**{f"{name}__isnull": True}))


def _label(model: type[models.Model], pk: object) -> str:
    return f"{model._meta.label} #{pk}"


def secrets_rotate(*, dry_run: bool = False) -> RotationReport:
    """Re-encrypt every stored secret with the first key, each row under a row lock, each change
    audited (which row, whether it was under an older key; never the value). With `dry_run`,
    only count what is not yet under the first key."""
    report = RotationReport()
    for app_label, model_name, name in ENCRYPTED_FIELDS:
        model = apps.get_model(app_label, model_name)
        for pk in _rows(model, name).order_by("pk").values_list("pk", flat=True):
            with transaction.atomic():
                row = _rows(model, name).select_for_update().filter(pk=pk).first()
                if row is None:
                    continue
                token = getattr(row, name)
                old = not crypto.is_current(token)
                try:
                    rotated = crypto.rotate(token)
                except crypto.SecretUnreadable:
                    report.unreadable.append(_label(model, pk))
                    continue
                report.were_old += old
                if dry_run:
                    continue
                setattr(row, name, rotated)
                row.save(update_fields=[name])
                report.rotated += 1
                audit(
                    "secrets.rotated",
                    actor=None,
                    municipality=getattr(row, "municipality", None),
                    obj=row,
                    field=name,
                    was_under_older_key=old,
                )
    return report
