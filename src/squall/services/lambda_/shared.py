"""`Shared`: what the operation parts of the functions side (functions, versions, aliases,
concurrency, tags) and the invoker share: the store, the code store, the lifecycle worker, the
functions' directory, the layer resolver and S3's object reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from squall.services.base import RequestContext
from squall.services.lambda_.code import CodeStore
from squall.services.lambda_.contracts import LayerResolver
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.lifecycle import Lifecycle
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.ports import ObjectReader
from squall.storage import Store


@dataclass
class Shared:
    store: Store
    codes: CodeStore
    lifecycle: Lifecycle
    directory: Directory
    layers: LayerResolver | None
    #: S3's object reader, for packages given as S3Bucket/S3Key (None: no S3 in this server).
    objects: ObjectReader | None = None


def ref_of(ctx: RequestContext, params: dict[str, Any], key: str = "FunctionName") -> FunctionRef:
    return parse_function(
        params[key], account_id=ctx.account_id, region=ctx.region, qualifier=params.get("Qualifier")
    )
