"""Unit tests of event source mappings: validation per source, defaults, states, persistence."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.lambda_.api_esm import EsmApi
from squall.services.lambda_.esm import EventSourceMappings
from tests.services.lambda_.attachment_fixtures import ctx, open_store
from tests.services.lambda_.directory_double import ACCOUNT, REGION, DictDirectory

FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs.fifo"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/clicks"
DDB = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/stream/2024-01-01T00:00:00.000"
DELAY = 0.2


@pytest.fixture
def env(tmp_path: Path) -> Iterator[EsmApi]:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn", versions=("1",), aliases={"live": "1"})
    yield EsmApi(EventSourceMappings(store, directory, transition_seconds=DELAY))
    store.close()


def create(api: EsmApi, source: str = QUEUE, **kw) -> dict:  # type: ignore[no-untyped-def]
    return api.create_event_source_mapping(ctx(), {"FunctionName": "fn", "EventSourceArn": source, **kw})


def err(api: EsmApi, source: str = QUEUE, **kw) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as e:
        create(api, source, **kw)
    return e.value


def test_sqs_defaults_and_states(env) -> None:
    out = create(env)
    assert out["State"] == "Creating" and out["StateTransitionReason"] == "USER_INITIATED"
    assert out["BatchSize"] == 10 and out["MaximumBatchingWindowInSeconds"] == 0
    assert out["FunctionArn"] == FN and out["EventSourceArn"] == QUEUE
    assert out["EventSourceMappingArn"].endswith(f":event-source-mapping:{out['UUID']}")
    assert "ParallelizationFactor" not in out and "StartingPosition" not in out
    time.sleep(DELAY + 0.05)
    got = env.get_event_source_mapping(ctx(), {"UUID": out["UUID"]})
    assert got["State"] == "Enabled"
    upd = env.update_event_source_mapping(ctx(), {"UUID": out["UUID"], "Enabled": False})
    assert upd["State"] == "Disabling"
    time.sleep(DELAY + 0.05)
    assert env.get_event_source_mapping(ctx(), {"UUID": out["UUID"]})["State"] == "Disabled"
    upd = env.update_event_source_mapping(ctx(), {"UUID": out["UUID"], "BatchSize": 5})
    assert upd["State"] == "Updating" and upd["BatchSize"] == 5
    time.sleep(DELAY + 0.05)
    assert env.get_event_source_mapping(ctx(), {"UUID": out["UUID"]})["State"] == "Disabled"
    deleted = env.delete_event_source_mapping(ctx(), {"UUID": out["UUID"]})
    assert deleted["State"] == "Deleting"
    with pytest.raises(ServiceError) as e:
        env.get_event_source_mapping(ctx(), {"UUID": out["UUID"]})
    assert e.value.code == "ResourceNotFoundException" and e.value.status == 404


def test_created_disabled(env) -> None:
    out = create(env, Enabled=False)
    time.sleep(DELAY + 0.05)
    assert env.get_event_source_mapping(ctx(), {"UUID": out["UUID"]})["State"] == "Disabled"


def test_stream_defaults(env) -> None:
    out = create(env, STREAM, StartingPosition="LATEST")
    assert out["BatchSize"] == 100 and out["StartingPosition"] == "LATEST"
    assert out["ParallelizationFactor"] == 1 and out["MaximumRetryAttempts"] == -1
    assert out["MaximumRecordAgeInSeconds"] == -1 and out["BisectBatchOnFunctionError"] is False
    assert out["TumblingWindowInSeconds"] == 0 and out["DestinationConfig"] == {"OnFailure": {}}
    out = create(env, DDB, StartingPosition="TRIM_HORIZON", BatchSize=10000, MaximumRetryAttempts=3)
    assert out["BatchSize"] == 10000 and out["MaximumRetryAttempts"] == 3


@pytest.mark.parametrize(
    ("source", "params", "fragment"),
    [
        (QUEUE, {"BatchSize": 11}, "Maximum batch window in seconds must be greater than 0"),
        (FIFO, {"BatchSize": 11, "MaximumBatchingWindowInSeconds": 1}, "BatchSize"),
        (QUEUE, {"StartingPosition": "LATEST"}, "Unsupported starting position"),
        (QUEUE, {"ParallelizationFactor": 2}, "Unsupported ParallelizationFactor parameter"),
        (STREAM, {}, "Value null at 'startingPosition'"),
        (DDB, {"StartingPosition": "AT_TIMESTAMP"}, "Unsupported starting position for arn type"),
        (
            STREAM,
            {"StartingPosition": "LATEST", "MaximumRecordAgeInSeconds": 30},
            "MaximumRecordAgeInSeconds",
        ),
        (STREAM, {"StartingPosition": "LATEST", "ScalingConfig": {"MaximumConcurrency": 5}}, "ScalingConfig"),
        (
            STREAM,
            {"StartingPosition": "LATEST", "DestinationConfig": {"OnSuccess": {"Destination": QUEUE}}},
            "Unsupported DestinationConfig",
        ),
        (
            QUEUE,
            {"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
            "Invalid filter pattern definition.",
        ),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:bad name", {}, "Invalid event source ARN"),
        ("arn:aws:s3:::bucket", {}, "Unrecognized event source"),
        (QUEUE, {"FunctionName": "ghost"}, "Function does not exist"),
    ],
)
def test_validation(env, source, params, fragment) -> None:
    e = err(env, source, **params)
    assert e.code == "InvalidParameterValueException", e.message
    assert fragment in e.message


def test_large_sqs_batch_with_window_ok(env) -> None:
    out = create(
        env, BatchSize=10000, MaximumBatchingWindowInSeconds=5, ScalingConfig={"MaximumConcurrency": 2}
    )
    assert out["BatchSize"] == 10000 and out["ScalingConfig"] == {"MaximumConcurrency": 2}
    out = create(
        env,
        FIFO,
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"a": [1]}}'}]},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert out["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_duplicate_conflicts(env) -> None:
    first = create(env)
    e = err(env)
    assert e.code == "ResourceConflictException" and e.status == 409
    assert e.message.endswith(first["UUID"]) and "An event source mapping with SQS arn" in e.message
    create(env, FunctionName="fn:live")  # a different target is fine
    create(env, STREAM, StartingPosition="LATEST")
    e = err(env, STREAM, StartingPosition="LATEST")
    assert e.message.startswith(f'The event source arn (" {STREAM} ") and function (" fn ")')


def test_list_filters_paging(env) -> None:
    a = create(env)
    b = create(env, FunctionName="fn:1")
    c = create(env, STREAM, StartingPosition="LATEST")
    everything = env.list_event_source_mappings(ctx(), {})["EventSourceMappings"]
    assert [m["UUID"] for m in everything] == [a["UUID"], b["UUID"], c["UUID"]]
    by_source = env.list_event_source_mappings(ctx(), {"EventSourceArn": QUEUE})["EventSourceMappings"]
    assert {m["UUID"] for m in by_source} == {a["UUID"], b["UUID"]}
    by_fn = env.list_event_source_mappings(ctx(), {"FunctionName": "fn:1"})["EventSourceMappings"]
    assert [m["UUID"] for m in by_fn] == [b["UUID"]]
    first = env.list_event_source_mappings(ctx(), {"MaxItems": 2})
    rest = env.list_event_source_mappings(ctx(), {"MaxItems": 2, "Marker": first["NextMarker"]})
    assert [m["UUID"] for m in rest["EventSourceMappings"]] == [c["UUID"]]


def test_update_validates_and_retargets(env) -> None:
    out = create(env)
    with pytest.raises(ServiceError) as e:
        env.update_event_source_mapping(ctx(), {"UUID": out["UUID"], "BatchSize": 50})
    assert "Maximum batch window" in e.value.message
    upd = env.update_event_source_mapping(ctx(), {"UUID": out["UUID"], "FunctionName": "fn:live"})
    assert upd["FunctionArn"] == FN + ":live"
    with pytest.raises(ServiceError) as e:
        env.update_event_source_mapping(
            ctx(), {"UUID": "00000000-0000-0000-0000-000000000000", "BatchSize": 1}
        )
    assert e.value.code == "ResourceNotFoundException"


def test_persists_and_settles(tmp_path: Path) -> None:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn")
    mappings = EventSourceMappings(store, directory, transition_seconds=0)
    out = EsmApi(mappings).create_event_source_mapping(ctx(), {"FunctionName": "fn", "EventSourceArn": QUEUE})
    assert mappings.settle() == 1
    store.close()
    store, _ = open_store(tmp_path)
    mappings = EventSourceMappings(store, directory)
    assert EsmApi(mappings).get_event_source_mapping(ctx(), {"UUID": out["UUID"]})["State"] == "Enabled"
    assert [m["UUID"] for m in mappings.active()] == [out["UUID"]]
    store.close()


def test_retarget_onto_an_existing_pair_conflicts(env) -> None:
    create(env)
    other = create(env, FunctionName="fn:live")
    with pytest.raises(ServiceError) as e:
        env.update_event_source_mapping(ctx(), {"UUID": other["UUID"], "FunctionName": "fn"})
    assert e.value.code == "ResourceConflictException"
    same = env.update_event_source_mapping(ctx(), {"UUID": other["UUID"], "FunctionName": "fn:live"})
    assert same["FunctionArn"] == FN + ":live"
