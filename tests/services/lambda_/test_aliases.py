"""Aliases, weighted routing, and blue/green + canary + rollback at the API level."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import ACCOUNT, create, make_zip


@pytest.fixture(scope="module")
def lam(server):  # type: ignore[no-untyped-def]
    return server.client("lambda")


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def two_versions(lam) -> str:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip("def handler(e, c):\n    return 'v2'\n"))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    return str(name)


def test_alias_crud(lam) -> None:  # type: ignore[no-untyped-def]
    name = two_versions(lam)
    out = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
    assert out["AliasArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:live"
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert code_of(exc) == "ResourceConflictException"
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="x", FunctionVersion="9")
    assert code_of(exc) == "ResourceNotFoundException"
    lam.create_alias(FunctionName=name, Name="dev", FunctionVersion="$LATEST")
    got = lam.get_alias(FunctionName=name, Name="live")
    assert got["FunctionVersion"] == "1" and got["Description"] == "prod"
    names = [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]]
    assert names == ["dev", "live"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]] == [
        "live"
    ]
    page = lam.list_aliases(FunctionName=name, MaxItems=1)
    assert len(page["Aliases"]) == 1
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, Marker=page["NextMarker"])["Aliases"]] == [
        "live"
    ]
    # the alias is a qualifier everywhere
    assert lam.get_function_configuration(FunctionName=f"{name}:live")["Version"] == "1"
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId="stale")
    assert code_of(exc) == "PreconditionFailedException"
    lam.delete_alias(FunctionName=name, Name="dev")
    with pytest.raises(ClientError) as exc:
        lam.get_alias(FunctionName=name, Name="dev")
    assert code_of(exc) == "ResourceNotFoundException"
    assert "Cannot find alias arn" in exc.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("primary", "weights"),
    [
        ("1", {"1": 0.5}),  # same as primary
        ("1", {"$LATEST": 0.5}),
        ("$LATEST", {"1": 0.5}),
        ("1", {"9": 0.5}),  # no such version
    ],
)
def test_routing_rules(lam, primary, weights) -> None:  # type: ignore[no-untyped-def]
    name = two_versions(lam)
    with pytest.raises(ClientError) as exc:
        lam.create_alias(
            FunctionName=name,
            Name="a",
            FunctionVersion=primary,
            RoutingConfig={"AdditionalVersionWeights": weights},
        )
    assert code_of(exc) in (
        "InvalidParameterValueException",
        "ResourceNotFoundException",
        "ValidationException",
    )


def test_blue_green_canary_rollback(lam) -> None:  # type: ignore[no-untyped-def]
    name = two_versions(lam)
    blue = lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    # canary: 10% to the new version
    canary = lam.update_alias(
        FunctionName=name,
        Name="prod",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
        RevisionId=blue["RevisionId"],
    )
    assert canary["FunctionVersion"] == "1"
    assert canary["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    # a version in the routing config cannot be deleted
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="2")
    assert code_of(exc) == "ResourceConflictException"
    # blue/green: repoint in one step, clear the weights
    green = lam.update_alias(
        FunctionName=name, Name="prod", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert green["FunctionVersion"] == "2" and "RoutingConfig" not in green
    assert lam.get_function_configuration(FunctionName=name, Qualifier="prod")["Version"] == "2"
    # rollback
    back = lam.update_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    assert back["FunctionVersion"] == "1" and "RoutingConfig" not in back
    assert lam.get_alias(FunctionName=name, Name="prod")["FunctionVersion"] == "1"
    assert len({blue["RevisionId"], canary["RevisionId"], green["RevisionId"], back["RevisionId"]}) == 4
