"""Whether a failed basis may be taken back was read from this app's attempts by the domain; now
the domain reads its own flag, which the delivery sets. Existing failed bases get it from their
attempts: set where the latest real attempt was rejected (Visma stored nothing)."""

from django.db import migrations
from django.db.models import OuterRef, Subquery


def from_attempts(apps, schema_editor):
    InvoiceBasis = apps.get_model("invoices", "InvoiceBasis")
    TransferAttempt = apps.get_model("integrations", "TransferAttempt")
    latest = (
        TransferAttempt.objects.filter(basis_id=OuterRef("pk"), is_test=False)
        .order_by("-id")
        .values("state")[:1]
    )
    InvoiceBasis.objects.filter(status="failed").annotate(last_state=Subquery(latest)).filter(
        last_state="rejected"
    ).update(refused_by_receiver=True)


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_attempt_indexes_partial"),
        ("invoices", "0005_basis_refused_by_receiver"),
    ]

    operations = [migrations.RunPython(from_attempts, migrations.RunPython.noop)]
