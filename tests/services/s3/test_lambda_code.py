"""Lambda deployment packages read from S3: CreateFunction, UpdateFunctionCode, PublishLayerVersion."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.lambda_.helpers import ROLE, make_zip, unique
from tests.services.s3.helpers import error, new_bucket


def test_create_and_update_function_from_s3(server: RunningServer) -> None:
    s3, lam = server.client("s3"), server.client("lambda")
    bucket = new_bucket(s3)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = make_zip("def handler(event, context):\n    return 'one'\n")
    v2 = make_zip("def handler(event, context):\n    return 'two'\n")
    first = s3.put_object(Bucket=bucket, Key="pkg/app.zip", Body=v1)["VersionId"]
    s3.put_object(Bucket=bucket, Key="pkg/app.zip", Body=v2)
    name = unique("s3code")
    out = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"S3Bucket": bucket, "S3Key": "pkg/app.zip", "S3ObjectVersion": first},
    )  # fmt: skip
    assert out["CodeSize"] == len(v1)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"one"'
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="pkg/app.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"two"'


def test_missing_key_and_bucket(server: RunningServer) -> None:
    s3, lam = server.client("s3"), server.client("lambda")
    bucket = new_bucket(s3)
    params = {
        "FunctionName": unique("s3code"),
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
    }
    with pytest.raises(ClientError) as exc:
        lam.create_function(**params, Code={"S3Bucket": bucket, "S3Key": "missing.zip"})
    assert error(exc)["Code"] == "InvalidParameterValueException"
    assert error(exc)["Message"] == (
        "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."
    )
    with pytest.raises(ClientError) as exc:
        lam.create_function(**params, Code={"S3Bucket": "no-such-bucket-here", "S3Key": "x.zip"})
    assert error(exc)["Message"].startswith("Error occurred while GetObject. S3 Error Code: NoSuchBucket.")


def test_layer_from_s3(server: RunningServer) -> None:
    s3, lam = server.client("s3"), server.client("lambda")
    bucket = new_bucket(s3)
    content = make_zip("X = 1\n", name="python/mod.py")
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=content)
    out = lam.publish_layer_version(
        LayerName=unique("lyr"), Content={"S3Bucket": bucket, "S3Key": "layer.zip"}
    )
    assert out["Content"]["CodeSize"] == len(content)
