"""Settings: one object, read from flags and `SQUALL_*` environment variables.

Each field of `Settings` is declared once: its type, its default, and in its metadata
(`setting(...)`) its help text and, where the type does not say it, its bounds, flag name,
metavar or parser. From that declaration come the `SQUALL_<FIELD>` variable, the `squall up`
flag (`--kebab-case-of-the-field`), the parser (from the field's type: int, float, str, Path, a `Literal` of choices, a class
with a `parse` classmethod, or a `tuple[X, ...]` of those, comma-separated) and the help.
`declared()` lists them as `Spec`s; `squall up` builds its options from that list.

Precedence: an explicit flag, then the environment, then the default.
"""

from __future__ import annotations

import math
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, Literal

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

    def format(self) -> str:
        """The text `parse` reads back (`AKID:SECRET:ACCOUNT`); for defaults in help, not for logs."""
        return f"{self.access_key_id}:{self.secret_access_key}:{self.account_id}"


#: `workers = 0` runs one process per core up to this many: each process is ~70 MB of memory.
AUTO_WORKERS_MAX = 4

SyncMode = Literal["NORMAL", "FULL"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("squall", appauthor=False))


def _directory(text: str) -> Path:
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{text!r} is not a directory")
    return path


class SettingError(ValueError):
    """A setting's value could not be read; the message names the flag or the variable."""


@dataclass(frozen=True)
class _Declared:
    """What `setting(...)` records in a field's metadata; the rest comes from the field's type."""

    help: str
    flag: str | None = None
    metavar: str | None = None
    repeatable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    parse: Callable[[str], Any] | None = None


_KEY = "squall.setting"


