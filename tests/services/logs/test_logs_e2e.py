"""Lambda's logs and metrics end to end: invoke through boto3, read through the CloudWatch Logs API,
the AWS CLI and the `squall` CLI; durability across a restart; metrics after invokes and errors."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

APP = """
def handler(event, context):
    print("first line", event.get("n"))
    print("second line")
    if event.get("fail"):
        raise ValueError("boom")
    return {"n": event.get("n")}
"""


def new_function(lam: Any) -> str:
    name = unique("logs")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(APP)})
    return name


def invoke(lam: Any, name: str, **event: Any) -> dict[str, Any]:
    return lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())  # type: ignore[no-any-return]


def stream_events(logs: Any, name: str) -> list[str]:
    group = f"/aws/lambda/{name}"
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    out = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True)
    return [e["message"] for e in out["events"]]


def test_invocations_are_logged_framed_in_the_ee_stream(server: RunningServer) -> None:
    lam, logs = server.client("lambda"), server.client("logs")
    name = new_function(lam)
    invoke(lam, name, n=1)  # cold
    invoke(lam, name, n=2)  # warm, same EE, same stream
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{name}"]
    (stream,) = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream["logStreamName"])
    messages = stream_events(logs, name)
    assert len(messages) == 10
    cold, warm = messages[:5], messages[5:]
    for chunk, n in ((cold, 1), (warm, 2)):
        assert chunk[0].startswith("START RequestId: ") and chunk[0].endswith(" Version: $LATEST\n")
        assert chunk[1:3] == [f"first line {n}\n", "second line\n"]
        assert chunk[3].startswith("END RequestId: ")
        assert chunk[4].startswith("REPORT RequestId: ")
        billed = re.search(r"\tBilled Duration: (\d+) ms\t", chunk[4])
        assert billed and int(billed.group(1)) >= 1
        assert "\tMemory Size: 128 MB\t" in chunk[4] and "\tMax Memory Used: " in chunk[4]
    assert "Init Duration: " in cold[4] and "Init Duration: " not in warm[4]
    rid = cold[0].split()[2]
    assert cold[3] == f"END RequestId: {rid}\n"


def test_filter_log_events_and_errors(server: RunningServer) -> None:
    lam, logs = server.client("lambda"), server.client("logs")
    name = new_function(lam)
    invoke(lam, name, n=7)
    found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"first line 7"')
    assert [e["message"] for e in found["events"]] == ["first line 7\n"]
    assert found["events"][0]["logStreamName"].startswith("20")
    none = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="nothing-like-this")
    assert none["events"] == []
    with pytest.raises(ClientError) as err:
        logs.get_log_events(logGroupName="/aws/lambda/missing", logStreamName="s")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_get_log_events_tokens_and_the_write_api(server: RunningServer) -> None:
    logs = server.client("logs")
    group = "/squall/" + unique("g")
    logs.create_log_group(logGroupName=group)
    with pytest.raises(ClientError) as err:
        logs.create_log_group(logGroupName=group)
    assert err.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    events = [{"timestamp": 1_700_000_000_000 + i, "message": f"m{i}"} for i in range(5)]
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=events)
    page = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in page["events"]] == ["m0", "m1", "m2"]
    rest = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=page["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["m3", "m4"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    (g,) = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert g["retentionInDays"] == 7 and g["storedBytes"] == 10
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_describe_log_streams_orders_and_pages(server: RunningServer) -> None:
    logs = server.client("logs")
    group = "/squall/" + unique("g")
    logs.create_log_group(logGroupName=group)
    for name, ts in (("b", 3), ("a", 1), ("c", 2)):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        logs.put_log_events(
            logGroupName=group, logStreamName=name, logEvents=[{"timestamp": ts, "message": name}]
        )
    first = logs.describe_log_streams(logGroupName=group, limit=2)
    assert [s["logStreamName"] for s in first["logStreams"]] == ["a", "b"]
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=first["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["c"] and "nextToken" not in rest
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in latest["logStreams"]] == ["b", "c", "a"]
    assert latest["logStreams"][0]["lastEventTimestamp"] == 3
    with pytest.raises(ClientError) as err:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"


def test_aws_cli_filter_log_events(server: RunningServer) -> None:
    """AWS CLI v1 (installed here) has no `logs tail`; v2's tail pages FilterLogEvents the same way."""
    lam = server.client("lambda")
    name = new_function(lam)
    invoke(lam, name, n=3)
    out = server.aws(
        "logs",
        "filter-log-events",
        "--log-group-name",
        f"/aws/lambda/{name}",
        "--filter-pattern",
        "?REPORT ?first",
    )
    messages = [e["message"] for e in out["events"]]
    assert messages[0] == "first line 3\n" and messages[1].startswith("REPORT RequestId:")


