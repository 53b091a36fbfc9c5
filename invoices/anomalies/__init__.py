"""Anomaly warnings: a valid month that looks unlike the municipality's own history
(spec/anomalies.md; every kind defined exactly in docs/anomalies.md).

They never block. They are computed from the month totals and stored (`refresh`), in a Celery
task enqueued after intake, deletion or a credit note has committed (`schedule_refresh`); pages
only read what is stored (`for_period`).

Modules: `history` (which months count, and the figures read), `detect` (the kinds, as plain
functions), `duplicates` (from the month's lines), `recompute` (computing and storing, scheduling),
`thresholds` (per municipality, read), `configure` (changing them), `acknowledge` (a clerk's
note), `summary` (what pages read).
"""

from .acknowledge import anomaly_acknowledge, anomaly_unacknowledge
from .configure import anomaly_settings_update
from .recompute import refresh, refresh_requested, request_refresh, schedule_refresh
from .summary import MUNICIPALITY_WIDE, KindCount, Summary, findings, for_period
from .thresholds import AnomalyError, anomaly_settings_get, thresholds_for

__all__ = [
    "MUNICIPALITY_WIDE",
    "AnomalyError",
    "KindCount",
    "Summary",
    "anomaly_acknowledge",
    "anomaly_settings_get",
    "anomaly_settings_update",
    "anomaly_unacknowledge",
    "findings",
    "for_period",
    "refresh",
    "refresh_requested",
    "request_refresh",
    "schedule_refresh",
    "thresholds_for",
]
