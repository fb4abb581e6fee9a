"""Lambda answers as AWS does (issue 14): each expectation names the AWS page or the recorded
response it comes from. Real server, real boto3."""

from __future__ import annotations

import base64
import hashlib

import botocore.session
import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import ACCOUNT, ROLE, create, make_zip, publish, unique


@pytest.fixture(scope="module")
def lam(server):  # type: ignore[no-untyped-def]
    return server.client("lambda")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def runtime_enum() -> list[str]:
    model = botocore.session.get_session().get_service_model("lambda")
    return list(model.shape_for("Runtime").enum)


def test_unknown_runtime_is_invalid_parameter_value(lam) -> None:  # type: ignore[no-untyped-def]
    # Recorded (awslabs/amazon-redshift-monitoring#25): "Value python3 at 'runtime' failed to satisfy
    # constraint: Member must satisfy enum value set: [java8, java11, ...] or be a valid ARN (Service:
    # AWSLambdaInternal; Status Code: 400; Error Code: InvalidParameterValueException". The set is the
    # model's Runtime enum (botocore lambda service-2.json).
    expected = (
        "InvalidParameterValueException",
        "Value python3 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(runtime_enum())}] or be a valid ARN",
        400,
    )
    name = unique()
    with pytest.raises(ClientError) as exc:
        lam.create_function(
            FunctionName=name,
            Runtime="python3",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
        )
    assert error(exc) == expected
    assert exc.value.response["Type"] == "User"
    create(lam, name)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Runtime="python3")
    assert error(exc) == expected


@pytest.mark.parametrize("data", [b"this is not a zip", b"PK\x03\x04 this is not really a zip"])
def test_bytes_that_are_not_a_zip_are_refused_at_upload(lam, data: bytes) -> None:  # type: ignore[no-untyped-def]
    # Recorded (boto/boto3#488 at UpdateFunctionCode; terraform-aws-github-runner#2269 at CreateFunction,
    # with `Type: User`): InvalidParameterValueException "Could not unzip uploaded file. Please check your
    # file, then try to upload again."
    expected = (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.",
        400,
    )
    name = unique()
    with pytest.raises(ClientError) as exc:
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler", Code={"ZipFile": data}
        )
    assert error(exc) == expected
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)  # nothing was created
    assert error(exc)[0] == "ResourceNotFoundException"
    create(lam, name)
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=data)
    assert error(exc) == expected
    assert (
        lam.get_function_configuration(FunctionName=name)["CodeSha256"]
        == base64.b64encode(hashlib.sha256(make_zip()).digest()).decode()
    )


def test_version_and_alias_arns(lam) -> None:  # type: ignore[no-untyped-def]
    # docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html: the qualified ARN of $LATEST is
    # "arn:aws:lambda:aws-region:acct-id:function:helloworld:$LATEST"; ListVersionsByFunction lists it so
    # (issue 14, compared against AWS's response).
    name = unique()
    create(lam, name)
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    version = publish(lam, name)
    listed = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["FunctionArn"]) for v in listed] == [
        ("$LATEST", f"{arn}:$LATEST"),
        (version, f"{arn}:{version}"),
    ]
    # docs.aws.amazon.com/lambda/latest/dg/configuration-aliases.html: an alias ARN is the function ARN
    # qualified by the alias; GetFunctionConfiguration / GetFunction through it report that ARN and the
    # version the alias points to.
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    conf = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert (conf["FunctionArn"], conf["Version"]) == (f"{arn}:live", version)
    conf = lam.get_function(FunctionName=f"{name}:live")["Configuration"]
    assert (conf["FunctionArn"], conf["Version"]) == (f"{arn}:live", version)
    assert lam.get_function_configuration(FunctionName=name)["FunctionArn"] == arn
    assert (
        lam.get_function_configuration(FunctionName=name, Qualifier=version)["FunctionArn"]
        == f"{arn}:{version}"
    )


def test_publish_version_with_a_wrong_code_sha256(lam) -> None:  # type: ignore[no-untyped-def]
    # Recorded (justinram11/serverless-aws-batch#22): "CodeSHA256 (47DE...=) is different from current
    # CodeSHA256 in $LATEST (CYFR...=). Please try again with the CodeSHA256 in $LATEST. (Service:
    # AWSLambdaInternal; Status Code: 400; Error Code: InvalidParameterValueException".
    name = unique()
    create(lam, name)
    current = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    wrong = base64.b64encode(hashlib.sha256(b"").digest()).decode()
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, CodeSha256=wrong)
    assert error(exc) == (
        "InvalidParameterValueException",
        f"CodeSHA256 ({wrong}) is different from current CodeSHA256 in $LATEST ({current}). "
        "Please try again with the CodeSHA256 in $LATEST.",
        400,
    )
