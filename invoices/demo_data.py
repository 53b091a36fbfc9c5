"""Demo kommune and its synthetic months of invoice bases.

One generator feeds the demo (`seed_demo`), the file command (`generate_invoice_bases`) and the
benchmarks, so all of them see the same data for the same seed. Its output is the intake document
(spec/intake.md) and goes through the same intake as real data.

Everything is synthetic: national ids are Tenor-style (month + 80) and organisation numbers come
from the 3xx xxx xxx range, which Enhetsregisteret does not assign (real ones start with 8 or 9).

Determinism: the same (size, seed, period) always yields the same document. The people come from
their own stream that depends on the seed only, so the S month's people are the first people of the
XL month, and one person looks the same in every month and size.

Why one module of about 750 lines: much of it is data (the catalogue, units, names, streets and
texts) kept beside the generator that draws from it, so one seed and one file change together;
the month itself is one class, `_Month`, read top to bottom. The history of earlier months is
in `demo_history.py`.
"""

from __future__ import annotations

import calendar
import datetime
import itertools
import json
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .amounts import amount_for_quantity
from .intake import intake_bases
from .models import (
    AccountingSettings,
    DimensionDefinition,
    Membership,
    Municipality,
    Role,
    Service,
    TransferRoute,
    Unit,
    default_kb_slots,
)

DEMO_NUMBER = "9999"
DEMO_NAME = "Demo kommune"
DEMO_ORG_NUMBER = "988077917"

# (username, password, role). The passwords are printed by dev.py and listed in README.md.
DEMO_USERS = (
    ("admin", "admin-demo-2026", Role.SYSTEMADMINISTRATOR),
    ("merkantil", "merkantil-demo-2026", Role.MERKANTIL),
    ("superbruker", "superbruker-demo-2026", Role.SUPERBRUKER),
)


@dataclass(frozen=True)
class Size:
    bases: int
    lines: int


# spec/benchmarks.md. Every invoice has its own payer; credit notes reuse their invoice's payer.
SIZES = {
    "S": Size(bases=200, lines=1_500),
    "M": Size(bases=1_000, lines=5_000),
    "L": Size(bases=9_000, lines=40_000),
    "XL": Size(bases=20_000, lines=100_000),
}

# code, name, ansvar (used when a line overrides its accounting)
UNITS = (
    ("HJT-NORD", "Hjemmetjenesten sone nord", "3110"),
    ("HJT-SOR", "Hjemmetjenesten sone sør", "3120"),
    ("KOS", "Korttidsavdelingen", "3200"),
    ("DAG", "Dagsenteret", "3300"),
    ("TRYGG", "Trygghetsalarmtjenesten", "3400"),
    ("KJOKKEN", "Produksjonskjøkkenet", "3500"),
)
_UNIT_NAMES = {code: name for code, name, _ in UNITS}
_UNIT_ANSVAR = {code: ansvar for code, _, ansvar in UNITS}

DIMENSIONS = (
    ("ansvar", "Ansvar"),
    ("tjeneste", "Tjeneste"),
    ("prosjekt", "Prosjekt"),
    ("objekt", "Objekt"),
)


@dataclass(frozen=True)
class DemoService:
    code: str
    name: str
    oppdragsgiver: str
    vare: str
    article: str
    price_ore: int  # the usual unit price; lines carry their own
    per: str  # what one unit of quantity is, for descriptions
    whole_units: bool  # quantities are whole numbers (portions, days, trips)


# The intake takes at most this many bases at once (spec/intake.md); bigger months go in chunks.
INTAKE_CHUNK = 5_000

# The local Visma simulator knows exactly these oppdragsgiver/vare numbers.
CATALOGUE = (
    DemoService("PB", "Praktisk bistand", "013", "0100", "4101", 21_500, "time", False),
    DemoService("TA", "Trygghetsalarm", "013", "0200", "4102", 30_000, "mnd", False),
    DemoService("MAT", "Matombringing", "013", "0300", "4103", 9_500, "porsjon", True),
    DemoService("VASK", "Vask av tøy", "013", "0600", "4107", 4_750, "kg", False),
    DemoService("KO", "Korttidsopphold", "014", "0400", "4104", 18_500, "døgn", True),
    DemoService("DAG", "Dagsenter", "014", "0500", "4105", 12_500, "dag", True),
    DemoService("TRP", "Transport dagsenter", "014", "0510", "4106", 4_500, "tur", True),
)
_SERVICES = {s.code: s for s in CATALOGUE}
DEFAULT_DIMENSIONS = {"ansvar": "9", "tjeneste": "9", "prosjekt": "9"}


