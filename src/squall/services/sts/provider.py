"""STS: who am I, temporary credentials, and role sessions (AssumeRole).

IAM does not exist yet: AssumeRole accepts any syntactically valid role ARN
in the caller's account (no trust policy, no MaxSessionDuration beyond
AWS's 12-hour ceiling); a role in another account is AccessDenied.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, ServiceProvider
from squall.services.operations import operation
from squall.services.sts.ports import StsRoleSessions
from squall.services.sts.roles import (
    CHAINED_MAX_DURATION_S,
    InvalidRoleArn,
    RoleNotInAccount,
    is_role_session,
    issue_role_session,
)
from squall.services.sts.sessions import SessionCredentials, SessionStore

#: AWS: sessions of an account's root user last at most one hour.
ROOT_MAX_SESSION_SECONDS = 3600
DEFAULT_SESSION_SECONDS = 43200
DEFAULT_ROLE_SESSION_SECONDS = 3600


def _credentials(creds: SessionCredentials) -> dict[str, Any]:
    return {
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": dt.datetime.fromtimestamp(creds.expiration, dt.UTC),
    }


class StsProvider(ServiceProvider):
    service = "sts"

    def __init__(self, key_accounts: dict[str, str], sessions: SessionStore) -> None:
        super().__init__()
        self._key_accounts = key_accounts
        self._sessions = sessions
        #: Role sessions for services acting with a role (ports.RoleSessions: Lambda).
        self.role_sessions = StsRoleSessions(sessions)

    @operation("GetCallerIdentity")
    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        user_id = ctx.account_id if arn.endswith(":root") else (ctx.access_key_id or ctx.account_id)
        if ctx.access_key_id and is_role_session(arn):
            session = self._sessions.lookup(ctx.access_key_id)
            if session is not None and session.user_id:
                user_id = session.user_id
        return {"UserId": user_id, "Account": ctx.account_id, "Arn": arn}

    @operation("GetAccessKeyInfo")
    def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The account a key belongs to; AWS answers this for any key id, known or not."""
        key = params["AccessKeyId"]
        account = self._key_accounts.get(key)
        if account is None:
            session = self._sessions.lookup(key)
            account = session.account_id if session else ctx.account_id
        return {"Account": account}

    @operation("GetSessionToken")
    def get_session_token(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.access_key_id and self._sessions.lookup(ctx.access_key_id) is not None:
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        principal = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        duration = int(params.get("DurationSeconds", DEFAULT_SESSION_SECONDS))
        if principal.endswith(":root"):
            duration = min(duration, ROOT_MAX_SESSION_SECONDS)
        creds = self._sessions.issue(ctx.account_id, principal, duration)
        return {"Credentials": _credentials(creds)}

    @operation("AssumeRole")
    def assume_role(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """Range and pattern checks of the model ran already; here the ARN and role chaining."""
        role_arn = params["RoleArn"]
        duration = int(params.get("DurationSeconds", DEFAULT_ROLE_SESSION_SECONDS))
        caller = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        if is_role_session(caller) and duration > CHAINED_MAX_DURATION_S:
            raise ServiceError(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                400,
            )
        try:
            session = issue_role_session(
                self._sessions, ctx.account_id, role_arn, params["RoleSessionName"], duration
            )
        except InvalidRoleArn:
            raise ServiceError("ValidationError", "Request ARN is invalid", 400) from None
        except RoleNotInAccount:
            raise ServiceError(
                "AccessDenied",
                f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                403,
            ) from None
        out: dict[str, Any] = {
            "Credentials": _credentials(session.credentials),
            "AssumedRoleUser": {"AssumedRoleId": session.assumed_role_id, "Arn": session.arn},
        }
        if params.get("SourceIdentity"):
            out["SourceIdentity"] = params["SourceIdentity"]
        return out
