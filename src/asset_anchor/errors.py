"""One way to fail: RFC 9457 problem details with a stable machine ``code``.

Exception tree::

    AppError                      any error the API answers on purpose
     ├── BadRequest               400 bad_request
     ├── Unauthorized             401 not_authenticated
     ├── Forbidden                403 forbidden
     ├── NotFound                 404 not_found
     ├── Conflict                 409 conflict
     ├── PayloadTooLarge          413 payload_too_large
     ├── RequestValidationFailed  422 validation_error
     ├── TooManyRequests          429 rate_limited
     └── ServiceUnavailable       503 service_unavailable
          ├── DatabaseUnavailable 503 database_unavailable
          └── DatabaseTimeout     503 database_timeout

Domains subclass these (``LeaseNotActive(Conflict)``) and set their own
``code``. Anything that is not an ``AppError`` is a bug: the client gets a 500
``internal_error`` carrying the request id, and the log gets the traceback.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:asset-anchor:problem:"


class AppError(Exception):
    """Root of every error the API answers on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    keeps_work: ClassVar[bool] = False
    """Commit the request's work before answering (see ``db.get_session``)."""
    headers: dict[str, str]

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AppError):
    pass


class NotFound(AppError):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(AppError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class Unauthorized(AppError):
    status = 401
    code = "not_authenticated"
    title = "Authentication is required"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class TooManyRequests(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after_seconds: int, detail: str | None = None) -> None:
        seconds = max(1, int(retry_after_seconds))
        super().__init__(
            detail,
            headers={"Retry-After": str(seconds)},
            retry_after_seconds=seconds,
        )


class Conflict(AppError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class RequestValidationFailed(AppError):
    status = 422
    code = "validation_error"
    title = "The request is not valid"


class ServiceUnavailable(AppError):
    status = 503
    code = "service_unavailable"
    title = "Service temporarily unavailable"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": "5"}, **extra)


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    title = "The database is unavailable"


class DatabaseTimeout(ServiceUnavailable):
    code = "database_timeout"
    title = "The database did not answer in time"


class DatabaseBusy(ServiceUnavailable):
    code = "database_busy"
    title = "The database could not finish the request alongside another; try again"


class InternalError(AppError):
    status = 500
    code = "internal_error"
    title = "Internal server error"


class FieldError(BaseModel):
    """One invalid input."""

    loc: list[str | int] = Field(description="Where the input was: body, query, …")
    message: str
    type: str = Field(description="A stable machine name for the kind of error.")


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    code: str = Field(description="A stable machine-readable error code.")
    instance: str | None = Field(default=None, description="The request path.")
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None,
    request_id: str | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_PREFIX}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        "request_id": request_id,
    }
    if extra:
        body.update(extra)
    return body


def error_responses(*errors: type[AppError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the errors an operation can answer."""
    by_status: dict[int, list[type[AppError]]] = {}
    declared: tuple[type[AppError], ...] = (
        *errors,
        RequestValidationFailed,
        InternalError,
    )
    for error in declared:
        by_status.setdefault(error.status, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, group in sorted(by_status.items()):
        codes = ", ".join(sorted({error.code for error in group}))
        responses[status] = {
            "model": Problem,
            "description": f"{HTTPStatus(status).phrase} (code: {codes})",
            "content": {PROBLEM_JSON: {}},
        }
    return responses
