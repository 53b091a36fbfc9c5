"""The month page, the basis page and the menu learn the channels from the project configuration
(`settings.BILLING_CHANNELS`), not from includes written into the domain's templates."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exports.channel import CHANNEL as FILES
from integrations.channel import CHANNEL as VISMA
from invoices.channels import channels
from invoices.models import BasisStatus, Municipality, TransferRoute
from tests import factories

pytestmark = pytest.mark.django_db

VISMA_ONLY = ["integrations.channel.CHANNEL"]
FILES_ONLY = ["exports.channel.CHANNEL"]


def _pages(client: Client, basis_pk: int) -> str:
    month = client.get(reverse("invoices:list"), {"period": "2026-10"})
    detail = client.get(reverse("invoices:detail", args=[basis_pk]))
    assert month.status_code == detail.status_code == 200
    return month.content.decode() + detail.content.decode()


def test_the_configured_channels_in_their_order(settings: Any) -> None:
    assert channels() == (FILES, VISMA)
    settings.BILLING_CHANNELS = VISMA_ONLY
    assert channels() == (VISMA,)


def test_every_route_is_carried_by_exactly_one_channel() -> None:
    carried = [route for channel in channels() for route in channel.routes]
    assert sorted(carried) == sorted(TransferRoute.values)


@pytest.mark.parametrize(
    ("configured", "shown", "hidden"),
    [
        (FILES_ONLY, "exports:preview", "integrations:period_actions"),
        (VISMA_ONLY, "integrations:period_actions", "exports:preview"),
    ],
)
def test_pages_include_only_the_configured_channels(
    client: Client,
    settings: Any,
    kommune_a: Municipality,
    merkantil_a: Any,
    configured: list[str],
    shown: str,
    hidden: str,
) -> None:
    settings.BILLING_CHANNELS = configured
    basis = factories.basis(kommune_a, status=BasisStatus.APPROVED)
    client.force_login(merkantil_a)

    body = _pages(client, basis.pk)

    assert reverse(shown) in body
    assert reverse(hidden) not in body
    # The menu follows the same list.
    transfers = reverse("integrations:transfers")
    assert (transfers in body) == (configured == VISMA_ONLY)
    visma_basis = reverse("integrations:basis_extra", args=[basis.pk])
    assert (visma_basis in body) == (configured == VISMA_ONLY)


@pytest.mark.parametrize("configured", [FILES_ONLY, VISMA_ONLY])
def test_the_story_and_the_log_learn_only_the_configured_channels(
    settings: Any, kommune_a: Municipality, merkantil_a: Any, configured: list[str]
) -> None:
    """A basis's story and the log's words come from each configured channel's hooks: a
    channel that is not configured adds nothing, and the domain names none itself."""
    from integrations.models import Transfer, TransferAttempt
    from invoices.audit_words import vocabulary
    from invoices.timeline import basis_timeline

    settings.BILLING_CHANNELS = configured
    basis = factories.basis(kommune_a, status=BasisStatus.SENT)
    transfer = Transfer.objects.create(municipality=kommune_a, created_by=merkantil_a)
    TransferAttempt.objects.create(
        transfer=transfer, basis=basis, reference=basis.reference, state="sent"
    )
    titles = [e.title for e in basis_timeline(basis)]
    assert ("Sendt til Visma" in titles) == (configured == VISMA_ONLY)
    words = vocabulary()
    assert ("visma.transfer_started" in words.actions) == (configured == VISMA_ONLY)
    assert ("export.done" in words.actions) == (configured == FILES_ONLY)
    assert ("exports.Export" in words.objects) == (configured == FILES_ONLY)
    # The domain's own words are always there.
    assert "invoice_basis.credit" in words.actions
