"""Responses are never cached: pages, fragments, downloads and API answers carry personal data
(names, national ids, amounts owed), and a shared or back-button cache would keep them after the
user has left. Static files are served by WhiteNoise before this middleware and stay cacheable.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        patch_cache_control(response, no_store=True, private=True)
        return response
