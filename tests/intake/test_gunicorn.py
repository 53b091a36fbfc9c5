"""The intake behind the production server: gunicorn on a loopback port of its own, against the
test database, spoken to with `http.client` as a care system would.

A chunked body (`Transfer-Encoding: chunked`, no `Content-Length`) was read as empty (Django reads
as many bytes as `Content-Length` says), and a valid document got "Ugyldig JSON (linje 1,
kolonne 1)". Only a real server shows it: the test client always sends a length.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from invoices.models import InvoiceBasis, Municipality
from invoices.services import api_token_create
from tests.intake import helpers

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/invoice-bases"


def _database_url() -> str:
    s = connection.settings_dict
    auth = f"{quote(s['USER'])}:{quote(s['PASSWORD'])}@" if s["USER"] else ""
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def server(requires_postgres: None, transactional_db: None, tmp_path: Path) -> Iterator[int]:
    """gunicorn on port 0 (the kernel picks a free one; the log says which)."""
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": _database_url()}
    cmd = [
        sys.executable, "-m", "gunicorn", "aidn_billing.wsgi:application",
        "--bind", "127.0.0.1:0", "--workers", "1", "--timeout", "60",
        "--error-logfile", str(log),
    ]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        port = None
        while port is None:
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            if match:
                port = int(match.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start:\n{log.read_text()}")
            else:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _chunked_post(port: int, token: str, pieces: Iterator[bytes]) -> tuple[int, Any]:
    """POST with `Transfer-Encoding: chunked`: http.client chunks an iterable body by itself."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            URL,
            body=pieces,
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_is_read_whole_and_the_limit_holds(
    server: int, kommune_a: Municipality, admin_a: Any, services_a: Any
) -> None:
    _token, plaintext = api_token_create(kommune_a, "Fagsystem", admin_a)
    doc = helpers.body(helpers.document(helpers.batch(30)))
    # Small pieces, so the document arrives in many chunks.
    status, payload = _chunked_post(server, plaintext, _pieces(doc, 997))
    assert (status, payload) == (201, {"created": 30, "updated": 0, "unchanged": 0})
    assert InvoiceBasis.objects.filter(municipality=kommune_a).count() == 30

    # The same limit as with a length: one byte over is 413, and nothing is stored.
    limit = settings.INTAKE_MAX_BODY_BYTES
    other = helpers.body(helpers.document(helpers.batch(1, prefix="OVER")))
    oversize = other[:-1] + b" " * (limit + 1 - len(other)) + b"}"
    assert len(oversize) == limit + 1
    status, payload = _chunked_post(server, plaintext, _pieces(oversize, 1 << 16))
    assert status == 413
    assert payload["errors"][0]["code"] == "payload_too_large"
    assert not InvoiceBasis.objects.filter(source_reference__startswith="OVER").exists()
