"""The one validator for invoice bases: the API, the import command and the pages show its errors.

Two entry points:

- `validate_bases(...)` checks intake documents (spec/intake.md, "Precise rules") and turns each
  valid basis into a normalized `BasisIn` with the SHA-256 that tells a retry from a correction.
- `validate_stored(...)` re-checks bases already stored, before approval: the catalogue, dimensions
  and id rules may have changed since the basis arrived.

Every problem is an `Issue` with a stable machine `code` and a Bokmål `message`. Error codes:
`required`, `invalid_type`, `invalid_format`, `invalid_value`, `control_character`,
`invalid_characters` (a lone surrogate), `too_long`, `text_too_long`, `too_many_texts`,
`no_lines`, `too_many_lines`, `unknown_field`, `duplicate_key`, `invalid_checksum`,
`invalid_date`, `synthetic_id`, `ambiguous_identifier`, `out_of_range`, `invalid_sign`,
`amount_mismatch`, `invalid_date_range`, `unknown_service`, `service_not_billable`,
`service_not_valid`, `unknown_dimension`, `duplicate_reference`, `credits_not_allowed`,
`unknown_credit_reference`, `credit_target_not_invoice`, `credit_payer_mismatch`; stored bases
add `total_mismatch`, and the warnings `missing_address` and `zero_amount`.

The package, module by module: `rules` (limits, patterns, `Issue`), `normalized` (what a valid
document becomes, and its content hash), `catalogue`, `checker` (the field checks), `lines` and
`bases` (intake validation), `duplicates` (keys twice in one object), `stored` (stored bases
before approval).
"""

from .bases import credited_references, load_stored_originals, validate_bases
from .catalogue import Catalogue, ServiceInfo
from .duplicates import basis_duplicate_issues, document_duplicate_issues
from .normalized import BasisIn, LineIn, PartyIn, StoredOriginal, content_hash
from .rules import Issue, Severity, echo, period_bounds
from .stored import BasisReport, validate_stored

__all__ = [
    "BasisIn",
    "BasisReport",
    "Catalogue",
    "Issue",
    "LineIn",
    "PartyIn",
    "ServiceInfo",
    "Severity",
    "StoredOriginal",
    "basis_duplicate_issues",
    "content_hash",
    "credited_references",
    "document_duplicate_issues",
    "echo",
    "load_stored_originals",
    "period_bounds",
    "validate_bases",
    "validate_stored",
]
