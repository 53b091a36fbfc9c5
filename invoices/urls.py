from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

invoice_patterns = [
    path("", views.basis_list, name="list"),
    path("<int:pk>/", views.basis_detail, name="detail"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("logg-inn/", auth_views.LoginView.as_view(), name="login"),
    path("logg-ut/", auth_views.LogoutView.as_view(), name="logout"),
    path("kommune/", views.switch_municipality, name="switch_municipality"),
    path("fakturagrunnlag/", include((invoice_patterns, "invoices"))),
]
