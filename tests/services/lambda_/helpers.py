"""Shared bits of the Lambda functions tests: zips, names, a role."""

from __future__ import annotations

import io
import uuid
import zipfile

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ACCOUNT = "000000000000"


def make_zip(source: str = "def handler(event, context):\n    return event\n", name: str = "app.py") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), source)  # deterministic bytes
    return buf.getvalue()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(client, name: str | None = None, **overrides):  # type: ignore[no-untyped-def]
    params = {
        "FunctionName": name or unique(),
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip()},
    }
    params.update(overrides)
    out = client.create_function(**params)
    client.get_waiter("function_active_v2").wait(FunctionName=params["FunctionName"])
    return out


def publish(client, name: str, **kw):  # type: ignore[no-untyped-def]
    """PublishVersion, then wait until the new version is Active (it starts Pending, as on AWS)."""
    version = client.publish_version(FunctionName=name, **kw)["Version"]
    client.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version)
    return version
