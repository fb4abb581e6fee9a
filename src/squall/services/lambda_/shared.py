"""`Shared`: what the operation parts of the functions side (functions, versions, aliases,
concurrency, tags) and the invoker share: the store, the code store, the lifecycle worker, the
functions' directory, the layer resolver and S3's object reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext
from squall.services.context import Principal
from squall.services.lambda_.code import CodeStore
from squall.services.lambda_.contracts import LayerResolver
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.lifecycle import Lifecycle
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.services.ports import ObjectReader
from squall.services.resource_policy import not_authorized_message
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
    #: Whether a function's resource policy lets a principal perform an action on it
    #: (`PolicyStore.allows`; set by the provider). None: nothing crosses accounts.
    grants: Callable[[FunctionRef, Principal, str], bool] | None = None


def ref_of(
    ctx: RequestContext, params: dict[str, Any], key: str = "FunctionName", *, any_account: bool = False
) -> FunctionRef:
    return parse_function(
        params[key],
        account_id=ctx.account_id,
        region=ctx.region,
        qualifier=params.get("Qualifier"),
        any_account=any_account,
    )


def check_grant(shared: Shared, ctx: RequestContext, ref: FunctionRef, action: str) -> None:
    """Return if the caller may perform `action` on `ref`: its own account's function, or one
    whose resource policy (AddPermission) grants the caller; AccessDeniedException (403) as
    Lambda answers otherwise."""
    if ref.account_id == ctx.account_id:
        return
    if shared.grants is not None and shared.grants(ref, ctx.principal, action):
        return
    raise ServiceError(
        "AccessDeniedException",
        not_authorized_message(ctx.principal, action, ref.qualified_arn if ref.qualifier else ref.arn),
        403,
        fields={"Type": "User"},
    )
