"""Table operations through boto3 against a real server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer
from tests.services.dynamodb.helpers import error, make_table, unique

KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFS = [{"AttributeName": "pk", "AttributeType": "S"}]


@pytest.fixture(scope="module")
def ddb(server: RunningServer):  # type: ignore[no-untyped-def]
    return server.client("dynamodb")


def test_create_describe_waiters_delete(ddb) -> None:  # type: ignore[no-untyped-def]
    name = unique()
    created = ddb.create_table(
        TableName=name,
        KeySchema=KEYS,
        AttributeDefinitions=DEFS,
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        TableClass="STANDARD_INFREQUENT_ACCESS",
        Tags=[{"Key": "team", "Value": "core"}],
    )["TableDescription"]
    assert created["TableStatus"] == "CREATING"
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    assert table["ItemCount"] == 0 and table["TableSizeBytes"] == 0 and table["TableId"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["LatestStreamArn"].startswith(table["TableArn"] + "/stream/")
    assert table["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [
        {"Key": "team", "Value": "core"}
    ]
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"S": "xyz"}})
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["ItemCount"] == 1 and table["TableSizeBytes"] == len("pk") + 1 + len("v") + 3
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName=name)
    assert error(exc) == (
        "ResourceNotFoundException",
        f"Requested resource not found: Table: {name} not found",
    )
    # a table created again under the same name starts empty
    ddb.create_table(TableName=name, KeySchema=KEYS, AttributeDefinitions=DEFS, BillingMode="PAY_PER_REQUEST")
    assert ddb.scan(TableName=name)["Count"] == 0


def test_create_errors(ddb) -> None:  # type: ignore[no-untyped-def]
    name = make_table(ddb)
    with pytest.raises(ClientError) as exc:
        ddb.create_table(
            TableName=name, KeySchema=KEYS, AttributeDefinitions=DEFS, BillingMode="PAY_PER_REQUEST"
        )
    assert error(exc) == ("ResourceInUseException", f"Table already exists: {name}")
    cases = [
        (
            {"KeySchema": [*KEYS, {"AttributeName": "sk", "KeyType": "RANGE"}], "AttributeDefinitions": DEFS},
            "Invalid KeySchema: Some index key attribute have no definition",
        ),
        (
            {
                "KeySchema": KEYS,
                "AttributeDefinitions": [*DEFS, {"AttributeName": "x", "AttributeType": "N"}],
            },
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match "
            "number of attributes defined in AttributeDefinitions",
        ),
        (
            {"KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}], "AttributeDefinitions": DEFS},
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
    ]
    cases.append(
        (
            {
                "KeySchema": KEYS,
                "AttributeDefinitions": [{"AttributeName": "x", "AttributeType": "S"}],
            },
            "One or more parameter values were invalid: Some index key attributes are not defined in "
            "AttributeDefinitions. Keys: [pk], AttributeDefinitions: [x]",
        )
    )
    for params, message in cases:
        with pytest.raises(ClientError) as exc:
            ddb.create_table(TableName=unique(), BillingMode="PAY_PER_REQUEST", **params)
        assert error(exc) == ("ValidationException", message)
    with pytest.raises(ClientError) as exc:
        ddb.create_table(TableName=unique(), KeySchema=KEYS, AttributeDefinitions=DEFS)
    assert error(exc)[1] == (
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
        "specified when BillingMode is PROVISIONED"
    )


def test_list_tables_paging(ddb) -> None:  # type: ignore[no-untyped-def]
    names = sorted(make_table(ddb) for _ in range(3))
    seen: list[str] = []
    kwargs: dict[str, str] = {}
    while True:
        page = ddb.list_tables(Limit=2, **kwargs)
        seen += page["TableNames"]
        if "LastEvaluatedTableName" not in page:
            break
        kwargs = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    assert set(names) <= set(seen) and seen == sorted(seen)
    assert len(seen) == len(set(seen))


def test_update_table_gsi_backfill_and_delete(ddb) -> None:  # type: ignore[no-untyped-def]
    name = make_table(ddb)
    for i in range(5):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"p{i}"}, "sk": {"S": "s"}, "g": {"N": str(i % 2)}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "no-g"}, "sk": {"S": "s"}})
    out = ddb.update_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "N"}],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )["TableDescription"]
    assert out["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    assert table["GlobalSecondaryIndexes"][0]["ItemCount"] == 5
    found = ddb.query(
        TableName=name,
        IndexName="by-g",
        KeyConditionExpression="g = :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )["Items"]
    assert sorted(i["pk"]["S"] for i in found) == ["p1", "p3"]
    assert set(found[0]) == {"pk", "sk", "g"}
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])
    table = ddb.describe_table(TableName=name)["Table"]
    assert "GlobalSecondaryIndexes" not in table
    assert [a["AttributeName"] for a in table["AttributeDefinitions"]] == ["pk", "sk"]
    ddb.update_table(
        TableName=name,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    assert ddb.describe_table(TableName=name)["Table"]["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


def test_tags_and_ttl(ddb) -> None:  # type: ignore[no-untyped-def]
    name = make_table(ddb)
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    ddb.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as exc:
        ddb.list_tags_of_resource(ResourceArn=arn + "x")
    assert error(exc)[0] == "ResourceNotFoundException"
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "DISABLED"
    }
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert (
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)["TimeToLiveSpecification"]
        == spec
    )
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    with pytest.raises(ClientError) as exc:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    assert error(exc) == ("ValidationException", "TimeToLive is already enabled")


def test_aws_cli(server: RunningServer) -> None:
    name = unique()
    server.aws(
        "dynamodb", "create-table", "--table-name", name,
        "--attribute-definitions", "AttributeName=pk,AttributeType=S",
        "--key-schema", "AttributeName=pk,KeyType=HASH",
        "--billing-mode", "PAY_PER_REQUEST",
    )  # fmt: skip
    server.aws(
        "dynamodb", "put-item", "--table-name", name, "--item", '{"pk": {"S": "a"}, "n": {"N": "1.50"}}'
    )
    out = server.aws("dynamodb", "scan", "--table-name", name)
    assert out["Items"] == [{"pk": {"S": "a"}, "n": {"N": "1.5"}}] and out["Count"] == 1
