"""*Oversikt*: the landing page for billing staff — the month at a glance and the next step."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from core import params

from . import anomalies, channels, charts
from .access import BILLING_ROLES, require_access, scoped
from .models import BasisStatus, Unit
from .overview import Overview, known_periods, latest_period, month_overview
from .templatetags.money import money


@dataclass(frozen=True)
class Step:
    text: str
    url: str
    action: str
    primary: bool = False
    # A part of the page that fills in the step's details when it loads (htmx).
    detail_url: str = ""


def _query(**values: str) -> str:
    return urlencode({k: v for k, v in values.items() if v})


def _steps(
    ov: Overview, *, can_bill: bool, municipality: object, warnings: anomalies.Summary
) -> list[Step]:
    """What the clerk would do next with this month, in the order of a basis's life."""
    if not can_bill or ov.empty:
        return []
    unit_code = ov.unit.code if ov.unit else ""
    selection = _query(period=ov.period, unit=unit_code)
    steps = []
    received = ov.count(BasisStatus.RECEIVED)
    if received:
        steps.append(
            Step(
                text=ngettext(
                    "%(n)d grunnlag er mottatt og venter på kontroll og godkjenning.",
                    "%(n)d grunnlag er mottatt og venter på kontroll og godkjenning.",
                    received,
                )
                % {"n": received},
                url=reverse("invoices:validation_report") + "?" + selection,
                action=_("Kontrollrapport"),
                primary=not ov.count(BasisStatus.APPROVED),
                detail_url=reverse("invoices:validation_summary") + "?" + selection,
            )
        )
    if warnings.open:
        steps.append(
            Step(
                text=ngettext(
                    "%(n)d avviksvarsel er ikke kvittert ut: se på det før måneden går.",
                    "%(n)d avviksvarsler er ikke kvittert ut: se på dem før måneden går.",
                    warnings.open,
                )
                % {"n": warnings.open},
                url=reverse("invoices:anomalies") + "?" + selection,
                action=_("Avviksvarsler"),
            )
        )
    approved = next((f for s, f in ov.by_status if s == BasisStatus.APPROVED), None)
    channel = channels.primary(municipality)  # type: ignore[arg-type]
    if approved is not None and approved.bases and channel is not None:
        steps.append(
            Step(
                text=ngettext(
                    "%(n)d godkjent grunnlag på %(sum)s er klart til overføring.",
                    "%(n)d godkjente grunnlag på til sammen %(sum)s er klare til overføring.",
                    approved.bases,
                )
                % {"n": approved.bases, "sum": money(approved.total_ore)},
                url=reverse(channel.start_url_name) + "?" + selection,
                action=str(channel.start_label),
                primary=True,
            )
        )
    failed = ov.count(BasisStatus.FAILED)
    if failed:
        steps.append(
            Step(
                text=ngettext(
                    "%(n)d grunnlag feilet ved overføringen.",
                    "%(n)d grunnlag feilet ved overføringen.",
                    failed,
                )
                % {"n": failed},
                url=reverse("invoices:list") + "?" + _query(status="failed", **_sel(ov)),
                action=_("Se grunnlagene"),
            )
        )
    if not steps:
        steps.append(
            Step(
                text=_("Alt i denne måneden er overført."),
                url=reverse("invoices:list") + "?" + selection,
                action=_("Se grunnlagene"),
            )
        )
    return steps


def _sel(ov: Overview) -> dict[str, str]:
    return {"period": ov.period, "unit": ov.unit.code if ov.unit else ""}


@login_required
@require_GET
@params.answers_bad_parameters
def overview(request: HttpRequest) -> HttpResponse:
    access = require_access(request)
    municipality = access.municipality
    period = params.period(request.GET) or latest_period(municipality)
    unit_code = params.code(request.GET, "unit")
    unit = scoped(Unit.objects.all(), access).filter(code=unit_code).first() if unit_code else None
    context: dict[str, object] = {
        "period": period,
        "periods": known_periods(municipality),
        "units": scoped(Unit.objects.all(), access),
        "unit_code": unit.code if unit else "",
    }
    if period:
        ov = month_overview(municipality, period, unit)
        warnings = anomalies.for_period(municipality, period, unit)
        services = [r for r in ov.services if r.now.bases or r.now.total_ore]
        units = [r for r in ov.units if r.now.bases or r.now.total_ore]
        context.update(
            ov=ov,
            service_chart=charts.horizontal([(r.name, r.now.total_ore) for r in services]),
            unit_chart=charts.horizontal([(r.name, r.now.total_ore) for r in units]),
            trend_chart=charts.columns(
                [(p, f.total_ore, str(f.bases)) for p, f in ov.trend], current=ov.period
            ),
            warnings=warnings,
            steps=_steps(
                ov,
                can_bill=access.can(BILLING_ROLES),
                municipality=municipality,
                warnings=warnings,
            ),
            list_query=_query(**_sel(ov)),
        )
    return render(request, "invoices/overview/page.html", context)
