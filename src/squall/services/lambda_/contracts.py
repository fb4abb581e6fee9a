"""The narrow interfaces between the parts of the Lambda service.

`FunctionDirectory` is implemented by the functions part (functions,
versions, aliases) and used by the parts that hang off a function
(permissions, event invoke configs, event source mappings, provisioned
concurrency). `LayerResolver` is implemented by the layers part and used
when a function's configuration names layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from squall.services.lambda_.names import FunctionRef


class QualifierKind(StrEnum):
    LATEST = "latest"
    VERSION = "version"
    ALIAS = "alias"


@dataclass(frozen=True)
class ResolvedFunction:
    """What a (possibly qualified) function reference points at, as of now."""

    ref: FunctionRef
    kind: QualifierKind
    #: The version the qualifier denotes: "$LATEST", "3"; for an alias, its primary version.
    version: str
    #: The ARN to report: unqualified when no qualifier was given, else qualified.
    arn: str


class FunctionDirectory(Protocol):
    def exists(self, ref: FunctionRef) -> bool:
        """Whether the function exists (the qualifier is ignored)."""
        ...

    def resolve(self, ref: FunctionRef) -> ResolvedFunction:
        """Resolve the function and its qualifier; raises ServiceError
        `ResourceNotFoundException` (404) with AWS's message when either is missing."""
        ...

    def on_delete(self, listener: Callable[[FunctionRef], None]) -> None:
        """Call `listener` after a function (ref.qualifier None) or one of its
        versions or aliases (ref.qualifier set) is deleted, so dependent records go too."""
        ...


@dataclass(frozen=True)
class LayerUse:
    """A layer version as a function configuration reports it."""

    arn: str  # layer version ARN
    code_size: int
    unzipped_size: int = 0  # counted at publish (0: published before sizes were counted)
    signing_profile_version_arn: str | None = None
    signing_job_arn: str | None = None


class LayerResolver(Protocol):
    def describe(self, account_id: str, region: str, arns: Sequence[str]) -> list[LayerUse]:
        """Look up layer version ARNs for a function's `Layers`; raises ServiceError
        `InvalidParameterValueException` / `ResourceNotFoundException` as AWS does for
        malformed or missing layer versions, and for more than 5 layers."""
        ...

    def content_blob(self, arn: str) -> str:
        """The blob id of a layer version's zip (the engine mounts it at /opt)."""
        ...
