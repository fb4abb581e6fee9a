"""Applying the configuration members of CreateFunction / UpdateFunctionConfiguration."""

from __future__ import annotations

import re
from typing import Any

from squall.services.lambda_.code import UNZIPPED_LIMIT, combined_too_big
from squall.services.lambda_.contracts import LayerResolver
from squall.services.lambda_.names import FunctionRef
from squall.services.lambda_.validation import invalid

#: A dead-letter target is an SQS queue or an SNS topic (any partition).
DLQ_TARGET = re.compile(r"^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[^:]+$")

#: Members copied as given.
PLAIN = ("Role", "Handler", "Runtime", "Description", "Timeout", "MemorySize")


def resolve_layers(
    params: dict[str, Any], layers: LayerResolver | None, ref: FunctionRef
) -> list[dict[str, Any]]:
    """The `Layers` of a configuration for `params["Layers"]` (call outside transactions)."""
    arns = list(params.get("Layers") or [])
    if not arns:
        return []
    if len(arns) > 5:
        raise invalid("Cannot reference more than 5 layers.")
    if layers is None:
        raise invalid(f"Layer version {arns[0]} does not exist.")
    return [_layer_json(u) for u in layers.describe(ref.account_id, ref.region, arns)]


def check_combined_size(
    code_unzipped: int, arns: list[str], layers: LayerResolver | None, ref: FunctionRef
) -> None:
    """AWS's limit on code plus layers unzipped (262,144,000 bytes), with its message."""
    if not arns or layers is None:
        return
    total = code_unzipped + sum(u.unzipped_size for u in layers.describe(ref.account_id, ref.region, arns))
    if total > UNZIPPED_LIMIT:
        raise combined_too_big(total)


def apply_settings(
    config: dict[str, Any], params: dict[str, Any], layers: list[dict[str, Any]], ref: FunctionRef
) -> None:
    """Set the members present in `params` on `config` (already validated by check_config);
    `layers` is what `resolve_layers` made of `params["Layers"]`."""
    for name in PLAIN:
        if name in params:
            config[name] = params[name]
    if "Environment" in params:
        variables = (params["Environment"] or {}).get("Variables") or {}
        config["Environment"] = {"Variables": dict(variables)}
    if "DeadLetterConfig" in params:
        target = (params["DeadLetterConfig"] or {}).get("TargetArn")
        if target:
            if not DLQ_TARGET.match(target):
                raise invalid(
                    "The provided target ARN is not a valid SQS queue or SNS topic ARN for the dead-letter queue."
                )
            config["DeadLetterConfig"] = {"TargetArn": target}
        else:
            config.pop("DeadLetterConfig", None)
    if "KMSKeyArn" in params:
        if params["KMSKeyArn"]:
            config["KMSKeyArn"] = params["KMSKeyArn"]
        else:
            config.pop("KMSKeyArn", None)
    if "TracingConfig" in params:
        config["TracingConfig"] = {"Mode": (params["TracingConfig"] or {}).get("Mode", "PassThrough")}
    if "EphemeralStorage" in params:
        config["EphemeralStorage"] = {"Size": int(params["EphemeralStorage"]["Size"])}
    if "LoggingConfig" in params:
        logging = dict(config.get("LoggingConfig") or {})
        logging.update(params["LoggingConfig"] or {})
        if logging.get("LogFormat") == "Text":
            logging.pop("ApplicationLogLevel", None)
            logging.pop("SystemLogLevel", None)
        elif logging.get("LogFormat") == "JSON":
            logging.setdefault("ApplicationLogLevel", "INFO")
            logging.setdefault("SystemLogLevel", "INFO")
        logging.setdefault("LogGroup", f"/aws/lambda/{ref.name}")
        config["LoggingConfig"] = logging
    if "VpcConfig" in params:
        vpc = params["VpcConfig"] or {}
        subnets = list(vpc.get("SubnetIds") or [])
        groups = list(vpc.get("SecurityGroupIds") or [])
        if subnets or groups:
            config["VpcConfig"] = {"SubnetIds": subnets, "SecurityGroupIds": groups, "VpcId": ""}
        else:
            config.pop("VpcConfig", None)
    if "Layers" in params:
        if layers:
            config["Layers"] = layers
        else:
            config.pop("Layers", None)


def _layer_json(use: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Arn": use.arn, "CodeSize": use.code_size}
    if use.signing_profile_version_arn:
        out["SigningProfileVersionArn"] = use.signing_profile_version_arn
    if use.signing_job_arn:
        out["SigningJobArn"] = use.signing_job_arn
    return out
