"""STS: who am I. Roles and session credentials come with IAM."""

from __future__ import annotations

from typing import Any

from squall.services.base import RequestContext, ServiceProvider


class StsProvider(ServiceProvider):
    service = "sts"

    def __init__(self, key_accounts: dict[str, str]) -> None:
        super().__init__()
        self._key_accounts = key_accounts

    def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = ctx.principal_arn or f"arn:aws:iam::{ctx.account_id}:root"
        user_id = ctx.account_id if arn.endswith(":root") else (ctx.access_key_id or ctx.account_id)
        return {"UserId": user_id, "Account": ctx.account_id, "Arn": arn}

    def get_access_key_info(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        """The account a key belongs to; AWS answers this for any key id, known or not."""
        account = self._key_accounts.get(params["AccessKeyId"], ctx.account_id)
        return {"Account": account}
