"""URL routes: the API under /api/, the admin, and JSON error handlers for everything else."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from config.api import api
from hm_core.common.errors import error_body


def openapi_schema(request: HttpRequest) -> JsonResponse:
    """The OpenAPI document again at /api/schema/ (contract §1)."""
    return JsonResponse(api.get_openapi_schema(path_prefix="/api/"))


# DICOMweb clients send paths without a trailing slash (`/api/dicomweb/studies`, contract §13):
# those routes are listed first, so no rule about slash-less /api/ paths can shadow them.
_api_patterns, _, _ = api.urls
_dicomweb = [p for p in _api_patterns if str(p.pattern).startswith("dicomweb/")]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("reports/", include("hm_core.reports.urls")),
    path("api/schema/", openapi_schema, name="openapi-schema"),
    path("api/", include((_dicomweb, "dicomweb"), namespace="dicomweb")),
    path("api/", api.urls),
]


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("internal_error", "An internal error occurred."), status=500)


handler404 = not_found
handler500 = server_error
