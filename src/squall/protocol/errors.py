"""The one error type that crosses from services and codecs to the wire."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS-shaped error: `code` is the error code the client sees
    (e.g. "ResourceNotFoundException", "NoSuchBucket"), `status` the HTTP
    status, `sender_fault` decides "Sender"/"Receiver" in query/XML error
    envelopes, and `fields` are extra members of the error shape (e.g.
    S3's `BucketName`, Lambda's `Type`), serialized like output members.
    """

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        sender_fault: bool = True,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r}, status={self.status})"


def internal_failure(request_id: str) -> ServiceError:
    return ServiceError(
        "InternalFailure",
        f"The request processing has failed because of an unknown error, exception or failure. "
        f"(request id {request_id})",
        500,
        sender_fault=False,
    )
