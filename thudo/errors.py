"""The error hierarchy, mapped to the NGSI-LD problem types (ETSI GS CIM 009, clause 6.3.2).

Domain and store code raise these. Exactly one handler (``thudo.api.problems``) turns
them into ``application/problem+json``. Messages are for clients: they say what was
wrong and where, and never carry internals.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "BadRequestData",
    "Forbidden",
    "InternalError",
    "InvalidRequest",
    "LdContextNotAvailable",
    "MethodNotAllowed",
    "NgsiError",
    "NonexistentTenant",
    "NotAcceptable",
    "OperationNotSupported",
    "PayloadTooLarge",
    "ResourceNotFound",
    "ServiceUnavailable",
    "SettingsError",
    "TooComplexQuery",
    "TooManyResults",
    "Unauthorized",
    "UnsupportedMediaType",
]

ERRORS_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class SettingsError(ValueError):
    """A configuration value is invalid; the message names the key and the value."""


class NgsiError(Exception):
    """Base of every error that reaches a client as problem+json."""

    status: ClassVar[int] = 500
    type_name: ClassVar[str] = "InternalError"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}
        if status is not None:
            self.status = status  # type: ignore[misc]

    @property
    def type_uri(self) -> str:
        """The problem type URI of this error."""
        return ERRORS_BASE + self.type_name

    def to_problem(self) -> dict[str, Any]:
        """The problem details body (RFC 9457) of this error."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidRequest(NgsiError):
    """The request is not well formed: bad JSON, bad parameters, wrong syntax."""

    status = 400
    type_name = "InvalidRequest"
    title = "Invalid request"


class BadRequestData(NgsiError):
    """The request is well formed but its data is not valid NGSI-LD."""

    status = 400
    type_name = "BadRequestData"
    title = "Bad request data"


class AlreadyExists(NgsiError):
    """The entity or resource to create exists already."""

    status = 409
    type_name = "AlreadyExists"
    title = "Already exists"


class OperationNotSupported(NgsiError):
    """The operation is not supported by this broker."""

    status = 422
    type_name = "OperationNotSupported"
    title = "Operation not supported"


class ResourceNotFound(NgsiError):
    """The entity, attribute or resource does not exist."""

    status = 404
    type_name = "ResourceNotFound"
    title = "Resource not found"


class Unauthorized(NgsiError):
    """The request carries no credential, or one that is not known (HTTP 401)."""

    status = 401
    type_name = "Unauthorized"
    title = "Unauthorized"


class Forbidden(NgsiError):
    """The credential is known but does not allow this request (HTTP 403)."""

    status = 403
    type_name = "Forbidden"
    title = "Forbidden"


class NonexistentTenant(NgsiError):
    """The tenant named in NGSILD-Tenant does not exist."""

    status = 404
    type_name = "NonexistentTenant"
    title = "Nonexistent tenant"


class LdContextNotAvailable(NgsiError):
    """A remote @context could not be retrieved or is not valid JSON-LD."""

    status = 503
    type_name = "LdContextNotAvailable"
    title = "@context not available"


class TooManyResults(NgsiError):
    """The request would return more results than the broker allows."""

    status = 403
    type_name = "TooManyResults"
    title = "Too many results"


class TooComplexQuery(NgsiError):
    """The query is too complex to be answered."""

    status = 403
    type_name = "TooComplexQuery"
    title = "Too complex query"


class InternalError(NgsiError):
    """An unexpected failure; details go to the log, not to the client."""


class ServiceUnavailable(NgsiError):
    """The store is unreachable or overloaded; the client may retry."""

    status = 503
    type_name = "ServiceUnavailable"
    title = "Service unavailable"


class NotAcceptable(NgsiError):
    """No representation matches the Accept header (HTTP 406)."""

    status = 406
    type_name = "NotAcceptable"
    title = "Not acceptable"


class UnsupportedMediaType(NgsiError):
    """The Content-Type of the request body is not supported (HTTP 415)."""

    status = 415
    type_name = "UnsupportedMediaType"
    title = "Unsupported media type"


class PayloadTooLarge(NgsiError):
    """The request body is larger than the configured maximum (HTTP 413)."""

    status = 413
    type_name = "PayloadTooLarge"
    title = "Payload too large"


class MethodNotAllowed(NgsiError):
    """The resource exists but does not support this method (HTTP 405)."""

    status = 405
    type_name = "MethodNotAllowed"
    title = "Method not allowed"
