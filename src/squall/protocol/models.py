"""botocore's service models, loaded once per process."""

from __future__ import annotations

from functools import cache

import botocore.loaders
import botocore.model

from squall.protocol.types import Protocol

#: The services Squall serves, by botocore name.
SERVED_SERVICES: tuple[str, ...] = (
    "lambda", "sqs", "sns", "s3", "dynamodb", "dynamodbstreams", "kinesis", "events",
    "scheduler", "stepfunctions", "logs", "cloudwatch", "iam", "sts", "ssm",
    "secretsmanager", "apigateway", "apigatewayv2", "xray",
)  # fmt: skip


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


@cache
def service_model(name: str) -> botocore.model.ServiceModel:
    data = _loader().load_service_model(name, "service-2")
    return botocore.model.ServiceModel(data, service_name=name)


def protocols(model: botocore.model.ServiceModel) -> list[Protocol]:
    """Every protocol the model says the service speaks, preferred first."""
    names = model.metadata.get("protocols") or [model.metadata["protocol"]]
    return [Protocol(n) for n in names]
