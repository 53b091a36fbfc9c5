"""The Visma web service channel as the domain's pages see it (`invoices.channels`)."""

from django.utils.translation import gettext_lazy as _

from invoices.channels import Channel
from invoices.models import TransferRoute

CHANNEL = Channel(
    name="integrations",
    routes=frozenset({TransferRoute.VISMA_API}),
    nav_template="integrations/_nav.html",
    admin_nav_template="integrations/_admin_nav.html",
    period_actions_template="integrations/_period_actions.html",
    basis_extra_template="integrations/_basis_extra.html",
    start_url_name="integrations:send",
    start_label=_("Send til Visma"),
    search="integrations.selectors.search_bases",
    basis_events="integrations.timeline.basis_events",
    audit_vocabulary="integrations.audit_words.VOCABULARY",
)
