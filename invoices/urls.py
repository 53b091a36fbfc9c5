from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from . import anomaly_views, api, audit_views, credit_views, download_views, overview_views, views

invoice_patterns = [
    path("", views.basis_list, name="list"),
    path("summer/", views.basis_list_summary, name="list_summary"),
    path("sok/", views.basis_search, name="search"),
    path("<int:pk>/", views.basis_detail, name="detail"),
    path("<int:pk>/godkjenn/", views.basis_approve, name="approve"),
    path("<int:pk>/trekk-godkjenning/", views.basis_unapprove, name="unapprove"),
    path("<int:pk>/slett/", views.basis_delete, name="delete"),
    path("<int:pk>/krediter/", credit_views.basis_credit, name="credit"),
    path("godkjenn/", views.period_approve, name="period_approve"),
    path("trekk-godkjenning/", views.period_unapprove, name="period_unapprove"),
    path("kontroll/", views.validation_report, name="validation_report"),
    path("kontroll/sammendrag/", views.validation_summary, name="validation_summary"),
    path("kontroll/avvik/", anomaly_views.anomaly_section, name="anomaly_section"),
    path("avvik/", anomaly_views.anomaly_page, name="anomalies"),
    path("avvik/beregn/", anomaly_views.anomaly_compute, name="anomaly_compute"),
    path("avvik/<int:pk>/kvitter/", anomaly_views.anomaly_acknowledge, name="anomaly_acknowledge"),
    path(
        "avvik/<int:pk>/angre/", anomaly_views.anomaly_unacknowledge, name="anomaly_unacknowledge"
    ),
    path("betaler/<int:pk>/", anomaly_views.payer_history, name="payer"),
    path("last-ned/grunnlag.csv", download_views.month_bases_csv, name="month_bases_csv"),
    path("last-ned/linjer.csv", download_views.month_lines_csv, name="month_lines_csv"),
    path("last-ned/maaned.xlsx", download_views.month_xlsx, name="month_xlsx"),
    path(
        "kontroll/last-ned.csv",
        download_views.validation_report_csv,
        name="validation_report_csv",
    ),
    path(
        "kontroll/last-ned.xlsx",
        download_views.validation_report_xlsx,
        name="validation_report_xlsx",
    ),
]

token_patterns = [
    path("", views.api_tokens, name="list"),
    path("<int:pk>/trekk-tilbake/", views.api_token_revoke_view, name="revoke"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("oversikt/", overview_views.overview, name="overview"),
    path("logg-inn/", auth_views.LoginView.as_view(), name="login"),
    path("logg-ut/", auth_views.LogoutView.as_view(), name="logout"),
    path("kommune/", views.switch_municipality, name="switch_municipality"),
    path("fakturagrunnlag/", include((invoice_patterns, "invoices"))),
    path("administrasjon/api-nokler/", include((token_patterns, "api_tokens"))),
    path("administrasjon/avvik/", anomaly_views.anomaly_settings, name="anomaly_settings"),
    path("administrasjon/logg/", audit_views.audit_log, name="audit_log"),
    path("api/v1/invoice-bases", api.invoice_bases, name="api_invoice_bases"),
    re_path(r"^api/", api.not_found, name="api_not_found"),
]
