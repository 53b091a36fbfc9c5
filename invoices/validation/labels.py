"""A short Bokmål name for each kind of finding, for people: the Kontrollrapport's downloads show
it beside the message, and the raw code goes in a column of its own for support."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

FINDING_LABELS = {
    "required": _("Mangler verdi"),
    "invalid_type": _("Feil type verdi"),
    "invalid_format": _("Feil format"),
    "invalid_value": _("Ugyldig verdi"),
    "invalid_characters": _("Ugyldige tegn"),
    "too_long": _("For lang tekst"),
    "text_too_long": _("For lang tekstlinje"),
    "too_many_texts": _("For mange tekstlinjer"),
    "no_lines": _("Ingen linjer"),
    "too_many_lines": _("For mange linjer"),
    "unknown_field": _("Ukjent felt"),
    "invalid_checksum": _("Feil kontrollsiffer"),
    "invalid_date": _("Ugyldig dato"),
    "synthetic_id": _("Syntetisk testnummer"),
    "ambiguous_identifier": _("Både fødselsnummer og organisasjonsnummer"),
    "out_of_range": _("Utenfor tillatt område"),
    "invalid_sign": _("Feil fortegn"),
    "amount_mismatch": _("Beløpet stemmer ikke med antall × pris"),
    "invalid_date_range": _("Til-dato før fra-dato"),
    "unknown_service": _("Ukjent tjeneste"),
    "service_not_billable": _("Tjenesten er ikke fakturerbar"),
    "service_not_valid": _("Tjenesten gjelder ikke i perioden"),
    "unknown_dimension": _("Ukjent dimensjon"),
    "duplicate_reference": _("Kildereferansen finnes to ganger"),
    "credits_not_allowed": _("Bare kreditnotaer kan kreditere"),
    "unknown_credit_reference": _("Ukjent grunnlag å kreditere"),
    "credit_target_not_invoice": _("Kan bare kreditere en faktura"),
    "credit_payer_mismatch": _("Kreditnota med annen betaler"),
    "total_mismatch": _("Linjene stemmer ikke med summen"),
    "missing_address": _("Mangler postadresse"),
    "zero_amount": _("Sum 0 kr"),
}


def finding_label(code: str) -> str:
    """The finding's name; a code without one (a new rule) is named as a finding, not hidden."""
    label = FINDING_LABELS.get(code)
    return str(label) if label is not None else gettext("Annet funn")
