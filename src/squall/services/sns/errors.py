"""SNS's error shapes (query protocol: code, message, HTTP status)."""

from __future__ import annotations

from squall.protocol.errors import ServiceError


def invalid_parameter(what: str) -> ServiceError:
    """`InvalidParameter` with AWS's "Invalid parameter: <what>" message."""
    return ServiceError("InvalidParameter", f"Invalid parameter: {what}", 400)


def invalid_value(message: str) -> ServiceError:
    return ServiceError("ParameterValueInvalid", message, 400)


def not_found(message: str) -> ServiceError:
    return ServiceError("NotFound", message, 404)


def topic_not_found() -> ServiceError:
    return not_found("Topic does not exist")


def subscription_not_found() -> ServiceError:
    return not_found("Subscription does not exist")


def resource_not_found() -> ServiceError:
    return ServiceError("ResourceNotFound", "Resource does not exist", 404)


def authorization_error(message: str) -> ServiceError:
    return ServiceError("AuthorizationError", message, 403)
