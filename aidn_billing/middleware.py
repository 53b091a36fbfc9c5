"""Language of the user interface: Bokmål unless the user has chosen otherwise.

Django's LocaleMiddleware would follow the browser's Accept-Language, so a caseworker with an
English browser would silently get a half-familiar English UI. Here only an explicit choice counts:
the language cookie written by Django's `set_language` view (the switch in the page header).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers


def chosen_language(request: HttpRequest) -> str:
    """The language from the language cookie if it is one of LANGUAGES, else LANGUAGE_CODE."""
    code = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if code in dict(settings.LANGUAGES):
        return code
    return settings.LANGUAGE_CODE


class ExplicitLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = chosen_language(request)
        # override() rather than activate(): the language must not outlive the request in this
        # thread (Celery tasks run eagerly in tests, and the next request may have no cookie).
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response
