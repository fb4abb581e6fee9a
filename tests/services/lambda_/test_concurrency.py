"""Reserved and provisioned concurrency, and GetAccountSettings."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import ACCOUNT, create


@pytest.fixture(scope="module")
def lam(server):  # type: ignore[no-untyped-def]
    return server.client("lambda", region="eu-west-1")  # a region of its own: account totals are exact


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_reserved_concurrency_and_account_settings(lam) -> None:  # type: ignore[no-untyped-def]
    before = lam.get_account_settings()
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert before["AccountLimit"]["CodeSizeZipped"] == 52428800
    a = create(lam)["FunctionName"]
    b = create(lam)["FunctionName"]
    assert lam.get_function_concurrency(FunctionName=a).get("ReservedConcurrentExecutions") is None
    assert (
        lam.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=800)[
            "ReservedConcurrentExecutions"
        ]
        == 800
    )
    assert lam.get_function(FunctionName=a)["Concurrency"] == {"ReservedConcurrentExecutions": 800}
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=101)
    assert code_of(exc) == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in exc.value.response["Error"]["Message"]
    lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=100)
    # replacing a's own reservation does not count it twice
    lam.put_function_concurrency(FunctionName=a, ReservedConcurrentExecutions=800)
    lam.put_function_concurrency(FunctionName=b, ReservedConcurrentExecutions=0)  # throttled entirely
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 200
    assert settings["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 2
    assert settings["AccountUsage"]["TotalCodeSize"] > before["AccountUsage"]["TotalCodeSize"]
    lam.delete_function_concurrency(FunctionName=a)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=a)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    lam.delete_function(FunctionName=b)
    with pytest.raises(ClientError) as exc:
        lam.get_function_concurrency(FunctionName=b)
    assert code_of(exc) == "ResourceNotFoundException"


def test_provisioned_concurrency(lam) -> None:  # type: ignore[no-untyped-def]
    name = create(lam)["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=5
        )
    assert code_of(exc) == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="7", ProvisionedConcurrentExecutions=5
        )
    assert code_of(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert code_of(exc) == "ProvisionedConcurrencyConfigNotFoundException"
    out = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=5
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert out["Status"] == "IN_PROGRESS" and out["RequestedProvisionedConcurrentExecutions"] == 5
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["Status"] == "IN_PROGRESS" and got["AllocatedProvisionedConcurrentExecutions"] == 0
    configs = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert sorted(c["FunctionArn"] for c in configs) == [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}:1",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}:live",
    ]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=4
        )
    assert code_of(exc) == "InvalidParameterValueException"
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as exc:
        lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert code_of(exc) == "ProvisionedConcurrencyConfigNotFoundException"
    # deleting the alias drops its config
    lam.delete_alias(FunctionName=name, Name="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
