"""Unit tests of layer version permissions and cross-account layer access."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.lambda_.api_layers import LayersApi
from squall.services.lambda_.layers import LayerStore
from tests.services.lambda_.attachment_fixtures import ctx, open_store
from tests.services.lambda_.directory_double import ACCOUNT, REGION
from tests.services.lambda_.test_layers import make_zip

OTHER = "111122223333"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:shared"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[LayersApi, LayerStore]]:
    store, blobs = open_store(tmp_path)
    layers = LayerStore(store, blobs)
    api = LayersApi(layers)
    asyncio.run(api.publish_layer_version(ctx(), {"LayerName": "shared", "Content": {"ZipFile": make_zip()}}))
    yield api, layers
    store.close()


def grant(api: LayersApi, sid: str = "all", principal: str = "*", **kw: str) -> dict:
    params = {
        "LayerName": "shared",
        "VersionNumber": 1,
        "StatementId": sid,
        "Action": "lambda:GetLayerVersion",
        "Principal": principal,
        **kw,
    }
    return api.add_layer_version_permission(ctx(), params)


def err(fn, *args) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as e:
        fn(*args)
    return e.value


def test_cross_account_needs_permission(env) -> None:
    api, layers = env
    other = ctx(account=OTHER)
    e = err(api.get_layer_version_by_arn, other, {"Arn": f"{ARN}:1"})
    assert e.code == "AccessDeniedException" and e.status == 403
    assert err(layers.describe, OTHER, REGION, [f"{ARN}:1"]).code == "AccessDeniedException"
    out = grant(api, "acct", OTHER)
    statement = json.loads(out["Statement"])
    assert statement == {
        "Sid": "acct",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": f"{ARN}:1",
    }
    assert api.get_layer_version_by_arn(other, {"Arn": f"{ARN}:1"})["Version"] == 1
    assert layers.describe(OTHER, REGION, [f"{ARN}:1"])[0].arn == f"{ARN}:1"
    # only the owner manages permissions and deletes
    e = err(api.delete_layer_version, other, {"LayerName": ARN, "VersionNumber": 1})
    assert e.code == "AccessDeniedException"


def test_policy_document_remove_and_errors(env) -> None:
    api, _ = env
    e = err(api.get_layer_version_policy, ctx(), {"LayerName": "shared", "VersionNumber": 1})
    assert e.message == "No policy is associated with the given resource."
    out = grant(api)
    grant(api, "org", "*", OrganizationId="o-abc123")
    e = err(grant, api)
    assert e.code == "ResourceConflictException"
    pol = api.get_layer_version_policy(ctx(), {"LayerName": "shared", "VersionNumber": 1})
    doc = json.loads(pol["Policy"])
    assert doc["Version"] == "2012-10-17" and [s["Sid"] for s in doc["Statement"]] == ["all", "org"]
    assert doc["Statement"][1]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}
    assert pol["RevisionId"] != out["RevisionId"]
    with pytest.raises(ServiceError) as info:
        grant(api, "x", "*", RevisionId="stale")
    e = info.value
    assert e.code == "PreconditionFailedException"
    e = err(
        api.remove_layer_version_permission,
        ctx(),
        {"LayerName": "shared", "VersionNumber": 1, "StatementId": "zz"},
    )
    assert e.message == "Statement zz is not found in resource policy."
    api.remove_layer_version_permission(
        ctx(), {"LayerName": "shared", "VersionNumber": 1, "StatementId": "all"}
    )
    e = err(
        api.add_layer_version_permission,
        ctx(),
        {
            "LayerName": "shared",
            "VersionNumber": 7,
            "StatementId": "a",
            "Action": "lambda:GetLayerVersion",
            "Principal": "*",
        },
    )
    assert e.code == "ResourceNotFoundException" and e.message == f"Layer version {ARN}:7 does not exist."


def test_delete_drops_policy(env) -> None:
    api, _ = env
    grant(api)
    api.delete_layer_version(ctx(), {"LayerName": "shared", "VersionNumber": 1})
    e = err(api.get_layer_version_policy, ctx(), {"LayerName": "shared", "VersionNumber": 1})
    assert e.code == "ResourceNotFoundException"


def test_list_versions_of_another_accounts_layer(env) -> None:
    api, _ = env
    asyncio.run(api.publish_layer_version(ctx(), {"LayerName": "shared", "Content": {"ZipFile": make_zip()}}))
    other = ctx(account=OTHER)
    assert api.list_layer_versions(other, {"LayerName": ARN})["LayerVersions"] == []
    grant(api, "acct", OTHER)
    assert [v["Version"] for v in api.list_layer_versions(other, {"LayerName": ARN})["LayerVersions"]] == [1]
    assert [v["Version"] for v in api.list_layer_versions(ctx(), {"LayerName": ARN})["LayerVersions"]] == [
        2,
        1,
    ]
