"""The one place where errors become ``application/problem+json`` responses."""

from __future__ import annotations

import logging

import orjson
from starlette.responses import Response

from thudo.api.reply import Reply
from thudo.errors import InternalError, NgsiError

__all__ = ["PROBLEM_JSON", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem_response(exc: BaseException) -> Response:
    """The response for an error: its problem details, or a generic 500 for the unexpected."""
    if not isinstance(exc, NgsiError):
        log.error("unhandled error", exc_info=exc)
        exc = InternalError("the broker failed to handle the request; see the server log")
    body = orjson.dumps(exc.to_problem())
    return Reply(body, status_code=exc.status, headers=exc.headers, media_type=PROBLEM_JSON)
