"""The production run: the product started the way docs/operations.md tells an IT department, and
a month taken through it over HTTP only.

Processes, each started from the command in its systemd unit (deploy/systemd/, read by
`tests/operations/units.py`): `migrate` (the migrate unit), `collectstatic` and gunicorn (the web
unit), a Celery worker and Celery beat, with `DJANGO_ENV=production` and the production variables
of deploy/fakturaeksport.env.example, on a fresh PostgreSQL database made for this test and its
own key prefix on Redis. The web "host" and the worker "host" have different working directories
and local state directories, and share only the storage path (MEDIA_ROOT), as two hosts with a
shared volume would. `ALLOW_SYNTHETIC_IDS=true` only because the month's national ids are
synthetic; nothing else is relaxed. Demo kommune, its users and catalogue come from
`seed_demo --force` (onboarding a real municipality is done in /driftsadmin/). The Visma side is the
simulator (`manage.py run_visma_simulator`, no deduplication, state in SQLite) on a free port.

The test talks to gunicorn as the TLS-terminating reverse proxy would (deploy/nginx/): it sets
`Host`, `X-Forwarded-Proto: https` and `X-Request-ID`, and carries the browser's cookies (which
are `Secure`) itself. Then: log in (CSRF), make an API key on its page, send the month to the
intake API, approve it, make a Visma file of it and download it (SHA-256 against the one the
export shows), point Visma at the simulator on the settings page, send the month, and read the
outcome back (the transfer's page, and invoice number and KID fetched from Visma by a worker).
The totals must agree to the øre: intake = approved = file = stored by Visma. Along the way:
readiness is 200 only once the worker's heartbeat and beat's tick are in, and every line the web,
worker and beat log is one JSON event, with the request or transfer id and no secret or id."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from django.db import connection

from exports.formats.visma_file import VismaFileOptions
from tests.conftest import require_service
from tests.export_formats.readers import read_visma
from tests.operations.helpers import fresh_database
from tests.operations.units import INSTALL_DIR, ROOT, STATE_DIR, command, environment

pytestmark = [pytest.mark.integration]

HOST = "faktura.example.no"
PERIOD = "2026-03"
VISMA_PASSWORD = "demo-visma-2026"  # the simulator's published demo credentials
PASSWORDS = {u: f"{u}-demo-2026" for u in ("admin", "merkantil", "superbruker")}
START_TIMEOUT = 90.0
RUN_TIMEOUT = 120.0


# --- the installation -----------------------------------------------------------------------------


class Installation:
    """The processes of one installation and where each keeps its things."""

    def __init__(self, tmp: Path, database_url: str, redis_url: str) -> None:
        self.tmp = tmp
        self.files = tmp / "shared-files"  # the shared volume
        self.web_host = tmp / "web-host"
        self.worker_host = tmp / "worker-host"
        self.logs = tmp / "logs"
        for folder in (self.files, self.web_host, self.worker_host, self.logs):
            folder.mkdir()
        self.prefix = f"prodrun-{uuid.uuid4().hex[:10]}-"
        self.redis_url = redis_url
        # What /etc/fakturaeksport/env holds (deploy/fakturaeksport.env.example).
        self.env = {
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": self.prefix,
            "FERNET_KEYS": Fernet.generate_key().decode(),
            "MEDIA_ROOT": str(self.files),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "WEB_BIND": "127.0.0.1:0",
            "WEB_WORKERS": "2",
            "WEB_THREADS": "2",
            "WORKER_CONCURRENCY": "2",
            # The month's national ids are synthetic (spec/identifiers.md); real ones are not.
            "ALLOW_SYNTHETIC_IDS": "true",
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def host_env(self, host: Path, unit: str) -> dict[str, str]:
        paths = self.paths(host)
        inherited = {k: os.environ[k] for k in ("PATH", "LANG", "HOME") if k in os.environ}
        return {
            **inherited,
            **self.env,
            **environment(unit, paths),
            "VAR_DIR": str(host / "state"),
            "PYTHONUNBUFFERED": "1",
        }

    def paths(self, host: Path) -> dict[str, str]:
        return {
            f"{INSTALL_DIR}/.venv/bin": str(Path(sys.executable).parent),
            INSTALL_DIR: str(ROOT),
            STATE_DIR: str(host / "state"),
        }

    def unit_command(self, unit: str, host: Path, key: str = "ExecStart") -> list[str]:
        return command(unit, self.host_env(host, unit), self.paths(host), key=key)

    def start(self, name: str, args: list[str], host: Path, unit: str) -> subprocess.Popen[bytes]:
        (host / "state").mkdir(exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                args,
                cwd=host / "state",  # the unit's WorkingDirectory, on this host
                env=self.host_env(host, unit),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def run(self, name: str, args: list[str], host: Path, unit: str) -> str:
        proc = self.start(name, args, host, unit)
        code = proc.wait(timeout=180)
        output = self.log(name)
        assert code == 0, f"{name} exited with {code}:\n{output[-3000:]}"
        return output

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def forget_redis_keys(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        for key in client.scan_iter(match=f"{self.prefix}*"):
            client.delete(key)
        client.close()


def _wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


def _log_match(inst: Installation, name: str, pattern: str) -> re.Match[str] | None:
    return re.search(pattern, inst.log(name))


# --- the reverse proxy and the browser ------------------------------------------------------------

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class ViaProxy:
    """One browser behind the TLS-terminating proxy: what nginx would hand gunicorn."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.request_ids: list[str] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        follow: bool = True,
        redirects: int = 0,
    ) -> requests.Response:
        assert redirects <= 5, f"redirect loop at {path}"
        request_id = f"proxy-{uuid.uuid4().hex}"
        self.request_ids.append(request_id)
        sent = {
            "Host": HOST,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "192.0.2.10",
            "X-Request-ID": request_id,
            "Referer": f"https://{HOST}{path}",
            **(headers or {}),
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = requests.request(
            method,
            self.base_url + path,
            headers=sent,
            data=body if body is not None else data,
            allow_redirects=False,
            timeout=60,
        )
        assert response.headers.get("X-Request-ID") == request_id
        for header in response.raw.headers.getlist("Set-Cookie"):
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0":  # a deletion (Django sends it without Secure)
                    self.cookies.pop(name, None)
                    continue
                assert morsel["secure"], f"cookie {name} is not Secure"
                self.cookies[name] = morsel.value
        if follow and response.status_code in (301, 302, 303):
            location = response.headers["Location"]
            parts = urlsplit(location)
            assert parts.scheme in ("", "https"), f"redirected to {location}"
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            return self.request("GET", target, redirects=redirects + 1)
        return response

    def get(self, path: str) -> requests.Response:
        response = self.request("GET", path)
        assert response.status_code == 200, (path, response.status_code)
        return response

    def post_form(
        self, page: str, action: str, data: dict[str, str], **kw: Any
    ) -> requests.Response:
        """POST `data` to `action` with the CSRF token of the form on `page`."""
        token = _CSRF.search(self.get(page).text)
        assert token, f"no CSRF token on {page}"
        return self.request("POST", action, data={"csrfmiddlewaretoken": token[1], **data}, **kw)

    def login(self, username: str) -> None:
        done = self.post_form(
            "/logg-inn/",
            "/logg-inn/",
            {"username": username, "password": PASSWORDS[username], "next": ""},
            follow=False,
        )
        assert done.status_code == 302, f"login of {username}: HTTP {done.status_code}"
        assert "sessionid" in self.cookies


def _ore(text: str) -> int:
    """'1 234,56' or '−12,00' (as the `kr` filter writes) → øre."""
    text = text.replace("\u00a0", "").replace(" ", "").replace("−", "-")
    kroner, ore = text.split(",")
    sign = -1 if kroner.startswith("-") else 1
    return sign * (abs(int(kroner)) * 100 + int(ore))


_KR = r"(−?[\d\u00a0 ]+,\d\d)"


# --- the run --------------------------------------------------------------------------------------


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Installation]:
    require_service(
        "PostgreSQL",
        connection.vendor == "postgresql",
        "set DATABASE_URL (the run makes a database of its own on that server)",
    )
    redis_url = os.environ.get("REDIS_URL", "")
    ok = False
    if redis_url:
        import redis

        with contextlib.suppress(redis.RedisError):
            ok = bool(redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping())
    require_service("Redis", ok, "set REDIS_URL to a running server")
    with fresh_database("billing_prodrun") as database_url:
        inst = Installation(tmp_path, database_url, redis_url)
        try:
            yield inst
        finally:
            inst.stop()
            inst.forget_redis_keys()
            for name in inst.procs:
                print(f"--- {name} (last lines)\n{inst.log(name)[-1500:]}")


