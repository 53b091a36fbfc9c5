from django.urls import path

from . import downloads, views

app_name = "integrations"

urlpatterns = [
    path("innstillinger/", views.settings_page, name="settings"),
    path("innstillinger/test/", views.settings_test, name="settings_test"),
    path("send/", views.send_confirm, name="send"),
    path("knapper/", views.period_actions, name="period_actions"),
    path("test/", views.test_transfer, name="test_transfer"),
    path("overforinger/", views.transfer_list, name="transfers"),
    path("overforinger/last-ned.csv", downloads.transfers_csv, name="transfers_csv"),
    path("overforinger/last-ned.xlsx", downloads.transfers_xlsx, name="transfers_xlsx"),
    path("overforinger/<int:pk>/", views.transfer_detail, name="transfer_detail"),
    path("overforinger/<int:pk>/last-ned.csv", downloads.attempts_csv, name="attempts_csv"),
    path("overforinger/<int:pk>/last-ned.xlsx", downloads.attempts_xlsx, name="attempts_xlsx"),
    path("overforinger/<int:pk>/fremdrift/", views.transfer_progress, name="transfer_progress"),
    path("overforinger/<int:pk>/send-feilede/", views.transfer_retry, name="transfer_retry"),
    path("status/oppdater/", views.status_refresh, name="status_refresh"),
    path("grunnlag/<int:pk>/", views.basis_extra, name="basis_extra"),
]
