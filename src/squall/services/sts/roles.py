"""Role sessions: temporary credentials that act as an assumed role.

The in-process interface other services use (Lambda issues each execution
environment's credentials here, with no HTTP hop) and the machinery behind
STS `AssumeRole`. IAM does not exist yet, so there is no trust policy and no
role record: any syntactically valid role ARN in the account is accepted,
and a role's unique id (`AROA...`) is derived from its ARN, stable across
restarts. A session's identity is
`arn:<partition>:sts::<account>:assumed-role/<role name>/<session name>`
(the role's path is not part of it, as on AWS) with UserId
`<role id>:<session name>`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from squall.services.sts.sessions import SessionCredentials, SessionStore

MIN_DURATION_S = 900
MAX_DURATION_S = 43200
#: AWS: a session obtained with role credentials (role chaining) lasts at most one hour.
CHAINED_MAX_DURATION_S = 3600

_ROLE_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*):iam::(\d{12}):role/((?:[\x21-\x7e]*/)?)([\w+=,.@-]{1,64})$")
#: AssumeRole's model requires 2..64 characters; services naming sessions (Lambda: the function) may use 1.
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")


class InvalidRoleArn(ValueError):
    """Not the ARN of an IAM role."""


class RoleNotInAccount(PermissionError):
    """The role belongs to another account (cross-account trust needs IAM)."""


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account_id: str
    path: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> RoleArn:
        m = _ROLE_ARN.match(arn)
        if m is None:
            raise InvalidRoleArn(arn)
        return cls(m.group(1), m.group(2), "/" + m.group(3), m.group(4))

    @property
    def role_id(self) -> str:
        """A stable stand-in for IAM's unique role id: AROA + 17 characters."""
        arn = f"arn:{self.partition}:iam::{self.account_id}:role{self.path}{self.name}"
        digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()
        return "AROA" + digest[:17]

    def assumed_role_arn(self, session_name: str) -> str:
        return f"arn:{self.partition}:sts::{self.account_id}:assumed-role/{self.name}/{session_name}"


@dataclass(frozen=True)
class RoleSession:
    credentials: SessionCredentials
    role: RoleArn
    session_name: str

    @property
    def assumed_role_id(self) -> str:
        return self.credentials.user_id

    @property
    def arn(self) -> str:
        return self.credentials.principal_arn


def is_role_session(principal_arn: str | None) -> bool:
    return principal_arn is not None and ":assumed-role/" in principal_arn


def issue_role_session(
    sessions: SessionStore, account_id: str, role_arn: str, session_name: str, duration_s: int
) -> RoleSession:
    """Temporary credentials for `role_arn`, assumed from `account_id`, persisted in the store.

    Raises `InvalidRoleArn` for anything but a role ARN, `RoleNotInAccount`
    when the role lives in another account, `ValueError` for a session name
    outside `[\\w+=,.@-]{1,64}` or a duration outside 900..43200 seconds.
    """
    role = RoleArn.parse(role_arn)
    if role.account_id != account_id:
        raise RoleNotInAccount(role_arn)
    if not _SESSION_NAME.match(session_name):
        raise ValueError(f"invalid role session name {session_name!r}")
    if not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
        raise ValueError(f"duration {duration_s} s is outside {MIN_DURATION_S}..{MAX_DURATION_S}")
    creds = sessions.issue(
        account_id,
        role.assumed_role_arn(session_name),
        duration_s,
        user_id=f"{role.role_id}:{session_name}",
    )
    return RoleSession(creds, role, session_name)
