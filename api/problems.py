"""
Every API error as `application/problem+json` (RFC 9457): `type`, `title`, `status`,
`detail`, and for invalid input an `errors` member with the messages of each field.
Django's own refusals raised by the services (PermissionDenied, ValidationError, Http404)
become the same documents, so a rule the web pages enforce answers the same way here.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from .serializers import ProblemSerializer

PROBLEM_CONTENT_TYPE = "application/problem+json"
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY


class Conflict(exceptions.APIException):
    """The request is valid but the resource's state does not allow it; `extra` names what would be allowed."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The incident's state does not allow this."
    default_code = "conflict"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The incident changed since the version in If-Match; fetch it again and retry."
    default_code = "precondition_failed"


class PreconditionRequired(exceptions.APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "Send If-Match with the ETag of the incident you are changing, so no one's change is overwritten."
    default_code = "precondition_required"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# The names RFC 9110 gives statuses whose Python phrase predates it (Python 3.13 adopted
# them): every Python the product runs on then answers, and documents, the same title.
RFC_9110_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def status_title(code: int) -> str:
    return RFC_9110_TITLES.get(code, HTTPStatus(code).phrase)


def problem_responses(*codes: int) -> dict[tuple[int, str], OpenApiResponse]:
    """The schema's description of these error answers."""
    return {(code, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description=status_title(code))
            for code in codes}


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    return exc


def problem(status_code: int, detail: str, **members: Any) -> dict[str, Any]:
    return {"type": "about:blank", "title": status_title(status_code), "status": status_code, "detail": detail,
            **members}


def field_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """
    Messages per field, nested fields named by their path (`alerts.0.labels.team`); errors
    about a whole object or list are under its own name (at the top, `non_field_errors`).
    """
    if isinstance(detail, dict):
        return {name: messages for key, value in detail.items()
                for name, messages in field_errors(value, path if key == NON_FIELD_ERRORS else _joined(path, key)).items()}
    if isinstance(detail, list) and all(isinstance(item, str) for item in detail):
        return {path or NON_FIELD_ERRORS: [str(item) for item in detail]}
    if isinstance(detail, list):
        merged: dict[str, list[str]] = {}
        for index, item in enumerate(detail):
            for name, messages in field_errors(item, _joined(path, str(index))).items():
                merged.setdefault(name, []).extend(messages)
        return merged
    return {path or NON_FIELD_ERRORS: [str(detail)]}


def _joined(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (headers such as Retry-After and WWW-Authenticate included), answering with a problem document."""
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = problem(response.status_code, "The request has invalid fields: see errors.",
                                errors=field_errors(data))
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        response.data = problem(response.status_code, str(detail), **getattr(exc, "extra", {}))
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
