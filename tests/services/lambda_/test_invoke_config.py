"""Unit tests of event invoke configs (Put/Get/Update/Delete/List)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.lambda_.api_invoke_config import InvokeConfigApi
from squall.services.lambda_.invoke_config import InvokeConfigStore
from squall.services.lambda_.names import FunctionRef
from tests.services.lambda_.attachment_fixtures import ctx, open_store
from tests.services.lambda_.directory_double import ACCOUNT, REGION, DictDirectory

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ok"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[InvokeConfigApi, DictDirectory]]:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn", versions=("1",), aliases={"live": "1"})
    yield InvokeConfigApi(InvokeConfigStore(store, directory)), directory
    store.close()


def err(fn, *args) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as e:
        fn(*args)
    return e.value


def test_put_get_replace(env) -> None:
    api, _ = env
    out = api.put_function_event_invoke_config(
        ctx(),
        {
            "FunctionName": "fn",
            "MaximumRetryAttempts": 1,
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
        },
    )
    assert out["FunctionArn"] == ARN + ":$LATEST"
    assert out["MaximumRetryAttempts"] == 1
    assert out["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}}
    assert isinstance(out["LastModified"], float)
    got = api.get_function_event_invoke_config(ctx(), {"FunctionName": "fn"})
    assert got == out
    # Put replaces: the retry setting is gone
    out = api.put_function_event_invoke_config(ctx(), {"FunctionName": "fn", "MaximumEventAgeInSeconds": 120})
    assert "MaximumRetryAttempts" not in out and out["MaximumEventAgeInSeconds"] == 120
    assert out["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}


def test_update_merges_and_needs_existing(env) -> None:
    api, _ = env
    e = err(api.update_function_event_invoke_config, ctx(), {"FunctionName": "fn", "MaximumRetryAttempts": 0})
    assert e.code == "ResourceNotFoundException"
    assert e.message == f"The function {ARN}:$LATEST doesn't have an EventInvokeConfig"
    api.put_function_event_invoke_config(
        ctx(), {"FunctionName": "fn", "DestinationConfig": {"OnFailure": {"Destination": QUEUE}}}
    )
    out = api.update_function_event_invoke_config(
        ctx(),
        {
            "FunctionName": "fn",
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {"OnSuccess": {"Destination": TOPIC}},
        },
    )
    assert out["MaximumRetryAttempts"] == 0
    assert out["DestinationConfig"] == {
        "OnSuccess": {"Destination": TOPIC},
        "OnFailure": {"Destination": QUEUE},
    }


@pytest.mark.parametrize(
    "params",
    [
        {"MaximumRetryAttempts": 3},
        {"MaximumEventAgeInSeconds": 59},
        {"MaximumEventAgeInSeconds": 21601},
        {"DestinationConfig": {"OnFailure": {"Destination": "not-an-arn"}}},
        {"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:s3:::bucket"}}},
        {"DestinationConfig": {"OnSuccess": {"Destination": ARN}}},
        {},
    ],
)
def test_invalid_values(env, params) -> None:
    api, _ = env
    e = err(api.put_function_event_invoke_config, ctx(), {"FunctionName": "fn", **params})
    assert e.code == "InvalidParameterValueException" and e.status == 400


def test_s3_on_failure_and_event_bus_ok(env) -> None:
    api, _ = env
    api.put_function_event_invoke_config(
        ctx(),
        {
            "FunctionName": "fn",
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:s3:::bucket"},
                "OnSuccess": {"Destination": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"},
            },
        },
    )


def test_qualifiers_list_delete(env) -> None:
    api, _ = env
    for q in (None, "1", "live"):
        params = {"FunctionName": "fn", "MaximumRetryAttempts": 2}
        if q:
            params["Qualifier"] = q
        api.put_function_event_invoke_config(ctx(), params)
    out = api.list_function_event_invoke_configs(ctx(), {"FunctionName": "fn"})
    assert sorted(c["FunctionArn"] for c in out["FunctionEventInvokeConfigs"]) == sorted(
        [ARN + ":$LATEST", ARN + ":1", ARN + ":live"]
    )
    first = api.list_function_event_invoke_configs(ctx(), {"FunctionName": "fn", "MaxItems": 2})
    assert len(first["FunctionEventInvokeConfigs"]) == 2
    rest = api.list_function_event_invoke_configs(
        ctx(), {"FunctionName": "fn", "MaxItems": 2, "Marker": first["NextMarker"]}
    )
    assert len(rest["FunctionEventInvokeConfigs"]) == 1 and "NextMarker" not in rest
    api.delete_function_event_invoke_config(ctx(), {"FunctionName": "fn:live"})
    e = err(api.get_function_event_invoke_config, ctx(), {"FunctionName": "fn", "Qualifier": "live"})
    assert e.code == "ResourceNotFoundException"
    e = err(api.delete_function_event_invoke_config, ctx(), {"FunctionName": "fn:live"})
    assert e.code == "ResourceNotFoundException"
    e = err(api.get_function_event_invoke_config, ctx(), {"FunctionName": "ghost"})
    assert e.message == f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:ghost"


def test_delete_cascades(env) -> None:
    api, directory = env
    api.put_function_event_invoke_config(ctx(), {"FunctionName": "fn", "MaximumRetryAttempts": 2})
    directory.delete(FunctionRef(ACCOUNT, REGION, "fn"))
    directory.add("fn")
    assert (
        api.list_function_event_invoke_configs(ctx(), {"FunctionName": "fn"})["FunctionEventInvokeConfigs"]
        == []
    )


def test_persists(tmp_path: Path) -> None:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn")
    InvokeConfigApi(InvokeConfigStore(store, directory)).put_function_event_invoke_config(
        ctx(), {"FunctionName": "fn", "MaximumRetryAttempts": 2}
    )
    store.close()
    store, _ = open_store(tmp_path)
    api = InvokeConfigApi(InvokeConfigStore(store, directory))
    assert api.get_function_event_invoke_config(ctx(), {"FunctionName": "fn"})["MaximumRetryAttempts"] == 2
    store.close()
