"""What an execution environment is started from: the function's configuration, as one record."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from squall.engine.sandbox import SANDBOX_GID, SANDBOX_UID, TASK_ROOT, Limits


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


@dataclass(frozen=True)
class FunctionConfig:
    function_name: str
    handler: str
    code_dir: str
    runtime: str = "python3.11"
    version: str = "$LATEST"
    memory_mb: int = 128
    timeout_s: float = 3.0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    environment: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    credentials: Credentials | None = None
    pids_limit: int = 1024
    initialization_type: str = "on-demand"
    ephemeral_mb: int = 512
    layer_dirs: tuple[str, ...] = ()  # unpacked layer zips, in the function's order (later ones win at /opt)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def limits(self) -> Limits:
        return Limits(memory_mb=self.memory_mb, pids=self.pids_limit)


def new_log_stream_name(version: str) -> str:
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{version}]{uuid.uuid4().hex}"


def environment_variables(config: FunctionConfig, log_stream_name: str, task_root: str) -> dict[str, str]:
    """The EE's environment: the function's variables, then the reserved ones Lambda sets on top."""
    env = dict(config.environment)
    env.update(
        {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/opt/bin",
            "LD_LIBRARY_PATH": f"/lib64:/usr/lib64:{task_root}:{task_root}/lib:/opt/lib",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": task_root,
            "_HANDLER": config.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": config.initialization_type,
            "AWS_REGION": config.region,
            "AWS_DEFAULT_REGION": config.region,
        }
    )
    if config.runtime.startswith("provided"):
        del env["AWS_EXECUTION_ENV"]  # not defined for the OS-only runtimes
    if config.endpoint_url:
        env["AWS_ENDPOINT_URL"] = config.endpoint_url
    if config.credentials:
        env["AWS_ACCESS_KEY_ID"] = config.credentials.access_key_id
        env["AWS_SECRET_ACCESS_KEY"] = config.credentials.secret_access_key
        env["AWS_SESSION_TOKEN"] = config.credentials.session_token
    return env


def spawn_spec(
    config: FunctionConfig,
    log_stream_name: str,
    cgroup_procs: list[str],
    rlimits: dict[str, int],
    namespaces: frozenset[str] = frozenset(),
    seccomp: bool = False,
    etc_dir: str | None = None,
    tmp_dir: str | None = None,
) -> dict[str, Any]:
    """The spawn request the zygote forwards to the new EE (see runtime/bootstrap.py).

    Nothing secret: the zygote is shared by every function, and what passes through its heap
    is inherited by every EE it forks later. The environment (the function's variables, its
    role's keys and session token) is ``environment_variables``, queued in the EE's own channel,
    which the zygote passes on unread (``BaseEnvironment._spawn``, ``Zygote.spawn``).
    """
    task_root = TASK_ROOT if "mount" in namespaces else config.code_dir
    return {
        "handler": config.handler,
        "code_dir": config.code_dir,
        "task_root": task_root,
        "tmp_mb": config.ephemeral_mb,
        "namespaces": sorted(namespaces),
        "function_arn": config.function_arn,
        "cgroup_procs": cgroup_procs,
        "rlimits": rlimits,
        "layer_dirs": list(config.layer_dirs),
        "uid": SANDBOX_UID,
        "gid": SANDBOX_GID,
        "seccomp": seccomp,
        "etc_dir": etc_dir,
        "tmp_dir": tmp_dir,  # a disk-backed filesystem to bind at /tmp, else a tmpfs of tmp_mb
    }
