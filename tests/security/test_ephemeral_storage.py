"""/tmp holds EphemeralStorage, separately from MemorySize, and cannot fill the host (issue 13, item 8).

The attack (and the plain bug): /tmp was a tmpfs whose pages were charged to the function's
memory cgroup, so a 128 MB function with 1 GB of EphemeralStorage was killed writing 200 MB,
while a tmpfs bigger than the host's memory could be asked for. Now /tmp is the EE's own
disk-backed filesystem of EphemeralStorage's size: 200 MB fit in a 128 MB function, writing
past the size fails with ENOSPC inside the function, and the server is fine.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from squall.engine import scratch
from squall.engine.host import discover_interpreters, probe_isolation
from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = [
    pytest.mark.skipif(
        not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
    ),
    pytest.mark.skipif(not probe_isolation().private_root, reason="no private root on this host"),
    pytest.mark.skipif(not scratch.supported(), reason="no loop devices / mkfs.ext4, or not root"),
]

WRITER = """
import errno, os
def handler(event, context):
    chunk = b"\\xa5" * (1024 * 1024)
    written = 0
    error = None
    path = "/tmp/" + event.get("name", "fill")
    try:
        with open(path, "wb") as f:
            for _ in range(event["mb"]):
                f.write(chunk)
                written += 1
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
    st = os.statvfs("/tmp")
    if event.get("remove"):
        os.unlink(path)
    return {"written_mb": written, "error": error, "tmp_mb": st.f_blocks * st.f_frsize // 2**20,
            "listing": sorted(os.listdir("/tmp"))}
"""


def call(lam: object, name: str, event: dict) -> dict:  # type: ignore[type-arg]
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())  # type: ignore[attr-defined]
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body  # type: ignore[no-any-return]


def test_tmp_is_ephemeral_storage_not_memory(server: RunningServer) -> None:
    lam = server.client("lambda", read_timeout=120)
    name = unique("tmp")
    create(
        lam,
        name,
        Runtime="python3.11",
        MemorySize=128,
        Timeout=120,
        EphemeralStorage={"Size": 1024},
        Code={"ZipFile": make_zip(WRITER)},
    )
    # 200 MB in /tmp of a 128 MB function: fine (the tmpfs charged to its memory was OOM-killed)
    out = call(lam, name, {"mb": 200, "name": "a", "remove": True})
    assert out["error"] is None and out["written_mb"] == 200, out
    assert 900 <= out["tmp_mb"] <= 1024  # /tmp is EphemeralStorage's size
    # past EphemeralStorage: ENOSPC inside the function, which goes on running
    out = call(lam, name, {"mb": 1100, "name": "b"})
    assert out["error"] == "ENOSPC" and 900 <= out["written_mb"] < 1024, out
    # the server is fine
    with urllib.request.urlopen(f"{server.endpoint}/_squall/health", timeout=5) as health:
        assert health.status == 200
    assert call(lam, name, {"mb": 1, "name": "c"})["listing"] == ["b", "c"]  # same EE, its own /tmp


def test_a_new_ee_starts_with_an_empty_tmp(server: RunningServer) -> None:
    """Filesystems are reused: nothing one EE wrote is left for the next (another function's)."""
    lam = server.client("lambda", read_timeout=120)
    names = []
    for _ in range(2):
        names.append(unique("tmp-reuse"))
        create(lam, names[-1], Runtime="python3.11", MemorySize=128, Code={"ZipFile": make_zip(WRITER)})
    for round_ in range(3):
        for name in names:
            out = call(lam, name, {"mb": 1, "name": f"{name}-{round_}"})
            assert out["listing"] == [f"{name}-{round_}"], out
            lam.update_function_configuration(FunctionName=name, Description=f"round {round_}")
            lam.get_waiter("function_updated_v2").wait(FunctionName=name)  # the next call: a new EE
