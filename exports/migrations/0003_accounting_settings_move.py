"""The route, the default Visma oppdragsgiver and the KB slots move from the export profile to the
municipality's accounting settings (invoices.AccountingSettings), which both channels read. Every
existing value is kept; going back copies them home again."""

from django.db import migrations

MOVED = ("transfer_route", "default_oppdragsgiver", "kb_slots")


def to_domain(apps, schema_editor):
    ExportProfile = apps.get_model("exports", "ExportProfile")
    AccountingSettings = apps.get_model("invoices", "AccountingSettings")
    for profile in ExportProfile.objects.all().iterator():
        AccountingSettings.objects.update_or_create(
            municipality_id=profile.municipality_id,
            defaults={name: getattr(profile, name) for name in MOVED},
        )


def to_profile(apps, schema_editor):
    ExportProfile = apps.get_model("exports", "ExportProfile")
    AccountingSettings = apps.get_model("invoices", "AccountingSettings")
    for settings in AccountingSettings.objects.all().iterator():
        ExportProfile.objects.filter(municipality_id=settings.municipality_id).update(
            **{name: getattr(settings, name) for name in MOVED}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("exports", "0002_items_no_redundant_index"),
        ("invoices", "0004_accounting_settings"),
    ]

    operations = [migrations.RunPython(to_domain, to_profile)]
