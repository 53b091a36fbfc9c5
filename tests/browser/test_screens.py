"""Every page each role can reach, in Chromium at a desktop and a phone width: a full-page
screenshot of each into the artifacts folder, and no page that scrolls sideways.

The demo municipality (`seed_demo`, three months: history, anomalies, validation errors) plus one
Visma transfer gives every page something to show. For each role the test logs in once, follows
the same-site links from the landing page (and a few pages reached only through a button), and
opens at most `PER_NAME` addresses per URL name. Each page is loaded at 1280 px, checked, then
resized to 390 px and checked again. A wide table may scroll inside its own `.table-wrap`; the
document itself never may.

Screenshots go to `$ARTIFACTS_DIR` or `var/artifacts/screens/` as `<role>-<url name>-<width>.png`
(the second address of a URL name gets `-2`).
"""

from __future__ import annotations

import io
import os
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import Resolver404, resolve
from django.utils import timezone

from integrations.models import BasisVismaStatus, Transfer, TransferAttempt
from invoices.demo_data import DEMO_USERS
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from invoices.services import invoice_basis_approve
from tests.conftest import refresh_planner_statistics

pytestmark = pytest.mark.integration

PERIOD = "2026-10"
WIDTHS = ((1280, 900), (390, 844))
PER_NAME = 2  # addresses per URL name: two list filters say as much as twenty
MAX_PAGES = 80  # per role, a guard against a crawl that never ends

# Not pages: files, the operator's Django admin, the JSON API, and the fragments htmx fetches.
EXCLUDED_NAMESPACES = {"admin"}
EXCLUDED_NAMES = {
    "logout",
    "set_language",
    "switch_municipality",
    "api_invoice_bases",
    "api_not_found",
    "favicon",
}
EXCLUDED_SUFFIXES = ("_csv", "_xlsx", "download", "download_customers")


def artifacts_dir() -> Path:
    configured = os.environ.get("ARTIFACTS_DIR")
    path = Path(configured) if configured else Path(settings.BASE_DIR) / "var/artifacts/screens"
    path.mkdir(parents=True, exist_ok=True)
    return path


