from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("driftsadmin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("invoices.urls")),
    path("eksport/", include("exports.urls")),
    path("visma/", include("integrations.urls")),
]
