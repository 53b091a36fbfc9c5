"""import_invoice_bases (streamed, chunked), create_api_token, approve_invoice_bases."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from invoices.management.commands import import_invoice_bases as importer
from invoices.models import ApiToken, BasisStatus, InvoiceBasis, Municipality
from invoices.services import api_token_authenticate
from tests import factories
from tests.intake import helpers

pytestmark = pytest.mark.usefixtures("services_a")


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def run(*args: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_in_chunks_then_again(
    tmp_path: Path, kommune_a: Municipality, monkeypatch: Any
) -> None:
    monkeypatch.setattr(importer, "CHUNK_SIZE", 4)
    path = write(tmp_path / "m.json", helpers.document(helpers.batch(10)))
    out, _err = run("import_invoice_bases", str(path))
    assert "Del 1 (grunnlag 0–3): 4 nye" in out
    assert "Del 3 (grunnlag 8–9): 2 nye" in out
    assert "Totalt: 10 nye, 0 endret, 0 uendret av 10 lest" in out
    assert InvoiceBasis.objects.filter(municipality=kommune_a).count() == 10
    out, _err = run("import_invoice_bases", str(path))
    assert "Totalt: 0 nye, 0 endret, 10 uendret" in out


def test_a_failing_chunk_is_reported_and_the_others_stored(
    tmp_path: Path, kommune_a: Municipality, monkeypatch: Any
) -> None:
    monkeypatch.setattr(importer, "CHUNK_SIZE", 4)
    bases = helpers.batch(10)
    bases[5]["lines"][0]["texts"] = ["x" * 51]
    bases[9]["source_reference"] = bases[1]["source_reference"]  # duplicate across chunks
    path = write(tmp_path / "m.json", helpers.document(bases))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 del"):
        call_command("import_invoice_bases", str(path), stdout=out, stderr=err)
    assert "Del 1 (grunnlag 0–3): 4 nye" in out.getvalue()
    assert "Del 2 (grunnlag 4–7): avvist" in err.getvalue()
    assert "grunnlag 5 (HT-000006) lines[0].texts[0]: [text_too_long]" in err.getvalue()
    assert "grunnlag 9 (HT-000002) source_reference: [duplicate_reference]" in err.getvalue()
    refs = set(InvoiceBasis.objects.values_list("source_reference", flat=True))
    assert refs == {f"HT-{i:06d}" for i in range(1, 5)}


def test_municipality_may_come_last_and_must_exist(tmp_path: Path, kommune_a: Municipality) -> None:
    bases = json.dumps(helpers.batch(2), ensure_ascii=False)
    path = tmp_path / "last.json"
    path.write_text('{"invoice_bases": ' + bases + ', "municipality": "9999"}', encoding="utf-8")
    out, _err = run("import_invoice_bases", str(path))
    assert "2 nye" in out
    write(tmp_path / "unknown.json", helpers.document(helpers.batch(1), municipality="1234"))
    with pytest.raises(CommandError, match="1234"):
        run("import_invoice_bases", str(tmp_path / "unknown.json"))
    write(tmp_path / "none.json", {"invoice_bases": []})
    with pytest.raises(CommandError, match="Kommunenummer"):
        run("import_invoice_bases", str(tmp_path / "none.json"))
    with pytest.raises(CommandError, match="Finner ikke"):
        run("import_invoice_bases", str(tmp_path / "missing.json"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"municipality": "9999", "invoice_bases": [{"source_reference": "A"', "Ugyldig JSON"),
        (b'{"municipality": "9999", "invoice_bases": [NaN]}', "NaN"),
        (b'{"municipality": "9999", "invoice_bases": [] } x', "Uventet innhold"),
        (b'{"municipality": "9999", "invoice_bases": [], "x": 1}', "ukjent"),
        (b'{"municipality": "9999"}', "mangler feltet invoice_bases"),
        ('{"municipality": "9999", "invoice_bases": ["æ"]}'.encode("latin-1"), "UTF-8"),
    ],
)
def test_broken_files_fail_cleanly(
    tmp_path: Path, kommune_a: Municipality, content: bytes, message: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_invoice_bases", str(path), stdout=out, stderr=err)
    assert message in err.getvalue() + str(caught.value)
    assert not InvoiceBasis.objects.exists()


def test_stream_reads_values_across_buffer_boundaries(tmp_path: Path) -> None:
    bases = [
        {"n": i, "tekst": "æøå Čáđ " * (i % 7), "tall": 12345678901234567890 + i}
        for i in range(300)
    ]
    doc = {"municipality": "9999", "invoice_bases": bases, "etter": [1.5, None, True]}
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    for read_size in (1, 7, 64, 4096):
        with open(path, encoding="utf-8") as fp:
            stream = importer.JsonStream(fp, read_size=read_size)
            seen: dict[str, Any] = {}
            for key in stream.members():
                seen[key] = list(stream.items()) if key == "invoice_bases" else stream.value()
        assert seen == doc, read_size


def test_stream_memory_is_bounded_by_one_value(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    with open(path, "w", encoding="utf-8") as fp:
        fp.write('{"municipality": "9999", "invoice_bases": [')
        fp.write(",".join(json.dumps({"i": i, "pad": "x" * 1000}) for i in range(3000)))
        fp.write("]}")
    largest = 0
    with open(path, encoding="utf-8") as fp:
        stream = importer.JsonStream(fp, read_size=8192)
        for key in stream.members():
            if key == "invoice_bases":
                for _item in stream.items():
                    largest = max(largest, len(stream.buf))
            else:
                stream.value()
    assert path.stat().st_size > 3_000_000
    assert largest < 20_000


def test_create_api_token_prints_it_once(kommune_a: Municipality) -> None:
    out, err = run("create_api_token", "--municipality", "9999", "--name", "Fagsystem")
    plaintext = out.strip()
    token = ApiToken.objects.get()
    assert api_token_authenticate(plaintext) == token
    assert plaintext not in err and token.token_hash not in out
    with pytest.raises(CommandError):
        run("create_api_token", "--municipality", "1234", "--name", "X")


def test_approve_command(
    kommune_a: Municipality, merkantil_a: Any, admin_a: Any, services_a: Any
) -> None:
    good = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    bad = factories.basis(
        kommune_a, status=BasisStatus.RECEIVED, lines=[{"service": services_a["GML"]}]
    )
    args = ["approve_invoice_bases", "--municipality", "9999", "--period", "2026-10"]
    with pytest.raises(CommandError, match="ikke merkantil"):
        run(*args, "--user", "admin_a")
    with pytest.raises(CommandError, match="finnes ikke"):
        run(*args, "--user", "nobody")
    out, err = run(*args, "--user", "merkantil_a")
    assert "Godkjent: 1 grunnlag, til sammen 860,00\xa0kr" in out
    assert f"Ikke godkjent: {bad.source_reference}" in err
    assert "[service_not_billable]" in err
    good.refresh_from_db()
    assert (good.status, good.approved_by) == (BasisStatus.APPROVED, merkantil_a)
    with pytest.raises(CommandError, match="Ingen grunnlag"):
        run(*args, "--user", "merkantil_a")
    with pytest.raises(CommandError, match="ÅÅÅÅ-MM"):
        run(
            "approve_invoice_bases",
            "--municipality",
            "9999",
            "--period",
            "2026-13",
            "--user",
            "merkantil_a",
        )


# --- the API's rules for keys twice and for control characters -------------------------------


def test_a_key_twice_in_a_basis_refuses_its_chunk_and_names_the_place(
    tmp_path: Path, kommune_a: Municipality, monkeypatch: Any
) -> None:
    monkeypatch.setattr(importer, "CHUNK_SIZE", 4)
    text = json.dumps(helpers.document(helpers.batch(8)), ensure_ascii=False)
    # Basis 6 (the second chunk) names its payer twice.
    head, sep, tail = text.partition('"source_reference": "HT-000007"')
    tail = tail.replace('"name": "Person 7"', '"name": "Person 7", "name": "Noen andre"', 1)
    path = tmp_path / "twice.json"
    path.write_text(head + sep + tail, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 del"):
        call_command("import_invoice_bases", str(path), stdout=out, stderr=err)
    assert "Del 1 (grunnlag 0–3): 4 nye" in out.getvalue()
    assert "Del 2 (grunnlag 4–7): avvist" in err.getvalue()
    assert "grunnlag 6 (HT-000007) payer.name: [duplicate_key]" in err.getvalue()
    assert InvoiceBasis.objects.count() == 4


@pytest.mark.parametrize(
    "text",
    [
        '{"municipality": "9998", "municipality": "9999", "invoice_bases": []}',
        '{"municipality": "9999", "invoice_bases": [BASES], "municipality": "9998"}',
        '{"invoice_bases": [BASES], "municipality": "9999", "municipality": "9999"}',
    ],
)
def test_municipality_twice_refuses_the_file_before_anything_is_stored(
    tmp_path: Path, kommune_a: Municipality, kommune_b: Municipality, text: str
) -> None:
    bases = json.dumps(helpers.batch(3), ensure_ascii=False)[1:-1]
    path = tmp_path / "two.json"
    path.write_text(text.replace("BASES", bases), encoding="utf-8")
    with pytest.raises(CommandError, match="«municipality» står to ganger"):
        run("import_invoice_bases", str(path))
    assert not InvoiceBasis.objects.exists()


def test_a_bidirectional_override_is_refused_like_in_the_api(
    tmp_path: Path, kommune_a: Municipality
) -> None:
    bases = helpers.batch(2)
    bases[1]["payer"]["name"] = "Kari \u202eNordmann"
    path = write(tmp_path / "bidi.json", helpers.document(bases))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_invoice_bases", str(path), stdout=out, stderr=err)
    assert "grunnlag 1 (HT-000002) payer.name: [control_character]" in err.getvalue()
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in err.getvalue()
    assert not InvoiceBasis.objects.exists()


def test_a_municipality_with_nul_is_refused_before_any_lookup(
    tmp_path: Path, kommune_a: Municipality
) -> None:
    path = write(tmp_path / "nul.json", helpers.document([], municipality="99\x0099"))
    with pytest.raises(CommandError, match="ikke fire siffer"):
        run("import_invoice_bases", str(path))
