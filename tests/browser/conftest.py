"""A real browser (Debian's Chromium driven by Playwright) against a live server on loopback.

Every page a test opens is watched: a Content-Security-Policy violation or an uncaught script error
fails the test (promise 9: the policy must hold in a real browser, not only in the headers).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import require_service

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
# browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    return path if path and os.path.exists(path) else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = _chromium_path()
    require_service("Chromium", path is not None, "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


# Chromium reports a violation on the console itself; the page also reports each one it sees, so
# nothing depends on the wording of the browser's message.
_REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def _is_problem(message: Any) -> bool:
    text = message.text
    return message.type == "error" and (
        "Content Security Policy" in text or text.startswith("CSP violation")
    )


@pytest.fixture
def browser_problems() -> list[str]:
    """CSP violations and script errors seen by `page`; the test fails if any is left at its end."""
    return []


@pytest.fixture
def page(browser: Any, live_server: Any, browser_problems: list[str]) -> Iterator[Any]:
    context = browser.new_context(locale="nb-NO", base_url=live_server.url)
    context.set_default_timeout(10_000)
    context.add_init_script(_REPORT_VIOLATIONS)
    pg = context.new_page()
    pg.on(
        "console",
        lambda m: browser_problems.append(f"{pg.url}: {m.text}") if _is_problem(m) else None,
    )
    pg.on("pageerror", lambda exc: browser_problems.append(f"{pg.url}: script error {exc}"))
    yield pg
    context.close()
    assert not browser_problems, "the browser reported:\n" + "\n".join(browser_problems)


@pytest.fixture
def login(page: Any) -> Callable[[str], Any]:
    def do_login(username: str, password: str = "testpass-123") -> Any:
        page.goto("/logg-inn/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return do_login


@pytest.fixture
def inline_tasks() -> Iterator[None]:
    """Celery runs tasks in the process that enqueues them (the same task code a worker runs)."""
    from aidn_billing.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def simulator() -> Iterator[Any]:
    """The Visma simulator on a free port of loopback."""
    from integrations.visma_simulator import Faults, start_simulator

    handle = start_simulator(port=0)
    handle.set_faults(Faults(dedup=False))  # a second delivery would show as a second copy
    yield handle
    handle.stop()
