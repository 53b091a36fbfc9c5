from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from . import api, audit_views, credit_views, overview_views, views

invoice_patterns = [
    path("", views.basis_list, name="list"),
    path("summer/", views.basis_list_summary, name="list_summary"),
    path("<int:pk>/", views.basis_detail, name="detail"),
    path("<int:pk>/godkjenn/", views.basis_approve, name="approve"),
    path("<int:pk>/trekk-godkjenning/", views.basis_unapprove, name="unapprove"),
    path("<int:pk>/slett/", views.basis_delete, name="delete"),
    path("<int:pk>/krediter/", credit_views.basis_credit, name="credit"),
    path("godkjenn/", views.period_approve, name="period_approve"),
    path("trekk-godkjenning/", views.period_unapprove, name="period_unapprove"),
    path("kontroll/", views.validation_report, name="validation_report"),
    path("kontroll/sammendrag/", views.validation_summary, name="validation_summary"),
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
    path("administrasjon/logg/", audit_views.audit_log, name="audit_log"),
    path("api/v1/invoice-bases", api.invoice_bases, name="api_invoice_bases"),
    re_path(r"^api/", api.not_found, name="api_not_found"),
]
