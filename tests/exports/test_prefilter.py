"""The one-query validation (`exports.prefilter`) against the format checks it stands in for.

The format checks read every basis; the prefilter lets PostgreSQL find the few that can have a
finding and reads only those. Both must give the same findings in the same order, for every month
and every profile. Hypothesis builds small months out of the values the checks care about: text
at and around every width, characters that are kept, replaced one for one, replaced by several,
or not replaceable at all, JSON texts with quotes and escapes, kontering that is missing, empty,
null, a number or too wide, amounts that do not add up, invalid ids and postcodes.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.bulk import insert_rows
from exports import prefilter
from exports.formats import agresso_lg04, visma_file
from exports.models import Export, ExportItem
from exports.selectors import Selection, iter_bases
from invoices import summaries
from invoices.models import (
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Municipality,
    Party,
    Service,
)
from tests import factories

pytestmark = pytest.mark.usefixtures("requires_postgres")

PERIOD = "2026-10"
_refs = itertools.count(1)

# Kept by both encodings; replaced one for one (č, –, ŋ, “); replaced by several (…, €, Œ in
# ISO-8859-1); not replaceable here (ń is, by NFKD, but not in the database's table; NBSP, soft
# hyphen, control characters, a wide space); JSON's own escapes.
ALPHABET = 'abcXYZ019 .,-/æøåÆØÅéčđŋšŧžČŊ–—“”’…€ŒœǅĲ‰ńā\xa0\xad\u2000\u2028\x01\t\n"\\[]{}:'


def texts(max_size: int) -> st.SearchStrategy[str]:
    edges = st.sampled_from(
        [
            "",
            "   ",
            "a" * max_size,
            "a" * (max_size + 1),
            "b " * (max_size // 2),
            "…" * (max_size // 3 + 1),
            "č" * max_size,
            "č" * (max_size + 1),
            "Áile Čoalmmát",
        ]
    )
    return st.one_of(edges, st.text(alphabet=ALPHABET, max_size=max_size + 3))


DIMENSION_VALUES = st.one_of(
    st.sampled_from(["3100", "", "12345678", "123456789", "123456789012", "1234567890123"]),
    st.none(),
    st.integers(min_value=0, max_value=10**13),
    st.booleans(),
    st.text(alphabet=ALPHABET, max_size=14),
)
VALID_IDS = [
    (factories.FNR_CLASSIC, ""),
    (factories.FNR_OTHER, ""),
    (factories.FNR_2032, ""),
    (factories.DNR, ""),
    ("", factories.ORGNR),
]
ODD_IDS = st.sampled_from(
    [
        ("15899010058", ""),  # wrong check digit
        ("1589901005", ""),  # ten digits
        ("", "988077918"),  # wrong check digit
    ]
)
ODD_TEXTS = st.one_of(
    st.lists(texts(51), max_size=4),
    st.just(["Besøk kl 08:00–09:00"] * 99),
    st.just(["Besøk kl 08:00–09:00"] * 100),
    st.just(["x" * 60]),
)
# Where a basis may be odd: one place at most, so that a condition the query lacks shows.
ODD_PLACES = [
    "id",
    "name",
    "address1",
    "address2",
    "postcode",
    "place",
    "customer_number",
    "recipient_name",
    "source_reference",
    "unit",
    "no_lines",
    "service",
    "description",
    "amount",
    "texts",
    "dimensions",
]


@st.composite
def month_bases(draw: st.DrawFn) -> dict[str, Any]:
    odd = draw(st.one_of(st.none(), st.sampled_from(ODD_PLACES)))

    def pick(place: str, usual: list[Any], nasty: st.SearchStrategy[Any]) -> Any:
        return draw(nasty if odd == place else st.sampled_from(usual))

    def party(name_place: str) -> dict[str, Any]:
        national_id, org_number = pick("id", VALID_IDS, ODD_IDS)
        return {
            "national_id": national_id,
            "org_number": org_number,
            "name": pick(name_place, ["Kari Nordmann", "Áile Čoalmmát", "Øy Ærlig"], texts(41)),
            "address1": pick("address1", ["Eksempelveien 1", "Đuoddarluodda 7"], texts(41)),
            "address2": pick("address2", ["", "Postboks 12"], texts(41)),
            "postcode": pick("postcode", ["9999", "0150"], st.sampled_from(["", "150", "15o0"])),
            "place": pick("place", ["Testbygd", "Kárášjohka"], texts(41)),
            "customer_number": pick(
                "customer_number", ["20000815"], st.sampled_from(["", "123456789", "2000081"])
            ),
        }

    def line(first: bool) -> dict[str, Any]:
        def here(place: str) -> str:
            return place if first else "-"

        quantity = draw(st.sampled_from(["1.00", "4.00", "2.50", "-1.00", "0.00", "99.00", "0.01"]))
        price = draw(st.sampled_from([21500, 9500, -21500, 0, 99_999_999]))
        exact = int((Decimal(quantity) * price).quantize(Decimal(1), rounding="ROUND_HALF_UP"))
        return {
            "service": pick(
                here("service"),
                ["PB", "TA"],
                st.sampled_from(["NOVARE", "BADOPP", "LONGART", "WIDEKB", "ODDDIMS"]),
            ),
            "description": pick(
                here("description"), ["Praktisk bistand – oktober", "Trygghetsalarm"], texts(36)
            ),
            "quantity": Decimal(quantity),
            "unit_price_ore": price,
            "amount_ore": exact + pick(here("amount"), [0], st.sampled_from([1, -1])),
            "texts": pick(
                here("texts"),
                [[], ["4 timer praktisk bistand"], ["Besøk 12 kl 08:00–09:30", "Besøk 14 kl 10"]],
                ODD_TEXTS,
            ),
            "dimensions": pick(
                here("dimensions"),
                [{}, {}, {"ansvar": "3110"}, {"prosjekt": "7001", "objekt": "100"}],
                st.dictionaries(
                    st.sampled_from(["ansvar", "tjeneste", "prosjekt", "objekt"]),
                    DIMENSION_VALUES,
                    min_size=1,
                    max_size=3,
                ),
            ),
        }

    count = 0 if odd == "no_lines" else draw(st.integers(min_value=1, max_value=3))
    recipient = draw(st.booleans())
    return {
        "payer": party("name"),
        "recipient": party("recipient_name") if recipient else None,
        "source_reference": pick("source_reference", ["SRC"], texts(17)),
        "unit": pick("unit", ["plain", "sami"], st.just("long")),
        "lines": [line(i == 0) for i in range(count)],
    }


def months() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(month_bases(), min_size=1, max_size=5)


VISMA_OPTIONS = st.builds(
    visma_file.VismaFileOptions,
    layout=st.sampled_from(["extended", "basic"]),
    encoding=st.sampled_from(["iso-8859-1", "cp1252"]),
    quantity_decimals=st.sampled_from([2, 0]),
    default_oppdragsgiver=st.sampled_from(["013", ""]),
    kb_slots=st.sampled_from([("ansvar", "tjeneste", "prosjekt"), (), ("", "objekt")]),
)
AGRESSO_OPTIONS = st.builds(
    agresso_lg04.AgressoOptions,
    layout=st.sampled_from(["classic", "wide"]),
    encoding=st.sampled_from(["iso-8859-1", "cp1252"]),
    client=st.sampled_from(["DK", ""]),
    voucher_type=st.just("FK"),
    order_type=st.just("FS"),
    batch_id=st.just("AIDN00000000"),
    customer_mode=st.sampled_from(["apar_id", "id_in_text"]),
    dim_slots=st.just(("ansvar", "tjeneste", "", "", "prosjekt", "", "")),
    required_slots=st.sampled_from([frozenset(), frozenset({5})]),
    header_text_template=st.sampled_from(
        ["{unit_name} {period_name}", "{unit_name} – {unit_code} {unit_name} {reference}"]
    ),
)


_ODD_SERVICES = ("NOVARE", "BADOPP", "LONGART", "WIDEKB", "ODDDIMS")


def _services(m: Municipality) -> dict[str, Service]:
    dims = {"ansvar": "3100", "tjeneste": "25300", "prosjekt": "9"}
    specs: dict[str, dict[str, Any]] = {
        "PB": {"default_dimensions": dims},
        "TA": {"visma_vare": "0200", "default_dimensions": {"ansvar": "3110", "prosjekt": "9"}},
        "ODDDIMS": {"default_dimensions": {"ansvar": 3100, "prosjekt": None, "tjeneste": ""}},
        "NOVARE": {"visma_vare": "", "default_dimensions": dims},
        "BADOPP": {"visma_oppdragsgiver": "", "vat_code": "250", "default_dimensions": {}},
        "LONGART": {"agresso_article": "A" * 25, "default_dimensions": dims},
        "WIDEKB": {"default_dimensions": {**dims, "ansvar": "1234567890123"}},
    }
    return {code: factories.service(m, code, **spec) for code, spec in specs.items()}


UNITS = {
    "plain": ("HJT-NORD", "Hjemmetjenesten sone nord"),
    "sami": ("KAR", "Kárášjoga gielda – ruovttubálvalus"),
    "long": ("LANG", "Avdeling " + "for langtidsopphold og rehabilitering " * 2),
}


def _party(m: Municipality, spec: dict[str, Any]) -> Party:
    rest = dict(spec)
    key = {"national_id": rest.pop("national_id"), "org_number": rest.pop("org_number")}
    return Party.objects.update_or_create(municipality=m, **key, defaults=rest)[0]


def _store(m: Municipality, month: list[dict[str, Any]]) -> None:
    services = _services(m)
    original = factories.basis(m, period="2026-09")  # what credit notes point at
    for spec in month:
        payer = _party(m, spec["payer"])
        recipient = _party(m, spec["recipient"]) if spec["recipient"] else payer
        code, name = UNITS[spec["unit"]]
        ref = f"{spec['source_reference'][:50] or 'R'}{next(_refs)}"
        total = sum(line["amount_ore"] for line in spec["lines"])
        basis = InvoiceBasis.objects.create(
            municipality=m,
            unit=factories.unit(m, code, name),
            period=PERIOD,
            payer=payer,
            recipient=recipient,
            source_reference=ref,
            status=BasisStatus.APPROVED,
            kind=BasisKind.CREDIT if total < 0 else BasisKind.INVOICE,
            credits=original if total < 0 else None,
            total_ore=total,
            line_count=len(spec["lines"]),
            content_hash=hashlib.sha256(ref.encode()).hexdigest(),
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(basis=basis, line_no=i, **{**line, "service": services[line["service"]]})
            for i, line in enumerate(spec["lines"], start=1)
        )
    summaries.rebuild(m.pk, PERIOD)


def _selection(m: Municipality) -> Selection:
    return Selection(municipality=m, period=PERIOD)


def _reference(options: Any) -> Callable[[Selection], list[Any]]:
    module: Any = visma_file if isinstance(options, visma_file.VismaFileOptions) else agresso_lg04
    return lambda selection: module.validate(iter_bases(selection), options)


SAME = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SAME
@given(month=months(), options=st.one_of(VISMA_OPTIONS, AGRESSO_OPTIONS))
def test_the_query_and_the_format_checks_find_the_same(
    kommune_a: Municipality, month: list[dict[str, Any]], options: Any
) -> None:
    with transaction.atomic():
        _store(kommune_a, month)
        selection = _selection(kommune_a)
        expected = _reference(options)(selection)
        assert prefilter.validate_selection(selection, options) == expected
        transaction.set_rollback(True)


# --- one odd value at a time, for every condition the query has -------------------------------

PLAIN_PAYER = {
    "national_id": factories.FNR_CLASSIC,
    "org_number": "",
    "name": "Kari Nordmann",
    "address1": "Eksempelveien 1",
    "address2": "",
    "postcode": "9999",
    "place": "Testbygd",
    "customer_number": "20000815",
}
PLAIN_LINE = {
    "service": "PB",
    "description": "Praktisk bistand oktober",
    "quantity": Decimal("4.00"),
    "unit_price_ore": 21500,
    "amount_ore": 86000,
    "texts": ["Besøk 12 kl 08:00"],
    "dimensions": {},
}


def _basis(payer: Any = None, line: Any = None, **top: Any) -> dict[str, Any]:
    return {
        "payer": {**PLAIN_PAYER, **(payer or {})},
        "recipient": None,
        "source_reference": "SRC",
        "unit": "plain",
        "lines": [{**PLAIN_LINE, **(line or {})}],
        **top,
    }


ODD_CASES = {
    "blank name": _basis({"name": "   "}),
    "name at the width": _basis({"name": "č" * 40}),
    "name over the width": _basis({"name": "a" * 41}),
    "name over the width once cleaned": _basis({"name": "…" * 14}),
    "name with a no-break space": _basis({"name": "Kari\xa0Nordmann"}),
    "name with a wide space only": _basis({"name": "\u2000"}),
    "address over the width": _basis({"address1": "a" * 41}),
    "address with Sámi letters": _basis({"address1": "Đuoddarluodda 7"}),
    "place with Sámi letters": _basis({"place": "Kárášjohka"}),
    "second address line with Sámi letters": _basis({"address2": "Ŋiillasgeaidnu 2"}),
    "place over the width": _basis({"place": "ŋ" * 41}),
    "no postcode": _basis({"postcode": ""}),
    "postcode with a letter": _basis({"postcode": "15o0"}),
    "wrong check digit": _basis({"national_id": "15899010058"}),
    "organisation": _basis({"national_id": "", "org_number": factories.ORGNR}),
    "no customer number": _basis({"customer_number": ""}),
    "customer number too wide": _basis({"customer_number": "123456789"}),
    "someone else pays": _basis(recipient={**PLAIN_PAYER, "national_id": factories.DNR}),
    "someone with Sámi letters pays": _basis(
        recipient={**PLAIN_PAYER, "national_id": factories.DNR, "name": "Áile Čoalmmát"}
    ),
    "long source reference": _basis(source_reference="S" * 17),
    "source reference with an odd character": _basis(source_reference="SRC\x01"),
    "unit with Sámi letters": _basis(unit="sami"),
    "long unit name": _basis(unit="long"),
    "no lines": {**_basis(), "lines": []},
    **{f"service {code}": _basis(line={"service": code}) for code in _ODD_SERVICES},
    "description over the width": _basis(line={"description": "d" * 36}),
    "description cleaned wider": _basis(line={"description": "…" * 12}),
    "amount one øre off": _basis(line={"amount_ore": 86001}),
    "fractional quantity": _basis(line={"quantity": Decimal("2.50"), "amount_ore": 53750}),
    "99 texts": _basis(line={"texts": ["Besøk"] * 99}),
    "100 texts": _basis(line={"texts": ["Besøk"] * 100}),
    "texts that wrap into 100 lines": _basis(line={"texts": ["x" * 51] * 50}),
    "texts that wrap into 100 lines once cleaned": _basis(line={"texts": ["…" * 17] * 50}),
    "text with an en dash": _basis(line={"texts": ["Besøk 12 kl 08:00–09:30"]}),
    "description with an en dash": _basis(line={"description": "Praktisk bistand – oktober"}),
    "text at the width": _basis(line={"texts": ["x" * 50]}),
    "text over the width": _basis(line={"texts": ["x" * 51]}),
    "text over the width once cleaned": _basis(line={"texts": ["…" * 17]}),
    "text with a quote": _basis(line={"texts": ['Sa "hei"']}),
    "text with a backslash": _basis(line={"texts": ["a\\b"]}),
    "text with a line break": _basis(line={"texts": ["a\nb"]}),
    "kontering too wide": _basis(line={"dimensions": {"ansvar": "1234567890123"}}),
    "kontering at the width": _basis(line={"dimensions": {"ansvar": "123456789012"}}),
    "required kontering empty": _basis(line={"dimensions": {"prosjekt": ""}}),
    "required kontering null": _basis(line={"dimensions": {"prosjekt": None}}),
    "kontering a number": _basis(line={"dimensions": {"ansvar": 3100}}),
    "kontering true": _basis(line={"dimensions": {"ansvar": True}}),
    # Texts that are not strings and kontering that is not an object cannot come in through the
    # intake, and the format checks themselves do not take them; the query counts them as suspect.
}
PROFILES: list[prefilter.Options] = [
    visma_file.VismaFileOptions(kb_slots=("ansvar", "tjeneste", "prosjekt")),
    visma_file.VismaFileOptions(layout="basic"),
    visma_file.VismaFileOptions(
        encoding="cp1252", quantity_decimals=0, default_oppdragsgiver="013", kb_slots=("ansvar",)
    ),
    agresso_lg04.AgressoOptions(
        client="DK",
        dim_slots=("ansvar", "tjeneste", "", "", "prosjekt", "", ""),
        required_slots=frozenset({5}),
        header_text_template="{unit_name} – {unit_code} {unit_name} {reference}",
    ),
    agresso_lg04.AgressoOptions(
        layout="wide", encoding="cp1252", customer_mode="id_in_text", dim_slots=("ansvar",)
    ),
]


@pytest.mark.parametrize("case", list(ODD_CASES))
def test_one_odd_value_gives_the_same_findings(kommune_a: Municipality, case: str) -> None:
    # The odd basis sits between two plain ones, so that order and merging show too.
    _store(kommune_a, [_basis(), ODD_CASES[case], _basis({"national_id": factories.FNR_2032})])
    selection = _selection(kommune_a)
    for options in PROFILES:
        assert prefilter.validate_selection(selection, options) == _reference(options)(selection), (
            options
        )


# --- the fast path is the one taken, and reads only what it must ---------------------------------


def _plain_month(m: Municipality, n: int, **line: Any) -> list[InvoiceBasis]:
    factories.service(m, "PB", default_dimensions={"ansvar": "3100"})
    return [
        factories.basis(
            m,
            period=PERIOD,
            payer=factories.party(m, factories.FNR_CLASSIC if i % 2 else factories.DNR),
            lines=[{"texts": ["Besøk 12 kl 08:00–09:30", "Praktisk bistand"], **line}],
        )
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "options",
    [
        visma_file.VismaFileOptions(kb_slots=("ansvar",)),
        agresso_lg04.AgressoOptions(client="DK", customer_mode="id_in_text"),
    ],
    ids=["visma", "agresso"],
)
def test_only_suspect_bases_are_read_into_python(
    kommune_a: Municipality, options: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bases = _plain_month(kommune_a, 6)
    odd = bases[2]
    odd.payer = factories.party(kommune_a, factories.FNR_2032, postcode="")  # Visma: an error
    odd.save()
    InvoiceLine.objects.filter(basis=odd).update(description="x" * 40)  # cut in LG04 classic
    seen: list[int] = []
    module: Any = visma_file if isinstance(options, visma_file.VismaFileOptions) else agresso_lg04
    original = module.validate_each

    def watching(stream: Any, opts: Any) -> Any:
        def record() -> Any:
            for basis in stream:
                seen.append(basis.pk)
                yield basis

        return original(record(), opts)

    monkeypatch.setattr(module, "validate_each", watching)
    findings = prefilter.validate_selection(_selection(kommune_a), options)

    assert seen == [odd.pk]
    # "–" is not in ISO-8859-1: every basis is transliterated, the odd one has its own finding.
    assert {f.basis_pk for f in findings if f.code == "transliterated"} == {b.pk for b in bases}
    assert {f.code for f in findings if f.basis_pk == odd.pk} - {"transliterated"}


def test_a_running_number_over_99_takes_the_reference_path(
    kommune_a: Municipality, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.service(kommune_a, "PB")
    payer = factories.party(kommune_a)
    for _ in range(2):
        factories.basis(kommune_a, period=PERIOD, payer=payer, lines=[{}] * 50)
    options = visma_file.VismaFileOptions()
    flags = prefilter._flags(_selection(kommune_a), options)
    findings = prefilter.validate_selection(_selection(kommune_a), options)

    assert flags is None
    assert [f.code for f in findings if f.severity == "error"] == ["too_many_running_numbers"]
    assert findings == _reference(options)(_selection(kommune_a))


def test_many_lines_of_one_payer_under_99_per_vare_stay_on_the_fast_path(
    kommune_a: Municipality,
) -> None:
    pb = factories.service(kommune_a, "PB")
    ta = factories.service(kommune_a, "TA", visma_vare="0200")
    payer = factories.party(kommune_a)
    for service in (pb, ta):
        factories.basis(kommune_a, period=PERIOD, payer=payer, lines=[{"service": service}] * 60)
    options = visma_file.VismaFileOptions()

    flags = prefilter._flags(_selection(kommune_a), options)

    assert flags is not None
    assert not any(suspect for _pk, suspect, _translit in flags)
    assert prefilter.validate_selection(_selection(kommune_a), options) == []


def test_progress_reports_every_basis(kommune_a: Municipality) -> None:
    _plain_month(kommune_a, 3)
    done: list[int] = []
    prefilter.validate_selection(
        _selection(kommune_a), visma_file.VismaFileOptions(), progress=done.append
    )
    assert done[-1] == 3


def test_a_recorded_basis_of_another_period_is_checked_with_its_own(
    kommune_a: Municipality,
) -> None:
    # The header text names the period; the query measures it for the selection's period, so a
    # recorded basis of another period must go through the format checks.
    unit = factories.unit(kommune_a, "LANG", "U" * 55)  # 55 + 1 + 55 + 1 + "mai 2026" = 120
    basis = factories.basis(kommune_a, period="2026-09", unit_obj=unit)
    export = Export.objects.create(
        municipality=kommune_a, format="agresso", layout="classic", period="2026-05"
    )
    insert_rows(
        ExportItem,
        ("export_id", "basis_id", "total_ore", "content_hash", "basis_status"),
        [(export.pk, basis.pk, basis.total_ore, basis.content_hash, basis.status)],
    )
    selection = Selection(municipality=kommune_a, period="2026-05", export_id=export.pk)
    options = agresso_lg04.AgressoOptions(
        client="DK",
        customer_mode="id_in_text",
        header_text_template="{unit_name} {unit_name} {period_name}",
    )

    findings = prefilter.validate_selection(selection, options)

    assert [f.code for f in findings if f.basis_pk == basis.pk] == ["header_text_cut"]
    assert findings == _reference(options)(selection)
