"""The invoice-basis domain: tenants, catalogue, parties, invoice bases and their lines, audit.

Money is integer øre everywhere (BigIntegerField); quantities are Decimal with two places.

One module per part: `tenancy` (the municipality and what it defines), `bases` (parties, bases,
lines), `records` (API keys, audit trail), `month` (the month's totals kept up to date),
`anomalies` (the month's anomaly warnings and their thresholds).
"""

from .anomalies import Anomaly, AnomalyKind, AnomalyRun, AnomalySettings
from .bases import (
    LINE_COLUMNS,
    LOCKED_STATUSES,
    BasisKind,
    BasisStatus,
    InvoiceBasis,
    InvoiceLine,
    Party,
    basis_reference,
)
from .month import ServiceMonthTotal, UnitMonthTotal
from .records import ApiToken, AuditedBasis, AuditEvent
from .tenancy import (
    KB_SLOTS,
    AccountingSettings,
    DimensionDefinition,
    Membership,
    Municipality,
    Role,
    Service,
    TransferRoute,
    Unit,
    default_kb_slots,
    slot_problems,
)

__all__ = [
    "KB_SLOTS",
    "LINE_COLUMNS",
    "LOCKED_STATUSES",
    "AccountingSettings",
    "Anomaly",
    "AnomalyKind",
    "AnomalyRun",
    "AnomalySettings",
    "ApiToken",
    "AuditEvent",
    "AuditedBasis",
    "BasisKind",
    "BasisStatus",
    "DimensionDefinition",
    "InvoiceBasis",
    "InvoiceLine",
    "Membership",
    "Municipality",
    "Party",
    "Role",
    "Service",
    "ServiceMonthTotal",
    "TransferRoute",
    "Unit",
    "UnitMonthTotal",
    "basis_reference",
    "default_kb_slots",
    "slot_problems",
]
