"""Plain data crossing the adapter's boundary (no Django, no zeep objects)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

SendStatus = Literal["MOTTATT", "DUPLIKAT", "AVVIST", "VALIDERT"]
Tilstand = Literal["UKJENT", "MOTTATT", "FAKTURERT", "AVVIST"]


@dataclass(frozen=True)
class SoapLine:
    varenr: str
    antall: Decimal
    pris: int
    belop: int
    mvakode: str = ""
    kontering: dict[int, str] = field(default_factory=dict)  # KB slot 1..10 → value
    profil: str = ""
    internfaktura: bool | None = None
    tekster: tuple[str, ...] = ()


@dataclass(frozen=True)
class SoapBasis:
    referanse: str
    periode: str  # YYYY-MM
    kundenr: str
    navn: str
    oppdragsgiver: str
    linjer: tuple[SoapLine, ...]
    kreditnota_for: str = ""
    adresse1: str = ""
    adresse2: str = ""
    postnr: str = ""
    poststed: str = ""
    betform: str = "BG"
    saksnr: str = ""
    deres_ref: str = ""


@dataclass(frozen=True)
class Melding:
    kode: str
    tekst: str
    felt: str = ""


@dataclass(frozen=True)
class SendResult:
    referanse: str
    status: SendStatus
    grunnlag_id: str = ""
    meldinger: tuple[Melding, ...] = ()


@dataclass(frozen=True)
class StatusResult:
    referanse: str
    tilstand: Tilstand
    grunnlag_id: str = ""
    fakturanummer: str = ""
    fakturadato: datetime.date | None = None
    forfallsdato: datetime.date | None = None
    kid: str = ""
    belop: int | None = None


@dataclass(frozen=True)
class PingResult:
    selskap: str
    selskapsnavn: str
    tjenesteversjon: str
    tidspunkt: datetime.datetime
