"""Domain errors shared by every API: each carries its HTTP code and user-visible message.

An error is raised anywhere below the HTTP layer and rendered once, by the service's
fault formatter (``stackling.web.faults``), in that service's own error-body shape.
"""

from __future__ import annotations

from typing import Any


class StacklingError(Exception):
    """Base error: ``code`` is the HTTP status, ``msg_fmt`` is filled from kwargs."""

    code: int = 500
    msg_fmt: str = "An unknown exception occurred."
    headers: dict[str, str] = {}

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs if kwargs else self.msg_fmt
            except (KeyError, TypeError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)


class BadRequest(StacklingError):
    code = 400
    msg_fmt = "Bad request."


class Invalid(BadRequest):
    msg_fmt = "Unacceptable parameters."


class InvalidInput(Invalid):
    """Nova and Cinder's InvalidInput: the user sees ``Invalid input received: <reason>``."""

    msg_fmt = "Invalid input received: %(reason)s"


class ValidationError(BadRequest):
    msg_fmt = "Invalid input for field/attribute %(field)s. Value: %(value)s. %(detail)s"


class Unauthorized(StacklingError):
    code = 401
    msg_fmt = "The request you have made requires authentication."


class Forbidden(StacklingError):
    code = 403
    msg_fmt = "You are not authorized to perform the requested action."


class PolicyNotAuthorized(Forbidden):
    msg_fmt = "Policy doesn't allow %(action)s to be performed."


class NotFound(StacklingError):
    code = 404
    msg_fmt = "Resource could not be found."


class MethodNotAllowed(StacklingError):
    code = 405
    msg_fmt = "The method specified is not allowed for this resource."


class NotAcceptable(StacklingError):
    code = 406
    msg_fmt = "Version %(version)s is not supported by the API. Minimum is %(min)s and maximum is %(max)s."


class Conflict(StacklingError):
    code = 409
    msg_fmt = "There was a conflict when trying to complete your request."


class OverLimit(StacklingError):
    code = 413
    msg_fmt = "Quota exceeded."
    headers = {"Retry-After": "0"}


class UnsupportedMediaType(StacklingError):
    code = 415
    msg_fmt = "The media type %(content_type)s is not supported."


class NotImplementedYet(StacklingError):
    code = 501
    msg_fmt = "This operation is not implemented by stackling yet."
