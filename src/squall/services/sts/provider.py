"""STS: who am I, and temporary credentials. Roles (AssumeRole) come with IAM."""

from __future__ import annotations

import datetime as dt
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.base import RequestContext, ServiceProvider
from squall.services.sts.sessions import SessionStore

#: AWS: sessions of an account's root user last at most one hour.
ROOT_MAX_SESSION_SECONDS = 3600
DEFAULT_SESSION_SECONDS = 43200


class StsProvider(ServiceProvider):
    service = "sts"

    def __init__(self, key_accounts: dict[str, str], sessions: SessionStore) -> None:
        super().__init__()
        self._key_accounts = key_accounts
        self._sessions = sessions

    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        user_id = ctx.account_id if arn.endswith(":root") else (ctx.access_key_id or ctx.account_id)
        return {"UserId": user_id, "Account": ctx.account_id, "Arn": arn}

    def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The account a key belongs to; AWS answers this for any key id, known or not."""
        key = params["AccessKeyId"]
        account = self._key_accounts.get(key)
        if account is None:
            session = self._sessions.lookup(key)
            account = session.account_id if session else ctx.account_id
        return {"Account": account}

    def get_session_token(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        if ctx.access_key_id and self._sessions.lookup(ctx.access_key_id) is not None:
            raise ServiceError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
        principal = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        duration = int(params.get("DurationSeconds", DEFAULT_SESSION_SECONDS))
        if principal.endswith(":root"):
            duration = min(duration, ROOT_MAX_SESSION_SECONDS)
        creds = self._sessions.issue(ctx.account_id, principal, duration)
        return {
            "Credentials": {
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "SessionToken": creds.session_token,
                "Expiration": dt.datetime.fromtimestamp(creds.expiration, dt.UTC),
            }
        }
