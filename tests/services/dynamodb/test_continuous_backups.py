"""DescribeContinuousBackups / UpdateContinuousBackups (Terraform's aws_dynamodb_table reads
them after every create and refresh).

Expectations come from the DynamoDB API reference (DescribeContinuousBackups: continuous backups
are ENABLED on every table, point-in-time recovery DISABLED until turned on; TableNotFoundException
for a missing table; RecoveryPeriodInDays 1-35, default 35) and botocore's dynamodb model.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


def test_new_table_has_pitr_disabled(ddb) -> None:  # type: ignore[no-untyped-def]
    name = make_table(ddb)
    out = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert out == {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
    }


def test_enable_and_disable_pitr_is_stored(ddb) -> None:  # type: ignore[no-untyped-def]
    name = make_table(ddb)
    out = ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
    )["ContinuousBackupsDescription"]
    pitr = out["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED" and pitr["RecoveryPeriodInDays"] == 7
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    read = ddb.describe_continuous_backups(TableName=arn)["ContinuousBackupsDescription"]
    pitr = read["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED" and pitr["RecoveryPeriodInDays"] == 7
    assert pitr["EarliestRestorableDateTime"] and pitr["LatestRestorableDateTime"]
    ddb.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    read = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert read["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_missing_table_and_bad_period(ddb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        ddb.describe_continuous_backups(TableName="no-such-table-pitr")
    assert error(exc) == ("TableNotFoundException", "Table not found: no-such-table-pitr")
    name = make_table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36},
        )
    assert error(exc)[0] == "ValidationException"
