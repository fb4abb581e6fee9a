"""Unit tests of layers: publish/get/list/delete and the LayerResolver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.protocol.errors import ServiceError
from squall.services.lambda_.api_layers import LayersApi
from squall.services.lambda_.layers import LayerStore
from tests.services.lambda_.attachment_fixtures import ctx, open_store
from tests.services.lambda_.directory_double import ACCOUNT, REGION

PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer"


def make_zip(text: str = "x = 1\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("python/mod.py", (2020, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[LayersApi, LayerStore]]:
    store, blobs = open_store(tmp_path)
    layers = LayerStore(store, blobs)
    yield LayersApi(layers), layers
    store.close()


def publish(api: LayersApi, name: str = "deps", **kw) -> dict:  # type: ignore[no-untyped-def]
    params = {"LayerName": name, "Content": {"ZipFile": make_zip()}, **kw}
    return asyncio.run(api.publish_layer_version(ctx(), params))


def err(fn, *args) -> ServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as e:
        fn(*args)
    return e.value


def test_publish_and_get(env) -> None:
    api, _ = env
    data = make_zip()
    out = publish(api, Description="d", CompatibleRuntimes=["python3.12"], LicenseInfo="MIT")
    assert out["LayerArn"] == f"{PREFIX}:deps"
    assert out["LayerVersionArn"] == f"{PREFIX}:deps:1" and out["Version"] == 1
    assert out["Content"] == {
        "CodeSha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
        "CodeSize": len(data),
    }
    assert out["CompatibleRuntimes"] == ["python3.12"] and out["LicenseInfo"] == "MIT"
    assert out["CreatedDate"].endswith("+0000")
    assert api.get_layer_version(ctx(), {"LayerName": "deps", "VersionNumber": 1}) == out
    assert api.get_layer_version(ctx(), {"LayerName": f"{PREFIX}:deps", "VersionNumber": 1}) == out
    assert api.get_layer_version_by_arn(ctx(), {"Arn": f"{PREFIX}:deps:1"}) == out
    assert publish(api)["Version"] == 2


def test_errors(env) -> None:
    api, _ = env
    e = err(api.get_layer_version, ctx(), {"LayerName": "deps", "VersionNumber": 1})
    assert e.code == "ResourceNotFoundException" and e.status == 404
    e = err(api.get_layer_version_by_arn, ctx(), {"Arn": f"{PREFIX}:deps"})
    assert e.code == "ValidationException"
    e = err(
        lambda *a: asyncio.run(api.publish_layer_version(*a)),
        ctx(),
        {"LayerName": "x", "Content": {"ZipFile": b"not a zip"}},
    )
    assert e.code == "InvalidParameterValueException"
    e = err(
        lambda *a: asyncio.run(api.publish_layer_version(*a)),
        ctx(),
        {"LayerName": "x", "Content": {"S3Bucket": "b", "S3Key": "k"}},
    )
    assert e.code == "InvalidParameterValueException" and "S3" in e.message


def test_versions_never_reused_and_delete(env) -> None:
    api, layers = env
    publish(api)
    publish(api)
    api.delete_layer_version(ctx(), {"LayerName": "deps", "VersionNumber": 2})
    api.delete_layer_version(ctx(), {"LayerName": "deps", "VersionNumber": 2})  # idempotent
    assert publish(api)["Version"] == 3
    versions = api.list_layer_versions(ctx(), {"LayerName": "deps"})["LayerVersions"]
    assert [v["Version"] for v in versions] == [3, 1]
    # a deleted version can no longer be added to a function, but its content stays for existing users
    e = err(layers.describe, ACCOUNT, REGION, [f"{PREFIX}:deps:2"])
    assert e.code == "InvalidParameterValueException"
    assert layers.content_blob(f"{PREFIX}:deps:2")


def test_list_layers_filters_and_paging(env) -> None:
    api, _ = env
    publish(api, "a", CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    publish(api, "a", CompatibleRuntimes=["python3.11"])
    publish(api, "b", CompatibleRuntimes=["python3.12"])
    publish(api, "c")
    out = api.list_layers(ctx(), {})
    assert [x["LayerName"] for x in out["Layers"]] == ["a", "b", "c"]
    assert out["Layers"][0]["LatestMatchingVersion"]["Version"] == 2
    out = api.list_layers(ctx(), {"CompatibleRuntime": "python3.12"})
    assert [(x["LayerName"], x["LatestMatchingVersion"]["Version"]) for x in out["Layers"]] == [
        ("a", 1),
        ("b", 1),
    ]
    out = api.list_layers(ctx(), {"CompatibleArchitecture": "x86_64"})
    assert [x["LayerName"] for x in out["Layers"]] == ["a"]
    first = api.list_layers(ctx(), {"MaxItems": 2})
    assert len(first["Layers"]) == 2
    rest = api.list_layers(ctx(), {"MaxItems": 2, "Marker": first["NextMarker"]})
    assert [x["LayerName"] for x in rest["Layers"]] == ["c"] and "NextMarker" not in rest
    out = api.list_layer_versions(ctx(), {"LayerName": "a", "CompatibleRuntime": "python3.11"})
    assert [v["Version"] for v in out["LayerVersions"]] == [2]
    # other regions see nothing
    assert api.list_layers(ctx(region="eu-west-1"), {})["Layers"] == []


def test_resolver(env) -> None:
    api, layers = env
    v = publish(api)
    publish(api, "other")
    uses = layers.describe(ACCOUNT, REGION, [v["LayerVersionArn"], f"{PREFIX}:other:1"])
    assert uses[0].arn == v["LayerVersionArn"] and uses[0].code_size == v["Content"]["CodeSize"]
    assert err(layers.describe, ACCOUNT, REGION, [f"{PREFIX}:x{i}:1" for i in range(6)]).message == (
        "Cannot reference more than 5 layers."
    )
    assert (
        err(layers.describe, ACCOUNT, REGION, [f"{PREFIX}:deps:9"]).code == "InvalidParameterValueException"
    )
    publish(api)
    e = err(layers.describe, ACCOUNT, REGION, [f"{PREFIX}:deps:1", f"{PREFIX}:deps:2"])
    assert "Two different versions of the same layer" in e.message


def test_persists_and_sequence_survives(tmp_path: Path) -> None:
    store, blobs = open_store(tmp_path)
    api = LayersApi(LayerStore(store, blobs))
    publish(api)
    api.delete_layer_version(ctx(), {"LayerName": "deps", "VersionNumber": 1})
    store.close()
    store, blobs = open_store(tmp_path)
    layers = LayerStore(store, blobs)
    api = LayersApi(layers)
    assert publish(api)["Version"] == 2
    blob = layers.content_blob(f"{PREFIX}:deps:2")
    assert blobs.read(blob) == make_zip()
    store.close()
