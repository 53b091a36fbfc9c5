"""Fill the month totals of an existing installation from its bases and lines; from here on every
write keeps them (invoices/summaries.py)."""

from django.db import migrations

UNITS = """
INSERT INTO invoices_unitmonthtotal (municipality_id, period, unit_id, status, bases, lines, total_ore)
SELECT municipality_id, period, unit_id, status, COUNT(*), SUM(line_count), SUM(total_ore)
FROM invoices_invoicebasis GROUP BY municipality_id, period, unit_id, status
"""
SERVICES = """
INSERT INTO invoices_servicemonthtotal
    (municipality_id, period, unit_id, service_id, status, bases, lines, total_ore)
SELECT b.municipality_id, b.period, b.unit_id, l.service_id, b.status,
       COUNT(DISTINCT b.id), COUNT(*), SUM(l.amount_ore)
FROM invoices_invoiceline l JOIN invoices_invoicebasis b ON b.id = l.basis_id
GROUP BY b.municipality_id, b.period, b.unit_id, l.service_id, b.status
"""


class Migration(migrations.Migration):
    dependencies = [("invoices", "0006_month_totals")]

    operations = [
        migrations.RunSQL(
            [UNITS, SERVICES],
            [
                "DELETE FROM invoices_servicemonthtotal",
                "DELETE FROM invoices_unitmonthtotal",
            ],
        )
    ]
