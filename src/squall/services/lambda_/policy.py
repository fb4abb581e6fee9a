"""Function resource policies: the statements AddPermission writes and event sources check.

One policy per (function, qualifier): the unqualified function and each version
or alias have their own, as on AWS. Stored in namespace `lambda.policy` under
(account, region, function, qualifier or "") as {"revision": ..., "statements": [...]},
each statement already in the JSON form GetPolicy reports.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.context import Principal, PrincipalKind
from squall.services.lambda_.attachment_util import conflict, dumps, invalid, loads, not_found
from squall.services.lambda_.contracts import FunctionDirectory
from squall.services.lambda_.names import LATEST, FunctionRef
from squall.services.resource_policy import Decision, Policy
from squall.storage import Store, pack

NS = "lambda.policy"
#: a function's resource policy is limited to 20 KB
MAX_POLICY_BYTES = 20480
_ACCOUNT = re.compile(r"^\d{12}$")
_SERVICE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")
_IAM_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(\d{12}):.+$")


def _key(ref: FunctionRef) -> bytes:
    return pack(ref.account_id, ref.region, ref.name, ref.qualifier or "")


def principal_element(principal: str) -> Any:
    """AddPermission's `Principal` as the policy document writes it."""
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.match(principal):
        return {"AWS": principal}
    if _SERVICE.match(principal) or principal.endswith(".amazonaws.com"):
        return {"Service": principal}
    raise invalid(
        f"The provided principal was invalid. Please check the principal and try again: {principal}"
    )


def _conditions(params: dict[str, Any]) -> dict[str, dict[str, str]]:
    cond: dict[str, dict[str, str]] = {}
    equals: dict[str, str] = {}
    if params.get("SourceAccount"):
        equals["AWS:SourceAccount"] = params["SourceAccount"]
    if params.get("PrincipalOrgID"):
        equals["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if params.get("EventSourceToken"):
        equals["lambda:EventSourceToken"] = params["EventSourceToken"]
    if params.get("FunctionUrlAuthType"):
        equals["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    if equals:
        cond["StringEquals"] = equals
    if params.get("SourceArn"):
        cond["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    return cond


class PolicyStore:
    """AddPermission / RemovePermission / GetPolicy, and `allows` for event sources."""

    def __init__(self, store: Store, directory: FunctionDirectory) -> None:
        self._store = store
        self._directory = directory
        directory.on_delete(self._function_deleted)

    def _load(self, ref: FunctionRef) -> dict[str, Any] | None:
        with self._store.read() as r:
            raw = r.get(NS, _key(ref))
        return loads(raw) if raw is not None else None

    def add(self, ref: FunctionRef, params: dict[str, Any]) -> dict[str, Any]:
        """Add one statement; returns the statement as written."""
        if ref.qualifier == LATEST:
            raise invalid("We currently do not support adding policies for $LATEST.")
        resolved = self._directory.resolve(ref)
        sid = params["StatementId"]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": principal_element(params["Principal"]),
            "Action": params["Action"],
            "Resource": resolved.arn if ref.qualifier else ref.arn,
        }
        cond = _conditions(params)
        if cond:
            statement["Condition"] = cond
        with self._store.write() as w:
            raw = w.get(NS, _key(ref))
            policy = loads(raw) if raw is not None else {"revision": None, "statements": []}
            self._check_revision(policy, params.get("RevisionId"))
            if any(s["Sid"] == sid for s in policy["statements"]):
                raise conflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                    "or remove the existing statement."
                )
            policy["statements"].append(statement)
            size = len(dumps({"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}))
            if size > MAX_POLICY_BYTES:
                raise ServiceError(
                    "PolicyLengthExceededException",
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).",
                    400,
                    fields={"Type": "User"},
                )
            policy["revision"] = str(uuid.uuid4())
            w.put(NS, _key(ref), dumps(policy))
        return statement

    def remove(self, ref: FunctionRef, statement_id: str, revision_id: str | None = None) -> None:
        self._directory.resolve(ref)
        with self._store.write() as w:
            raw = w.get(NS, _key(ref))
            if raw is None:
                raise not_found("No policy is associated with the given resource.")
            policy = loads(raw)
            self._check_revision(policy, revision_id)
            kept = [s for s in policy["statements"] if s["Sid"] != statement_id]
            if len(kept) == len(policy["statements"]):
                raise not_found(f"Statement {statement_id} is not found in resource policy.")
            if kept:
                policy["statements"] = kept
                policy["revision"] = str(uuid.uuid4())
                w.put(NS, _key(ref), dumps(policy))
            else:
                w.delete(NS, _key(ref))

    def document(self, ref: FunctionRef) -> tuple[dict[str, Any], str]:
        """The policy document and its revision id; ResourceNotFoundException if there is none."""
        self._directory.resolve(ref)
        policy = self._load(ref)
        if policy is None:
            raise not_found("The resource you requested does not exist.")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}
        return doc, policy["revision"]

    def allows(self, ref: FunctionRef, principal: Principal, action: str = "lambda:InvokeFunction") -> bool:
        """Whether the policy of `ref` (its qualifier's own policy) lets `principal` perform
        `action` on it, through the shared evaluator (services/resource_policy.py). The owning
        account's own users and roles need no resource policy (identity policies are IAM's); a
        service principal (S3, SNS acting for a resource) always needs a statement, as on AWS."""
        if principal.kind is not PrincipalKind.SERVICE and principal.account_id == ref.account_id:
            return True
        policy = self._load(ref)
        if policy is None:
            return False
        resource = ref.qualified_arn if ref.qualifier else ref.arn
        decision = Policy.of_statements(policy["statements"]).evaluate(principal, action, resource)
        return decision is Decision.ALLOW

    def _check_revision(self, policy: dict[str, Any], revision_id: str | None) -> None:
        if revision_id and revision_id != policy.get("revision"):
            raise ServiceError(
                "PreconditionFailedException",
                "The RevisionId provided does not match the latest RevisionId for the Lambda function or "
                "alias. Call the GetFunction or the GetAlias API to retrieve the latest RevisionId for your "
                "resource.",
                412,
                fields={"Type": "User"},
            )

    def _function_deleted(self, ref: FunctionRef) -> None:
        with self._store.write() as w:
            if ref.qualifier is None:
                w.delete_range(NS, prefix=pack(ref.account_id, ref.region, ref.name))
            else:
                w.delete(NS, _key(ref))