def squall(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "squall", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_squall_invoke_and_logs(server: RunningServer, tmp_path: Path) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    ok = squall(server, "invoke", name, "--payload", '{"n": 5}')
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"n": 5}
    assert "first line 5" in ok.stderr and "REPORT RequestId:" in ok.stderr
    event = tmp_path / "event.json"
    event.write_text('{"fail": true}')
    bad = squall(server, "invoke", name, "--payload", f"@{event}", "--qualifier", "$LATEST")
    assert bad.returncode == 1 and json.loads(bad.stdout)["errorMessage"] == "boom"
    shown = squall(server, "logs", name, "--since", "1h")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("START RequestId:") == 2 and "first line 5" in shown.stdout
    missing = squall(server, "logs", unique("none"))
    assert missing.returncode == 1 and "no logs" in missing.stderr


def test_squall_logs_follow(server: RunningServer) -> None:
    lam = server.client("lambda")
    name = new_function(lam)
    invoke(lam, name, n=1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "squall", "logs", name, "--follow", "--data-dir", str(server.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read()  # type: ignore[union-attr]
        raise AssertionError(f"{text!r} never printed")

    try:
        wait_for("first line 1")
        invoke(lam, name, n=2)
        wait_for("first line 2")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


def test_logs_and_metrics_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        name = new_function(lam)
        for n in range(3):
            invoke(lam, name, n=n)
        for _ in range(2):
            assert invoke(lam, name, fail=True)["FunctionError"] == "Unhandled"
    finally:
        assert srv.stop() == 0  # SIGTERM: the writer and the metrics flush before the store closes
    from squall.observability import Metrics
    from squall.observability.metrics import LAMBDA
    from squall.storage import DataDir

    dd = DataDir.open(data)
    try:
        metrics = Metrics(dd.store)
        dims = {"FunctionName": name}
        assert (
            sum(p.stat.sum for p in metrics.read("000000000000", "us-east-1", LAMBDA, "Invocations", dims))
            == 5
        )
        assert sum(p.stat.sum for p in metrics.read("000000000000", "us-east-1", LAMBDA, "Errors", dims)) == 2
        durations = metrics.read("000000000000", "us-east-1", LAMBDA, "Duration", dims)
        assert sum(p.stat.count for p in durations) == 5 and all(p.stat.minimum > 0 for p in durations)
        peak = metrics.read("000000000000", "us-east-1", LAMBDA, "ConcurrentExecutions", dims)
        assert max(p.stat.maximum for p in peak) == 1
    finally:
        dd.close()
    srv = start_server(data)
    try:
        messages = stream_events(srv.client("logs"), name)
        assert sum(m.startswith("START RequestId:") for m in messages) == 5
        assert messages.count("second line\n") == 5
        invoke(srv.client("lambda"), name, n=9)
        time.sleep(3)  # the writer commits within ~50 ms (more on a loaded machine); then kill -9 keeps it
    finally:
        srv.stop(signal.SIGKILL)
    srv = start_server(data)
    try:
        found = srv.client("logs").filter_log_events(
            logGroupName=f"/aws/lambda/{name}", filterPattern="line 9"
        )
        assert [e["message"] for e in found["events"]] == ["first line 9\n"]
    finally:
        srv.stop()
