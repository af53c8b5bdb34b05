"""The error hierarchy (thudo/errors.py) and its problem details (clause 6.3.2)."""

from __future__ import annotations

import pytest

from thudo import errors
from thudo.errors import ERRORS_BASE, NgsiError

ERROR_CLASSES = [
    getattr(errors, n)
    for n in errors.__all__
    if isinstance(getattr(errors, n), type) and issubclass(getattr(errors, n), NgsiError)
]

EXPECTED_STATUS = {
    "InvalidRequest": 400,
    "BadRequestData": 400,
    "AlreadyExists": 409,
    "OperationNotSupported": 422,
    "ResourceNotFound": 404,
    "NonexistentTenant": 404,
    "LdContextNotAvailable": 503,
    "TooManyResults": 403,
    "TooComplexQuery": 403,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "NotAcceptable": 406,
    "UnsupportedMediaType": 415,
    "PayloadTooLarge": 413,
    "MethodNotAllowed": 405,
    "Unauthorized": 401,
    "Forbidden": 403,
}


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_each_error_maps_to_its_problem_type(cls: type[NgsiError]) -> None:
    exc = cls("what went wrong, and where")
    body = exc.to_problem()
    if cls is not NgsiError:
        assert exc.status == EXPECTED_STATUS[cls.__name__]
        assert body["type"] == ERRORS_BASE + cls.__name__
    assert body["status"] == exc.status
    assert body["detail"] == "what went wrong, and where"
    assert body["title"]


def test_status_override_and_extra_members() -> None:
    exc = errors.OperationNotSupported("later", status=501, headers={"Allow": "GET"}, hint="x")
    assert exc.status == 501
    assert errors.OperationNotSupported("x").status == 422
    assert exc.headers == {"Allow": "GET"}
    assert exc.to_problem()["hint"] == "x"


def test_settings_error_is_not_a_client_error() -> None:
    assert issubclass(errors.SettingsError, ValueError)
    assert not issubclass(errors.SettingsError, NgsiError)
