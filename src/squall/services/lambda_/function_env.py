"""What a function's execution environments get from the platform: their role's credentials.

Lambda gives every execution environment temporary credentials for the
function's execution role (session name = the function's name, as AWS does),
in `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, so the
SDK inside the function reaches Squall's services as that role.

`FunctionCredentials.for_function(...)` is on the invocation hot path: it
answers from a cache keyed by (account, region, function, version) holding the
credentials of the current generation (the configuration's RevisionId), and
issues a new role session (STS's `ports.RoleSessions`, as the service principal
`lambda.amazonaws.com` acting for the function; persisted by STS) only when the generation changed or the cached session would expire
before an EE started now could finish living: its keep-alive plus the
function's timeout plus a margin. Sessions last `SESSION_S` (12 h, AWS's
ceiling), so a busy function rotates them about twice a day; the engine
retires EEs holding the old ones (credentials are part of a pool's
generation).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from squall.engine.spec import Credentials
from squall.protocol.errors import ServiceError
from squall.services.context import Principal
from squall.services.lambda_.names import FunctionRef
from squall.services.ports import RoleSessions

SESSION_S = 43200
LAMBDA_PRINCIPAL = "lambda.amazonaws.com"
#: Extra validity required beyond keep-alive + timeout (clock steps, slow starts).
MARGIN_S = 300.0


@dataclass(frozen=True)
class _Entry:
    generation: Hashable
    credentials: Credentials
    expiration: float


class FunctionCredentials:
    def __init__(
        self,
        sessions: RoleSessions | None,
        keep_alive_s: float,
        *,
        on_delete: Callable[[Callable[[FunctionRef], None]], None] | None = None,
        session_s: int = SESSION_S,
    ) -> None:
        """`on_delete` registers `forget` with the functions directory (deleted functions' entries go)."""
        #: None: no STS in this server (functions then get no credentials).
        self._sessions = sessions
        self._keep_alive_s = keep_alive_s
        self._session_s = session_s
        self._cache: dict[tuple[str, str, str, str], _Entry] = {}
        self._lock = threading.Lock()
        if on_delete is not None:
            on_delete(self.forget)

    def for_function(
        self,
        ref: FunctionRef,
        version: str,
        generation: Hashable,
        role_arn: str,
        timeout_s: float,
        now: float | None = None,
    ) -> Credentials | None:
        """The credentials EEs of this function version start with; None without a usable role.

        A role outside the function's account or not a role ARN (Lambda's
        validation lets neither through today) gives no credentials rather
        than failing the invocation: the function then reaches services
        unsigned, and they refuse it.
        """
        now = time.time() if now is None else now
        key = (ref.account_id, ref.region, ref.name, version)
        needed = min(self._keep_alive_s + timeout_s + MARGIN_S, self._session_s / 2)
        entry = self._cache.get(key)
        if entry is not None and entry.generation == generation and entry.expiration - now > needed:
            return entry.credentials
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.generation == generation and entry.expiration - now > needed:
                return entry.credentials
            if self._sessions is None:
                return None
            principal = Principal.for_service(LAMBDA_PRINCIPAL, ref.account_id, source_arn=ref.arn)
            try:
                session = self._sessions.assume(principal, role_arn, ref.name, self._session_s)
            except ServiceError:
                return None
            found = Credentials(session.access_key_id, session.secret_access_key, session.session_token)
            self._cache[key] = _Entry(generation, found, session.expiration)
            return found

    def forget(self, ref: FunctionRef) -> None:
        """Drop the cached credentials of a deleted function (all its versions)."""
        prefix = (ref.account_id, ref.region, ref.name)
        with self._lock:
            for key in [k for k in self._cache if k[:3] == prefix]:
                del self._cache[key]
