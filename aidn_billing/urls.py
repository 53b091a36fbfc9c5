from django.contrib import admin
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico whatever a page links: the icon, not a 404 in the log."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
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
