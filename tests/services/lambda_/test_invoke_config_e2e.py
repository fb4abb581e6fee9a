"""Function event invoke configs end to end on real functions."""

from __future__ import annotations

import pytest

from tests.conftest import start_server
from tests.services.lambda_.attachment_e2e import ACCOUNT, create_function, publish_with_alias

QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:failures"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:successes"


def test_invoke_config_lifecycle(server) -> None:
    c = server.client("lambda")
    name = create_function(c, "eic")
    publish_with_alias(c, name)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_function_event_invoke_config(FunctionName=name)
    out = c.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, DestinationConfig={"OnFailure": {"Destination": QUEUE}}
    )
    assert out["FunctionArn"].endswith(f":function:{name}:$LATEST")
    out = c.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": TOPIC}}
    )
    assert out["DestinationConfig"] == {
        "OnSuccess": {"Destination": TOPIC},
        "OnFailure": {"Destination": QUEUE},
    }
    c.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumEventAgeInSeconds=60)
    configs = c.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert len(configs) == 2
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.put_function_event_invoke_config(
            FunctionName=name,
            DestinationConfig={"OnFailure": {"Destination": f"arn:aws:iam::{ACCOUNT}:role/x"}},
        )
    c.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert len(c.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    c.delete_function(FunctionName=name)
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.list_function_event_invoke_configs(FunctionName=name)


def test_invoke_config_survives_restart(tmp_path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        c = srv.client("lambda")
        name = create_function(c, "eicr")
        c.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        assert (
            srv.client("lambda").get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"]
            == 0
        )
    finally:
        srv.stop()
