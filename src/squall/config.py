"""Settings: one object, read from flags and `SQUALL_*` environment variables.

Precedence: an explicit flag, then the environment, then the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

DEFAULT_ACCOUNT = "000000000000"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class RootKey:
    """A root access key: requests signed with it act as the account's root user."""

    access_key_id: str
    secret_access_key: str
    account_id: str = DEFAULT_ACCOUNT

    @classmethod
    def parse(cls, text: str) -> RootKey:
        """`AKID:SECRET` or `AKID:SECRET:ACCOUNT` (account: 12 digits)."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"root key must be ACCESS_KEY:SECRET[:ACCOUNT], got {text!r}")
        account = parts[2] if len(parts) == 3 else DEFAULT_ACCOUNT
        if not (len(account) == 12 and account.isdigit()):
            raise ValueError(f"account id must be 12 digits, got {account!r}")
        return cls(parts[0], parts[1], account)


#: `workers = 0` runs one process per core up to this many: each process is ~70 MB of memory.
AUTO_WORKERS_MAX = 4


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("squall", appauthor=False))


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=default_data_dir)
    root_keys: tuple[RootKey, ...] = (RootKey("test", "test", DEFAULT_ACCOUNT),)
    region: str = DEFAULT_REGION
    #: Largest request body accepted, in bytes (bigger ones get a 413-style error).
    max_body_bytes: int = 80 * 1024 * 1024  # a 50 MB Lambda zip, base64 in JSON, fits
    #: Seconds a client may take to send its whole request body.
    body_timeout: float = 30.0
    #: Allowed difference between a signed request's time and ours, in seconds.
    clock_skew: float = 900.0
    #: SQLite synchronous mode: NORMAL survives kill -9; FULL also survives power loss.
    sync_mode: str = "NORMAL"
    log_level: str = "info"
    #: Hostnames under which services and S3 virtual-host buckets are addressed.
    base_hosts: tuple[str, ...] = ("localhost", "localhost.localstack.cloud")
    #: Seconds an idle Lambda execution environment is kept warm before it is destroyed.
    lambda_keep_alive: float = 600.0
    #: Concurrent Lambda executions per account and region (AWS's default quota: 1,000).
    lambda_concurrency: int = 1000
    #: New execution environments a function may start per 10 seconds, refilled continuously.
    lambda_scaling_rate: int = 1000
    #: Seconds before the first retry of an async event after a function error (then doubled).
    async_retry_base_seconds: float = 60.0
    #: Async events running at once, over all functions.
    async_concurrency: int = 64
    #: Factor applied to SNS HTTP/S retry delays (1 = AWS's; tests scale them down).
    sns_delay_scale: float = 1.0
    #: Seconds one S3 lifecycle "day" lasts (rule ages, restore times and restore expiry scale with it).
    lifecycle_day_seconds: float = 86400.0
    #: Seconds between DynamoDB TTL sweeps (AWS deletes within days; here within this interval).
    dynamodb_ttl_interval: float = 30.0
    #: Server processes: the primary + N-1 workers that serve DynamoDB item operations on more
    #: cores and pass everything else to the primary (squall/worker.py); 0 = one per core, at most
    #: `AUTO_WORKERS_MAX`.
    workers: int = 0

    @property
    def processes(self) -> int:
        """Server processes to run: `workers`, or for 0 one per core up to `AUTO_WORKERS_MAX`."""
        if self.workers > 0:
            return self.workers
        return max(1, min(os.cpu_count() or 1, AUTO_WORKERS_MAX))

    @property
    def endpoint(self) -> str:
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from `SQUALL_<FIELD>` variables, then `overrides` (flags; None = not given)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"SQUALL_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, raw)
        for name, value in (overrides or {}).items():
            if value is None or value == ():
                continue
            values[name] = _convert(name, value) if isinstance(value, str) else value
        if "root_keys" in values and not isinstance(values["root_keys"], tuple):
            values["root_keys"] = tuple(values["root_keys"])
        return replace(cls(), **values)


def _convert(name: str, raw: str) -> Any:
    if name in ("port",):
        return int(raw)
    if name in (
        "max_body_bytes",
        "lambda_concurrency",
        "lambda_scaling_rate",
        "async_concurrency",
        "workers",
    ):
        return int(raw)
    if name in (
        "body_timeout",
        "clock_skew",
        "lambda_keep_alive",
        "async_retry_base_seconds",
        "sns_delay_scale",
        "lifecycle_day_seconds",
        "dynamodb_ttl_interval",
    ):
        return float(raw)
    if name == "data_dir":
        return Path(raw).expanduser()
    if name == "root_keys":
        return tuple(RootKey.parse(p.strip()) for p in raw.split(",") if p.strip())
    if name == "base_hosts":
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    if name == "sync_mode":
        mode = raw.upper()
        if mode not in ("NORMAL", "FULL"):
            raise ValueError(f"sync mode must be NORMAL or FULL, got {raw!r}")
        return mode
    return raw