def _start(inst: Installation) -> tuple[str, str]:
    """Release steps and processes; the base URL of gunicorn and of the simulator."""
    web, worker = inst.web_host, inst.worker_host
    web_unit, worker_unit = "fakturaeksport-web.service", "fakturaeksport-worker.service"
    manage = [sys.executable, str(ROOT / "manage.py")]
    # Independent release steps side by side: the machine has two cores.
    statics = inst.start(
        "collectstatic", inst.unit_command(web_unit, web, key="ExecStartPre"), web, web_unit
    )
    month_file = inst.tmp / "month.json"
    generate = inst.start(
        "generate",
        [*manage, "generate_invoice_bases", "--size", "S", "--seed", "7", "--period", PERIOD,
         "--output", str(month_file)],
        worker, worker_unit,
    )  # fmt: skip
    simulator = inst.start(
        "simulator",
        [*manage, "run_visma_simulator", "--port", "0", "--no-dedup",
         "--state", str(inst.tmp / "visma.sqlite3")],
        worker, worker_unit,
    )  # fmt: skip
    inst.run(
        "migrate",
        inst.unit_command("fakturaeksport-migrate.service", worker),
        worker,
        "fakturaeksport-migrate.service",
    )
    inst.start(
        "seed",
        [*manage, "seed_demo", "--force", "--period", "2026-02", "--months", "1"],
        worker,
        worker_unit,
    )
    inst.start("worker", inst.unit_command(worker_unit, worker), worker, worker_unit)
    inst.start(
        "beat",
        inst.unit_command("fakturaeksport-beat.service", worker),
        worker,
        "fakturaeksport-beat.service",
    )
    for name, proc in (
        ("collectstatic", statics),
        ("generate", generate),
        ("seed", inst.procs["seed"]),
    ):
        assert proc.wait(timeout=180) == 0, f"{name} failed:\n{inst.log(name)[-3000:]}"
    inst.start("web", inst.unit_command(web_unit, web), web, web_unit)

    def listening() -> str | None:
        assert inst.procs["web"].poll() is None, inst.log("web")[-3000:]
        found = _log_match(inst, "web", r"Listening at: (http://127\.0\.0\.1:\d+)")
        return found[1] if found else None

    base_url = _wait_for(listening, START_TIMEOUT, "gunicorn to listen")
    sim = _wait_for(
        lambda: _log_match(inst, "simulator", r"Visma-simulator: (http://\S+/fakturering_ws/)"),
        START_TIMEOUT,
        "the simulator",
    )[1]
    assert simulator.poll() is None
    return base_url, sim


