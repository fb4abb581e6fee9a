"""`squall`: start the server, ask about it, check the host."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from squall import __version__
from squall.config import RootKey, Settings


def _root_keys(_: click.Context, __: click.Parameter, values: tuple[str, ...]) -> tuple[RootKey, ...]:
    try:
        return tuple(RootKey.parse(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="squall", message="%(prog)s %(version)s")
def cli() -> None:
    """Squall: a self-hosted serverless platform that speaks the AWS wire protocols."""


@cli.command()
@click.option("--host", default=None, help="Address to listen on [SQUALL_HOST; default 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [SQUALL_PORT; default 4566].")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where state is kept [SQUALL_DATA_DIR; default ~/.local/share/squall].",
)
@click.option(
    "--root-key",
    "root_keys",
    multiple=True,
    callback=_root_keys,
    metavar="AKID:SECRET[:ACCOUNT]",
    help="Root access key (repeatable) [SQUALL_ROOT_KEYS, comma-separated; default test:test:000000000000].",
)
@click.option("--region", default=None, help="Default region [SQUALL_REGION; default us-east-1].")
@click.option(
    "--log-level",
    default=None,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="[SQUALL_LOG_LEVEL; default info]",
)
@click.option(
    "--max-body-bytes", type=int, default=None, help="Largest request body [SQUALL_MAX_BODY_BYTES; 80 MiB]."
)
@click.option(
    "--body-timeout", type=float, default=None, help="Seconds to receive a body [SQUALL_BODY_TIMEOUT; 30]."
)
@click.option(
    "--clock-skew", type=float, default=None, help="Allowed signing clock skew, s [SQUALL_CLOCK_SKEW; 900]."
)
@click.option(
    "--sync-mode",
    type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
    default=None,
    help="SQLite durability: NORMAL survives kill -9, FULL also power loss [SQUALL_SYNC_MODE; NORMAL].",
)
@click.option(
    "--base-hosts",
    default=None,
    help="Comma-separated host names for virtual-host addressing "
    "[SQUALL_BASE_HOSTS; localhost,localhost.localstack.cloud].",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=None,
    help="Server processes: the primary plus workers serving DynamoDB item operations on more cores; "
    "0 = one per core, at most 4 [SQUALL_WORKERS; 0].",
)
def up(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    root_keys: tuple[RootKey, ...],
    region: str | None,
    log_level: str | None,
    max_body_bytes: int | None,
    body_timeout: float | None,
    clock_skew: float | None,
    sync_mode: str | None,
    base_hosts: str | None,
    workers: int | None,
) -> None:
    """Run the Squall server in the foreground (Ctrl-C stops it)."""
    from squall.server import serve
    from squall.storage import DataDirInUse

    try:
        settings = Settings.load(
            {
                "host": host,
                "port": port,
                "data_dir": data_dir,
                "root_keys": root_keys,
                "region": region,
                "log_level": log_level,
                "max_body_bytes": max_body_bytes,
                "body_timeout": body_timeout,
                "clock_skew": clock_skew,
                "sync_mode": sync_mode,
                "base_hosts": base_hosts,
                "workers": workers,
            }
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        serve(settings, echo=click.echo)
    except DataDirInUse as exc:
        click.echo(f"squall: {exc}", err=True)
        sys.exit(2)


def _fetch_health(endpoint: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/_squall/health", timeout=2) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--endpoint", default=None, help="Ask this endpoint instead of the one the data dir records.")
def status(data_dir: Path | None, endpoint: str | None) -> None:
    """Is a server up, where, and what does its data directory hold."""
    from squall.storage import DataDir

    settings = Settings.load({"data_dir": data_dir})
    info = DataDir.read_server_info(settings.data_dir)
    endpoint = endpoint or (info or {}).get("endpoint") or settings.endpoint
    health = _fetch_health(endpoint)
    click.echo(f"data dir:  {settings.data_dir}")
    if health is None:
        click.echo(f"server:    not running at {endpoint}")
    else:
        pid = (info or {}).get("pid", "?")
        click.echo(f"server:    up at {endpoint} (pid {pid}, version {health.get('version')})")
        running = sorted(k for k, v in health.get("services", {}).items() if v == "running")
        click.echo(f"services:  {', '.join(running) or 'none'}")
    usage = DataDir.usage_of(settings.data_dir)
    if usage is not None:
        click.echo("holds:     " + ", ".join(f"{k} {v}" for k, v in usage.items() if k != "path"))
    sys.exit(0 if health is not None else 1)


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def doctor(data_dir: Path | None) -> None:
    """What this host allows: isolation layers, Python interpreters, data dir health."""
    from squall.engine.host import discover_interpreters, probe_isolation
    from squall.storage import DataDir

    settings = Settings.load({"data_dir": data_dir})
    click.echo("isolation:")
    for line in probe_isolation().summary():
        click.echo(f"  {line}")
    click.echo("python interpreters:")
    interpreters = discover_interpreters()
    for interp in interpreters:
        click.echo(f"  python{interp.version}: {interp.path} ({interp.full_version})")
    if not interpreters:
        click.echo("  none found")
    click.echo("data dir:")
    for line in DataDir.check(settings.data_dir):
        click.echo(f"  {line}")


def _add_client_commands() -> None:
    from squall.cli.client import invoke, logs

    cli.add_command(invoke)
    cli.add_command(logs)


_add_client_commands()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