def url_name(path: str) -> str | None:
    """The page's URL name (namespaced), or None for an address the crawl leaves alone."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if set(match.namespaces) & EXCLUDED_NAMESPACES:
        return None
    name = match.url_name or ""
    if not name or name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES):
        return None
    return match.view_name


# The outermost elements that reach past the right edge and are not clipped by a scrolling or
# hidden-overflow ancestor: the ones to fix. Empty when the document fits the window.
OVERFLOW = """
() => {
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth <= width + 1) return null;
  const beyond = (r) => (r.width > 0 || r.height > 0) && r.right > width + 1;
  // Whether a box reaching past the edge is cut off by a scrolling or hiding box that itself fits,
  // searched from `a` up. A box positioned absolutely escapes the boxes between it and the box it
  // is positioned against (a visually hidden label in a scrolling table is not cut off by it).
  const clippedFrom = (a, escaping) => {
    for (; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (escaping && style.position === "static") continue;
      if (style.overflowX !== "visible") return a.getBoundingClientRect().right <= width + 1;
      if (style.position === "fixed") return false;
      escaping = style.position === "absolute";
    }
    return false;
  };
  const offends = (el) => {
    const position = getComputedStyle(el).position;
    return beyond(el.getBoundingClientRect()) && position !== "fixed"
      && !clippedFrom(el.parentElement, position === "absolute");
  };
  const describe = (el) => el.tagName.toLowerCase()
    + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "")
    + (el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : "");
  const text = (node) => (node.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 60);
  const found = [];
  // The outermost boxes past the edge: the ones to fix.
  for (const el of document.body.querySelectorAll("*")) {
    if (!offends(el) || (el.parentElement && offends(el.parentElement))) continue;
    found.push({right: el.getBoundingClientRect().right, what: describe(el), text: text(el)});
  }
  // A word too long for its box spills out while the box itself stays inside the window.
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || offends(el)) continue;
    range.selectNodeContents(node);
    const r = range.getBoundingClientRect();
    if (beyond(r) && !clippedFrom(el, false)) {
      found.push({right: r.right, what: describe(el) + " (its text)", text: text(node)});
    }
  }
  found.sort((a, b) => b.right - a.right);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    elements: found.slice(0, 3).map((f) => ({...f, right: Math.round(f.right)})),
  };
}
"""

LINKS = """
() => Array.from(document.querySelectorAll("a[href]"), (a) => a.href)
"""


@pytest.fixture
def demo(live_server: Any) -> dict[str, Any]:
    """The demo month, a Visma transfer with a sent and a rejected basis, and the addresses only a
    button leads to."""
    call_command("seed_demo", "--period", PERIOD, "--months", "3", stdout=io.StringIO())
    refresh_planner_statistics()
    municipality = Municipality.objects.get(number="9999")
    exported = list(
        InvoiceBasis.objects.filter(
            municipality=municipality, status=BasisStatus.EXPORTED, kind="invoice"
        ).order_by("period", "id")[:2]
    )
    transfer = Transfer.objects.create(
        municipality=municipality,
        period=exported[0].period,
        status="done",
        basis_count=2,
        total_ore=sum(b.total_ore for b in exported),
        counts={"sent": 1, "rejected": 1},
        finished_at=timezone.now(),
    )
    TransferAttempt.objects.create(
        transfer=transfer,
        basis=exported[0],
        reference=exported[0].reference,
        state="sent",
        grunnlag_id="G-1",
        visma_status="OK",
        send_count=1,
        last_sent_at=timezone.now(),
    )
    TransferAttempt.objects.create(
        transfer=transfer,
        basis=exported[1],
        reference=exported[1].reference,
        state="rejected",
        send_count=1,
        messages=[{"kode": "V12", "tekst": "Ukjent vare", "felt": "vare"}],
    )
    BasisVismaStatus.objects.create(
        basis=exported[0],
        tilstand="fakturert",
        fakturanummer="0012345",
        kid="0000123456782",
        checked_at=timezone.now(),
    )
    # A few approved bases in the open month, for the send and test transfer pages to offer.
    open_month = InvoiceBasis.objects.filter(
        municipality=municipality, period=PERIOD, status=BasisStatus.RECEIVED
    ).order_by("id")
    invoice_basis_approve(list(open_month[:10]), User.objects.get(username="merkantil"))
    received = open_month.first()
    assert received is not None
    return {
        "seeds": [
            f"/fakturagrunnlag/{exported[0].pk}/",
            f"/fakturagrunnlag/{exported[0].pk}/krediter/",
            f"/fakturagrunnlag/{received.pk}/",
            f"/fakturagrunnlag/betaler/{received.payer_id}/",
            f"/fakturagrunnlag/kontroll/?period={PERIOD}",
            f"/eksport/ny/?period={PERIOD}",
            f"/visma/send/?period={PERIOD}",
            f"/visma/overforinger/{transfer.pk}/",
            "/visma/test/",
            "/eksport/overstyr/",
        ]
    }


# Chart text that reaches past its drawing's own edges is cut off by the SVG (a long unit name
# whose first letters are missing): the words of every chart must lie inside its viewBox.
CLIPPED_TEXT = """
() => [...document.querySelectorAll("svg[viewBox] text")].flatMap((t) => {
  const box = t.getBBox(), view = t.ownerSVGElement.viewBox.baseVal;
  const from = Math.round(box.x), to = Math.round(box.x + box.width);
  return box.x < view.x - 0.5 || box.x + box.width > view.x + view.width + 0.5
    ? [`${t.textContent.trim()} (${from}..${to} of ${view.width})`]
    : [];
})
"""


def _check(page: Any, role: str, name: str, path: str, index: int, found: list[str]) -> None:
    clipped = page.evaluate(CLIPPED_TEXT)
    if clipped:
        found.append(f"{role} {path}: chart text cut off: {'; '.join(clipped)}")
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_load_state("networkidle")
        suffix = f"-{index + 1}" if index else ""
        file = artifacts_dir() / f"{role}-{name.replace(':', '-')}{suffix}-{width}.png"
        page.screenshot(path=str(file), full_page=True)
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            culprits = "; ".join(
                f"{e['what']} to {e['right']} px ({e['text']!r})" for e in overflow["elements"]
            )
            found.append(
                f"{role} {path} at {width} px: {overflow['scrollWidth']} px wide; {culprits}"
            )


@pytest.mark.parametrize("username,password,role", DEMO_USERS, ids=[u[0] for u in DEMO_USERS])
def test_every_page_fits_a_desktop_and_a_phone(
    page: Any, login: Any, demo: dict[str, Any], username: str, password: str, role: str
) -> None:
    found: list[str] = []
    if username == DEMO_USERS[0][0]:  # the login page, once
        page.goto("/logg-inn/", wait_until="networkidle")
        _check(page, "anonymous", "login", "/logg-inn/", 0, found)
    login(username, password)
    origin = urlsplit(page.url)[:2]
    queue: deque[str] = deque(["/", *demo["seeds"]])
    seen: set[str] = set()
    per_name: dict[str, int] = {}
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES:
        parts = urlsplit(queue.popleft())
        if parts.scheme and parts[:2] != origin:
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        name = url_name(parts.path)
        if path in seen or name is None or per_name.get(name, 0) >= PER_NAME:
            continue
        seen.add(path)
        page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
        response = page.goto(path, wait_until="networkidle")
        if response is None or response.status != 200:
            continue  # a page this role may not open (the seeds are the same for every role)
        landed = url_name(urlsplit(page.url).path)
        if landed is None or (landed != name and per_name.get(landed, 0) >= PER_NAME):
            continue
        index = per_name.get(landed, 0)
        per_name[landed] = index + 1
        visited.append(path)
        _check(page, username, landed, path, index, found)
        queue.extend(page.evaluate(LINKS))
    # A search result: the list, reached by a posted form rather than a link.
    page.set_viewport_size({"width": WIDTHS[0][0], "height": WIDTHS[0][1]})
    page.goto("/fakturagrunnlag/")
    if page.locator("[data-testid=search-form]").count():
        page.fill("#search-q", "Hjemmetjenesten")
        with page.expect_navigation():
            page.press("#search-q", "Enter")
        page.wait_for_load_state("networkidle")
        _check(page, username, "invoices-search", page.url, 0, found)
    assert len(visited) > 10, visited
    assert not found, "pages wider than the window or with cut-off charts:\n" + "\n".join(found)
