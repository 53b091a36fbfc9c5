"""Words for the codes people would otherwise see: what a validation finding is called, and what
a field path such as `lines[1].description` means ("Linje 2: beskrivelse").

The codes stay in the API, the files and the audit trail; pages show these labels (the code may be
kept in a `title` attribute for support)."""

from __future__ import annotations

import re

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

ISSUE_LABELS: dict[str, str | Promise] = {
    "required": _("Mangler"),
    "invalid_type": _("Feil type verdi"),
    "invalid_format": _("Feil format"),
    "invalid_value": _("Ugyldig verdi"),
    "invalid_characters": _("Ugyldige tegn"),
    "control_character": _("Kontrolltegn i teksten"),
    "too_long": _("For lang tekst"),
    "text_too_long": _("For lang tekstlinje"),
    "too_many_texts": _("For mange tekstlinjer"),
    "no_lines": _("Ingen linjer"),
    "too_many_lines": _("For mange linjer"),
    "too_many_bases": _("For mange grunnlag i én innsending"),
    "unknown_field": _("Ukjent felt"),
    "duplicate_key": _("Feltet står to ganger"),
    "malformed_json": _("Ugyldig JSON"),
    "invalid_checksum": _("Feil kontrollsiffer"),
    "invalid_date": _("Ugyldig dato"),
    "synthetic_id": _("Syntetisk fødselsnummer"),
    "ambiguous_identifier": _("Både fødselsnummer og organisasjonsnummer"),
    "out_of_range": _("Utenfor tillatt område"),
    "invalid_sign": _("Feil fortegn"),
    "amount_mismatch": _("Beløpet er ikke antall × pris"),
    "invalid_date_range": _("Til-dato før fra-dato"),
    "unknown_service": _("Ukjent tjeneste"),
    "service_not_billable": _("Tjenesten er ikke fakturerbar"),
    "service_not_valid": _("Tjenesten gjelder ikke i perioden"),
    "unknown_dimension": _("Ukjent konteringsdimensjon"),
    "duplicate_reference": _("Kildereferansen er brukt to ganger"),
    "credits_not_allowed": _("Bare kreditnotaer kan peke på en faktura"),
    "unknown_credit_reference": _("Fant ikke fakturaen som krediteres"),
    "credit_target_not_invoice": _("Kreditnotaen peker ikke på en faktura"),
    "credit_payer_mismatch": _("Kreditnotaen har en annen betaler enn fakturaen"),
    "changed_after_approval": _("Endret etter godkjenning"),
    "has_credit_notes": _("Grunnlaget har kreditnotaer"),
    "over_credited": _("Krediterer mer enn det som ble fakturert"),
    "unknown_municipality": _("Ukjent kommune"),
    "total_mismatch": _("Linjene stemmer ikke med summen"),
    "missing_address": _("Betaleren mangler postadresse"),
    "zero_amount": _("Sum 0 kr"),
}

FIELD_NAMES: dict[str, str | Promise] = {
    "source_reference": _("kildereferanse"),
    "period": _("periode"),
    "unit": _("enhet"),
    "code": _("kode"),
    "kind": _("type"),
    "credits": _("krediterer"),
    "payer": _("betaler"),
    "recipient": _("mottaker"),
    "lines": _("linjer"),
    "national_id": _("fødselsnummer"),
    "org_number": _("organisasjonsnummer"),
    "name": _("navn"),
    "address1": _("adresse"),
    "address2": _("adresse 2"),
    "postcode": _("postnummer"),
    "place": _("poststed"),
    "service_code": _("tjeneste"),
    "description": _("beskrivelse"),
    "quantity": _("antall"),
    "unit_price_ore": _("enhetspris"),
    "amount_ore": _("beløp"),
    "service_from": _("fra dato"),
    "service_to": _("til dato"),
    "texts": _("tekstlinjer"),
    "dimensions": _("kontering"),
    "vat_code": _("MVA-kode"),
    "customer_number": _("kundenummer"),
    "profile": _("eksportoppsettet"),
}

_INDEXED = re.compile(r"([a-z_]+)\[([0-9]+)\]")


def issue_label(code: str) -> str:
    """The finding's name; a code without one (a new rule) is named as a finding, not hidden."""
    label = ISSUE_LABELS.get(code)
    return str(label) if label is not None else gettext("Annet funn")


def field_label(path: str) -> str:
    """`lines[1].description` → "Linje 2: beskrivelse"; `payer.postcode` → "Betaler: postnummer";
    `lines[0].dimensions.ansvar` → "Linje 1: kontering «ansvar»". An unknown part is kept."""
    if not path:
        return ""
    parts: list[str] = []
    words = path.split(".")
    k = 0
    while k < len(words):
        word = words[k]
        indexed = _INDEXED.fullmatch(word)
        if indexed and indexed[1] == "lines":
            parts.append(str(_("Linje %(n)d")) % {"n": int(indexed[2]) + 1})
        elif indexed and indexed[1] == "texts":
            parts.append(str(_("tekstlinje %(n)d")) % {"n": int(indexed[2]) + 1})
        elif word == "dimensions" and k + 1 < len(words):
            parts.append(str(_("kontering «%(key)s»")) % {"key": words[k + 1]})
            k += 1
        else:
            name = FIELD_NAMES.get(word)
            parts.append(str(name) if name is not None else word)
        k += 1
    head, *rest = parts
    head = head[:1].upper() + head[1:]
    return f"{head}: {' '.join(rest)}" if rest else head
