"""The client against the simulator over real HTTP on loopback: results, faults, error mapping."""

from __future__ import annotations

import base64
import logging
import socket

import pytest

from integrations.visma import client as visma_client
from integrations.visma.client import VismaClient, get_client
from integrations.visma.errors import (
    AuthenticationFailed,
    ClientFault,
    ConfigurationError,
    TransientError,
    VismaError,
)
from integrations.visma_simulator import SimulatorHandle
from invoices.identifiers import is_valid_kid
from tests.factories import DNR, FNR_2032, ORGNR

from .conftest import PASSWORD, USER, basis, line


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


# Ping


def test_ping(client: VismaClient) -> None:
    result = client.ping("1")
    assert (result.selskap, result.selskapsnavn) == ("1", "Demo kommune")
    assert result.tjenesteversjon
    assert result.tidspunkt.tzinfo is not None


def test_ping_unknown_company_is_a_client_fault(client: VismaClient) -> None:
    with pytest.raises(ClientFault) as caught:
        client.ping("77")
    assert caught.value.code == "UKJENT_SELSKAP"
    assert caught.value.permanent


def test_wrong_password_never_shows_the_password(
    simulator: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Hemmelig-passord-42"
    auth_header = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    caplog.set_level(logging.DEBUG)
    bad = VismaClient(simulator.url, USER, secret, read_timeout=2)
    with pytest.raises(AuthenticationFailed) as caught:
        bad.send("1", "B1", [basis("R-401")], False)
    error = caught.value
    assert error.permanent and not error.maybe_delivered
    for exc in _chain(error):
        for text in (str(exc), repr(exc), exc.message if isinstance(exc, VismaError) else ""):
            assert secret not in text
            assert auth_header not in text
            assert "R-401" not in text  # nothing of the request body
    assert caplog.records, "the failed call is logged"
    assert secret not in caplog.text
    assert auth_header not in caplog.text
    assert secret not in repr(bad)
    assert simulator.stats()["stored_total"] == 0


# SendFakturagrunnlag


def test_send_stores_and_answers_mottatt(client: VismaClient, simulator: SimulatorHandle) -> None:
    [result] = client.send("1", "B1", [basis("R1")], False)
    assert result.status == "MOTTATT"
    assert result.grunnlag_id
    assert result.meldinger == ()
    assert simulator.stats()["per_referanse"]["1"]["R1"]["stored"] == 1


def test_resend_of_the_same_content_is_duplikat_with_the_original_id(client: VismaClient) -> None:
    [first] = client.send("1", "B1", [basis("R1")], False)
    [again] = client.send("1", "B2", [basis("R1")], False)
    assert again.status == "DUPLIKAT"
    assert again.grunnlag_id == first.grunnlag_id


def test_same_content_means_same_values_not_same_text(client: VismaClient) -> None:
    client.send("1", "B1", [basis("R1", line(kontering={1: "3100", 4: "9"}))], False)
    # Same values: kontering in another order, betform left to its default.
    [again] = client.send(
        "1", "B2", [basis("R1", line(kontering={4: "9", 1: "3100"}), betform="")], False
    )
    assert again.status == "DUPLIKAT"


def test_resend_with_changed_content_is_rejected_referanse_brukt(
    client: VismaClient, simulator: SimulatorHandle
) -> None:
    client.send("1", "B1", [basis("R1")], False)
    [changed] = client.send("1", "B2", [basis("R1", navn="Ola Nordmann")], False)
    assert changed.status == "AVVIST"
    assert [(m.kode, m.felt) for m in changed.meldinger] == [("REFERANSE_BRUKT", "referanse")]
    assert simulator.stats()["stored_total"] == 1


def test_rejections_carry_codes_and_field_paths(client: VismaClient) -> None:
    results = client.send(
        "1",
        "B1",
        [
            basis("R-vare", line("0100"), line("0999")),
            basis("R-og", oppdragsgiver="099"),
            basis("R-kunde", kundenr="15899010050"),
            basis("R-belop", line("0100", "1.5", 333, 499)),
        ],
        False,
    )
    found = {r.referanse: [(m.kode, m.felt) for m in r.meldinger] for r in results}
    assert all(r.status == "AVVIST" for r in results)
    assert found == {
        "R-vare": [("UKJENT_VARE", "linje[2].varenr")],
        "R-og": [("UKJENT_OPPDRAGSGIVER", "oppdragsgiver")],
        "R-kunde": [("UGYLDIG_KUNDENR", "kunde.kundenr")],
        "R-belop": [("BELOP_STEMMER_IKKE", "linje[1].belop")],
    }
    assert all(m.tekst for r in results for m in r.meldinger)


def test_unknown_vare_on_the_first_line(client: VismaClient) -> None:
    [result] = client.send("1", "B1", [basis("R1", line("0999"))], False)
    assert result.status == "AVVIST"
    assert [(m.kode, m.felt) for m in result.meldinger] == [("UKJENT_VARE", "linje[1].varenr")]
    assert "0999" in result.meldinger[0].tekst


@pytest.mark.parametrize(
    ("antall", "pris", "belop"),
    [("1.50", 333, 500), ("-1.50", 333, -500), ("0.50", 1, 1), ("2.00", 0, 0)],
)
def test_amount_rounds_half_away_from_zero(
    client: VismaClient, antall: str, pris: int, belop: int
) -> None:
    [result] = client.send("1", "B1", [basis("R1", line("0100", antall, pris, belop))], False)
    assert result.status == "MOTTATT", result.meldinger


@pytest.mark.parametrize("kundenr", [FNR_2032, DNR, ORGNR])
def test_customer_number_variants_are_accepted(client: VismaClient, kundenr: str) -> None:
    [result] = client.send("1", "B1", [basis("R1", kundenr=kundenr)], False)
    assert result.status == "MOTTATT", result.meldinger


def test_a_rejected_basis_can_be_sent_again_once_corrected(client: VismaClient) -> None:
    [rejected] = client.send("1", "B1", [basis("R1", line("0999"))], False)
    assert rejected.status == "AVVIST"
    [status] = client.status("1", ["R1"])
    assert status.tilstand == "AVVIST"
    [accepted] = client.send("1", "B2", [basis("R1", line("0100"))], False)
    assert accepted.status == "MOTTATT"
    [status] = client.status("1", ["R1"])
    assert status.tilstand == "MOTTATT"


def test_one_call_mixes_outcomes_in_request_order(client: VismaClient) -> None:
    client.send("1", "B0", [basis("R-old")], False)
    results = client.send(
        "1",
        "B1",
        [basis("R-new"), basis("R-bad", line("0999")), basis("R-old"), basis("R-2")],
        False,
    )
    assert [(r.referanse, r.status) for r in results] == [
        ("R-new", "MOTTATT"),
        ("R-bad", "AVVIST"),
        ("R-old", "DUPLIKAT"),
        ("R-2", "MOTTATT"),
    ]


def test_the_same_referanse_twice_in_one_call(client: VismaClient) -> None:
    results = client.send(
        "1",
        "B1",
        [
            basis("R1"),
            basis("R1"),
            basis("R1", navn="Annen"),
            basis("R2", line("0999")),
            basis("R2"),
        ],
        False,
    )
    assert [r.status for r in results] == ["MOTTATT", "DUPLIKAT", "AVVIST", "AVVIST", "MOTTATT"]
    assert results[1].grunnlag_id == results[0].grunnlag_id
    assert results[2].meldinger[0].kode == "REFERANSE_BRUKT"


def test_testmodus_validates_and_stores_nothing(
    client: VismaClient, simulator: SimulatorHandle
) -> None:
    client.send("1", "B0", [basis("R-stored")], False)
    results = client.send(
        "1",
        "T1",
        [
            basis("R1"),
            basis("R2", line("0999")),
            basis("R-stored"),
            basis("R-stored", navn="Endret"),
            basis("R1", navn="Endret"),
        ],
        True,
    )
    assert [r.status for r in results] == ["VALIDERT", "AVVIST", "VALIDERT", "AVVIST", "AVVIST"]
    assert [m.kode for m in results[3].meldinger] == ["REFERANSE_BRUKT"]
    assert [m.kode for m in results[4].meldinger] == ["REFERANSE_BRUKT"]
    assert all(not r.grunnlag_id for r in results)
    stats = simulator.stats()
    assert stats["stored_total"] == 1
    assert [s.tilstand for s in client.status("1", ["R1", "R2"])] == ["UKJENT", "UKJENT"]


def test_more_than_200_bases_is_for_mange_grunnlag(
    client: VismaClient, simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError):
        client.send("1", "B1", [basis(f"R{i}") for i in range(201)], False)
    # The service refuses it too, should a client get past its own check.
    monkeypatch.setattr(visma_client, "MAX_BASES_PER_CALL", 1000)
    with pytest.raises(ClientFault) as caught:
        client.send("1", "B1", [basis(f"R{i}") for i in range(201)], False)
    assert caught.value.code == "FOR_MANGE_GRUNNLAG"
    assert simulator.stats()["stored_total"] == 0


def test_200_bases_in_one_call(client: VismaClient) -> None:
    bases = [basis(f"R{i:03d}") for i in range(200)]
    results = client.send("1", "B1", bases, False)
    assert [r.referanse for r in results] == [b.referanse for b in bases]
    assert {r.status for r in results} == {"MOTTATT"}
    assert len({r.grunnlag_id for r in results}) == 200


def test_unknown_company_on_send(client: VismaClient) -> None:
    with pytest.raises(ClientFault) as caught:
        client.send("2", "B1", [basis("R1")], False)
    assert caught.value.code == "UKJENT_SELSKAP"


# Transient failures


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("http_5xx_rate", "HTTP_503"),
        ("server_fault_rate", "TEKNISK_FEIL"),
        ("http_429_rate", "HTTP_429"),
    ],
)
def test_refusals_are_transient_and_not_delivered(
    client: VismaClient, simulator: SimulatorHandle, fault: str, code: str
) -> None:
    simulator.set_faults(**{fault: 1.0})
    with pytest.raises(TransientError) as caught:
        client.send("1", "B1", [basis("R1")], False)
    assert caught.value.maybe_delivered is False
    assert caught.value.permanent is False
    assert caught.value.code == code
    assert caught.value.retry_after == (1.0 if code == "HTTP_429" else None)
    simulator.set_faults(**{fault: 0.0})
    assert client.status("1", ["R1"])[0].tilstand == "UKJENT"


