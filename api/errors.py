"""Errors as JSON a program can act on.

``Refused``, the services' one exception for "the rules say no", becomes a 400 whose body names
the input it is about, as DRF's own validation errors do: ``{"departure": ["..."]}``, or
``{"non_field_errors": ["..."]}`` when it is about no one field. A request that is fine but
clashes with the state of things (a retry with other data, a change to a cancelled stay, a PIN
not there yet) is a 409 ``Conflict``. Anything else a service raises is a bug and stays a 500.
"""

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from codes.errors import Refused

# The body's name for the per-door window choices; the services call them plan_<lock id>.
WINDOWS_FIELD = "windows"


class Conflict(APIException):
    """409: the request clashes with how things stand; ``detail`` says what to do instead, and
    ``extra`` adds fields to the body (the id of the stay it clashes with)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "This request conflicts with the current state of the resource."
    default_code = "conflict"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the server accepts."
    default_code = "too_large"


def refusal_error(refusal: Refused) -> ValidationError:
    """The 400 for a refusal, under the field of the request body it is about."""
    field = refusal.field or api_settings.NON_FIELD_ERRORS_KEY
    if field.startswith("plan_"):
        field = WINDOWS_FIELD
    return ValidationError({field: [refusal.message]}, code="refused")


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with ``Refused`` as a 400, a ``Conflict``'s extra fields in its body, and a
    body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (refused by Django before it is read) as a JSON 413
    rather than Django's HTML 400."""
    if isinstance(exc, Refused):
        exc = refusal_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = BodyTooLarge()
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, Conflict) and isinstance(response.data, dict):
        response.data.update(exc.extra)
    return response
