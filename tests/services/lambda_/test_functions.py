"""CreateFunction / Get / List / Delete and the lifecycle, end to end through boto3."""

from __future__ import annotations

import base64
import hashlib
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import ACCOUNT, ROLE, create, make_zip, unique


@pytest.fixture(scope="module")
def lam(server):  # type: ignore[no-untyped-def]
    return server.client("lambda")


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    e = exc.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def test_create_get_and_lifecycle(lam) -> None:  # type: ignore[no-untyped-def]
    name = unique()
    data = make_zip()
    out = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": data},
        Description="d",
        Timeout=30,
        MemorySize=256,
        Environment={"Variables": {"AB": "1"}},
        Tags={"team": "x"},
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["FunctionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert out["State"] == "Pending" and out["StateReasonCode"] == "Creating"
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert out["CodeSize"] == len(data) and out["Version"] == "$LATEST"
    assert (
        out["MemorySize"] == 256 and out["Timeout"] == 30 and out["Environment"]["Variables"] == {"AB": "1"}
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    conf = got["Configuration"]
    assert conf["State"] == "Active" and conf["LastUpdateStatus"] == "Successful"
    assert got["Tags"] == {"team": "x"}
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as resp:
        assert resp.read() == data
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == conf["RevisionId"]
    # every accepted identifier form
    for ident in (conf["FunctionArn"], f"{ACCOUNT}:function:{name}", f"{name}:$LATEST"):
        assert lam.get_function_configuration(FunctionName=ident)["FunctionName"] == name


def test_code_url_is_signed(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    tampered = url.replace("Signature=", "Signature=0")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(tampered)
    assert exc.value.code == 403


def test_duplicate_and_not_found(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    with pytest.raises(ClientError) as exc:
        create(lam, name)
    assert error(exc) == ("ResourceConflictException", f"Function already exist: {name}", 409)
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName="nope-missing")
    assert error(exc) == (
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:us-east-1:{ACCOUNT}:function:nope-missing",
        404,
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"Runtime": "nodejs20.x"}, "InvalidParameterValueException"),
        ({"Role": "not-a-role"}, "ValidationException"),
        ({"MemorySize": 64}, "ValidationException"),
        ({"MemorySize": 10241}, "ValidationException"),
        ({"Timeout": 901}, "ValidationException"),
        ({"EphemeralStorage": {"Size": 100}}, "ValidationException"),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "InvalidParameterValueException"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
        ({"Handler": "has space"}, "ValidationException"),
        ({"Code": {"S3Bucket": "bucket", "S3Key": "k"}}, "InvalidParameterValueException"),
    ],
)
def test_validation(server, overrides, code) -> None:  # type: ignore[no-untyped-def]
    raw = server.client("lambda", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        create(raw, **overrides)
    assert error(exc)[0] == code
    assert error(exc)[2] == 400


def test_runtime_message_lists_valid_values(lam) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        create(lam, Runtime="nodejs20.x")
    msg = error(exc)[1]
    assert "python3.9" in msg and "python3.14" in msg and "provided.al2023" in msg


def test_unzipped_limit(lam) -> None:  # type: ignore[no-untyped-def]
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", b"\0" * 262144001)
    with pytest.raises(ClientError) as exc:
        create(lam, Code={"ZipFile": buf.getvalue()})
    assert error(exc) == (
        "InvalidParameterValueException",
        "Unzipped size must be smaller than 262144000 bytes",
        400,
    )


def test_list_functions_paging_and_all_versions(lam) -> None:  # type: ignore[no-untyped-def]
    names = sorted(create(lam, unique("list"))["FunctionName"] for _ in range(3))
    lam.publish_version(FunctionName=names[0])
    seen: list[str] = []
    kwargs: dict[str, object] = {"MaxItems": 2}
    while True:
        page = lam.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert set(names) <= set(seen) and len(seen) == len(set(seen))
    every = lam.list_functions(FunctionVersion="ALL", MaxItems=10000)["Functions"]
    mine = [(f["FunctionName"], f["Version"]) for f in every if f["FunctionName"] == names[0]]
    assert mine == [(names[0], "$LATEST"), (names[0], "1")]


def test_delete_function_and_versions(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    lam.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error(exc)[0] == "InvalidParameterValueException"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="1")
    assert error(exc)[0] == "ResourceConflictException"
    lam.delete_alias(FunctionName=name, Name="live")
    # docs.aws.amazon.com/lambda/latest/api/API_DeleteFunction.html: "HTTP/1.1 204", empty body
    out = lam.delete_function(FunctionName=name, Qualifier="1")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204 and out["StatusCode"] == 204
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name, Qualifier="1")
    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error(exc)[2] == 404
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name)
    assert error(exc)[0] == "ResourceNotFoundException"
