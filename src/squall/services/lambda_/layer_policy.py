"""Layer version permissions: who may use (GetLayerVersion) a layer version.

Namespace `lambda.layer_policy` holds (account, region, name, version) ->
{"revision": ..., "statements": [...]}, statements in the JSON form
GetLayerVersionPolicy reports. A layer version's policy goes when the version is deleted.
"""

from __future__ import annotations

import uuid
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.attachment_util import conflict, dumps, loads, not_found
from squall.services.resource_policy import Decision, Policy
from squall.storage import ReadTxn, Store, unpack

NS = "lambda.layer_policy"


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if principal.isdigit():
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    return {"AWS": principal}


def readable_by(r: ReadTxn, key: bytes, owner: str, caller: str) -> bool:
    """Whether `caller` (an account id) may get the layer version stored under `key`
    (lambda:GetLayerVersion through the shared evaluator, services/resource_policy.py)."""
    if caller == owner:
        return True
    raw = r.get(NS, key)
    if raw is None:
        return False
    account, region, name, version = (p.decode() if isinstance(p, bytes) else str(p) for p in unpack(key))
    arn = f"arn:aws:lambda:{region}:{account}:layer:{name}:{version}"
    policy = Policy.of_statements(loads(raw)["statements"])
    return policy.evaluate(Principal.root(caller), "lambda:GetLayerVersion", arn) is Decision.ALLOW


class LayerPolicies:
    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, key: bytes, version_arn: str, params: dict[str, Any]) -> tuple[dict[str, Any], str]:
        sid = params["StatementId"]
        statement: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": _principal(params["Principal"]),
            "Action": params["Action"],
            "Resource": version_arn,
        }
        if params.get("OrganizationId"):
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
        with self._store.write() as w:
            raw = w.get(NS, key)
            policy = loads(raw) if raw is not None else {"revision": None, "statements": []}
            _check_revision(policy, params.get("RevisionId"))
            if any(s["Sid"] == sid for s in policy["statements"]):
                raise conflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
                    "or remove the existing statement."
                )
            policy["statements"].append(statement)
            policy["revision"] = str(uuid.uuid4())
            w.put(NS, key, dumps(policy))
        return statement, policy["revision"]

    def remove(self, key: bytes, statement_id: str, revision_id: str | None) -> None:
        with self._store.write() as w:
            raw = w.get(NS, key)
            if raw is None:
                raise not_found("No policy is associated with the given resource.")
            policy = loads(raw)
            _check_revision(policy, revision_id)
            kept = [s for s in policy["statements"] if s["Sid"] != statement_id]
            if len(kept) == len(policy["statements"]):
                raise not_found(f"Statement {statement_id} is not found in resource policy.")
            if kept:
                policy.update(statements=kept, revision=str(uuid.uuid4()))
                w.put(NS, key, dumps(policy))
            else:
                w.delete(NS, key)

    def document(self, key: bytes) -> tuple[dict[str, Any], str]:
        with self._store.read() as r:
            raw = r.get(NS, key)
        if raw is None:
            raise not_found("No policy is associated with the given resource.")
        policy = loads(raw)
        return {"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}, policy[
            "revision"
        ]


def _check_revision(policy: dict[str, Any], revision_id: str | None) -> None:
    if revision_id and revision_id != policy.get("revision"):
        raise ServiceError(
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetLayerVersionPolicy "
            "API to retrieve the latest Revision Id",
            412,
            fields={"Type": "User"},
        )
