"""In-process: the FunctionDirectory contract, deletion listeners, and Layers via a LayerResolver."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.lambda_.contracts import FunctionDirectory, LayerUse, QualifierKind
from squall.services.lambda_.names import FunctionRef
from squall.services.lambda_.provider import LambdaProvider
from squall.storage import DataDir
from tests.inprocess import context
from tests.services.lambda_.helpers import ACCOUNT, ROLE, make_zip

LAYER = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:deps:1"


class FakeLayers:
    """A test-only LayerResolver knowing one layer version."""

    def describe(self, account_id: str, region: str, arns: Sequence[str]) -> list[LayerUse]:
        for arn in arns:
            if arn != LAYER:
                raise ServiceError("ResourceNotFoundException", f"Layer version {arn} does not exist.", 404)
        return [LayerUse(arn, 1234) for arn in arns]

    def content_blob(self, arn: str) -> str:
        return "blob"


def ctx(operation: str) -> RequestContext:
    return context("rid", ACCOUNT, "us-east-1", "lambda", operation, "test", None, "http://localhost:4566")


@pytest.fixture
def provider(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = DataDir.open(tmp_path / "data")
    yield LambdaProvider(data.store, data.blobs, layers=FakeLayers())
    data.close()


def call(p: LambdaProvider, operation: str, **params: Any) -> dict[str, Any]:
    return asyncio.run(p.dispatch(ctx(operation), params))


def test_directory_contract(provider: LambdaProvider) -> None:
    directory: FunctionDirectory = provider.directory
    deleted: list[FunctionRef] = []
    directory.on_delete(deleted.append)
    call(
        provider,
        "CreateFunction",
        FunctionName="f",
        Runtime="python3.12",
        Role=ROLE,
        Handler="a.b",
        Code={"ZipFile": make_zip()},
        Publish=True,
    )
    call(provider, "CreateAlias", FunctionName="f", Name="live", FunctionVersion="1")
    ref = FunctionRef(ACCOUNT, "us-east-1", "f")
    assert directory.exists(ref) and not directory.exists(FunctionRef(ACCOUNT, "us-east-1", "g"))
    latest = directory.resolve(ref)
    assert latest.kind is QualifierKind.LATEST and latest.version == "$LATEST" and latest.arn == ref.arn
    alias = directory.resolve(FunctionRef(ACCOUNT, "us-east-1", "f", "live"))
    assert alias.kind is QualifierKind.ALIAS and alias.version == "1" and alias.arn.endswith(":f:live")
    assert directory.resolve(FunctionRef(ACCOUNT, "us-east-1", "f", "1")).kind is QualifierKind.VERSION
    with pytest.raises(ServiceError) as exc:
        directory.resolve(FunctionRef(ACCOUNT, "us-east-1", "f", "nope"))
    assert exc.value.code == "ResourceNotFoundException" and exc.value.status == 404
    call(provider, "DeleteAlias", FunctionName="f", Name="live")
    call(provider, "DeleteFunction", FunctionName="f", Qualifier="1")
    call(provider, "DeleteFunction", FunctionName="f")
    assert deleted == [
        FunctionRef(ACCOUNT, "us-east-1", "f", "live"),
        FunctionRef(ACCOUNT, "us-east-1", "f", "1"),
        ref,
    ]


def test_layers_through_resolver(provider: LambdaProvider) -> None:
    out = call(
        provider,
        "CreateFunction",
        FunctionName="f",
        Runtime="python3.12",
        Role=ROLE,
        Handler="a.b",
        Code={"ZipFile": make_zip()},
        Layers=[LAYER],
    )
    assert out["Layers"] == [{"Arn": LAYER, "CodeSize": 1234}]
    with pytest.raises(ServiceError) as exc:
        call(
            provider,
            "CreateFunction",
            FunctionName="g",
            Runtime="python3.12",
            Role=ROLE,
            Handler="a.b",
            Code={"ZipFile": make_zip()},
            Layers=[LAYER + "0"],
        )
    assert exc.value.code == "ResourceNotFoundException"
    with pytest.raises(ServiceError) as exc:
        call(
            provider,
            "CreateFunction",
            FunctionName="g",
            Runtime="python3.12",
            Role=ROLE,
            Handler="a.b",
            Code={"ZipFile": make_zip()},
            Layers=[LAYER] * 6,
        )
    assert exc.value.code == "InvalidParameterValueException"
    asyncio.run(provider.shared.lifecycle.settle())
    updated = call(provider, "UpdateFunctionConfiguration", FunctionName="f", Layers=[])
    assert "Layers" not in updated


def test_code_is_shared_and_collected(provider: LambdaProvider) -> None:
    package = make_zip()
    for name in ("a", "b"):
        call(
            provider,
            "CreateFunction",
            FunctionName=name,
            Runtime="python3.12",
            Role=ROLE,
            Handler="a.b",
            Code={"ZipFile": package},
        )
    blobs = provider.shared.codes.blobs
    assert blobs.usage().count == 1
    asyncio.run(provider.shared.lifecycle.settle())
    call(provider, "PublishVersion", FunctionName="a")
    call(provider, "DeleteFunction", FunctionName="a")
    assert blobs.usage().count == 1  # b still uses it
    asyncio.run(provider.shared.lifecycle.settle())
    call(provider, "UpdateFunctionCode", FunctionName="b", ZipFile=make_zip("x = 1\n"))
    assert blobs.usage().count == 1  # the old zip went, the new one is there
    call(provider, "DeleteFunction", FunctionName="b")
    assert blobs.usage().count == 0
