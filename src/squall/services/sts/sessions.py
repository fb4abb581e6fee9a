"""Temporary security credentials (GetSessionToken, AssumeRole), kept in the store.

They survive a restart like everything else Squall acknowledges: a client
holding session credentials keeps working after the server comes back.
Expired sessions are refused: `lookup` answers None, and `find` (the gateway's
view) still returns them for `EXPIRED_RETENTION_S` after they expire, so a
client using them hears `ExpiredToken` rather than "unknown key". After that
they are deleted: on sight, and by a sweep of the whole namespace that `issue`
runs at most once per `PURGE_INTERVAL_S`.
"""

from __future__ import annotations

import base64
import secrets
import string
import time
from dataclasses import asdict, dataclass

import orjson

from squall.storage import Store, keys

NAMESPACE = "sts.sessions"
PURGE_INTERVAL_S = 3600.0
#: How long an expired session is kept (and reported as expired) before it is deleted.
EXPIRED_RETENTION_S = 86400.0
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class SessionCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    account_id: str
    principal_arn: str
    #: Unix time after which the credentials are refused.
    expiration: float
    #: GetCallerIdentity's UserId; "" means "derive it" (root: the account, users: the key id).
    user_id: str = ""

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expiration


class SessionStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._next_purge = 0.0

    def issue(
        self, account_id: str, principal_arn: str, duration_seconds: int, user_id: str = ""
    ) -> SessionCredentials:
        self._maybe_purge()
        creds = SessionCredentials(
            access_key_id="ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secret_access_key=base64.b64encode(secrets.token_bytes(30)).decode(),
            session_token=base64.b64encode(secrets.token_bytes(96)).decode(),
            account_id=account_id,
            principal_arn=principal_arn,
            expiration=float(int(time.time()) + duration_seconds),
            user_id=user_id,
        )
        with self._store.write() as txn:
            txn.put(NAMESPACE, keys.pack(creds.access_key_id), orjson.dumps(asdict(creds)))
        return creds

    def lookup(self, access_key_id: str) -> SessionCredentials | None:
        """The live credentials for this key id (None once expired)."""
        creds = self.find(access_key_id)
        return None if creds is None or creds.expired() else creds

    def find(self, access_key_id: str) -> SessionCredentials | None:
        """The credentials issued for this key id, expired ones included until
        `EXPIRED_RETENTION_S` after their expiry (older ones are purged later, by `issue`:
        looking up only reads, so read-only worker processes can verify session keys)."""
        with self._store.read() as txn:
            raw = txn.get(NAMESPACE, keys.pack(access_key_id))
        if raw is None:
            return None
        creds = SessionCredentials(**orjson.loads(raw))
        return None if creds.expired(time.time() - EXPIRED_RETENTION_S) else creds

    def purge_expired(self, now: float | None = None) -> int:
        """Delete every expired session; how many were deleted."""
        now = time.time() if now is None else now
        with self._store.read() as txn:
            gone = [key for key, raw in txn.scan(NAMESPACE) if float(orjson.loads(raw)["expiration"]) <= now]
        if gone:
            with self._store.write() as txn:
                for key in gone:
                    txn.delete(NAMESPACE, key)
        return len(gone)

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL_S
            self.purge_expired(time.time() - EXPIRED_RETENTION_S)
