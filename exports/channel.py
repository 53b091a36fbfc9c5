"""The file channel as the domain's pages see it (`invoices.channels`)."""

from django.utils.translation import gettext_lazy as _

from invoices.channels import Channel
from invoices.models import TransferRoute

CHANNEL = Channel(
    name="exports",
    routes=frozenset({TransferRoute.VISMA_FILE, TransferRoute.AGRESSO_FILE}),
    nav_template="exports/_nav.html",
    admin_nav_template="exports/_admin_nav.html",
    period_actions_template="exports/_period_actions.html",
    basis_extra_template="exports/_basis_extra.html",
    start_url_name="exports:start",
    start_label=_("Last ned eksportfil"),
    search="exports.selectors.search_bases",
    basis_events="exports.timeline.basis_events",
    audit_vocabulary="exports.audit_words.VOCABULARY",
)
