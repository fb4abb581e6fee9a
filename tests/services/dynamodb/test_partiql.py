"""PartiQL (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction) through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.services.dynamodb.helpers import error, make_table


@pytest.fixture(scope="module")
def ddb(server: Any) -> Any:
    return server.client("dynamodb")


def run(ddb: Any, statement: str, *params: dict[str, Any], **kw: Any) -> list[dict[str, Any]]:
    extra = {"Parameters": list(params)} if params else {}
    return list(ddb.execute_statement(Statement=statement, **extra, **kw)["Items"])


def test_insert_select_update_delete(ddb: Any) -> None:
    t = make_table(ddb, range_type="N")
    run(
        ddb,
        f"INSERT INTO \"{t}\" VALUE {{'pk': 'a', 'sk': 1, 'tags': <<'x', 'y'>>, 'm': {{'n': [1, true, null]}}}}",
    )
    run(ddb, f"INSERT INTO \"{t}\" VALUE {{'pk': ?, 'sk': ?, 'v': 5}}", {"S": "a"}, {"N": "2"})
    with pytest.raises(ClientError) as exc:
        run(ddb, f"INSERT INTO \"{t}\" VALUE {{'pk': 'a', 'sk': 1}}")
    assert error(exc)[0] == "DuplicateItemException"
    item = ddb.get_item(TableName=t, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert item["tags"] == {"SS": ["x", "y"]} and item["m"] == {
        "M": {"n": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}
    }
    assert len(run(ddb, f"SELECT * FROM \"{t}\" WHERE pk = 'a'")) == 2
    assert run(ddb, f"SELECT v FROM \"{t}\" WHERE pk = 'a' AND sk = 2") == [{"v": {"N": "5"}}]
    assert run(ddb, f'SELECT pk FROM "{t}" WHERE v > 3') == [{"pk": {"S": "a"}}]
    assert len(run(ddb, f'SELECT * FROM "{t}" WHERE sk BETWEEN 1 AND 2 AND v IS MISSING')) == 1
    run(ddb, f"UPDATE \"{t}\" SET v = 6 REMOVE tags WHERE pk = 'a' AND sk = 2 AND v = 5")
    assert run(ddb, f"SELECT v FROM \"{t}\" WHERE pk = 'a' AND sk = 2") == [{"v": {"N": "6"}}]
    with pytest.raises(ClientError) as exc:
        run(ddb, f"UPDATE \"{t}\" SET v = 7 WHERE pk = 'a' AND sk = 2 AND v = 5")
    assert error(exc)[0] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as exc:
        run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'a'")
    assert error(exc) == (
        "ValidationException",
        "Where clause does not contain a mandatory equality on all key attributes",
    )
    run(ddb, f"DELETE FROM \"{t}\" WHERE pk = 'a' AND sk = 1")
    assert [i["sk"] for i in run(ddb, f'SELECT * FROM "{t}"')] == [{"N": "2"}]


def test_errors(ddb: Any) -> None:
    t = make_table(ddb, range_type=None)
    with pytest.raises(ClientError) as exc:
        run(ddb, f'SELEC * FROM "{t}"')
    code, message = error(exc)
    assert code == "ValidationException" and message.startswith("Statement wasn't well formed")
    with pytest.raises(ClientError) as exc:
        run(ddb, f'SELECT * FROM "{t}" WHERE pk = ?')
    assert error(exc)[1] == "Number of parameters in request and statement don't match."
    with pytest.raises(ClientError) as exc:
        run(ddb, 'SELECT * FROM "no-such-table"')
    assert error(exc)[0] == "ResourceNotFoundException"


def test_paging(ddb: Any) -> None:
    t = make_table(ddb, range_type=None)
    for i in range(5):
        run(ddb, f"INSERT INTO \"{t}\" VALUE {{'pk': 'k{i}'}}")
    seen: list[str] = []
    token = None
    while True:
        out = ddb.execute_statement(
            Statement=f'SELECT * FROM "{t}"', Limit=2, **({"NextToken": token} if token else {})
        )
        seen += [i["pk"]["S"] for i in out["Items"]]
        token = out.get("NextToken")
        if not token:
            break
    assert sorted(seen) == [f"k{i}" for i in range(5)]


def test_batch_and_transaction(ddb: Any) -> None:
    t = make_table(ddb, range_type=None)
    out = ddb.batch_execute_statement(
        Statements=[
            {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'a'}}"},
            {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'a'}}"},
        ]
    )["Responses"]
    assert "Error" not in out[0] and out[1]["Error"]["Code"] == "DuplicateItem"
    with pytest.raises(ClientError) as exc:
        ddb.execute_transaction(
            TransactStatements=[
                {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'b'}}"},
                {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'a'}}"},
            ]
        )
    assert error(exc)[0] == "TransactionCanceledException"
    reasons = exc.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "DuplicateItem"]
    assert run(ddb, f"SELECT * FROM \"{t}\" WHERE pk = 'b'") == []
    ddb.execute_transaction(
        TransactStatements=[
            {"Statement": f"INSERT INTO \"{t}\" VALUE {{'pk': 'b'}}"},
            {"Statement": f"UPDATE \"{t}\" SET v = 1 WHERE pk = 'a'"},
        ]
    )
    assert run(ddb, f"SELECT v FROM \"{t}\" WHERE pk = 'a'") == [{"v": {"N": "1"}}]
    got = ddb.batch_execute_statement(Statements=[{"Statement": f"SELECT * FROM \"{t}\" WHERE pk = 'b'"}])
    assert got["Responses"][0]["Item"] == {"pk": {"S": "b"}}
