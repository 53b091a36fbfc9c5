"""Simulated people browsing the product over HTTP: the client side of B6 (bench/b6_load.py).

Runs in a process of its own so that its threads never share a GIL with the Visma simulator or
the benchmark's bookkeeping, and imports only the standard library and `requests`. Each user has a
session of its own and logs in through the real login form (CSRF token and all), then loops like
a browser: a random list page with the fragments htmx loads with it, a pause, a basis page with
its fragment, a pause, the transfer page with its progress fragment, a pause.

JSON lines on stdin, JSON lines on stdout:
- first the plan `{"base_url", "users": [[username, password], ...], "think_s": [lo, hi], "seed"}`;
  it answers `{"login_seconds", "login_errors"}`;
- then phases `{"seconds", "list_paths", "list_pages", "list_fragments", "basis_paths":
  [[page, fragment], ...], "transfer_paths": [page, fragment]}`: everyone browses until
  `seconds` have passed or a `{"stop": true}` line comes, then it answers `{"browse_seconds",
  "samples": [[kind, status, seconds, error], ...]}`, one sample per request;
- stdin closing ends everything.
"""

from __future__ import annotations

import json
import queue
import random
import re
import sys
import threading
import time
from typing import Any

import requests

TIMEOUT = (5.0, 30.0)  # connect, read: no request outlives the run by more than this
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Stop(Exception):
    pass


class User:
    def __init__(self, plan: dict[str, Any], index: int, stop: threading.Event) -> None:
        self.plan = plan
        self.base = plan["base_url"].rstrip("/")
        self.username, self.password = plan["users"][index]
        self.random = random.Random(plan["seed"] * 1000 + index)
        self.stop = stop
        self.session = requests.Session()
        self.samples: list[tuple[str, int, float, str]] = []
        self.login_error = ""
        self.phase: dict[str, Any] = {}

    def login(self) -> bool:
        try:
            form = self.session.get(f"{self.base}/logg-inn/", timeout=TIMEOUT)
            match = _CSRF.search(form.text)
            if form.status_code != 200 or not match:
                self.login_error = f"login form: HTTP {form.status_code}"
                return False
            done = self.session.post(
                f"{self.base}/logg-inn/",
                data={
                    "csrfmiddlewaretoken": match.group(1),
                    "username": self.username,
                    "password": self.password,
                    "next": "",
                },
                allow_redirects=False,
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            self.login_error = repr(exc)
            return False
        if done.status_code != 302 or "sessionid" not in self.session.cookies:
            self.login_error = f"login: HTTP {done.status_code}"
            return False
        return True

    def get(self, kind: str, path: str) -> None:
        if self.stop.is_set():
            raise Stop
        started = time.perf_counter()
        try:
            response = self.session.get(self.base + path, allow_redirects=False, timeout=TIMEOUT)
            status, error = response.status_code, ""
            # A redirect here means the session was lost (back to the login page): an error.
            if status >= 300:
                error = f"HTTP {status} {response.headers.get('Location', '')}".strip()
        except requests.RequestException as exc:
            status, error = 0, repr(exc)
        self.samples.append((kind, status, time.perf_counter() - started, error))

    def think(self) -> None:
        lo, hi = self.plan["think_s"]
        if self.stop.wait(self.random.uniform(lo, hi)):
            raise Stop

    def browse(self) -> None:
        plan, pick = {**self.plan, **self.phase}, self.random
        try:
            while True:
                page = pick.randint(1, plan["list_pages"])
                self.get("list", f"{pick.choice(plan['list_paths'])}&page={page}")
                for fragment in plan["list_fragments"]:
                    self.get("list-fragment", fragment)
                self.think()
                overview, step_detail = plan["overview_paths"]
                self.get("overview", overview)
                self.get("overview-fragment", step_detail)
                self.think()
                self.get("report", plan["report_path"])
                self.think()
                basis, fragment = pick.choice(plan["basis_paths"])
                self.get("basis", basis)
                self.get("basis-fragment", fragment)
                self.think()
                transfer, progress = plan["transfer_paths"]
                self.get("transfer", transfer)
                self.get("transfer-progress", progress)
                self.think()
        except Stop:
            pass


def main() -> int:
    commands: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read_commands() -> None:
        for line in sys.stdin:
            commands.put(json.loads(line))
        commands.put(None)  # stdin closed: stop whatever runs, and leave

    threading.Thread(target=read_commands, daemon=True).start()
    plan = commands.get()
    if plan is None:
        return 1
    stop = threading.Event()
    users = [User(plan, i, stop) for i in range(len(plan["users"]))]
    started = time.perf_counter()
    logins = [threading.Thread(target=u.login) for u in users]
    for t in logins:
        t.start()
    for t in logins:
        t.join()
    failed = [f"{u.username}: {u.login_error}" for u in users if u.login_error]
    _say({"login_seconds": time.perf_counter() - started, "login_errors": failed})
    if failed:
        return 1
    while (phase := commands.get()) is not None:
        if "stop" in phase:  # the phase it meant had already run out
            continue
        stop.clear()
        for u in users:
            u.phase = phase
            u.samples = []
        threads = [threading.Thread(target=u.browse) for u in users]
        started = time.perf_counter()
        for t in threads:
            t.start()
        try:  # ends at its deadline, or earlier when told ("stop" line or stdin closed)
            command = commands.get(timeout=phase["seconds"])
        except queue.Empty:
            command = {}
        stop.set()
        for t in threads:
            t.join()
        _say(
            {
                "browse_seconds": time.perf_counter() - started,
                "samples": [s for u in users for s in u.samples],
            }
        )
        if command is None:
            break
    for u in users:
        u.session.close()
    return 0


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
