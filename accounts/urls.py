from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.locked, name="locked"),
    path("<int:pk>/las-opp/", views.unlock, name="unlock"),
]
