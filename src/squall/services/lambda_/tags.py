"""TagResource, UntagResource, ListTags on functions.

Other taggable Lambda resources (event source mappings, code signing
configs) can register a `TagTarget` for their ARN type via `add_target`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall.services.base import RequestContext
from squall.services.lambda_.functions import NS, fn_key, read_function
from squall.services.lambda_.names import parse_function
from squall.services.lambda_.shared import Shared
from squall.services.lambda_.validation import invalid
from squall.services.operations import operation

MAX_TAGS = 50

#: (account, region, arn, update) -> tags after update; update None means read only.
TagTarget = Callable[[str, str, str, Callable[[dict[str, str]], None] | None], dict[str, str]]


class TagsApi:
    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self._targets: dict[str, TagTarget] = {}

    def add_target(self, resource_type: str, target: TagTarget) -> None:
        """Serve tags for ARNs `arn:aws:lambda:<region>:<account>:<resource_type>:...`."""
        self._targets[resource_type] = target

    def _apply(
        self, ctx: RequestContext, arn: str, update: Callable[[dict[str, str]], None] | None
    ) -> dict[str, str]:
        parts = arn.split(":")
        if len(parts) >= 6 and parts[5] in self._targets and parts[5] != "function":
            return self._targets[parts[5]](ctx.account_id, ctx.region, arn, update)
        if not arn.startswith("arn:"):
            raise invalid(
                f"1 validation error detected: Value '{arn}' at 'resource' failed to satisfy constraint"
            )
        ref = parse_function(arn, account_id=ctx.account_id, region=ctx.region)
        if ref.qualifier:
            raise invalid(
                "Tags on function aliases and versions are not supported. Please specify a function ARN."
            )
        if update is None:
            with self.shared.store.read() as r:
                return read_function(r, ref).tags
        with self.shared.store.write() as w:
            fn = read_function(w, ref)
            update(fn.tags)
            if len(fn.tags) > MAX_TAGS:
                raise invalid(f"Number of tags exceeds resource tag limit of {MAX_TAGS}.")
            w.put(NS, fn_key(ref.account_id, ref.region, ref.name), fn.dump())
            return fn.tags

    @operation("TagResource")
    def tag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = dict(params.get("Tags") or {})
        self._apply(ctx, params["Resource"], lambda current: current.update(tags))
        return {}

    @operation("UntagResource")
    def untag_resource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        keys = list(params.get("TagKeys") or [])

        def drop(current: dict[str, str]) -> None:
            for k in keys:
                current.pop(k, None)

        self._apply(ctx, params["Resource"], drop)
        return {}

    @operation("ListTags")
    def list_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self._apply(ctx, params["Resource"], None)}
