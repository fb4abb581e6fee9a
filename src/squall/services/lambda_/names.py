"""Function identifiers in every form Lambda accepts, and the ARNs it returns.

A `FunctionName` (or `Arn`) may be:
  my-function                                     name
  my-function:v1                                  name with qualifier
  123456789012:function:my-function[:v1]          partial ARN
  arn:aws:lambda:us-east-1:123456789012:function:my-function[:v1]   full ARN
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from squall.protocol.errors import ServiceError

_FULL = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):"
    r"(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
_PARTIAL = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9_-]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$"
)
_NAME = re.compile(r"^(?P<name>[a-zA-Z0-9_-]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]{1,128}))?$")

LATEST = "$LATEST"


@dataclass(frozen=True)
class FunctionRef:
    """A parsed function identifier, resolved against the caller's account and region."""

    account_id: str
    region: str
    name: str
    qualifier: str | None = None

    @property
    def arn(self) -> str:
        """The unqualified function ARN."""
        return function_arn(self.account_id, self.region, self.name)

    @property
    def qualified_arn(self) -> str:
        return function_arn(self.account_id, self.region, self.name, self.qualifier)


def function_arn(account_id: str, region: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def parse_function(
    identifier: str,
    *,
    account_id: str,
    region: str,
    qualifier: str | None = None,
    any_account: bool = False,
) -> FunctionRef:
    """Parse `identifier` (any accepted form). A `qualifier` argument (the API's
    `Qualifier` parameter) must agree with one embedded in the identifier.

    Raises the errors Lambda gives: `InvalidParameterValueException` for a
    malformed name or conflicting qualifiers, `AccessDeniedException` for another
    account's function (unless `any_account`: the operations a function policy can grant
    to another account check that policy themselves, `shared.check_grant`), and for another region
    `ResourceNotFoundException` as AWS answers from the wrong regional endpoint."""
    m = _FULL.match(identifier) or _PARTIAL.match(identifier) or _NAME.match(identifier)
    if m is None:
        raise ServiceError(
            "InvalidParameterValueException",
            f"Invalid function name or ARN: {identifier}" if ":" in identifier else "Invalid function name",
            400,
        )
    parts = m.groupdict()
    embedded = parts.get("qualifier")
    if embedded and qualifier and embedded != qualifier:
        raise ServiceError(
            "InvalidParameterValueException",
            "The derived qualifier from the function name does not match the specified qualifier.",
            400,
        )
    account = parts.get("account") or account_id
    arn_region = parts.get("region") or region
    ref = FunctionRef(account, arn_region, parts["name"], embedded or qualifier)
    if account != account_id and not any_account:
        raise ServiceError(
            "AccessDeniedException",
            f"User: arn:aws:iam::{account_id}:root is not authorized to perform: lambda:* on resource: "
            f"{ref.qualified_arn}",
            403,
        )
    if arn_region != region:
        raise ServiceError("ResourceNotFoundException", f"Function not found: {ref.qualified_arn}", 404)
    return ref


def function_not_found(ref: FunctionRef) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException",
        f"Function not found: {ref.qualified_arn}",
        404,
        fields={"Type": "User"},
    )