def _ready(base_url: str) -> dict[str, Any] | None:
    """The load balancer's probe: the backend's own address, plain HTTP, no proxy headers."""
    response = requests.get(f"{base_url}/health/ready", timeout=10)
    return json.loads(response.content) if response.status_code == 200 else None


def test_a_month_through_the_production_installation(installation: Installation) -> None:
    inst = installation
    started = time.monotonic()
    base_url, simulator_url = _start(inst)
    live = requests.get(f"{base_url}/health/live", timeout=10)
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = _wait_for(lambda: _ready(base_url), START_TIMEOUT, "readiness (worker and beat)")
    assert ready["checks"]["worker"]["fresh"] == 1 and ready["checks"]["beat"]["fresh"] == 1
    startup_seconds = time.monotonic() - started

    month = json.loads((inst.tmp / "month.json").read_bytes())
    bases = month["invoice_bases"]
    intake_total = sum(line["amount_ore"] for b in bases for line in b["lines"])
    national_ids = {
        b[who]["national_id"]
        for b in bases
        for who in ("payer", "recipient")
        if (b.get(who) or {}).get("national_id")
    }

    # An API key for the care system, made by the systemadministrator on its page.
    admin = ViaProxy(base_url)
    admin.login("admin")
    made = admin.post_form(
        "/administrasjon/api-nokler/", "/administrasjon/api-nokler/", {"name": "fagsystemet"}
    )
    token = re.search(r'readonly value="([^"]+)"', made.text)
    assert made.status_code == 200 and token, made.text[:2000]

    # Intake through the API, as the care system sends it.
    care_system = ViaProxy(base_url)
    intake = care_system.request(
        "POST",
        "/api/v1/invoice-bases",
        body=(inst.tmp / "month.json").read_bytes(),
        headers={"Authorization": f"Token {token[1]}", "Content-Type": "application/json"},
    )
    assert intake.status_code == 201, intake.text[:2000]
    assert intake.json() == {"created": len(bases), "updated": 0, "unchanged": 0}
    intake_request_id = care_system.request_ids[-1]

    # Approval by the merkantil.
    merkantil = ViaProxy(base_url)
    merkantil.login("merkantil")
    listing = f"/fakturagrunnlag/?period={PERIOD}"
    approved_page = merkantil.post_form(listing, "/fakturagrunnlag/godkjenn/", {"period": PERIOD})
    approved = re.search(
        rf"(\d+) fakturagrunnlag godkjent, til sammen {_KR}\u00a0kr\.", approved_page.text
    )
    assert approved, approved_page.text[:3000]
    assert int(approved[1]) == len(bases)
    approved_total = _ore(approved[2])

    # A Visma file of the whole month (a test file: it locks nothing, so the same month can then
    # be sent), made by a worker and downloaded through the web.
    superbruker = ViaProxy(base_url)
    superbruker.login("superbruker")
    started_export = superbruker.post_form(
        listing,
        "/eksport/ny/",
        {"period": PERIOD, "format": "visma", "unit": "", "is_test": "on"},
        follow=False,
    )
    assert started_export.status_code == 302
    export_path = started_export.headers["Location"]
    export_id = int(re.fullmatch(r"/eksport/(\d+)/", export_path)[1])  # type: ignore[index]

    def export_finished() -> str | None:
        page = superbruker.get(f"/eksport/{export_id}/fremdrift/").text
        status = re.search(r'data-status="(\w+)"', page)
        return status[1] if status and status[1] not in ("queued", "running") else None

    assert _wait_for(export_finished, RUN_TIMEOUT, "the export") == "done"
    detail = superbruker.get(export_path).text
    shown_sha = re.search(r'data-testid="export-sha256">([0-9a-f]{64})<', detail)[1]  # type: ignore[index]
    shown_total = _ore(re.search(rf'data-testid="export-total">{_KR}\u00a0kr<', detail)[1])  # type: ignore[index]
    download = superbruker.get(f"/eksport/{export_id}/fil/")
    data = download.content
    assert hashlib.sha256(data).hexdigest() == shown_sha
    file_total = read_visma(io.BytesIO(data), VismaFileOptions()).total_ore
    # The worker wrote it on its host, the web served it from the shared volume: one file, in
    # MEDIA_ROOT, and nothing in either host's own state directory.
    [stored] = [p for p in (inst.files / "exports").rglob("*.txt")]
    assert stored.read_bytes() == data
    assert stored.name.startswith("VISMA_9999_202603_") and stored.name.endswith("_TEST.txt")
    assert not [p for host in (inst.web_host, inst.worker_host) for p in host.rglob("VISMA_*")]

    # Visma: the systemadministrator points the municipality at the simulator and tests it.
    admin.post_form(
        "/visma/innstillinger/",
        "/visma/innstillinger/",
        {"selskap": "1", "base_url": simulator_url, "username": "demo",
         "password": VISMA_PASSWORD, "enabled": "on"},
    )  # fmt: skip
    pinged = admin.post_form("/visma/innstillinger/", "/visma/innstillinger/test/", {})
    assert pinged.status_code == 200 and "Demo kommune" in pinged.text

    # Send the month; the worker pushes it; the transfer page says how it went.
    confirm = merkantil.get(f"/visma/send/?period={PERIOD}").text
    to_send = re.search(r'data-testid="confirm-count">(\d+)<', confirm)
    assert to_send and int(to_send[1]) == len(bases)
    to_send_total = re.search(rf'data-testid="confirm-total">{_KR}\u00a0kr<', confirm)
    assert to_send_total
    sent_page = merkantil.post_form(
        f"/visma/send/?period={PERIOD}", "/visma/send/", {"period": PERIOD}, follow=False
    )
    transfer_path = sent_page.headers["Location"]
    transfer_id = int(re.fullmatch(r"/visma/overforinger/(\d+)/", transfer_path)[1])  # type: ignore[index]

    def transfer_finished() -> str | None:
        page = merkantil.get(f"/visma/overforinger/{transfer_id}/fremdrift/").text
        status = re.search(r'data-status="(\w+)"', page)
        return page if status and status[1] not in ("queued", "running") else None

    progress = _wait_for(transfer_finished, RUN_TIMEOUT, "the transfer")
    assert 'data-status="done"' in progress
    sent_count = re.search(
        r'data-state="sent"><span class="label">[^<]*</span><span class="value">(\d+)<', progress
    )
    assert sent_count and int(sent_count[1]) == len(bases), progress

    # What Visma (the simulator) stored: each basis once, and how much.
    control = simulator_url.split("/fakturering_ws/")[0] + "/_sim"
    stats = requests.get(f"{control}/stats", timeout=10).json()
    assert stats["stored_unique"] == len(bases)
    assert stats["stored_total"] == len(bases) and stats["stored_more_than_once"] == []
    with contextlib.closing(sqlite3.connect(inst.tmp / "visma.sqlite3")) as visma_db:
        stored_count, sent_total = visma_db.execute(
            "select count(*), sum(belop) from grunnlag"
        ).fetchone()
    assert stored_count == len(bases)

    # Visma invoices them; "Hent fakturastatus" reads invoice number and KID back through a worker.
    assert requests.post(f"{control}/invoice", json={"selskap": "1"}, timeout=10).ok
    transfer_page = merkantil.get(transfer_path).text
    basis_id = re.search(r'href="/fakturagrunnlag/(\d+)/"', transfer_page)[1]  # type: ignore[index]
    merkantil.post_form("/visma/overforinger/", "/visma/status/oppdater/", {})

    def invoiced() -> str | None:
        page = merkantil.get(f"/visma/grunnlag/{basis_id}/").text
        return page if "Fakturanummer" in page and "KID" in page else None

    assert "FAKTURERT" in _wait_for(invoiced, RUN_TIMEOUT, "the status read back from Visma")

    # The month, to the øre.
    assert (
        intake_total
        == approved_total
        == _ore(to_send_total[1])
        == shown_total
        == file_total
        == sent_total
    )

    # Still ready; the logs say which request and which transfer, and nothing secret.
    assert _ready(base_url) is not None
    web_lines = [json.loads(x) for x in inst.log("web").splitlines() if x.startswith("{")]
    worker_lines = [json.loads(x) for x in inst.log("worker").splitlines() if x.startswith("{")]
    assert any(
        x.get("request_id") == intake_request_id and x["message"].startswith("intake via token")
        for x in web_lines
    ), web_lines[-20:]
    assert any(
        x.get("transfer_id") == str(transfer_id) and "finished" in x["message"]
        for x in worker_lines
    ), worker_lines[-20:]
    for name in ("web", "worker", "beat"):  # LOG_FORMAT=json: every line one JSON event
        lines = inst.log(name).splitlines()
        others = [line for line in lines if not line.startswith("{")]
        assert all(json.loads(line) for line in lines if line.startswith("{")), name
        if name == "worker" and os.geteuid() == 0 and others:
            # This test runs as root; Celery then warns on stderr before logging is set up. The
            # unit runs as the user fakturaeksport, where no such warning is printed.
            assert "SecurityWarning: You're running the worker with superuser" in others[0]
            assert len(others) < 20 and "uid=0" in "\n".join(others)
        else:
            assert others == [], (name, others[:5])
    everything = "".join(inst.log(name) for name in inst.procs)
    for secret in (
        VISMA_PASSWORD,
        token[1],
        inst.env["DJANGO_SECRET_KEY"],
        inst.env["FERNET_KEYS"],
    ):
        assert secret not in everything
    assert not [i for i in national_ids if i in everything]
    print(
        f"production run: started in {startup_seconds:.1f} s, month of {len(bases)} bases "
        f"({intake_total} øre) in {time.monotonic() - started:.1f} s"
    )
