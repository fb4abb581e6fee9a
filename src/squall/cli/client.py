"""`squall invoke` and `squall logs`: talk to the running server over the AWS APIs (botocore).

The endpoint comes from `server.json` in the data directory (else the settings'),
the credentials from the settings' first root key.
"""

from __future__ import annotations

import base64
import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from squall.config import SettingError, Settings

_SINCE = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
FOLLOW_POLL_S = 1.0


def _client(service: str, data_dir: Path | None, endpoint: str | None) -> Any:
    import botocore.session
    from botocore.config import Config

    from squall.storage import DataDir

    try:
        settings = Settings.load({"data_dir": data_dir})
    except SettingError as exc:
        raise click.UsageError(str(exc)) from None
    info = DataDir.read_server_info(settings.data_dir) or {}
    key = settings.root_keys[0]
    return botocore.session.get_session().create_client(
        service,
        endpoint_url=endpoint or info.get("endpoint") or settings.endpoint,
        region_name=settings.region,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, read_timeout=905),
    )


def _fail(exc: Exception) -> None:
    click.echo(f"squall: {exc}", err=True)
    sys.exit(2)


def _payload(value: str | None) -> bytes:
    if value is None:
        return b"{}"
    if value.startswith("@"):
        return Path(value[1:]).read_bytes()
    return value.encode()


@click.command()
@click.argument("function")
@click.option("--payload", default=None, help="The event: JSON, or @FILE to read it from a file.")
@click.option("--qualifier", default=None, help="A version number or alias name.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--endpoint", default=None, help="Talk to this endpoint instead of the data dir's server.")
def invoke(
    function: str, payload: str | None, qualifier: str | None, data_dir: Path | None, endpoint: str | None
) -> None:
    """Invoke FUNCTION synchronously: print its result, and its log tail on stderr (exit 1 on a function error)."""
    from botocore.exceptions import BotoCoreError, ClientError

    params: dict[str, Any] = {"FunctionName": function, "Payload": _payload(payload), "LogType": "Tail"}
    if qualifier:
        params["Qualifier"] = qualifier
    try:
        out = _client("lambda", data_dir, endpoint).invoke(**params)
    except (BotoCoreError, ClientError, OSError) as exc:
        _fail(exc)
    click.echo(out["Payload"].read().decode(errors="replace"))
    if out.get("LogResult"):
        click.echo(base64.b64decode(out["LogResult"]).decode(errors="replace"), err=True, nl=False)
    sys.exit(1 if out.get("FunctionError") else 0)


def _since_ms(since: str) -> int:
    m = _SINCE.match(since.strip())
    if not m:
        raise click.BadParameter("use a number and a unit: 30s, 10m, 2h, 1d, 1w", param_hint="--since")
    return int((time.time() - int(m.group(1)) * _UNIT_S[m.group(2)]) * 1000)


def _line(event: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["timestamp"] / 1000))
    return f"{stamp}.{event['timestamp'] % 1000:03d}Z {event['logStreamName']} {event['message'].rstrip(chr(10))}"


@click.command()
@click.argument("function")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until interrupted.")
@click.option("--since", default="10m", show_default=True, help="How far back to start: 30s, 10m, 2h, 1d.")
@click.option("--filter", "pattern", default=None, help="A CloudWatch Logs filter pattern.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--endpoint", default=None, help="Talk to this endpoint instead of the data dir's server.")
def logs(
    function: str, follow: bool, since: str, pattern: str | None, data_dir: Path | None, endpoint: str | None
) -> None:
    """Print FUNCTION's log events (log group /aws/lambda/FUNCTION)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = _client("logs", data_dir, endpoint)
    params: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function}", "startTime": _since_ms(since)}
    if pattern:
        params["filterPattern"] = pattern
    seen: dict[str, int] = {}  # eventId -> timestamp of what was printed at the current start time
    while True:
        try:
            newest = params["startTime"]
            for page in client.get_paginator("filter_log_events").paginate(**params):
                for event in page["events"]:
                    if event["eventId"] in seen:
                        continue
                    seen[event["eventId"]] = event["timestamp"]
                    newest = max(newest, event["timestamp"])
                    click.echo(_line(event))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                _fail(exc)
            if not follow:
                click.echo(f"squall: no logs for {function} yet (log group /aws/lambda/{function})", err=True)
                sys.exit(1)
        except (BotoCoreError, OSError) as exc:
            _fail(exc)
        if not follow:
            return
        sys.stdout.flush()  # a pipe (`squall logs -f | grep`) sees each round as it comes
        # Events share milliseconds: start again at the newest one and skip what was printed.
        params["startTime"] = newest
        seen = {e: ts for e, ts in seen.items() if ts >= newest}
        try:
            time.sleep(FOLLOW_POLL_S)
        except KeyboardInterrupt:
            return
