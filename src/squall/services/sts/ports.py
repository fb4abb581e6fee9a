"""What STS offers other services in process: `StsRoleSessions`, the `ports.RoleSessions` Lambda
gets each execution environment's credentials from (the function's execution role, session name
= the function's name, as AWS does), with no HTTP hop. Sessions are persisted like AssumeRole's,
so the gateway accepts them after a restart.
"""

from __future__ import annotations

from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.ports import IssuedSession
from squall.services.sts.roles import InvalidRoleArn, RoleNotInAccount, issue_role_session
from squall.services.sts.sessions import SessionStore


class StsRoleSessions:
    def __init__(self, sessions: SessionStore) -> None:
        self._sessions = sessions

    def assume(
        self, principal: Principal, role_arn: str, session_name: str, duration_s: int
    ) -> IssuedSession:
        try:
            session = issue_role_session(
                self._sessions, principal.account_id, role_arn, session_name, duration_s
            )
        except InvalidRoleArn:
            raise ServiceError("ValidationError", "Request ARN is invalid", 400) from None
        except RoleNotInAccount:
            raise ServiceError(
                "AccessDenied",
                f"User: {principal.caller_arn} is not authorized to perform: sts:AssumeRole on resource: "
                f"{role_arn}",
                403,
            ) from None
        except ValueError as err:
            raise ServiceError("ValidationError", str(err), 400) from None
        creds = session.credentials
        return IssuedSession(
            creds.access_key_id, creds.secret_access_key, creds.session_token, creds.expiration, session.arn
        )
