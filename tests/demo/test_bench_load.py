"""B6's parts that run in seconds: discovery, the skip without PostgreSQL, and the browsing users
(bench/load_users.py) against a small loopback server: login with CSRF, phases, errors counted."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench import b6_load
from bench import db as bench_db
from bench import run as runner
from bench.db import Unavailable

TOKEN = "t0ken-from-the-form"


class FakeSite(BaseHTTPRequestHandler):
    """A login form that wants its CSRF token back, pages that want the session cookie, and one
    page that fails."""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/logg-inn/":
            form = f'<input type="hidden" name="csrfmiddlewaretoken" value="{TOKEN}">'
            self._answer(200, form)
        elif "sessionid=ok" not in (self.headers.get("Cookie") or ""):
            self._answer(302, headers={"Location": "/logg-inn/"})
        elif self.path.startswith("/broken"):
            self._answer(500, "oops")
        else:
            self._answer(200, "page")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if f"csrfmiddlewaretoken={TOKEN}" in body and "password=pw" in body:
            self._answer(302, headers={"Location": "/", "Set-Cookie": "sessionid=ok; Path=/"})
        else:
            self._answer(403, "csrf")


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pages(transfer: str = "/t/1/") -> dict[str, Any]:
    return {
        "list_paths": ["/list/?period=2025-04"],
        "list_pages": 3,
        "list_fragments": ["/list/summary/?period=2025-04"],
        "overview_paths": ["/oversikt/?period=2025-04", "/oversikt/steg/?period=2025-04"],
        "report_path": "/kontroll/?period=2025-04",
        "basis_paths": [["/b/1/", "/b/1/extra/"], ["/b/2/", "/b/2/extra/"]],
        "transfer_paths": [transfer, transfer + "progress/"],
    }


def test_b6_is_discovered_and_its_client_is_not() -> None:
    found = dict(runner.discover())
    assert found["B6"] == "bench.b6_load"
    assert "bench.load_users" not in found.values()


def test_b6_without_postgresql_is_a_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_db, "is_postgres", lambda: False)
    with pytest.raises(Unavailable, match="PostgreSQL"):
        b6_load.run(runner.parse_args(["--only", "B6"]))


def test_users_log_in_browse_in_phases_and_count_every_request(
    site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(b6_load, "THINK_SECONDS", (0.0, 0.02))
    users = [("anne", "pw"), ("bjørn", "pw"), ("sámi", "pw")]
    with b6_load.browsers(site, users, seed=3) as people:
        quiet = people.phase(pages(), 0.5)
        people.start(pages("/broken/"), 30)
        time.sleep(0.5)
        loaded = people.finish()  # told to stop long before its 30 s

    assert {s[1] for s in quiet["samples"]} == {200}
    kinds = {s[0] for s in quiet["samples"]}
    assert kinds == {"list", "list-fragment", "overview", "overview-fragment", "report", "basis",
                     "basis-fragment", "transfer", "transfer-progress"}  # fmt: skip
    assert loaded["browse_seconds"] < 10
    broken = [s for s in loaded["samples"] if s[0].startswith("transfer")]
    assert broken and all(s[1] == 500 for s in broken)
    assert all(s[1] == 200 for s in loaded["samples"] if not s[0].startswith("transfer"))
    assert {s[3] for s in broken} == {"HTTP 500"}


def test_a_refused_login_stops_before_browsing(site: str) -> None:
    with pytest.raises(RuntimeError, match="login failed"):
        with b6_load.browsers(site, [("anne", "wrong")], seed=1):
            pass
