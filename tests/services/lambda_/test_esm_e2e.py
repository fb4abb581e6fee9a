"""Event source mappings end to end on real functions."""

from __future__ import annotations

import time

import pytest

from tests.conftest import start_server
from tests.services.lambda_.attachment_e2e import ACCOUNT, create_function

QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:e2e-jobs"
STREAM = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/e2e-clicks"


def wait_state(c, uuid: str, state: str) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 10
    while True:
        m = c.get_event_source_mapping(UUID=uuid)
        if m["State"] == state or time.monotonic() > deadline:
            return m
        time.sleep(0.2)


def test_mapping_lifecycle(server) -> None:
    c = server.client("lambda")
    server.client("sqs").create_queue(QueueName="e2e-jobs")  # a mapping's queue must exist
    name = create_function(c, "esm")
    m = c.create_event_source_mapping(FunctionName=name, EventSourceArn=QUEUE)
    assert m["State"] == "Creating" and m["BatchSize"] == 10
    assert wait_state(c, m["UUID"], "Enabled")["State"] == "Enabled"
    with pytest.raises(c.exceptions.ResourceConflictException):
        c.create_event_source_mapping(FunctionName=name, EventSourceArn=QUEUE)
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.create_event_source_mapping(FunctionName=name, EventSourceArn=STREAM)  # no StartingPosition
    s = c.create_event_source_mapping(
        FunctionName=name, EventSourceArn=STREAM, StartingPosition="TRIM_HORIZON"
    )
    assert s["BatchSize"] == 100 and s["ParallelizationFactor"] == 1
    assert {x["UUID"] for x in c.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]} == {
        m["UUID"],
        s["UUID"],
    }
    assert c.update_event_source_mapping(UUID=m["UUID"], Enabled=False)["State"] == "Disabling"
    assert wait_state(c, m["UUID"], "Disabled")["State"] == "Disabled"
    assert c.delete_event_source_mapping(UUID=m["UUID"])["State"] == "Deleting"
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_event_source_mapping(UUID=m["UUID"])
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.create_event_source_mapping(FunctionName="no-such-function", EventSourceArn=QUEUE)


def test_mapping_survives_restart(tmp_path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        c = srv.client("lambda")
        srv.client("sqs").create_queue(QueueName="e2e-jobs")  # a mapping's queue must exist
        name = create_function(c, "esmr")
        uuid = c.create_event_source_mapping(FunctionName=name, EventSourceArn=QUEUE, Enabled=False)["UUID"]
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        assert wait_state(srv.client("lambda"), uuid, "Disabled")["State"] == "Disabled"
    finally:
        srv.stop()
