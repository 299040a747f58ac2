"""Neutron's exceptions: the class name is the ``type`` of the NeutronError body.

Texts are neutron-lib's (``neutron_lib/exceptions``) and Neutron's own, so clients that
match on them (Nova, tempest) recognise them.
"""

from __future__ import annotations

from stackling import exception


class NeutronError(exception.StacklingError):
    """Base: ``type`` in the error body is the class name (or ``type_name``)."""

    type_name: str | None = None

    @property
    def neutron_type(self) -> str:
        return self.type_name or type(self).__name__


class BadRequest(NeutronError):
    code = 400
    msg_fmt = "Bad %(resource)s request: %(msg)s."


class HTTPBadRequest(NeutronError):
    code = 400
    msg_fmt = "%(msg)s"


class InvalidInput(NeutronError):
    code = 400
    msg_fmt = "Invalid input for operation: %(error_message)s."


class NotFound(NeutronError):
    code = 404
    msg_fmt = "An unknown exception occurred."


class HTTPNotFound(NotFound):
    msg_fmt = "The resource could not be found."


class Conflict(NeutronError):
    code = 409


class NotAuthorized(NeutronError):
    code = 403
    msg_fmt = "Not authorized."


class PolicyNotAuthorized(NeutronError):
    code = 403
    msg_fmt = "%(action)s is disallowed by policy"


class AdminRequired(NotAuthorized):
    msg_fmt = "User does not have admin privileges: %(reason)s."


def _camel(kind: str) -> str:
    return "".join(p.capitalize() for p in kind.split("_"))


LABELS = {"network": "Network", "subnet": "Subnet", "port": "Port", "router": "Router",
          "floatingip": "Floating IP", "security_group": "Security group",
          "security_group_rule": "Security group rule", "agent": "Agent",
          "subnetpool": "Subnet pool"}
NOT_FOUND_TYPES = {"floatingip": "FloatingIPNotFound", "subnetpool": "SubnetPoolNotFound",
                   "security_group": "SecurityGroupNotFound",
                   "security_group_rule": "SecurityGroupRuleNotFound"}


def missing(kind: str, rid: str) -> NotFound:
    """``NetworkNotFound``: ``Network <id> could not be found.`` (and the like)."""
    err = NotFound(f"{LABELS.get(kind, kind.capitalize())} {rid} could not be found.")
    if kind == "security_group":
        err.message = f"Security group {rid} does not exist"
    elif kind == "security_group_rule":
        err.message = f"Security group rule {rid} does not exist"
    err.type_name = NOT_FOUND_TYPES.get(kind, f"{_camel(kind)}NotFound")
    return err


def conflict(type_name: str, message: str) -> Conflict:
    err = Conflict(message)
    err.type_name = type_name
    return err


def bad(type_name: str, message: str, code: int = 400) -> NeutronError:
    err = NeutronError(message)
    err.code = code
    err.type_name = type_name
    return err


def invalid_input(text: str) -> InvalidInput:
    return InvalidInput(error_message=text)


def bad_request(resource: str, msg: str) -> BadRequest:
    return BadRequest(resource=resource, msg=msg)


def http_bad_request(msg: str) -> HTTPBadRequest:
    return HTTPBadRequest(msg=msg)
