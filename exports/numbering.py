"""What makes an export's file unique and is never handed out twice: its sequence number and file
names, and for Agresso LG04 the batch id and a range of order ids from the profile's series.

Called by the export run with the profile and the export locked, so two runs never take the same
numbers. What an export got is kept: a run that takes over a dead one keeps its numbers.
"""

from __future__ import annotations

import string

from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from .formats.types import Finding
from .models import FILE_PREFIX, Export, ExportProfile

# What `allocate` may set on the export.
ALLOCATED = (
    "seq",
    "file_name",
    "customer_file_name",
    "batch_id",
    "order_id_first",
    "order_id_last",
)


class BatchNumbersUsedUp(Exception):
    def __init__(self) -> None:
        self.message = _("For mange Agresso-filer i dag; batch-nummeret er brukt opp.")
        super().__init__(self.message)


def allocate(
    export: Export, profile: ExportProfile, *, orders_needed: int, lg04: bool, customers: bool
) -> Finding | None:
    """Give the (locked) export its numbers and save them; a Finding when the profile's order
    series cannot give `orders_needed` ids (nothing is taken then)."""
    fields: list[str] = []
    if lg04:
        problem = _reserve_order_ids(export, profile, orders_needed, fields)
        if problem is not None:
            return problem
        if not export.batch_id:
            stem = profile.batch_prefix + timezone.localdate().strftime("%y%m%d")
            taken = Export.objects.filter(
                municipality_id=export.municipality_id, batch_id__startswith=stem
            ).count()
            export.batch_id = stem + batch_suffix(taken + 1)
            fields.append("batch_id")
    if export.seq is None:
        top = Export.objects.filter(
            municipality_id=export.municipality_id, format=export.format, period=export.period
        ).aggregate(top=Max("seq"))["top"]
        export.seq = (top or 0) + 1
        yyyymm = export.period.replace("-", "")
        number = export.municipality.number
        suffix = "_TEST" if export.is_test else ""
        export.file_name = (
            f"{FILE_PREFIX[export.format]}_{number}_{yyyymm}_{export.seq:03d}{suffix}.txt"
        )
        if customers:
            export.customer_file_name = (
                f"AGRESSO_CS15_{number}_{yyyymm}_{export.seq:03d}{suffix}.txt"
            )
        fields += ["seq", "file_name", "customer_file_name"]
    if fields:
        export.save(update_fields=fields)
    return None


def _reserve_order_ids(
    export: Export, profile: ExportProfile, n: int, fields: list[str]
) -> Finding | None:
    """One order id per basis, taken from the series and never given back."""
    have = (
        export.order_id_last - export.order_id_first + 1
        if export.order_id_first is not None and export.order_id_last is not None
        else None
    )
    if not n or have == n:
        return None
    if profile.order_id_start is None or profile.order_id_next is None:
        return Finding(
            code="order_series_missing",
            message=_("Ingen ordrenummerserie er satt opp for Agresso (Eksportoppsett)."),
            field="profile.order_id_start",
        )
    first = profile.order_id_next
    last = first + n - 1
    assert profile.order_id_end is not None
    if last > profile.order_id_end:
        left = max(0, profile.order_id_end - first + 1)
        return Finding(
            code="order_series_exhausted",
            message=_(
                "Ordrenummerserien er brukt opp: eksporten trenger %(n)d nummer,"
                " bare %(left)d er igjen (til %(end)d). Utvid serien i"
                " eksportoppsettet."
            )
            % {"n": n, "left": left, "end": profile.order_id_end},
            field="profile.order_id_end",
        )
    profile.order_id_next = last + 1
    profile.save(update_fields=["order_id_next"])
    export.order_id_first, export.order_id_last = first, last
    fields += ["order_id_first", "order_id_last"]
    return None


def batch_suffix(run_no: int) -> str:
    """Two characters: 01–99, then A0–ZZ."""
    if run_no < 100:
        return f"{run_no:02d}"
    digits = string.digits + string.ascii_uppercase
    n = run_no - 100 + 360  # "A0" is 10*36
    if n >= 36 * 36:
        raise BatchNumbersUsedUp
    return digits[n // 36] + digits[n % 36]
