"""Visma's words in ours: what each answer of `fakturering_ws` means, with the code kept beside
it for support ("Mottatt av Visma (MOTTATT)")."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

VISMA_STATUS: dict[str, str | Promise] = {
    "MOTTATT": _("Mottatt av Visma"),
    "DUPLIKAT": _("Visma hadde det fra før"),
    "VALIDERT": _("Godkjent av Visma i testmodus"),
    "AVVIST": _("Avvist av Visma"),
    "FAKTURERT": _("Fakturert i Visma"),
    "UKJENT": _("Ukjent for Visma"),
    "LOKAL_KONTROLL": _("Stoppet av kontrollen før sending"),
    "UGYLDIG_FORESPORSEL": _("Avvist av Visma som ugyldig forespørsel"),
}


def visma_status(code: str) -> str:
    """The answer in words, the code in brackets; "" for no answer."""
    if not code:
        return ""
    label = VISMA_STATUS.get(code)
    return f"{label} ({code})" if label is not None else code