def setting(
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    repeatable: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    parse: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The metadata declaring a `Settings` field: `field(default=..., metadata=setting(...))`.

    `help` is the flag's help text. `flag` overrides `--kebab-case-of-the-field`;
    `repeatable` makes a tuple field's flag take one item per use (`--root-key A --root-key B`)
    instead of one comma-separated value; `minimum`/`maximum` bound a number; `parse`
    replaces the parser the type gives (text -> value, raising ValueError; for a tuple
    setting, of one item).
    """
    return {_KEY: _Declared(help, flag, metavar, repeatable, minimum, maximum, parse)}


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata=setting("Address to listen on."))
    port: int = field(default=4566, metadata=setting("Port to listen on.", minimum=0, maximum=65535))
    data_dir: Path = field(
        default_factory=default_data_dir,
        metadata=setting(
            "Where state is kept; two servers cannot open the same one.", metavar="DIR", parse=_directory
        ),
    )
    root_keys: tuple[RootKey, ...] = field(
        default=(RootKey("test", "test", DEFAULT_ACCOUNT),),
        metadata=setting(
            "Root access key: requests signed with it act as the account's root user.",
            flag="--root-key",
            metavar="AKID:SECRET[:ACCOUNT]",
            repeatable=True,
        ),
    )
    region: str = field(default=DEFAULT_REGION, metadata=setting("Default region."))
    max_body_bytes: int = field(
        default=80 * 1024 * 1024,  # a 50 MB Lambda zip, base64 in JSON, fits
        metadata=setting(
            "Largest request body accepted, in bytes (bigger ones get a 413-style error).", minimum=0
        ),
    )
    body_timeout: float = field(
        default=30.0, metadata=setting("Seconds a client may take to send its whole request body.", minimum=0)
    )
    header_timeout: float = field(
        default=15.0,
        metadata=setting(
            "Seconds a connection may take to send a request's line and headers (then it is closed).",
            minimum=0.01,
        ),
    )
    keep_alive_timeout: int = field(
        default=30,
        metadata=setting("Seconds an idle keep-alive connection stays open.", minimum=1),
    )
    clock_skew: float = field(
        default=900.0,
        metadata=setting(
            "Allowed difference between a signed request's time and ours, in seconds.", minimum=0
        ),
    )
    sync_mode: SyncMode = field(
        default="NORMAL",
        metadata=setting("SQLite synchronous mode: NORMAL survives kill -9; FULL also survives power loss."),
    )
    wal_limit: int = field(
        default=64 * 1024 * 1024,
        metadata=setting(
            "Bytes the SQLite WAL may grow to before it is checkpointed and truncated "
            "(hard bound: twice this).",
            minimum=1024 * 1024,
        ),
    )
    log_level: LogLevel = field(default="info", metadata=setting("Server log level."))
    base_hosts: tuple[str, ...] = field(
        default=("localhost", "localhost.localstack.cloud"),
        metadata=setting(
            "Hostnames under which services and S3 virtual-host buckets are addressed.", metavar="HOST,..."
        ),
    )
    lambda_keep_alive: float = field(
        default=600.0,
        metadata=setting(
            "Seconds an idle Lambda execution environment is kept warm before it is destroyed.", minimum=0
        ),
    )
    lambda_egress: Literal["on", "off"] = field(
        default="on",
        metadata=setting(
            "Outbound network for functions (as on AWS: on). Each execution environment has a network"
            " namespace of its own either way; on gives it a veth, NAT and net.ipv4.ip_forward=1.",
        ),
    )
    lambda_concurrency: int = field(
        default=1000,
        metadata=setting(
            "Concurrent Lambda executions per account and region (AWS's default quota: 1,000).", minimum=0
        ),
    )
    lambda_scaling_rate: int = field(
        default=1000,
        metadata=setting(
            "New execution environments a function may start per 10 seconds, refilled continuously.",
            minimum=0,
        ),
    )
    async_retry_base_seconds: float = field(
        default=60.0,
        metadata=setting(
            "Seconds before the first retry of an async event after a function error (then doubled).",
            minimum=0,
        ),
    )
    async_concurrency: int = field(
        default=64, metadata=setting("Async events running at once, over all functions.", minimum=1)
    )
    sns_delay_scale: float = field(
        default=1.0,
        metadata=setting(
            "Factor applied to SNS HTTP/S retry delays (1 = AWS's; tests scale them down).", minimum=0
        ),
    )
    lifecycle_day_seconds: float = field(
        default=86400.0,
        metadata=setting(
            'Seconds one S3 lifecycle "day" lasts (rule ages, restore times and restore expiry scale with it).',
            minimum=0,
        ),
    )
    dynamodb_ttl_interval: float = field(
        default=30.0,
        metadata=setting(
            "Seconds between DynamoDB TTL sweeps (AWS deletes within days; here within this interval).",
            minimum=0,
        ),
    )
    workers: int = field(
        default=0,
        metadata=setting(
            "Server processes: the primary plus workers that serve DynamoDB item operations on more cores"
            f" and pass everything else to the primary; 0 = one per core, at most {AUTO_WORKERS_MAX}.",
            minimum=0,
            maximum=64,
        ),
    )

    worker_timeout: float = field(
        default=10.0,
        metadata=setting(
            "Seconds a worker process may go without a heartbeat (stopped or hung) before the primary"
            " kills and replaces it, so the kernel stops giving it connections.",
            minimum=0.5,
        ),
    )

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
        """Build settings from `SQUALL_<FIELD>` variables, then `overrides` (flags; None = not given).

        An override given as text is parsed as its variable would be. A value that does not
        parse raises `SettingError` naming the variable or the flag.
        """
        env = os.environ if env is None else env
        specs = {spec.name: spec for spec in declared()}
        values: dict[str, Any] = {}
        for spec in specs.values():
            raw = env.get(spec.env)
            if raw is not None and raw != "":
                values[spec.name] = spec.convert(raw, source=spec.env)
        for name, value in (overrides or {}).items():
            if value is None or value == ():
                continue
            if name not in specs:
                raise TypeError(f"no setting named {name!r}")
            spec = specs[name]
            if isinstance(value, str):
                value = spec.convert(value, source=f"'{spec.flag}'")
            elif spec.is_tuple:
                value = tuple(
                    spec.convert(v, source=f"'{spec.flag}'", item=True) if isinstance(v, str) else v
                    for v in value
                )
            values[name] = value
        return replace(cls(), **values)


@dataclass(frozen=True)
class Spec:
    """One setting as the CLI and the environment see it, derived from its `Settings` field."""

    name: str
    flag: str
    env: str
    help: str
    metavar: str
    #: The value is a tuple: comma-separated in a variable (and in the flag, unless repeatable).
    is_tuple: bool
    #: The flag is given once per item of a tuple setting; `parse_item` reads each.
    repeatable: bool
    #: Text (a variable's value, a flag's value) -> the field's value; raises ValueError.
    parse: Callable[[str], Any]
    parse_item: Callable[[str], Any]
    #: The default, for help text (a default_factory's value when `declared()` first ran).
    default: Any

    def convert(self, text: str, *, source: str, item: bool = False) -> Any:
        """`text` parsed (as one item of a tuple setting if `item`); `source` names it in errors."""
        try:
            return (self.parse_item if item else self.parse)(text)
        except ValueError as exc:
            raise SettingError(f"Invalid value for {source}: {exc}") from None

    def default_text(self) -> str:
        value = self.default
        items = value if isinstance(value, tuple) else (value,)
        text = ",".join(_format(v) for v in items)
        if isinstance(value, Path) and value.is_relative_to(Path.home()):
            text = str(Path("~") / value.relative_to(Path.home()))
        return text


def _format(value: Any) -> str:
    return value.format() if isinstance(value, RootKey) else str(value)


@cache
def declared() -> tuple[Spec, ...]:
    """Every setting, in `Settings`' field order."""
    hints = typing.get_type_hints(Settings)
    specs = []
    for f in fields(Settings):
        decl = f.metadata.get(_KEY)
        if not isinstance(decl, _Declared):
            raise TypeError(f"Settings.{f.name} is not declared with setting(...)")
        tp = hints[f.name]
        item_tp = _tuple_item(tp)
        parse_item = decl.parse or _parser(item_tp if item_tp is not None else tp, decl)
        parse = parse_item if item_tp is None else _comma_separated(parse_item)
        if decl.repeatable and item_tp is None:
            raise TypeError(f"Settings.{f.name}: only a tuple setting can be repeatable")
        if (decl.minimum is not None or decl.maximum is not None) and tp not in (int, float):
            raise TypeError(f"Settings.{f.name}: only a number has bounds")
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        specs.append(
            Spec(
                name=f.name,
                flag=decl.flag or "--" + f.name.replace("_", "-"),
                env="SQUALL_" + f.name.upper(),
                help=decl.help,
                metavar=decl.metavar or _metavar(item_tp if decl.repeatable else tp),
                is_tuple=item_tp is not None,
                repeatable=decl.repeatable,
                parse=parse,
                parse_item=parse_item,
                default=default,
            )
        )
    return tuple(specs)


def _tuple_item(tp: Any) -> Any:
    """X for `tuple[X, ...]`, else None."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _comma_separated(parse_item: Callable[[str], Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        return tuple(parse_item(part.strip()) for part in text.split(",") if part.strip())

    return parse


def _parser(tp: Any, decl: _Declared) -> Callable[[str], Any]:
    if tp is int or tp is float:
        return _number(tp, decl.minimum, decl.maximum)
    if tp is str:
        return str
    if tp is Path:
        return lambda text: Path(text).expanduser()
    if typing.get_origin(tp) is Literal:
        return _choice(typing.get_args(tp))
    parse = getattr(tp, "parse", None)
    if isinstance(tp, type) and callable(parse):
        return typing.cast(Callable[[str], Any], parse)
    raise TypeError(f"no parser for settings of type {tp!r}: give setting(parse=...)")


def _number(
    tp: type[int] | type[float], minimum: float | None, maximum: float | None
) -> Callable[[str], Any]:
    kind = "an integer" if tp is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = tp(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not {kind}") from None
        if math.isnan(value):
            raise ValueError(f"{text!r} is not {kind}")
        if minimum is not None and value < minimum:
            raise ValueError(f"{text!r} is below the minimum, {minimum:g}")
        if maximum is not None and value > maximum:
            raise ValueError(f"{text!r} is above the maximum, {maximum:g}")
        return value

    return parse


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    by_folded = {c.casefold(): c for c in choices}

    def parse(text: str) -> str:
        try:
            return by_folded[text.strip().casefold()]
        except KeyError:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}") from None

    return parse


def _metavar(tp: Any) -> str:
    item = _tuple_item(tp)
    if item is not None:
        return _metavar(item) + ",..."
    if typing.get_origin(tp) is Literal:
        return "|".join(typing.get_args(tp))
    names: dict[Any, str] = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}
    return names.get(tp, getattr(tp, "__name__", "VALUE").upper())


__all__ = ["AUTO_WORKERS_MAX", "RootKey", "SettingError", "Settings", "Spec", "declared", "setting"]
