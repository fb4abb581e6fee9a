"""Checks on a function's configuration that the model alone does not make.

The model (`validate_input`) already enforces types, lengths, enum members and
most numeric ranges as `ValidationException`; what remains here are Lambda's
own rules, reported as `InvalidParameterValueException` the way Lambda does.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from squall.protocol.errors import ServiceError

RUNTIMES = (
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "provided.al2",
    "provided.al2023",
)
ROLE_PATTERN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
HANDLER_PATTERN = re.compile(r"^[^\s]+$")
ENV_KEY = re.compile(r"^[a-zA-Z]([a-zA-Z0-9_])+$")
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
ENV_LIMIT_BYTES = 4096
MEMORY_RANGE = (128, 10240)
TIMEOUT_RANGE = (1, 900)
EPHEMERAL_RANGE = (512, 10240)


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidParameterValueException", message, 400, fields={"Type": "User"})


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise invalid(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(RUNTIMES)}] or be a valid ARN"
        )


def check_role(role: str) -> None:
    if not ROLE_PATTERN.match(role):
        raise ServiceError(
            "ValidationException",
            f"1 validation error detected: Value '{role}' at 'role' failed to satisfy constraint: Member must "
            r"satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
            400,
        )


def check_handler(handler: str) -> None:
    if not handler or len(handler) > 128 or not HANDLER_PATTERN.match(handler):
        raise ServiceError(
            "ValidationException",
            f"1 validation error detected: Value '{handler}' at 'handler' failed to satisfy constraint: Member "
            r"must satisfy regular expression pattern: [^\s]+",
            400,
        )


def _range(value: int, bounds: tuple[int, int], field: str, unit: str) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ServiceError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must "
            f"have value {'less than or equal to' if value > hi else 'greater than or equal to'} "
            f"{hi if value > hi else lo}",
            400,
        )


def check_environment(env: dict[str, Any]) -> None:
    variables = env.get("Variables") or {}
    for key in variables:
        if key in RESERVED_ENV_KEYS:
            raise invalid(
                f"Lambda was unable to configure your environment variables because the environment variables "
                f"you have provided contains reserved keys that are currently not supported for modification. "
                f"Reserved keys used in this request: {key}"
            )
        if not ENV_KEY.match(key):
            raise ServiceError(
                "ValidationException",
                "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
                "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
                "[a-zA-Z]([a-zA-Z0-9_])+]",
                400,
            )
    size = len(orjson.dumps(variables))
    if size > ENV_LIMIT_BYTES:
        raise invalid(
            f"Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {orjson.dumps(variables).decode()}"
        )


def check_config(params: dict[str, Any], *, creating: bool) -> None:
    """Validate the configuration members present in `params` (Create or UpdateConfiguration)."""
    if "Runtime" in params:
        check_runtime(params["Runtime"])
    elif creating:
        raise invalid("Runtime is required for .zip deployment package.")
    if "Handler" in params:
        check_handler(params["Handler"])
    elif creating:
        raise invalid("Handler is required for .zip deployment package.")
    if "Role" in params:
        check_role(params["Role"])
    if "MemorySize" in params:
        _range(int(params["MemorySize"]), MEMORY_RANGE, "memorySize", "MB")
    if "Timeout" in params:
        _range(int(params["Timeout"]), TIMEOUT_RANGE, "timeout", "s")
    if "EphemeralStorage" in params:
        _range(int(params["EphemeralStorage"]["Size"]), EPHEMERAL_RANGE, "ephemeralStorage.size", "MB")
    if "Environment" in params:
        check_environment(params["Environment"])
    if params.get("PackageType", "Zip") != "Zip":
        raise invalid("Squall supports only the Zip package type.")
    archs = params.get("Architectures")
    if archs is not None and len(archs) != 1:
        raise invalid("Only one architecture may be specified.")
    mode = (params.get("TracingConfig") or {}).get("Mode")
    if mode is not None and mode not in ("Active", "PassThrough"):
        raise invalid(f"Invalid tracing mode: {mode}")
