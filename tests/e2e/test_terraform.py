"""Terraform's hashicorp/aws provider against a real server: examples/lambda-dynamodb (a table
with a stream and TTL, a Python function, a mapping from the stream) must apply, then plan with
no changes (`-detailed-exitcode` 0), then destroy (issue 14, Terraform).

Needs `terraform` on PATH and the provider mirror at /opt/tf-plugins (or $SQUALL_TF_PLUGINS);
skipped with the reason otherwise. No network: `init -plugin-dir` reads only the mirror.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import RunningServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lambda-dynamodb"
PLUGINS = Path(os.environ.get("SQUALL_TF_PLUGINS", "/opt/tf-plugins"))
TERRAFORM = shutil.which("terraform")

pytestmark = [
    pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH"),
    pytest.mark.skipif(
        not (PLUGINS / "registry.terraform.io" / "hashicorp" / "aws").is_dir(),
        reason=f"no hashicorp/aws provider mirror at {PLUGINS} (set SQUALL_TF_PLUGINS)",
    ),
]


def terraform(workdir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_DATA_DIR": str(workdir / ".terraform"),
    }
    assert TERRAFORM is not None
    return subprocess.run(
        [TERRAFORM, f"-chdir={workdir}", *args, "-no-color"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_lambda_dynamodb_apply_plan_destroy(server: RunningServer, tmp_path: Path) -> None:
    work = tmp_path / "tf"
    shutil.copytree(EXAMPLE, work)
    with zipfile.ZipFile(work / "function.zip", "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return len(event['Records'])\n")
    var = f"-var=endpoint={server.endpoint}"

    init = terraform(work, "init", f"-plugin-dir={PLUGINS}")
    assert init.returncode == 0, init.stdout + init.stderr
    apply = terraform(work, "apply", "-auto-approve", var)
    assert apply.returncode == 0, apply.stdout + apply.stderr

    lam = server.client("lambda")
    fn = lam.get_function(FunctionName="tf-on-order")["Configuration"]
    assert fn["Runtime"] == "python3.12" and fn["Timeout"] == 10
    ddb = server.client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName="tf-orders")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    mappings = lam.list_event_source_mappings(FunctionName="tf-on-order")["EventSourceMappings"]
    assert len(mappings) == 1

    plan = terraform(work, "plan", "-detailed-exitcode", var)
    assert plan.returncode == 0, plan.stdout + plan.stderr  # 2 would mean a drift

    destroy = terraform(work, "destroy", "-auto-approve", var)
    assert destroy.returncode == 0, destroy.stdout + destroy.stderr
    assert "tf-orders" not in ddb.list_tables()["TableNames"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="tf-on-order")
