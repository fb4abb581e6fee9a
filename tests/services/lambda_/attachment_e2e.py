"""Helpers for the `*_e2e.py` tests of layers, permissions, invoke configs and mappings:
real functions created with boto3 on the real server."""

from __future__ import annotations

import io
import itertools
import zipfile
from typing import Any

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
_names = itertools.count()


def code_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


def layer_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("python/helper.py", "VALUE = 42\n")
    return buf.getvalue()


def create_function(client: Any, prefix: str = "fn", *, name: str | None = None, **kw: Any) -> str:
    """Create a Python function (named `name`, else `prefix-N`) and wait until it is Active."""
    name = name or f"{prefix}-{next(_names)}"
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": code_zip()},
        **kw,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


def publish_with_alias(client: Any, name: str, alias: str = "live") -> str:
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    return str(version)
