"""The API's one error shape, and the HTTP statuses of lost-update protection.

Every error response has the same JSON body::

    {"detail": "Invalid input.",
     "code": "invalid",
     "errors": {"ck_u_per_l": [{"message": "CK cannot be negative.", "code": "negative"}]}}

- ``detail``: a human-readable summary; ``code``: a stable machine code
  (``invalid``, ``not_authenticated``, ``permission_denied``, ``not_found``,
  ``method_not_allowed``, ``stale``, ``version_required``, ...).
- ``errors`` (400 only; ``{}`` otherwise): field -> list of
  ``{"message", "code"}``. The messages and codes are those of the model
  rules (``rules.py`` through ``Model.clean``), the same the forms show.
  ``non_field_errors`` holds record-level errors (a lock, an already voided
  entry); nested input uses dotted paths (``assessment.ck_u_per_l``,
  ``infusions.1.dose_g``, the index in the posted list).
"""

from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler


class PreconditionRequired(exceptions.APIException):
    """428: an update must say which version it started from."""

    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = _("Send the version you started from: the record's `version` in the body, "
                       "or an If-Match header with its ETag.")
    default_code = "version_required"


class PreconditionFailed(exceptions.APIException):
    """412: the If-Match version is not the stored one; nothing was changed."""

    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("Someone else saved this record after you read it. Nothing was "
                       "overwritten: fetch it again, then apply your change.")
    default_code = "stale"


class Conflict(exceptions.APIException):
    """409: the ``version`` in the body is not the stored one; nothing was changed."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = PreconditionFailed.default_detail
    default_code = "stale"


class RequestTooLarge(exceptions.APIException):
    """413: the body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE``; nothing was read or changed."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large: send at most %(limit)s bytes.")
    default_code = "request_too_large"

    def __init__(self):
        super().__init__(str(self.default_detail) % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE})


class BadRequest(exceptions.APIException):
    """400 for a request Django refuses before it is parsed (too many fields...)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _("The request could not be read.")
    default_code = "bad_request"


def django_error_detail(error: DjangoValidationError, prefix=""):
    """A Django ValidationError as ``{field: [ErrorDetail(message, code)]}``
    (``__all__`` becomes ``non_field_errors``), keeping each message's code."""
    if hasattr(error, "error_dict"):
        items = error.error_dict.items()
    else:
        items = [(NON_FIELD_ERRORS, error.error_list)]
    detail = {}
    for field, errors in items:
        key = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field
        detail.setdefault(prefix + key, []).extend(
            ErrorDetail(str(e.message % e.params) if e.params else str(e.message), code=e.code or "invalid")
            for e in errors
        )
    return detail


def flatten_errors(detail, prefix=""):
    """DRF's nested error detail (dicts and lists) as ``{dotted.path: [{message, code}]}``."""
    flat = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}{key}."))
    elif isinstance(detail, (list, tuple)):
        if all(isinstance(item, str) for item in detail):
            if detail:
                flat[prefix.rstrip(".") or api_settings.NON_FIELD_ERRORS_KEY] = [
                    {"message": str(item), "code": getattr(item, "code", None) or "invalid"}
                    for item in detail]
        else:
            for index, item in enumerate(detail):
                flat.update(flatten_errors(item, f"{prefix}{index}."))
    elif isinstance(detail, str):
        flat[prefix.rstrip(".") or api_settings.NON_FIELD_ERRORS_KEY] = [
            {"message": str(detail), "code": getattr(detail, "code", None) or "invalid"}]
    return flat


def api_exception_handler(exc, context):
    """DRF's handler, then the one error shape (see the module docstring).

    A Django ValidationError raised by a model rule or a service (for
    example a lock found inside ``record_save``) becomes a 400 like any
    other invalid input.
    """
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=django_error_detail(exc))
    elif isinstance(exc, RequestDataTooBig):  # reading request.data; Django's answer is an HTML 400
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = BadRequest()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": flatten_errors(exc.detail)}
    else:
        detail = getattr(exc, "detail", "")
        if not isinstance(detail, str):  # an APIException raised with a dict or list
            errors = flatten_errors(detail)
            response.data = {"detail": str(exc.default_detail), "code": exc.default_code, "errors": errors}
        else:
            response.data = {"detail": str(detail), "code": getattr(detail, "code", None) or exc.default_code,
                             "errors": {}}
    return response


# --- Errors Django answers before (or instead of) a DRF view ----------------------------------
# A 404 of an unknown URL, a 400 from a middleware, a CSRF failure, a 500: under /api/
# they have the API's JSON shape too, elsewhere Django's pages. ``ivigtrial/urls.py``
# names these as its handlers and settings.CSRF_FAILURE_VIEW the last one.

API_PREFIX = "/api/"


def is_api_request(request):
    return request.path.startswith(API_PREFIX)


def json_error(status_code, detail, code):
    return JsonResponse({"detail": str(detail), "code": code, "errors": {}}, status=status_code)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if is_api_request(request):
        if isinstance(exception, RequestDataTooBig):
            error = RequestTooLarge()
            return json_error(error.status_code, error.detail, error.default_code)
        return json_error(400, BadRequest.default_detail, BadRequest.default_code)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if is_api_request(request):
        error = exceptions.PermissionDenied()
        return json_error(error.status_code, error.detail, error.default_code)
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if is_api_request(request):
        error = exceptions.NotFound()
        return json_error(error.status_code, error.detail, error.default_code)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    if is_api_request(request):
        return json_error(500, _("Server error."),
                          "server_error")
    return defaults.server_error(request, template_name)


def csrf_failure(request, reason=""):
    if is_api_request(request):
        return json_error(403, _("CSRF check failed: %(reason)s") % {"reason": reason}, "csrf_failed")
    return django_csrf_failure(request, reason)