# --- Demo kommune --------------------------------------------------------------------------------


@transaction.atomic
def setup_demo_municipality() -> Municipality:
    """Create Demo kommune with its units, dimensions and service catalogue; keep what exists."""
    municipality, _ = Municipality.objects.get_or_create(
        number=DEMO_NUMBER, defaults={"name": DEMO_NAME, "org_number": DEMO_ORG_NUMBER}
    )
    for code, name, _ansvar in UNITS:
        Unit.objects.get_or_create(municipality=municipality, code=code, defaults={"name": name})
    for position, (key, name) in enumerate(DIMENSIONS):
        DimensionDefinition.objects.get_or_create(
            municipality=municipality, key=key, defaults={"name": name, "position": position}
        )
    for s in CATALOGUE:
        ensure_service(municipality, s)
    kb_slots = default_kb_slots()
    kb_slots[:3] = ["ansvar", "tjeneste", "prosjekt"]
    AccountingSettings.objects.get_or_create(
        municipality=municipality,
        defaults={
            "transfer_route": TransferRoute.VISMA_FILE,
            "default_oppdragsgiver": "013",
            "kb_slots": kb_slots,
        },
    )
    return municipality


def ensure_service(municipality: Municipality, s: DemoService) -> None:
    """The demo service in the municipality's catalogue (kept as it is if it exists)."""
    Service.objects.get_or_create(
        municipality=municipality,
        code=s.code,
        defaults={
            "name": s.name,
            "visma_oppdragsgiver": s.oppdragsgiver,
            "visma_vare": s.vare,
            "agresso_article": s.article,
            "vat_code": "0",
            "default_dimensions": dict(DEFAULT_DIMENSIONS),
        },
    )


def ensure_user(username: str, password: str, municipality: Municipality, role: Role) -> bool:
    """Give `username` `role` in `municipality`; create the user with `password` if missing.

    An existing user's password is left alone. Returns whether the user was created.
    """
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    Membership.objects.update_or_create(
        user=user, municipality=municipality, defaults={"role": role}
    )
    return created


# --- synthetic identifiers -----------------------------------------------------------------------

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)
_BIRTH_FROM = datetime.date(1924, 1, 1)
_BIRTH_DAYS = (datetime.date(2012, 12, 31) - _BIRTH_FROM).days


def synthetic_national_id(
    rng: random.Random, *, d_number: bool = False, rule_2032: bool = False
) -> str:
    """A Tenor-style synthetic fødselsnummer (month + 80), optionally a D-nummer (day + 40) or
    one whose K1 follows the 2032 rule (weighted sum remainder 1–3 instead of 0)."""
    while True:
        born = _BIRTH_FROM + datetime.timedelta(days=rng.randrange(_BIRTH_DAYS))
        day = born.day + (40 if d_number else 0)
        body = f"{day:02d}{born.month + 80:02d}{born.year % 100:02d}{rng.randrange(1000):03d}"
        k1_sum = sum(w * int(c) for w, c in zip(_K1_WEIGHTS, body, strict=True))
        k1 = (rng.choice((1, 2, 3)) - k1_sum) % 11 if rule_2032 else -k1_sum % 11
        if k1 == 10:
            continue
        body += str(k1)
        k2 = -sum(w * int(c) for w, c in zip(_K2_WEIGHTS, body, strict=True)) % 11
        if k2 == 10:
            continue
        return body + str(k2)


def synthetic_org_number(rng: random.Random) -> str:
    """A 9-digit organisasjonsnummer with a valid MOD11 check digit in the unassigned 3-range."""
    while True:
        body = "3" + f"{rng.randrange(10**7):07d}"
        check = 11 - sum(w * int(c) for w, c in zip(_ORG_WEIGHTS, body, strict=True)) % 11
        if check == 10:
            continue
        return body + str(check % 11)


