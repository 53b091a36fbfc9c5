from django.urls import path

from . import downloads, views

app_name = "exports"

urlpatterns = [
    path("", views.history, name="history"),
    path("last-ned.csv", downloads.history_csv, name="history_csv"),
    path("last-ned.xlsx", downloads.history_xlsx, name="history_xlsx"),
    path("ny/", views.export_start, name="start"),
    path("utvalg/", views.period_preview, name="preview"),
    path("overstyr/", views.override, name="override"),
    path("oppsett/", views.profile_edit, name="profile"),
    path("<int:pk>/", views.export_detail, name="detail"),
    path("<int:pk>/fremdrift/", views.export_progress, name="progress"),
    path("<int:pk>/fil/", views.download, name="download"),
    path("<int:pk>/kundefil/", views.download_customers, name="download_customers"),
]
