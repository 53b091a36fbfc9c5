"""Log lines (docs/operations.md, "Logs"): one line per event, plain or JSON, with the request or
transfer id, and never a password or a full national id. The capture goes through the very
configuration the product runs with (settings.LOGGING), not a stand-in."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from core.logs import log_context, logging_config, mask
from integrations import tasks as visma_tasks
from integrations.models import AttemptState, Transfer
from integrations.services import transfer_start
from invoices.models import Municipality, Role
from operations.middleware import request_id_from
from tests import factories
from tests.integrations.conftest import configure

FNR = "15899010059"
FNR_2 = "55899010042"
WRONG_VISMA_PASSWORD = "Feil-Visma-passord-77"


def product_logging(fmt: str) -> tuple[dict[str, Any], io.StringIO]:
    """settings.LOGGING's configuration in format `fmt`, its console writing into a buffer."""
    buffer = io.StringIO()
    config = logging_config(level="DEBUG", fmt=fmt)
    config["handlers"]["console"]["stream"] = buffer
    return config, buffer


@pytest.fixture
def captured() -> Iterator[Any]:
    """The product's logging (JSON lines), read back line by line."""
    config, buffer = product_logging("json")

    def lines() -> list[dict[str, Any]]:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return [json.loads(line) for line in text.splitlines()]

    logging.config.dictConfig(config)
    try:
        yield lines
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_mask_cuts_national_ids_and_credentials() -> None:
    text = mask(
        f"payer {FNR} and {FNR_2}; order 1234567890123; Authorization: Basic ZGVtbzpkZW1v "
        "password=hunter2hunter2"
    )
    assert FNR not in text and FNR_2 not in text
    assert "158990***** and 558990*****" in text
    assert "1234567890123" in text  # 13 digits is not an id
    assert "ZGVtbzpkZW1v" not in text and "hunter2" not in text


def test_every_line_is_one_line_with_its_ids_plain_and_json(captured: Any) -> None:
    log = logging.getLogger("aidn.test")
    with log_context(export_id=17):
        try:
            raise ValueError(f"bad id {FNR}\nsecond line")
        except ValueError:
            log.exception("export failed for %s", FNR)
    [line] = captured()
    assert line["export_id"] == "17" and line["level"] == "ERROR"
    assert line["message"] == "export failed for 158990*****"
    assert "158990*****" in line["exc"] and FNR not in json.dumps(line)


def test_plain_format_folds_tracebacks() -> None:
    config, buffer = product_logging("plain")
    logging.config.dictConfig(config)
    try:
        with log_context(transfer_id=5):
            try:
                raise ValueError("a\nb")
            except ValueError:
                logging.getLogger("aidn.test").exception("stopped %s", FNR)
    finally:
        logging.config.dictConfig(settings.LOGGING)
    [line] = buffer.getvalue().splitlines()
    assert "aidn.test transfer_id=5 stopped 158990*****" in line
    assert "Traceback" in line and "ValueError: a\\nb" in line


def test_failed_login_line_has_the_request_id_and_no_password_or_full_id(
    captured: Any, kommune_a: Municipality
) -> None:
    # A username that is a national id: the line must mask it.
    factories.user(FNR, kommune_a, Role.MERKANTIL)
    client = Client()
    password = "Galt-passord-123"
    response = client.post(
        "/logg-inn/",
        {"username": FNR, "password": password},
        headers={"x-request-id": "proxy-req-0001"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert response["X-Request-ID"] == "proxy-req-0001"
    client.post("/logg-inn/", {"username": "nobody-" + password, "password": password})
    lines = captured()
    failed = [x for x in lines if x["logger"] == "operations.security"]
    assert [x["message"] for x in failed] == [
        "login failed for user 158990*****",
        "login failed for a username that does not exist",
    ]
    assert failed[0]["request_id"] == "proxy-req-0001"
    assert len(failed[1]["request_id"]) == 32  # made here when the proxy sent none
    everything = json.dumps(lines)
    assert password not in everything and FNR not in everything


@pytest.mark.django_db(transaction=True)
def test_failing_send_lines_carry_the_transfer_id_and_no_password_or_full_id(
    captured: Any, kommune_a: Municipality, merkantil_a: Any, simulator: Any
) -> None:
    configure(kommune_a, simulator.url, password=WRONG_VISMA_PASSWORD)
    payer = factories.party(kommune_a, FNR, name="Kari Nordmann")
    factories.basis(kommune_a, period="2026-10", payer=payer)
    transfer = transfer_start(kommune_a, period="2026-10", actor=merkantil_a)
    captured()  # what came before the send is not under test

    visma_tasks.send_transfer(transfer.pk)  # the task as a worker runs it, here in-process

    transfer.refresh_from_db()
    assert transfer.status == "stopped"
    assert not transfer.attempts.filter(state=AttemptState.SENT).exists()
    lines = captured()
    stopped = [x for x in lines if "stopped" in x["message"]]
    assert stopped and all(x["transfer_id"] == str(transfer.pk) for x in stopped)
    assert stopped[0]["level"] == "WARNING"
    everything = json.dumps(lines)
    assert WRONG_VISMA_PASSWORD not in everything
    assert FNR not in everything
    assert Transfer.objects.count() == 1


def test_only_a_well_formed_request_id_is_taken_from_the_proxy() -> None:
    assert request_id_from("7f3a9c1e2b4d4e6f8a0b1c2d3e4f5a6b") == "7f3a9c1e2b4d4e6f8a0b1c2d3e4f5a6b"
    assert request_id_from("req-2026-11-05:01") == "req-2026-11-05:01"
    for hostile in ("", "short", "a" * 129, "id with spaces", "abc123\nforged line", f"{FNR}\x00"):
        made = request_id_from(hostile)
        assert made != hostile and len(made) == 32 and int(made, 16) >= 0