@pytest.mark.parametrize("fault", ["timeout_rate", "drop_reply_rate", "garbled_rate"])
def test_lost_replies_may_have_been_delivered(
    client: VismaClient, simulator: SimulatorHandle, fault: str
) -> None:
    # The simulator stores before it stalls, drops or garbles the reply; a read timeout well
    # above the processing time keeps the status check below from racing the store.
    simulator.set_faults(**{fault: 1.0}, timeout_seconds=3.0)
    quick = VismaClient(simulator.url, USER, PASSWORD, connect_timeout=1, read_timeout=1.0)
    with pytest.raises(TransientError) as caught:
        quick.send("1", "B1", [basis("R1"), basis("R2")], False)
    assert caught.value.maybe_delivered is True
    simulator.set_faults(**{fault: 0.0})
    # The protocol's next step: ask before sending anything again.
    assert [s.tilstand for s in client.status("1", ["R1", "R2"])] == ["MOTTATT", "MOTTATT"]


def test_reset_before_processing_may_have_been_delivered_but_was_not(
    client: VismaClient, simulator: SimulatorHandle
) -> None:
    simulator.set_faults(reset_rate=1.0)
    with pytest.raises(TransientError) as caught:
        client.send("1", "B1", [basis("R1")], False)
    # The client cannot tell a reset before processing from one after: it must ask.
    assert caught.value.maybe_delivered is True
    simulator.set_faults(reset_rate=0.0)
    assert client.status("1", ["R1"])[0].tilstand == "UKJENT"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_not_delivered() -> None:
    nobody = VismaClient(f"http://127.0.0.1:{_free_port()}/fakturering_ws/", USER, PASSWORD)
    with pytest.raises(TransientError) as caught:
        nobody.send("1", "B1", [basis("R1")], False)
    assert caught.value.maybe_delivered is False
    assert caught.value.code == "INGEN_TILKOBLING"


