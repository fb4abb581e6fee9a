from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import time
from collections.abc import Callable

import pytest

from squall.engine.environment import EnvironmentError_, EnvState, ExecutionEnvironment, NotDelivered
from squall.engine.host import CgroupSupport, discover_interpreters
from squall.engine.spec import Credentials
from squall.engine.zygote import Zygote

from .conftest import VERSIONS, alive, config, gone, proc_state, run, start_and_invoke, until

ECHO = """
import os, sys
INIT_PID = os.getpid()
print("init", flush=True)
def handler(event, context):
    print("got", event["n"])
    return {"n": event["n"], "pid": os.getpid(), "python": sys.version_info[:2]}
"""


@pytest.mark.parametrize("version", VERSIONS)
def test_cold_start_then_warm_invokes_on_real_interpreters(
    zygotes: dict[str, Zygote], version: str, write_function: Callable[..., str]
) -> None:
    if version not in zygotes:
        pytest.skip(f"no python{version}")
    ee = ExecutionEnvironment(config(write_function(ECHO)), zygotes[version])

    async def go() -> None:
        assert ee.state is EnvState.STARTING
        assert await ee.start()
        assert ee.state is EnvState.READY
        first = await ee.invoke(b'{"n": 1}', time.time() + 3)
        second = await ee.invoke(b'{"n": 2}', time.time() + 3)
        assert first.ok and second.ok
        one, two = json.loads(first.payload), json.loads(second.payload)
        assert (one["n"], two["n"]) == (1, 2)
        assert one["pid"] == two["pid"] == ee.pid  # warm: same process
        assert one["python"] == [int(p) for p in version.split(".")]
        assert first.init_ms is not None and second.init_ms is None
        assert first.logs == b"init\ngot 1\n" and second.logs == b"got 2\n"
        ee.destroy()

    run(go())
    assert ee.state is EnvState.DEAD


def test_context_object(zygote: Zygote, write_function: Callable[..., str]) -> None:
    code = write_function(
        """
        def handler(event, context):
            return {
                "aws_request_id": context.aws_request_id,
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "cognito_identity_id": context.identity.cognito_identity_id,
                "custom": context.client_context.custom,
                "app_title": context.client_context.client.app_title,
            }
        """
    )
    ee = ExecutionEnvironment(config(code, function_name="ctxfn", memory_mb=256, timeout_s=5), zygote)
    result = run(
        start_and_invoke(
            ee,
            timeout_s=5,
            request_id="req-1",
            invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:ctxfn:live",
            identity={"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
            client_context={"client": {"app_title": "app"}, "custom": {"k": "v"}, "env": {}},
        )
    )
    ee.destroy()
    ctx = json.loads(result.payload)
    assert ctx["aws_request_id"] == "req-1" == result.request_id
    assert ctx["function_name"] == "ctxfn"
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"].endswith(":function:ctxfn:live")
    assert ctx["memory_limit_in_mb"] == "256"
    assert ctx["log_group_name"] == "/aws/lambda/ctxfn"
    assert ctx["log_stream_name"] == ee.log_stream_name and "/[$LATEST]" in ee.log_stream_name
    assert 4000 < ctx["remaining"] <= 5000
    assert ctx["cognito_identity_id"] == "id-1"
    assert ctx["custom"] == {"k": "v"} and ctx["app_title"] == "app"


def test_environment_variables(zygote: Zygote, write_function: Callable[..., str]) -> None:
    code = write_function(
        """
        import os, time
        def handler(event, context):
            return dict(os.environ, tzname=time.tzname[0], cwd=os.getcwd())
        """
    )
    cfg = config(
        code,
        function_name="envfn",
        memory_mb=512,
        region="eu-west-1",
        environment={"MY_VAR": "x", "AWS_REGION": "overridden?"},
        endpoint_url="http://127.0.0.1:4566",
        credentials=Credentials("AKID", "SECRET", "TOKEN"),
    )
    ee = ExecutionEnvironment(cfg, zygote)
    env = json.loads(run(start_and_invoke(ee, trace_id="Root=1-abc")).payload)
    ee.destroy()
    assert env["MY_VAR"] == "x"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"  # reserved wins
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "envfn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/envfn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == ee.log_stream_name
    assert env["_HANDLER"] == "lambda_function.handler"
    assert env["LAMBDA_TASK_ROOT"] == code == env["cwd"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["TZ"] == ":UTC" and env["tzname"] == "UTC"
    assert env["_X_AMZN_TRACE_ID"] == "Root=1-abc"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]) == (
        "AKID",
        "SECRET",
        "TOKEN",
    )
    assert "PYTHONPATH" not in env and "HOME" not in env  # nothing leaks from the server


