"""The server end to end: boto3 and the AWS CLI against `squall up` on a free port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from tests.conftest import RunningServer, free_port, start_server


def test_health_needs_no_signature(server: RunningServer) -> None:
    with urllib.request.urlopen(f"{server.endpoint}/_squall/health") as resp:
        assert resp.status == 200
        assert resp.headers["content-type"] == "application/json"
        body = json.loads(resp.read())
    from squall import __version__

    assert body["version"] == __version__
    assert body["services"]["sts"] == "running"
    assert set(body["services"]) >= {"lambda", "s3", "sqs", "dynamodb"}


def test_boto3_caller_identity(server: RunningServer) -> None:
    ident = server.client("sts").get_caller_identity()
    assert ident["Account"] == "000000000000"
    assert ident["Arn"] == "arn:aws:iam::000000000000:root"
    assert ident["UserId"] == "000000000000"
    assert ident["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(ident["ResponseMetadata"]["RequestId"]) == 36


def test_aws_cli_caller_identity(server: RunningServer) -> None:
    assert server.aws("sts", "get-caller-identity")["Account"] == "000000000000"


def test_wrong_secret_is_refused_query_protocol(server: RunningServer) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        server.client("sts", secret="wrong").get_caller_identity()
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_wrong_secret_is_refused_json_protocol(server: RunningServer) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        server.client("dynamodb", secret="wrong").list_tables()
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_key_is_refused(server: RunningServer) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        server.client("sts", access_key="AKIANOTAKEY", secret="x").get_caller_identity()
    assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as err:
        server.client("lambda", access_key="AKIANOTAKEY", secret="x").list_functions()
    assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_unsigned_request_is_refused(server: RunningServer) -> None:
    req = urllib.request.Request(
        server.endpoint + "/",
        data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code in (400, 403)
    body = err.value.read().decode()
    assert "<ErrorResponse" in body and "MissingAuthenticationToken" in body


def test_operation_not_implemented_is_aws_shaped(server: RunningServer) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        server.client("xray").get_sampling_rules()
    assert err.value.response["Error"]["Code"] == "NotImplemented"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_missing_required_member_is_validation_error(server: RunningServer) -> None:
    client = server.client("sts", parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.get_access_key_info()
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "accessKeyId" in err.value.response["Error"]["Message"]


def test_get_access_key_info(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--root-key", "AKIAOTHERACCOUNT01:s3cret:123456789012")
    try:
        sts = srv.client("sts", access_key="AKIAOTHERACCOUNT01", secret="s3cret")
        assert sts.get_access_key_info(AccessKeyId="AKIAOTHERACCOUNT01")["Account"] == "123456789012"
        session = sts.get_session_token()["Credentials"]["AccessKeyId"]
        assert sts.get_access_key_info(AccessKeyId=session)["Account"] == "123456789012"
    finally:
        srv.stop()


def _signed(
    server: RunningServer, service: str, body: bytes, headers: dict[str, str], path: str = "/"
) -> urllib.request.Request:
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    req = AWSRequest(method="POST", url=server.endpoint + path, data=body, headers=headers)
    SigV4Auth(session.get_credentials(), service, "us-east-1").add_auth(req)
    return urllib.request.Request(req.url, data=body, headers=dict(req.headers.items()), method="POST")


def _http_error(req: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def test_malformed_json_body(server: RunningServer) -> None:
    req = _signed(
        server,
        "dynamodb",
        b'{"TableName": ',
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.DescribeTable"},
    )
    status, _headers, body = _http_error(req)
    assert status == 400
    assert "SerializationException" in json.loads(body)["__type"]


def test_unknown_json_operation(server: RunningServer) -> None:
    req = _signed(
        server,
        "dynamodb",
        b"{}",
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.FlyToTheMoon"},
    )
    status, _, body = _http_error(req)
    assert status == 400
    assert "UnknownOperationException" in json.loads(body)["__type"]


def test_unknown_query_action(server: RunningServer) -> None:
    req = _signed(
        server,
        "sts",
        b"Action=FlyToTheMoon&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    status, _, body = _http_error(req)
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body


def test_oversized_body_is_refused_before_reading(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"SQUALL_MAX_BODY_BYTES": "1000"})
    try:
        req = _signed(
            srv,
            "sts",
            b"Action=GetCallerIdentity&Version=2011-06-15&Pad=" + b"x" * 2000,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        status, _, body = _http_error(req)
        assert status == 413
        assert b"RequestEntityTooLarge" in body
    finally:
        srv.stop()


def test_slow_and_truncated_bodies_do_not_hang(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", env={"SQUALL_BODY_TIMEOUT": "1"})
    try:
        # slow: promises 100 bytes, sends 10, then waits
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(
                b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n"
                b"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 100\r\n\r\n0123456789"
            )
            started = time.monotonic()
            data = sock.recv(65536)
            assert time.monotonic() - started < 8
            assert data.startswith(b"HTTP/1.1 4")
            assert b"RequestTimeout" in data
        # truncated: the client hangs up mid-body; the server carries on serving others
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n01234")
        assert srv.client("sts").get_caller_identity()["Account"] == "000000000000"
    finally:
        srv.stop()


def test_other_root_keys(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", "--root-key", "AKIAOTHER:s3cret:123456789012")
    try:
        ident = srv.client("sts", access_key="AKIAOTHER", secret="s3cret").get_caller_identity()
        assert ident["Account"] == "123456789012"
        with pytest.raises(botocore.exceptions.ClientError):
            srv.client("sts").get_caller_identity()  # test/test is not a key of this server
    finally:
        srv.stop()


def test_two_servers_cannot_share_a_data_dir(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "squall",
                "up",
                "--port",
                str(free_port()),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2
        assert "already in use" in out.stderr
        assert str(first.process.pid) in out.stderr
    finally:
        first.stop()


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    assert srv.stop() == 0
    again = start_server(tmp_path / "data")  # the lock was released
    assert again.stop() == 0


def test_status_and_doctor(server: RunningServer) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "squall", "status", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"up at http://localhost:{server.port}" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "squall", "doctor", "--data-dir", str(server.data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "namespaces:" in out.stdout and "cgroups" in out.stdout and "python3." in out.stdout


def test_version() -> None:
    from squall import __version__

    out = subprocess.run(
        [sys.executable, "-m", "squall", "--version"], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == f"squall {__version__}"


def test_operations_aws_serves_unsigned_are_not_refused_for_lack_of_a_signature(
    server: RunningServer,
) -> None:
    """AssumeRoleWithWebIdentity is unsigned on AWS: it reaches the provider (which
    does not implement it yet) instead of being refused as unauthenticated."""
    body = (
        b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000"
        b"%3Arole%2Fr&RoleSessionName=session&WebIdentityToken=tokentokentoken"
    )
    req = urllib.request.Request(
        server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    status, _, payload = _http_error(req)
    assert status == 501
    assert b"<Code>NotImplemented</Code>" in payload


def test_s3_anonymous_request_is_routed_not_refused(server: RunningServer) -> None:
    status, _, payload = _http_error(
        urllib.request.Request(server.endpoint + "/some-bucket/key", method="GET")
    )
    # Reaches the S3 provider (no auth refusal): the bucket does not exist.
    assert status == 404
    assert payload.startswith(b"<?xml") and b"<Code>NoSuchBucket</Code>" in payload