def test_a_url_that_is_not_http_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        VismaClient("ftp://127.0.0.1/fakturering_ws/", USER, PASSWORD).ping("1")
    with pytest.raises(ConfigurationError):
        VismaClient("http://127.0.0.1/fakturering_ws", USER, PASSWORD)


# HentStatus


def test_status_reports_ukjent_mottatt_and_fakturert_with_a_valid_kid(
    client: VismaClient, simulator: SimulatorHandle
) -> None:
    client.send(
        "1",
        "B1",
        [basis("R-a", line("0100", "2", 21500), line("0200", "1", 30000)), basis("R-b")],
        False,
    )
    invoiced = simulator.invoice("1", ["R-a"])
    assert [i["referanse"] for i in invoiced] == ["R-a"]
    ukjent, mottatt, fakturert = client.status("1", ["R-x", "R-b", "R-a"])
    assert (ukjent.referanse, ukjent.tilstand, ukjent.grunnlag_id) == ("R-x", "UKJENT", "")
    assert (mottatt.tilstand, mottatt.fakturanummer, mottatt.kid) == ("MOTTATT", "", "")
    assert mottatt.grunnlag_id and mottatt.belop == 86000
    assert fakturert.tilstand == "FAKTURERT"
    assert fakturert.fakturanummer == invoiced[0]["fakturanummer"]
    assert fakturert.belop == 2 * 21500 + 30000
    assert fakturert.fakturadato is not None and fakturert.forfallsdato is not None
    assert fakturert.forfallsdato > fakturert.fakturadato
    assert is_valid_kid(fakturert.kid) and fakturert.kid.isdigit()
    assert 2 <= len(fakturert.kid) <= 25


def test_status_answers_in_request_order_up_to_500(client: VismaClient) -> None:
    referanser = [f"R{i}" for i in range(500)]
    assert [s.referanse for s in client.status("1", referanser)] == referanser
    with pytest.raises(ValueError):
        client.status("1", [*referanser, "R500"])


# get_client


def test_get_client_is_one_per_credentials_and_timeouts(simulator: SimulatorHandle) -> None:
    a = get_client(simulator.url, USER, PASSWORD, connect_timeout=1.5, read_timeout=3.0)
    assert get_client(simulator.url, USER, PASSWORD, connect_timeout=1.5, read_timeout=3.0) is a
    assert (
        get_client(simulator.url, USER, "another", connect_timeout=1.5, read_timeout=3.0) is not a
    )
    assert get_client(simulator.url, USER, PASSWORD, connect_timeout=2, read_timeout=3) is not a
    assert a.timeout == (1.5, 3.0)
    assert a.endpoint == simulator.url + "FaktureringService"
    assert a.ping("1").selskap == "1"