def test_handler_exception_shape(zygote: Zygote, write_function: Callable[..., str]) -> None:
    code = write_function(
        """
        def helper():
            raise ValueError("bad input")

        def handler(event, context):
            helper()
        """
    )
    ee = ExecutionEnvironment(config(code), zygote)

    async def go() -> None:
        result = await start_and_invoke(ee, request_id="r-9")
        assert not result.ok and result.function_error == "Unhandled"
        doc = json.loads(result.payload)
        assert doc["errorType"] == "ValueError"
        assert doc["errorMessage"] == "bad input"
        assert doc["requestId"] == "r-9"
        assert len(doc["stackTrace"]) == 2  # handler and helper; no bootstrap frames
        assert "lambda_function.py" in doc["stackTrace"][0] and "in handler" in doc["stackTrace"][0]
        assert 'raise ValueError("bad input")' in doc["stackTrace"][1]
        assert ee.state is EnvState.READY  # a handler error does not cost the EE
        assert (await ee.invoke(b"{}", time.time() + 3)).function_error == "Unhandled"
        ee.destroy()

    run(go())


def test_unserialisable_result_is_a_marshal_error(zygote: Zygote, write_function: Callable[..., str]) -> None:
    ee = ExecutionEnvironment(config(write_function("def handler(e, c):\n    return {1, 2}\n")), zygote)
    doc = json.loads(run(start_and_invoke(ee)).payload)
    ee.destroy()
    assert doc["errorType"] == "Runtime.MarshalError"
    assert doc["errorMessage"].startswith("Unable to marshal response: Object of type set")


