from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("driftsadmin/", admin.site.urls),
    path("", include("invoices.urls")),
    path("eksport/", include("exports.urls")),
    path("visma/", include("integrations.urls")),
]
