"""The settings form (promise 8: settings are checked) and the small forms of the send pages."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.forms import RefusesControlCharacters

from .models import VismaSettings

URL_SUFFIX = "fakturering_ws/"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_base_url(value: str) -> str:
    """The URL Visma gave, ending in `fakturering_ws/`; `https://` unless the host is loopback or
    listed in VISMA_HTTP_ALLOWED_HOSTS; no credentials, query or fragment."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationError(_("URL-en er ugyldig."), code="invalid") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationError(
            _("URL-en må begynne med https:// og ha et vertsnavn."), code="scheme"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError(
            _("URL-en skal ikke inneholde brukernavn eller passord; de legges inn i egne felt."),
            code="credentials",
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValidationError(
            _("URL-en skal ikke ha spørreparametere (?…) eller #-del."), code="query"
        )
    if not parts.path.endswith(URL_SUFFIX):
        raise ValidationError(
            _("URL-en skal slutte med «%(suffix)s». Utelat siste ledd i adressen fra Visma.")
            % {"suffix": URL_SUFFIX},
            code="suffix",
        )
    allowed_http = {h.lower() for h in settings.VISMA_HTTP_ALLOWED_HOSTS}
    if parts.scheme == "http" and not (is_loopback_host(host) or host.lower() in allowed_http):
        raise ValidationError(
            _("URL-en må bruke https://. Vanlig http:// er bare tillatt mot lokale testmaskiner."),
            code="https",
        )
    return value


class VismaSettingsForm(RefusesControlCharacters, forms.Form):
    selskap = forms.CharField(
        label=_("Selskap"),
        max_length=10,
        help_text=_(
            "Hentes fra det øverste skjermbildet på side 4 i dokumentasjonen fra Visma (1–10 tegn)."
        ),
    )
    base_url = forms.CharField(
        label=_("URL"),
        max_length=300,
        help_text=_(
            "Se side 2 i dokumentasjonen fra Visma: URL til WS'er fakturering. Utelat siste ledd, "
            "slik at URL-en ender med «…fakturering_ws/»."
        ),
        widget=forms.TextInput(attrs={"placeholder": "https://…/fakturering_ws/"}),
    )
    username = forms.CharField(
        label=_("Brukernavn"),
        max_length=100,
        help_text=_("Se side 3 i dokumentasjonen fra Visma under «Initialer (brukernavn)»."),
    )
    password = forms.CharField(
        label=_("Passord"),
        required=False,
        max_length=200,
        strip=False,
        # render_value=False: the stored password is never sent back to the browser.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Passordet Visma har sendt på SMS (Basic authentication). La feltet stå tomt for å "
            "beholde det lagrede passordet."
        ),
    )
    enabled = forms.BooleanField(
        label=_("Aktiver integrasjonen"),
        required=False,
        help_text=_("Hak av for å aktivere integrasjonen. Krever at passord er lagt inn."),
    )

    def __init__(self, *args: Any, instance: VismaSettings | None = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "selskap": instance.selskap,
                "base_url": instance.base_url,
                "username": instance.username,
                "enabled": instance.enabled,
            }
        super().__init__(*args, **kwargs)
        if instance is not None and instance.has_password:
            self.fields["password"].widget.attrs["placeholder"] = str(
                _("Lagret – la stå tomt for å beholde")
            )

    def clean_selskap(self) -> str:
        value = self.cleaned_data["selskap"].strip()
        if not value:
            raise ValidationError(_("Selskap må fylles ut."), code="required")
        return value

    def clean_base_url(self) -> str:
        return validate_base_url(self.cleaned_data["base_url"])

    def clean_username(self) -> str:
        value = self.cleaned_data["username"].strip()
        if not value:
            raise ValidationError(_("Brukernavn må fylles ut."), code="required")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_stored = self.instance is not None and self.instance.has_password
        if data.get("enabled") and not data.get("password") and not has_stored:
            self.add_error(
                "enabled", _("Integrasjonen kan ikke aktiveres før passord er lagt inn.")
            )
        return data


class TestTransferForm(RefusesControlCharacters, forms.Form):
    """Pick 1–20 approved bases for a test transfer."""

    bases = forms.TypedMultipleChoiceField(
        label=_("Grunnlag"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Velg minst ett grunnlag å teste: kryss av i listen nedenfor."),
            "invalid_choice": _(
                "Et valgt grunnlag er ikke lenger godkjent i perioden. Last siden på nytt."
            ),
        },
    )

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["bases"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = choices

    def clean_bases(self) -> list[int]:
        from .services import MAX_TEST_BASES

        value: list[int] = self.cleaned_data["bases"]
        if len(value) > MAX_TEST_BASES:
            raise ValidationError(
                _("Velg høyst %(n)d grunnlag.") % {"n": MAX_TEST_BASES}, code="too_many"
            )
        return value
