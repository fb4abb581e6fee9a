"""Unit tests of the resource-policy part (AddPermission, RemovePermission, GetPolicy, allows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.api_policy import PolicyApi
from squall.services.lambda_.names import FunctionRef
from squall.services.lambda_.policy import PolicyStore
from tests.services.lambda_.attachment_fixtures import ctx, open_store
from tests.services.lambda_.directory_double import ACCOUNT, REGION, DictDirectory

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[PolicyApi, DictDirectory, PolicyStore]]:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn", versions=("1",), aliases={"live": "1"})
    policies = PolicyStore(store, directory)
    yield PolicyApi(policies), directory, policies
    store.close()


def add(api: PolicyApi, sid: str = "s3", **kw: str) -> dict:
    params = {"FunctionName": "fn", "StatementId": sid, "Action": "lambda:InvokeFunction"}
    params.setdefault("Principal", "s3.amazonaws.com")
    params.update(kw)
    return json.loads(api.add_permission(ctx(), params)["Statement"])


def test_add_get_policy_document(env) -> None:
    api, _, _ = env
    st = add(api, SourceArn="arn:aws:s3:::bucket", SourceAccount="111122223333")
    assert st == {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": ARN,
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "111122223333"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
        },
    }
    add(api, "acct", Principal="111122223333")
    add(api, "role", Principal="arn:aws:iam::111122223333:role/r")
    out = api.get_policy(ctx(), {"FunctionName": "fn"})
    doc = json.loads(out["Policy"])
    assert doc["Version"] == "2012-10-17" and doc["Id"] == "default"
    assert [s["Sid"] for s in doc["Statement"]] == ["s3", "acct", "role"]
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert doc["Statement"][2]["Principal"] == {"AWS": "arn:aws:iam::111122223333:role/r"}
    assert out["RevisionId"]


def test_duplicate_statement_id_conflicts(env) -> None:
    api, _, _ = env
    add(api)
    with pytest.raises(ServiceError) as e:
        add(api)
    assert e.value.code == "ResourceConflictException" and e.value.status == 409
    assert "The statement id (s3) provided already exists" in e.value.message


def test_qualified_policies_are_separate(env) -> None:
    api, _, _ = env
    st = add(api, "a", Qualifier="live")
    assert st["Resource"] == ARN + ":live"
    add(api, "v", Qualifier="1")
    assert (
        json.loads(api.get_policy(ctx(), {"FunctionName": "fn:live"})["Policy"])["Statement"][0]["Sid"] == "a"
    )
    with pytest.raises(ServiceError) as e:
        api.get_policy(ctx(), {"FunctionName": "fn"})
    assert e.value.code == "ResourceNotFoundException"
    with pytest.raises(ServiceError) as e:
        add(api, "x", Qualifier="$LATEST")
    assert e.value.code == "InvalidParameterValueException"
    with pytest.raises(ServiceError) as e:
        add(api, "x", Qualifier="nope")
    assert e.value.code == "ResourceNotFoundException"


def test_remove_permission_and_errors(env) -> None:
    api, _, _ = env
    with pytest.raises(ServiceError) as e:
        api.remove_permission(ctx(), {"FunctionName": "fn", "StatementId": "s3"})
    assert e.value.message == "No policy is associated with the given resource."
    add(api)
    add(api, "two")
    with pytest.raises(ServiceError) as e:
        api.remove_permission(ctx(), {"FunctionName": "fn", "StatementId": "zzz"})
    assert e.value.message == "Statement zzz is not found in resource policy."
    api.remove_permission(ctx(), {"FunctionName": "fn", "StatementId": "s3"})
    api.remove_permission(ctx(), {"FunctionName": "fn", "StatementId": "two"})
    with pytest.raises(ServiceError):
        api.get_policy(ctx(), {"FunctionName": "fn"})


def test_revision_id_guard(env) -> None:
    api, _, _ = env
    add(api)
    rev = api.get_policy(ctx(), {"FunctionName": "fn"})["RevisionId"]
    with pytest.raises(ServiceError) as e:
        add(api, "b", RevisionId="stale")
    assert e.value.code == "PreconditionFailedException" and e.value.status == 412
    add(api, "b", RevisionId=rev)


def test_unknown_function_and_bad_principal(env) -> None:
    api, _, _ = env
    with pytest.raises(ServiceError) as e:
        add(api, FunctionName="ghost")
    assert e.value.code == "ResourceNotFoundException"
    assert e.value.message == f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:ghost"
    with pytest.raises(ServiceError) as e:
        add(api, Principal="not a principal")
    assert e.value.code == "InvalidParameterValueException"


def test_allows(env) -> None:
    api, _, policies = env
    add(api, SourceArn="arn:aws:s3:::bucket-*", SourceAccount=ACCOUNT)
    add(api, "sns", Principal="sns.amazonaws.com")
    add(api, "other", Principal="222233334444")
    ref = FunctionRef(ACCOUNT, REGION, "fn")
    svc = Principal.for_service
    assert policies.allows(ref, svc("s3.amazonaws.com", ACCOUNT, "arn:aws:s3:::bucket-1"))
    assert not policies.allows(ref, svc("s3.amazonaws.com", ACCOUNT, "arn:aws:s3:::other"))
    assert not policies.allows(ref, svc("s3.amazonaws.com", "999999999999", "arn:aws:s3:::bucket-1"))
    assert policies.allows(ref, svc("sns.amazonaws.com", "111111111111", "arn:aws:sns:us-east-1:1:t"))
    assert not policies.allows(ref, svc("events.amazonaws.com", ACCOUNT))
    assert policies.allows(ref, Principal.role_session("arn:aws:iam::222233334444:role/x", "s"))
    assert not policies.allows(ref, Principal.root("333344445555"))
    assert policies.allows(ref, Principal.root(ACCOUNT))  # the owner
    assert not policies.allows(FunctionRef(ACCOUNT, REGION, "fn", "live"), svc("sns.amazonaws.com", ACCOUNT))


def test_delete_cascades(env) -> None:
    api, directory, _ = env
    add(api)
    add(api, "v", Qualifier="1")
    directory.delete(FunctionRef(ACCOUNT, REGION, "fn", "1"))
    directory.functions["fn"][0].add("1")
    with pytest.raises(ServiceError):
        api.get_policy(ctx(), {"FunctionName": "fn", "Qualifier": "1"})
    api.get_policy(ctx(), {"FunctionName": "fn"})
    directory.delete(FunctionRef(ACCOUNT, REGION, "fn"))
    directory.add("fn")
    with pytest.raises(ServiceError):
        api.get_policy(ctx(), {"FunctionName": "fn"})


def test_persists_across_reopen(tmp_path: Path) -> None:
    store, _ = open_store(tmp_path)
    directory = DictDirectory()
    directory.add("fn")
    add(PolicyApi(PolicyStore(store, directory)))
    store.close()
    store, _ = open_store(tmp_path)
    out = PolicyApi(PolicyStore(store, directory)).get_policy(ctx(), {"FunctionName": "fn"})
    assert json.loads(out["Policy"])["Statement"][0]["Sid"] == "s3"
    store.close()


def test_policy_size_limit(env) -> None:
    api, _, _ = env
    arn = "arn:aws:s3:::" + "b" * 900
    with pytest.raises(ServiceError) as e:
        for i in range(40):
            add(api, f"sid-{i}", SourceArn=arn)
    assert e.value.code == "PolicyLengthExceededException"
    assert "is bigger than the limit (20480)" in e.value.message
