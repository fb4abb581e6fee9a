"""Who may sign requests: access keys and the identities behind them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    account_id: str
    principal_arn: str
    session_token: str | None = None
    #: Unix time from which requests signed with these (session) credentials get ExpiredToken.
    expiration: float | None = None


class CredentialStore(Protocol):
    """Resolves an access key id to its credentials. Implementations must be
    cheap to call (verification calls `lookup` once per request) and
    thread-safe for reads."""

    def lookup(self, access_key_id: str) -> Credentials | None: ...


class StaticCredentials:
    """An in-memory `CredentialStore` over a fixed set of keys."""

    def __init__(self, mapping: Mapping[str, Credentials] | Iterable[Credentials]) -> None:
        if isinstance(mapping, Mapping):
            self._by_key = dict(mapping)
        else:
            self._by_key = {c.access_key_id: c for c in mapping}

    def lookup(self, access_key_id: str) -> Credentials | None:
        return self._by_key.get(access_key_id)

    def add(self, credentials: Credentials) -> None:
        self._by_key[credentials.access_key_id] = credentials
