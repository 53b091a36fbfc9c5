from django.apps import AppConfig


class AccountsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Innlogging"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the login and logout receivers)