@pytest.mark.parametrize(
    ("source", "handler", "error_type", "message"),
    [
        (
            "x = 1\n",
            "missing_module.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing_module': No module named 'missing_module'",
        ),
        (
            "x = 1\n",
            "lambda_function.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'lambda_function'",
        ),
        (
            "def handler(:\n",
            "lambda_function.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'lambda_function'",
        ),
        ("x = 1\n", "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        ("raise RuntimeError('no config')\n", "lambda_function.handler", "RuntimeError", "no config"),
    ],
)
def test_init_failures(
    zygote: Zygote,
    write_function: Callable[..., str],
    source: str,
    handler: str,
    error_type: str,
    message: str,
) -> None:
    ee = ExecutionEnvironment(config(write_function(source), handler=handler), zygote)
    assert run(ee.start()) is False
    assert ee.state is EnvState.DEAD
    assert ee.init_error is not None
    doc = json.loads(ee.init_error)
    assert doc["errorType"] == error_type
    assert doc["errorMessage"].startswith(message)
    assert ee.pid is not None
    assert gone(ee.pid)
    with pytest.raises(EnvironmentError_):
        run(ee.invoke(b"{}", time.time() + 1))


@pytest.mark.parametrize(
    "body",
    ["time.sleep(30)", "while True:\n        pass"],
    ids=["sleeping", "infinite-loop"],
)
def test_timeout_kills_and_reports(
    zygote: Zygote,
    write_function: Callable[..., str],
    cgroups: CgroupSupport | None,
    body: str,
) -> None:
    code = write_function(f"import time\ndef handler(e, c):\n    print('working', flush=True)\n    {body}\n")
    ee = ExecutionEnvironment(config(code, timeout_s=0.5), zygote, cgroups)

    async def go() -> None:
        assert await ee.start()
        started = time.monotonic()
        result = await ee.invoke(b"{}", time.time() + 0.5, request_id="r-t")
        assert time.monotonic() - started < 1.5
        doc = json.loads(result.payload)
        assert doc["errorType"] == "Sandbox.Timedout"
        assert doc["errorMessage"] == "RequestId: r-t Error: Task timed out after 0.50 seconds"
        assert result.logs == b"working\n"

    run(go())
    assert ee.state is EnvState.DEAD
    assert ee.pid is not None
    assert gone(ee.pid)


def test_crash_is_an_exit_error(zygote: Zygote, write_function: Callable[..., str]) -> None:
    ee = ExecutionEnvironment(
        config(write_function("import os\ndef handler(e, c):\n    os._exit(3)\n")), zygote
    )
    doc = json.loads(run(start_and_invoke(ee)).payload)
    assert doc["errorType"] == "Runtime.ExitError"
    assert ee.state is EnvState.DEAD


def test_an_ee_dead_before_the_event_is_not_delivered(
    zygote: Zygote, write_function: Callable[..., str]
) -> None:
    """Killed while idle (its zygote died, say): the invocation never reached the function."""
    ee = ExecutionEnvironment(config(write_function(ECHO)), zygote)

    async def go() -> None:
        assert await ee.start()
        assert ee.pid is not None
        os.kill(ee.pid, 9)
        await until(lambda: gone(ee.pid))
        with pytest.raises(NotDelivered) as lost:
            await ee.invoke(b"{}", time.time() + 3, request_id="r-lost")
        assert json.loads(lost.value.result.payload)["errorType"] == "Runtime.ExitError"
        assert ee.state is EnvState.DEAD

    run(go())


def test_freeze_thaw_and_state_machine(zygote: Zygote, write_function: Callable[..., str]) -> None:
    ee = ExecutionEnvironment(config(write_function(ECHO)), zygote)

    async def go() -> None:
        assert await ee.start()
        ee.freeze()
        assert ee.state is EnvState.FROZEN
        assert ee.pid is not None
        pid = ee.pid
        await until(lambda: proc_state(pid) == "T")
        with pytest.raises(EnvironmentError_):
            ee.freeze()
        result = await ee.invoke(b'{"n": 3}', time.time() + 3)  # thaws on use
        assert result.ok and ee.state is EnvState.READY
        ee.destroy()
        ee.destroy()  # idempotent

    run(go())


def test_destroy_leaves_no_process_behind(
    zygote: Zygote, write_function: Callable[..., str], cgroups: CgroupSupport | None
) -> None:
    if cgroups is None:
        pytest.skip("a daemon in a new session escapes a process group; needs cgroups")
    code = write_function(
        """
        import subprocess
        def handler(e, c):
            p = subprocess.Popen(["sleep", "1000"], start_new_session=True)
            return p.pid
        """
    )
    ee = ExecutionEnvironment(config(code), zygote, cgroups)
    daemon = json.loads(run(start_and_invoke(ee)).payload)
    assert ee.pid is not None and alive(daemon) and alive(ee.pid)
    cgroup = ee.cgroup
    assert cgroup is not None
    ee.destroy()
    assert gone(daemon) and gone(ee.pid)
    assert all(not os.path.exists(d) for d in cgroup.dirs.values())


def test_output_larger_than_a_pipe_does_not_block(zygote: Zygote, write_function: Callable[..., str]) -> None:
    code = write_function(
        "def handler(e, c):\n    print('x' * 999, flush=True)\n" * 1
        + "    print('y' * 500_000)\n    return 1\n"
    )
    ee = ExecutionEnvironment(config(code), zygote)
    result = run(start_and_invoke(ee, timeout_s=3))
    ee.destroy()
    assert result.ok
    assert len(result.logs) == 1000 + 500_001


def test_oversized_response_and_max_memory(
    zygote: Zygote, write_function: Callable[..., str], cgroups: CgroupSupport | None
) -> None:
    code = write_function(
        """
        def handler(event, context):
            blob = bytearray(event["mb"] * 1024 * 1024)
            return "x" * event["size"]
        """
    )
    for sandbox in (None, cgroups):
        ee = ExecutionEnvironment(config(code), zygote, sandbox)

        async def go(ee: ExecutionEnvironment = ee) -> None:
            assert await ee.start()
            small = await ee.invoke(b'{"size": 10, "mb": 40}', time.time() + 3)
            assert small.ok and small.max_memory_mb is not None and 40 < small.max_memory_mb < 200
            big = await ee.invoke(
                b'{"size": 7000000, "mb": 0}', time.time() + 3, max_response_bytes=6_291_556
            )
            assert not big.ok
            doc = json.loads(big.payload)
            assert doc["errorType"] == "Function.ResponseSizeTooLarge"
            assert "(6291556 bytes)" in doc["errorMessage"]
            assert ee.state is EnvState.READY
            ee.destroy()

        run(go())


def test_runtime_provided_sdk_on_another_interpreter(write_function: Callable[..., str]) -> None:
    """A zygote for 3.12 given a library path preloads boto3 from it, and the handler can use it."""
    # where the SDK lives, found without importing it into this (engine-side) process
    spec = importlib.util.find_spec("boto3")
    assert spec is not None and spec.origin is not None
    found = [i for i in discover_interpreters() if i.version == "3.12"]
    if not found:
        pytest.skip("no python3.12")
    sdk = os.path.dirname(os.path.dirname(spec.origin))
    zygote = Zygote.start(found[0], (sdk,))
    try:
        assert "boto3" in zygote.preloaded
        code = write_function(
            """
            import sys
            boto3 = sys.modules["boto3"]  # preloaded by the zygote: the handler imports nothing
            def handler(event, context):
                client = boto3.client("sts", region_name="us-east-1")
                return [boto3.__version__, client.meta.endpoint_url]
            """
        )
        ee = ExecutionEnvironment(config(code, endpoint_url="http://127.0.0.1:9"), zygote)
        result = run(start_and_invoke(ee))
        ee.destroy()
        assert result.ok, result.payload
        assert json.loads(result.payload) == [importlib.metadata.version("boto3"), "http://127.0.0.1:9"]
    finally:
        zygote.stop()


def test_busy_ee_refuses_a_second_invocation_and_cancel_kills_it(
    zygote: Zygote, write_function: Callable[..., str]
) -> None:
    ee = ExecutionEnvironment(
        config(write_function("import time\ndef handler(e, c):\n    time.sleep(30)\n")), zygote
    )

    async def go() -> None:
        assert await ee.start()
        task = asyncio.create_task(ee.invoke(b"{}", time.time() + 30))
        await asyncio.sleep(0.05)
        assert ee.state is EnvState.BUSY
        with pytest.raises(EnvironmentError_):
            await ee.invoke(b"{}", time.time() + 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())
    assert ee.state is EnvState.DEAD
    assert ee.pid is not None and gone(ee.pid)