# --- people --------------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Kari", "Ola", "Ingrid", "Astrid", "Bjørn", "Solveig", "Åse", "Øystein", "Gunnhild", "Håkon",
    "Sigrid", "Jørgen", "Ragnhild", "Torbjørn", "Bodil", "Dagny", "Eldbjørg", "Kåre", "Gjertrud",
    "Signe", "Aud", "Halvard", "Bjørg", "Sølvi", "Trygve", "Marit", "Liv", "Per", "Reidun",
    "Áile", "Niillas", "Máret", "Ánde", "Biret", "Ristin", "Jovnna", "Ovllá", "Sámmol", "Elle",
    "Iŋgá", "Ánte", "Inger Máret", "Nils Ánte",
)  # fmt: skip
_LAST_NAMES = (
    "Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
    "Kristiansen", "Bærheim", "Sørensen", "Ødegård", "Åsheim", "Kjærstad", "Bråten", "Strøm",
    "Lægreid", "Haugen", "Østby", "Sæther", "Grønli", "Bjørnstad", "Løvås", "Næss", "Fjærli",
    "Sara", "Gaup", "Eira", "Hætta", "Somby", "Utsi", "Bongo", "Labba", "Buljo", "Turi",
    "Guttorm", "Čoavdda", "Ŋunnje", "Máttá", "Gáddi",
)  # fmt: skip
# People with a D-nummer mostly came from abroad.
_FOREIGN_NAMES = (
    "Oksana Kovalenko", "Piotr Nowak", "Agnieszka Wiśniewska", "Jonas Petraitis", "Ahmed Hassan",
    "Maria Svensson", "Mikko Järvinen", "Ana Popescu", "Tomasz Zieliński", "Eeva Mäkinen",
)  # fmt: skip
_STREETS = (
    "Storgata", "Fjellveien", "Kirkebakken", "Skoleveien", "Bjørkelia", "Strandvegen",
    "Løkkeveien", "Solbærstien", "Ærfuglvegen", "Østre Åsvei", "Gáisávegen", "Čuđegeaidnu",
    "Márkanluodda", "Ŋuorranjárga", "Šuoššjávrigeaidnu", "Áidejávrevegen", "Nordlysvegen",
)  # fmt: skip
# Postcodes of the demo's own fictional places.
_PLACES = (
    ("9999", "Testbygd"),
    ("9998", "Nordvika"),
    ("9997", "Sjøåsen"),
    ("9996", "Ŋunnje"),
    ("9995", "Čoavdda"),
    ("9994", "Áidejávri"),
)
_ORG_NAMES = (
    "Fjellheim Vergetjeneste AS", "Nordlys Omsorgsstiftelse", "Sámi Dikšu Ovttastus",
    "Bjørkelia Bofellesskap SA", "Vergemålskontoret Testbygd", "Áidejávri Bistand AS",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    """What kind of care a person gets, hence unit, services and how many lines a basis has."""

    unit: str
    prefix: str  # source reference prefix, as a care system per unit would have it
    share: float  # share of people
    services: tuple[tuple[str, int], ...]  # service code, weight for lines after the first
    line_weight: float  # relative number of lines
    max_lines: int


PROFILES = (
    Profile("HJT-NORD", "HT", 0.22, (("PB", 6), ("MAT", 3), ("VASK", 1)), 2.5, 99),
    Profile("HJT-SOR", "HT", 0.22, (("PB", 6), ("MAT", 3), ("VASK", 1)), 2.5, 99),
    Profile("TRYGG", "TA", 0.20, (("TA", 1),), 0.05, 2),
    Profile("KJOKKEN", "MAT", 0.14, (("MAT", 1),), 0.8, 31),
    Profile("KOS", "KO", 0.08, (("KO", 1),), 0.3, 6),
    Profile("DAG", "DS", 0.14, (("DAG", 3), ("TRP", 2)), 1.5, 62),
)


@dataclass(frozen=True)
class Person:
    national_id: str
    name: str
    address1: str
    address2: str
    postcode: str
    place: str

    def as_payer(self, name: str | None = None) -> dict[str, str]:
        return {
            "national_id": self.national_id,
            "name": name or self.name,
            "address1": self.address1,
            "address2": self.address2,
            "postcode": self.postcode,
            "place": self.place,
        }

    def as_recipient(self) -> dict[str, str]:
        return {"national_id": self.national_id, "name": self.name}


@dataclass(frozen=True)
class Client:
    """A person receiving care, and who pays for it."""

    person: Person
    profile: Profile
    payer: dict[str, str]  # intake `payer` object
    recipient: dict[str, str] | None  # None: the payer is the recipient


class _People:
    """The seed's clients in a fixed order, made on demand; identifiers unique across all."""

    def __init__(self, seed: int) -> None:
        # Reproducible test data, not secrets: a seeded PRNG is the point.
        self._rng = random.Random(f"aidn-demo:{seed}:people")  # noqa: S311
        self._used: set[str] = set()
        self._clients: list[Client] = []

    def __getitem__(self, index: int) -> Client:
        while len(self._clients) <= index:
            self._clients.append(self._make_client())
        return self._clients[index]

    def _unique(self, make: Callable[[], str]) -> str:
        while True:
            value = make()
            if value not in self._used:
                self._used.add(value)
                return value

    def _person(self) -> Person:
        rng = self._rng
        d_number = rng.random() < 0.04
        rule_2032 = rng.random() < 0.08
        national_id = self._unique(
            lambda: synthetic_national_id(rng, d_number=d_number, rule_2032=rule_2032)
        )
        if d_number:
            name = rng.choice(_FOREIGN_NAMES)
        else:
            name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
            if rng.random() < 0.15:
                name = f"{name}-{rng.choice(_LAST_NAMES)}"
        number = f"{rng.randint(1, 120)}{rng.choice(('', '', '', 'A', 'B'))}"
        postcode, place = rng.choice(_PLACES)
        address2 = ""
        if rng.random() < 0.08:
            address2 = f"Leil. H{rng.randint(1, 4)}{rng.randint(1, 12):02d}"
        address1 = f"{rng.choice(_STREETS)} {number}"
        return Person(national_id, name, address1, address2, postcode, place)

    def _make_client(self) -> Client:
        rng = self._rng
        person = self._person()
        profile = rng.choices(PROFILES, weights=[p.share for p in PROFILES])[0]
        roll = rng.random()
        if roll < 0.05:  # a guardian (verge) pays
            guardian = self._person()
            return Client(person, profile, guardian.as_payer(), person.as_recipient())
        if roll < 0.065:  # an organisation manages the person's finances
            org_number = self._unique(lambda: synthetic_org_number(rng))
            postcode, place = rng.choice(_PLACES)
            payer = {
                "org_number": org_number,
                "name": rng.choice(_ORG_NAMES),
                "address1": f"Postboks {rng.randint(1, 999)}",
                "address2": f"Att: verge for {person.name}"[:100],
                "postcode": postcode,
                "place": place,
            }
            return Client(person, profile, payer, person.as_recipient())
        if roll < 0.075:  # the estate of someone who died during the month
            return Client(person, profile, person.as_payer(f"Dødsbo etter {person.name}"), None)
        recipient = person.as_recipient() if rng.random() < 0.7 else None
        return Client(person, profile, person.as_payer(), recipient)


# --- one month -----------------------------------------------------------------------------------

_MONTHS = (
    "januar", "februar", "mars", "april", "mai", "juni",
    "juli", "august", "september", "oktober", "november", "desember",
)  # fmt: skip
# Exactly 50 characters: the longest text a line may carry.
LONGEST_TEXT = "Vedtak om tjenesten er sendt i brev til mottakeren"
_TEXTS = {
    "PB": ("Abonnementsgrense 2–3G", "Hjelp til rengjøring", "Bálvalus ruovttus", "Handling"),
    "TA": ("Alarm med GPS", "Nøkkelboks montert", "Oadjebasvuođaalárma"),
    "MAT": ("Middag levert tirsdag og fredag", "Spesialkost: glutenfri", "Diett: mykkost"),
    "VASK": ("Sengetøy og håndklær", "Vask av arbeidstøy"),
    "KO": ("Opphold etter sykehusinnleggelse", "Avlastningsopphold"),
    "DAG": ("Aktivitetsdag", "Turgruppe", "Doaimmahusbeaivi"),
    "TRP": ("Tur-retur hjem–dagsenter", "Rullestoltransport"),
}
_PROJECTS = ("7001", "7002")  # Velferdsteknologi, Mat i hjemmet


_ore = amount_for_quantity


def _month_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    try:
        first = datetime.datetime.strptime(period, "%Y-%m").date()
    except ValueError as exc:
        raise ValueError(f"period must be YYYY-MM, not {period!r}") from exc
    if len(period) != 7:
        raise ValueError(f"period must be YYYY-MM, not {period!r}")
    year, month = first.year, first.month
    return first, first.replace(day=calendar.monthrange(year, month)[1])


def _plan_line_counts(
    rng: random.Random, weights: list[float], caps: list[int], total: int
) -> list[int]:
    """Spread `total` lines over bases: at least 1 each, at most its cap, roughly by weight."""
    if not len(caps) <= total <= sum(caps):
        raise ValueError(f"{total} lines cannot fit {len(caps)} bases")
    extra = total - len(caps)
    weight_sum = sum(w for w, cap in zip(weights, caps, strict=True) if cap > 1) or 1.0
    counts = [
        1 + min(cap - 1, int(extra * w / weight_sum)) if cap > 1 else 1
        for w, cap in zip(weights, caps, strict=True)
    ]
    open_ = [i for i, cap in enumerate(caps) if counts[i] < cap]
    remaining = total - sum(counts)
    while remaining > 0:
        i = open_[rng.randrange(len(open_))]
        if counts[i] < caps[i]:
            counts[i] += 1
            remaining -= 1
        else:
            open_ = [j for j in open_ if counts[j] < caps[j]]
    return counts


class _Month:
    def __init__(self, size: str, seed: int, period: str, *, steady: bool = False) -> None:
        if size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
        self.size = SIZES[size]
        self.period = period
        self.first, self.last = _month_bounds(period)
        self.month_name = _MONTHS[self.first.month - 1]
        n_days = (self.last - self.first).days + 1
        self.days = [self.first + datetime.timedelta(days=k) for k in range(n_days)]
        self.labels = [f"{d.day:02d}.{d.month:02d}" for d in self.days]
        # Steady months (the demo's history) draw the same people, lines and quantities every
        # month, as a real municipality's months resemble each other; only the days (and, for one
        # line in seven, a quantity a step up or down) are the month's own. Otherwise each month
        # is drawn anew (benchmarks), with the days from the same draw.
        month_rng = random.Random(f"aidn-demo:{seed}:{period}:{size}")  # noqa: S311
        self.rng = random.Random(f"aidn-demo:{seed}:steady:{size}") if steady else month_rng  # noqa: S311
        self.days_rng = month_rng
        self.people = _People(seed)
        self.long_texts_done = False
        self.seed = seed
        self.steady = steady

    def bases(self) -> Iterator[dict[str, Any]]:
        rng, n = self.rng, self.size.bases
        n_credits = max(2, n // 250)
        n_zero = max(2, n // 200)
        # Credits come after some invoices of which they can correct one.
        credit_at = set(rng.sample(range(20, n), n_credits))
        invoice_positions = [i for i in range(n) if i not in credit_at]
        zero_at = set(rng.sample(invoice_positions, n_zero))

        client_of: dict[int, Client] = {}
        weights, caps = [], []
        for i in range(n):
            if i in credit_at or i in zero_at:
                weights.append(0.0)
                caps.append(1)
                continue
            client = self.people[len(client_of)]
            if self.steady:
                spread = random.Random(f"aidn-demo:{self.seed}:weight:{len(client_of)}")  # noqa: S311
                weight = spread.lognormvariate(0, 0.8)
            else:
                weight = rng.lognormvariate(0, 0.8)
            client_of[i] = client
            weights.append(client.profile.line_weight * weight)
            caps.append(client.profile.max_lines)
        # Zero-amount bases need clients too; they were skipped above to keep the cap at 1.
        for i in sorted(zero_at):
            client_of[i] = self.people[len(client_of)]
        counts = _plan_line_counts(rng, weights, caps, self.size.lines)

        recent: deque[dict[str, Any]] = deque(maxlen=64)
        for i in range(n):
            if i in credit_at:
                original = rng.choice(recent)
                recent.remove(original)  # one credit note per invoice
                yield self._credit(i, original)
                continue
            basis = self._invoice(i, client_of[i], counts[i], zero=i in zero_at)
            if i not in zero_at:
                recent.append(basis)
            yield basis

    # -- invoices

    def _invoice(self, i: int, client: Client, n_lines: int, *, zero: bool) -> dict[str, Any]:
        profile = client.profile
        codes = [code for code, _ in profile.services]
        cum_weights = list(itertools.accumulate(w for _, w in profile.services))
        lines = []
        for j in range(n_lines):
            code = codes[0] if j == 0 else self.rng.choices(codes, cum_weights=cum_weights)[0]
            lines.append(self._line(_SERVICES[code], profile, first=j == 0, free=zero))
        if not zero and profile.unit.startswith("HJT") and not self.long_texts_done:
            # One line per month shows the limits: 99 texts, one of them 50 characters.
            self.long_texts_done = True
            lines[0]["texts"] = [*self._visit_log(98), LONGEST_TEXT]
        return {
            # ≤ 16 characters, like most care systems' case numbers: fits Visma's SAKSNR uncut.
            "source_reference": f"{profile.prefix}-{self.period.replace('-', '')}-{i + 1:05d}",
            "period": self.period,
            "unit": {"code": profile.unit, "name": _UNIT_NAMES[profile.unit]},
            "kind": "invoice",
            "credits": None,
            "payer": dict(client.payer),
            **({"recipient": dict(client.recipient)} if client.recipient else {}),
            "lines": lines,
        }

    def _span(self) -> tuple[int, int]:
        """A few days within the month, as indexes into self.days. In a steady month the length
        is the person's usual one (a short-term stay of the same nights) and only the days move."""
        if not self.steady:
            start = self.rng.randrange(len(self.days))
            return start, min(len(self.days) - 1, start + self.rng.randrange(7))
        length = self.rng.randrange(7)
        start = self.days_rng.randrange(len(self.days) - length)
        return start, start + length

    def _month_step(self, quantity: Decimal, step: Decimal, least: Decimal) -> Decimal:
        """In a steady month, one quantity in seven a step up or down from the person's usual."""
        if not self.steady or self.days_rng.random() >= 1 / 7:
            return quantity
        return max(least, quantity + self.days_rng.choice((-step, step)))

    def _line(
        self, service: DemoService, profile: Profile, *, first: bool, free: bool
    ) -> dict[str, Any]:
        rng = self.rng
        price = service.price_ore
        a, b = self._span()
        start, end = self.days[a], self.days[b]
        if service.code == "TA":
            start, end = self.first, self.last
            quantity = Decimal("1.00")
            description = f"Trygghetsalarm {self.month_name}"
            if not first:
                price = 5_000
                description = f"Trygghetsalarm tilleggsutstyr {self.month_name}"
            elif rng.random() < 0.1:  # started mid-month
                quantity = Decimal("0.50")
                start = self.first + datetime.timedelta(days=14)
        elif service.code == "KO":
            nights = (end - start).days or 1
            quantity = Decimal(nights)
            description = f"Korttidsopphold {self.labels[a]}–{self.labels[b]}"
        elif service.whole_units:
            quantity = self._month_step(Decimal(rng.randint(1, 7)), Decimal(1), Decimal(1))
            description = f"{service.name} uke {start.isocalendar().week}"
        elif service.code == "VASK":
            quantity = Decimal(rng.randint(50, 900)) / 100  # kg with two decimals: ties happen
            description = f"Vask av tøy {self.labels[a]}"
        else:
            quantity = Decimal(rng.randint(1, 24)) / 4  # quarter hours
            quantity = self._month_step(quantity, Decimal("0.25"), Decimal("0.25"))
            description = f"Praktisk bistand {self.labels[a]}–{self.labels[b]}"
            if rng.random() < 0.3:
                price = rng.choice((19_900, 21_500, 23_350))  # income-dependent rate
        if free:
            price = 0
            description = f"{description} (fritak)"
        line: dict[str, Any] = {
            "service_code": service.code,
            "description": description,
            "quantity": f"{quantity:.2f}",
            "unit_price_ore": price,
            "amount_ore": _ore(quantity, price),
            "service_from": start.isoformat(),
            "service_to": end.isoformat(),
        }
        roll = rng.random()
        if roll < 0.25:
            texts = _TEXTS[service.code]
            line["texts"] = rng.sample(texts, rng.randint(1, min(3, len(texts))))
        elif roll < 0.26 and profile.unit.startswith("HJT"):
            line["texts"] = self._visit_log(rng.randint(10, 40))
        roll = rng.random()
        if roll < 0.08:
            line["dimensions"] = {"ansvar": _UNIT_ANSVAR[profile.unit]}
        elif roll < 0.11:
            line["dimensions"] = {"prosjekt": rng.choice(_PROJECTS), "objekt": "100"}
        return line

    def _visit_log(self, count: int) -> list[str]:
        days = len(self.days)
        texts = []
        for k in range(count):
            day = self.labels[k * days // count]
            hour = 7 + (k % 4) * 3
            minutes = self.rng.choice((15, 30, 45, 60))
            end_hour, end_minute = hour + minutes // 60, minutes % 60
            texts.append(f"Besøk {day} kl {hour:02d}:00–{end_hour:02d}:{end_minute:02d}")
        return texts

    # -- credit notes

    def _credit(self, i: int, original: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        line = rng.choice([ln for ln in original["lines"] if ln["amount_ore"] > 0])
        quantity = Decimal(line["quantity"])
        if rng.random() < 0.5:
            whole = _SERVICES[line["service_code"]].whole_units
            part = quantity * Decimal(rng.randint(1, 9)) / 10
            part = part.to_integral_value() if whole else part.quantize(Decimal("0.01"))
            quantity = max(part, Decimal(1) if whole else Decimal("0.01"))
        credit_line: dict[str, Any] = {
            **{k: v for k, v in line.items() if k not in {"texts", "dimensions"}},
            "description": f"Kreditering: {line['description']}",
            "quantity": f"{-quantity:.2f}",
            "amount_ore": _ore(-quantity, line["unit_price_ore"]),
            "texts": [rng.choice(("Feil antall registrert", "Korrigert etter klage"))],
        }
        if "dimensions" in line:
            credit_line["dimensions"] = line["dimensions"]
        return {
            **{k: v for k, v in original.items() if k != "lines"},
            "source_reference": f"KR-{self.period.replace('-', '')}-{i + 1:05d}",
            "kind": "credit",
            "credits": original["source_reference"],
            "lines": [credit_line],
        }


def iter_invoice_bases(
    size: str, *, seed: int, period: str, steady: bool = False
) -> Iterator[dict[str, Any]]:
    """The month's invoice bases as intake-format dicts (spec/intake.md), deterministic per seed.

    Exactly SIZES[size].bases bases with exactly SIZES[size].lines lines. JSON-serializable.
    `steady`: each person gets about the same lines every month (the demo's history).
    """
    return _Month(size, seed, period, steady=steady).bases()


def build_document(
    size: str, *, seed: int, period: str, municipality: str = DEMO_NUMBER
) -> dict[str, Any]:
    """The whole intake document in memory: for tests and small sizes."""
    return {
        "municipality": municipality,
        "invoice_bases": list(iter_invoice_bases(size, seed=seed, period=period)),
    }


def write_document(
    path: str | Path | IO[str],
    size: str,
    *,
    seed: int,
    period: str,
    municipality: str = DEMO_NUMBER,
) -> int:
    """Stream the intake document to `path` (a file name or an open text file), one basis at a
    time. Returns the number of bases written."""
    if isinstance(path, str | Path):
        with open(path, "w", encoding="utf-8") as f:
            return write_document(f, size, seed=seed, period=period, municipality=municipality)
    out = path
    out.write('{"municipality": ' + json.dumps(municipality) + ', "invoice_bases": [')
    count = 0
    for basis in iter_invoice_bases(size, seed=seed, period=period):
        out.write(",\n" if count else "\n")
        out.write(json.dumps(basis, ensure_ascii=False, separators=(",", ":")))
        count += 1
    out.write("\n]}\n")
    return count


T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def previous_period(today: datetime.date | None = None) -> str:
    """Last month in Europe/Oslo as YYYY-MM: what a care system bills at the start of a month."""
    today = today or timezone.localdate()
    return (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")


def parse_period(value: str) -> str:
    """`YYYY-MM` or ValueError (argparse shows the message)."""
    _month_bounds(value)
    return value


# --- loading -------------------------------------------------------------------------------------


@dataclass
class LoadTotals:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def load_month(
    municipality: Municipality,
    size: str,
    *,
    seed: int,
    period: str,
    actor: Any = None,
    steady: bool = False,
    bases: Iterable[dict[str, Any]] | None = None,
) -> LoadTotals:
    """Generate the month and store it through the intake, in chunks the intake accepts.

    Demo data passes the same validation as real data; a chunk that fails raises the intake's
    own error. Loading the same (size, seed, period) twice stores nothing new.
    """
    totals = LoadTotals()
    earlier: set[str] = set()
    if bases is None:
        bases = iter_invoice_bases(size, seed=seed, period=period, steady=steady)
    for chunk in chunked(bases, INTAKE_CHUNK):
        result = intake_bases(
            municipality,
            chunk,
            actor=actor,
            source="demo",
            index_offset=len(earlier),
            earlier_references=earlier,
        )
        earlier.update(basis["source_reference"] for basis in chunk)
        totals.created += result.created
        totals.updated += result.updated
        totals.unchanged += result.unchanged
    return totals
