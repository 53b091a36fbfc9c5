from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("driftsadmin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("invoices.urls")),
    path("eksport/", include("exports.urls")),
    path("visma/", include("integrations.urls")),
    path("administrasjon/sperrede-brukere/", include("accounts.urls")),
]

# The product's own error pages (aidn_billing/errors.py).
handler400 = "aidn_billing.errors.bad_request"
handler403 = "aidn_billing.errors.permission_denied"
handler404 = "aidn_billing.errors.page_not_found"
handler500 = "aidn_billing.errors.server_error"
