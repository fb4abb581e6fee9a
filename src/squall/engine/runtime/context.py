"""The context object of the AWS Python runtime, as handlers see it."""

from __future__ import annotations

import time
from typing import Any


class CognitoIdentity:
    def __init__(self, cognito_identity_id: str | None, cognito_identity_pool_id: str | None) -> None:
        self.cognito_identity_id = cognito_identity_id
        self.cognito_identity_pool_id = cognito_identity_pool_id


class Client:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.installation_id = fields.get("installation_id")
        self.app_title = fields.get("app_title")
        self.app_version_name = fields.get("app_version_name")
        self.app_version_code = fields.get("app_version_code")
        self.app_package_name = fields.get("app_package_name")


class ClientContext:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.client = Client(fields["client"]) if fields.get("client") else None
        self.custom = fields.get("custom")
        self.env = fields.get("env")


class LambdaContext:
    """`context` for one invocation; the deadline is wall-clock epoch milliseconds."""

    def __init__(
        self,
        *,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        function_name: str,
        function_version: str,
        memory_limit_in_mb: str,
        log_group_name: str,
        log_stream_name: str,
        identity: dict[str, Any] | None = None,
        client_context: dict[str, Any] | None = None,
        tenant_id: str | None = None,
    ) -> None:
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.function_version = function_version
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name
        self.log_stream_name = log_stream_name
        self.tenant_id = tenant_id
        ident = identity or {}
        self.identity = CognitoIdentity(ident.get("cognitoIdentityId"), ident.get("cognitoIdentityPoolId"))
        self.client_context = ClientContext(client_context) if client_context else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )
