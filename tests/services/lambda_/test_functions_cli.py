"""The AWS CLI against the server: create-function, list-functions, publish-version, create-alias."""

from __future__ import annotations

from pathlib import Path

from tests.services.lambda_.helpers import ROLE, make_zip, unique


def aws(server, *args: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return server.aws("lambda", *args)  # type: ignore[no-any-return]


def test_cli(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(make_zip())
    name = unique("cli")
    created = aws(
        server,
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "python3.12",
        "--role",
        ROLE,
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{zip_path}",
    )
    assert created["FunctionName"] == name
    aws(server, "wait", "function-active-v2", "--function-name", name)
    listed = aws(server, "list-functions")
    assert name in [f["FunctionName"] for f in listed["Functions"]]
    version = aws(server, "publish-version", "--function-name", name)
    assert version["Version"] == "1"
    alias = aws(server, "create-alias", "--function-name", name, "--name", "live", "--function-version", "1")
    assert alias["AliasArn"].endswith(f":{name}:live")
