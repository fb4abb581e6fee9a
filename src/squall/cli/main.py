"""`squall`: start the server, ask about it, check the host."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from squall import __version__
from squall.config import SettingError, Settings, Spec, declared

F = TypeVar("F", bound=Callable[..., Any])


def _option(spec: Spec) -> Callable[[F], F]:
    """The click option for one setting; None (or () if repeatable) when not given."""
    where = spec.env + (", comma-separated" if spec.is_tuple else "")
    repeat = " Repeatable." if spec.repeatable else ""
    return click.option(
        spec.flag,
        spec.name,
        # click calls the setting's own parser and reports its ValueError as an invalid value
        type=spec.parse_item if spec.repeatable else spec.parse,
        multiple=spec.repeatable,
        default=None,
        metavar=spec.metavar,
        help=f"{spec.help}{repeat} [{where}; default {spec.default_text()}]",
    )


def _setting_options(command: F) -> F:
    """One option per `Settings` field, in declaration order."""
    for spec in reversed(declared()):
        command = _option(spec)(command)
    return command


def _data_dir_option(command: F) -> F:
    (spec,) = (s for s in declared() if s.name == "data_dir")
    return _option(spec)(command)


def _load(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings.load(overrides)
    except SettingError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="squall", message="%(prog)s %(version)s")
def cli() -> None:
    """Squall: a self-hosted serverless platform that speaks the AWS wire protocols."""


@cli.command()
@_setting_options
def up(**flags: Any) -> None:
    """Run the Squall server in the foreground (Ctrl-C stops it)."""
    from squall.server import ListenError, serve
    from squall.storage import DataDirInUse

    settings = _load(flags)
    try:
        serve(settings, echo=click.echo)
    except (DataDirInUse, ListenError) as exc:
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
@_data_dir_option
@click.option("--endpoint", default=None, help="Ask this endpoint instead of the one the data dir records.")
def status(data_dir: Path | None, endpoint: str | None) -> None:
    """Is a server up, where, and what does its data directory hold."""
    from squall.storage import DataDir

    settings = _load({"data_dir": data_dir})
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
@_data_dir_option
def doctor(data_dir: Path | None) -> None:
    """What this host allows: isolation layers, Python interpreters, data dir health."""
    from squall.engine.host import discover_interpreters, probe_isolation
    from squall.storage import DataDir

    settings = _load({"data_dir": data_dir})
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
