"""What the server acknowledged survives a restart, including kill -9."""

from __future__ import annotations

import signal
from pathlib import Path

import botocore.exceptions
import pytest

from tests.conftest import RunningServer, start_server


def _session_client(srv: RunningServer, creds: dict[str, str]):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client(
        "sts",
        endpoint_url=srv.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_session_credentials_survive_restart(tmp_path: Path, how: int) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        creds = first.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
        assert creds["AccessKeyId"].startswith("ASIA")
        assert _session_client(first, creds).get_caller_identity()["Account"] == "000000000000"
    finally:
        first.stop(how)
    second = start_server(data)
    try:
        ident = _session_client(second, creds).get_caller_identity()
        assert ident["Account"] == "000000000000"
        assert ident["Arn"] == "arn:aws:iam::000000000000:root"
        # the token is part of the credential: a wrong one is refused
        bad = dict(creds, SessionToken="AAAA" + creds["SessionToken"][4:])
        with pytest.raises(botocore.exceptions.ClientError) as err:
            _session_client(second, bad).get_caller_identity()
        assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
        # sessions cannot mint sessions
        with pytest.raises(botocore.exceptions.ClientError) as err:
            _session_client(second, creds).get_session_token()
        assert err.value.response["Error"]["Code"] == "AccessDenied"
    finally:
        second.stop()
