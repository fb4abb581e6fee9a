"""Which access keys the gateway accepts: the server's root keys and live
session credentials that STS issued (kept in the store)."""

from __future__ import annotations

from collections.abc import Iterable

from squall.config import RootKey
from squall.gateway.auth import Credentials
from squall.services.sts.sessions import SessionStore


class AccountCredentials:
    """A `CredentialStore`: root keys from settings first, then STS sessions."""

    def __init__(self, root_keys: Iterable[RootKey], sessions: SessionStore) -> None:
        self._root = {
            k.access_key_id: Credentials(
                access_key_id=k.access_key_id,
                secret_access_key=k.secret_access_key,
                account_id=k.account_id,
                principal_arn=f"arn:aws:iam::{k.account_id}:root",
            )
            for k in root_keys
        }
        self._sessions = sessions

    def lookup(self, access_key_id: str) -> Credentials | None:
        root = self._root.get(access_key_id)
        if root is not None:
            return root
        session = self._sessions.find(access_key_id)  # expired ones too: verify answers ExpiredToken
        if session is None:
            return None
        return Credentials(
            access_key_id=session.access_key_id,
            secret_access_key=session.secret_access_key,
            account_id=session.account_id,
            principal_arn=session.principal_arn,
            session_token=session.session_token,
            expiration=session.expiration,
        )
