"""Hostile deployment packages (issue 13, item 7): zip bombs as layers and functions, entries
that escape the code directory, a 40,000-file zip that once stalled every service while it
was unpacked on the event loop, and unpacked trees that were never removed."""

from __future__ import annotations

import io
import os
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import RunningServer, start_server
from tests.services.lambda_.attachment_e2e import ROLE, code_zip, layer_zip

LIMIT = 262144000
MB = 1024 * 1024


def bomb(
    size: int, *, name: str = "python/big.bin", lie: bool = False, extra: dict[str, bytes] | None = None
) -> bytes:
    """A zip with one entry of `size` zero bytes, deflated (about size / 1000 bytes); `lie`
    declares 1 byte for it in both headers."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk, left, crc, parts = bytes(MB), size, 0, []
    while left:
        n = min(left, MB)
        parts.append(comp.compress(chunk[:n]))
        crc = zlib.crc32(chunk[:n], crc)
        left -= n
    parts.append(comp.flush())
    data = b"".join(parts)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for extra_name, body in (extra or {}).items():
            z.writestr(extra_name, body)
        info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.CRC, info.compress_size, info.file_size = crc, len(data), size
        info.header_offset = z.fp.tell()  # type: ignore[union-attr]
        z.fp.write(info.FileHeader())  # type: ignore[union-attr]
        z.fp.write(data)  # type: ignore[union-attr]
        z.filelist.append(info)
        z.NameToInfo[name] = info
        z.start_dir = z.fp.tell()  # type: ignore[union-attr]
    raw = bytearray(buf.getvalue())
    if lie:
        local = raw.rfind(b"PK\x03\x04")
        struct.pack_into("<I", raw, local + 22, 1)
        central = raw.rfind(b"PK\x01\x02")
        struct.pack_into("<I", raw, central + 24, 1)
    return bytes(raw)


def many_bombs(count: int, each: int) -> bytes:
    """`count` entries of `each` zero bytes: every declared size small, the sum past the limit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for i in range(count):
            z.writestr(f"python/part{i}.bin", bytes(each))
    return buf.getvalue()


def disk_usage(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def refused(call: Callable[..., Any], **kw: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**kw)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def create(lam: Any, name: str, data: bytes, **kw: Any) -> dict[str, Any]:
    return lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": data},
        **kw,
    )


TOO_BIG = ("InvalidParameterValueException", f"Unzipped size must be smaller than {LIMIT} bytes", 400)


def test_zip_bomb_layer_is_refused_and_leaves_nothing_big(server: RunningServer) -> None:
    lam = server.client("lambda")
    before = disk_usage(server.data_dir)
    assert (
        refused(lam.publish_layer_version, LayerName="bomb", Content={"ZipFile": bomb(300 * MB)}) == TOO_BIG
    )
    assert (
        refused(lam.publish_layer_version, LayerName="bomb", Content={"ZipFile": many_bombs(30, 10 * MB)})
        == TOO_BIG
    )
    assert lam.list_layer_versions(LayerName="bomb")["LayerVersions"] == []
    assert disk_usage(server.data_dir) - before < 20 * MB


def test_zip_bomb_function_is_refused_and_leaves_nothing_big(server: RunningServer) -> None:
    lam = server.client("lambda")
    before = disk_usage(server.data_dir)
    data = bomb(300 * MB, name="big.bin", extra={"index.py": b"def handler(e, c):\n    return 1\n"})
    assert refused(create, lam=lam, name="bomb-fn", data=data) == TOO_BIG
    fn = "bomb-target"
    create(lam, fn, code_zip())
    assert refused(lam.update_function_code, FunctionName=fn, ZipFile=data) == TOO_BIG
    assert disk_usage(server.data_dir) - before < 20 * MB


def test_lying_sizes_never_inflate_past_what_they_declare(server: RunningServer) -> None:
    """A zip declaring 1 byte for a 300 MB entry: it may be accepted (then fail as a bad zip,
    as AWS reports unreadable packages) but nothing of it is ever inflated to disk."""
    lam = server.client("lambda")
    before = disk_usage(server.data_dir)
    data = bomb(300 * MB, name="big.bin", lie=True, extra={"index.py": b"def handler(e, c):\n    return 1\n"})
    try:
        create(lam, "liar", data)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidParameterValueException"
    else:
        lam.get_waiter("function_active_v2").config.max_attempts = 1
        deadline = time.monotonic() + 30
        while lam.get_function_configuration(FunctionName="liar")["State"] == "Pending":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with pytest.raises(ClientError):
            lam.invoke(FunctionName="liar", Payload=b"{}")
    assert disk_usage(server.data_dir) - before < 20 * MB


def test_code_and_layers_together_are_limited(server: RunningServer) -> None:
    lam = server.client("lambda")
    layer = lam.publish_layer_version(LayerName="half", Content={"ZipFile": bomb(150 * MB)})
    data = bomb(150 * MB, name="big.bin", extra={"index.py": b"def handler(e, c):\n    return 1\n"})
    code, message, status = refused(
        create, lam=lam, name="combined", data=data, Layers=[layer["LayerVersionArn"]]
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith(
        f"Function code combined with layers exceeds the maximum allowed size of {LIMIT} bytes. The actual size is "
    ), message
    create(lam, "combined", data)
    code, message, _ = refused(
        lam.update_function_configuration, FunctionName="combined", Layers=[layer["LayerVersionArn"]]
    )
    assert code == "InvalidParameterValueException" and "combined with layers" in message


def escaping(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, body, unix mode) entries, names written as given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return 1\n")
        for name, body, mode in entries:
            info = zipfile.ZipInfo("placeholder", (2020, 1, 1, 0, 0, 0))
            info.filename = name  # ZipInfo would strip "/" and ".." from the name
            info.create_system = 3
            info.external_attr = mode << 16
            z.writestr(info, body)
    return buf.getvalue()


@pytest.mark.parametrize(
    "entries",
    [
        [("../../escape.py", b"x", 0o100644)],
        [("/tmp/absolute.py", b"x", 0o100644)],
        [("link", b"/etc", 0o120777)],
        [("link", b"../../..", 0o120777)],
        [("d", b".", 0o120777), ("d/d/d/up", b"../../../x", 0o120777)],  # escapes only when followed
        [("out", b"..", 0o120777), ("out/evil.py", b"x", 0o100644)],
    ],
    ids=["dotdot", "absolute", "abs-symlink", "up-symlink", "chained-symlinks", "write-through-symlink"],
)
def test_entries_escaping_the_tree_are_refused(
    server: RunningServer, entries: list[tuple[str, bytes, int]]
) -> None:
    lam = server.client("lambda")
    data = escaping(entries)
    code, message, status = refused(create, lam=lam, name="escape", data=data)
    assert (code, status) == ("InvalidParameterValueException", 400), message
    code, message, status = refused(lam.publish_layer_version, LayerName="escape", Content={"ZipFile": data})
    assert (code, status) == ("InvalidParameterValueException", 400), message


def test_a_symlink_inside_the_tree_works(server: RunningServer) -> None:
    lam = server.client("lambda")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("lib/real.py", "def handler(e, c):\n    return 'via link'\n")
        info = zipfile.ZipInfo("index.py", (2020, 1, 1, 0, 0, 0))
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        z.writestr(info, "lib/real.py")
    create(lam, "linked", buf.getvalue())
    lam.get_waiter("function_active_v2").wait(FunctionName="linked", WaiterConfig={"Delay": 0.2})
    out = lam.invoke(FunctionName="linked", Payload=b"{}")
    assert out["Payload"].read() == b'"via link"', out


def forty_thousand_files() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(e, c):\n    return 'many'\n")
        for i in range(40_000):
            z.writestr(f"pkg/d{i // 1000}/f{i}.txt", b"x")
    return buf.getvalue()


def test_forty_thousand_files_do_not_stall_other_clients(server: RunningServer) -> None:
    data = forty_thousand_files()
    other = server.client("dynamodb")  # another client, on its own connection
    other.list_tables()
    worst = [0.0]
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            started = time.monotonic()
            other.list_tables()
            worst[0] = max(worst[0], time.monotonic() - started)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        lam = server.client("lambda")
        create(lam, "many-files", data, Timeout=30)
        lam.get_waiter("function_active_v2").wait(FunctionName="many-files", WaiterConfig={"Delay": 0.2})
        out = lam.invoke(FunctionName="many-files", Payload=b"{}")  # unpacks the 40,000 files
        assert out["Payload"].read() == b'"many"'
    finally:
        stop.set()
        thread.join()
    print(f"worst latency of another client while 40,000 files were stored and unpacked: {worst[0]:.3f} s")
    assert worst[0] < 1.0, f"another client waited {worst[0]:.2f} s"


def code_trees(server: RunningServer) -> set[str]:
    root = server.data_dir / "code"
    return {p.name for p in root.iterdir() if not p.name.startswith(".")} if root.is_dir() else set()


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def sha_hex(config: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(config["CodeSha256"]).hex()


def test_unpacked_trees_are_removed_when_nothing_uses_them(server: RunningServer) -> None:
    lam = server.client("lambda")
    waiter = lam.get_waiter("function_updated_v2")
    layer = lam.publish_layer_version(LayerName="gc-layer", Content={"ZipFile": layer_zip()})
    first = create(lam, "gc-fn", escaping([("first.txt", b"1", 0o100644)]), Layers=[layer["LayerVersionArn"]])
    lam.get_waiter("function_active_v2").wait(FunctionName="gc-fn", WaiterConfig={"Delay": 0.2})
    lam.invoke(FunctionName="gc-fn", Payload=b"{}")
    layer_tree = "layer" + next(t for t in code_trees(server) if t.startswith("layer"))[5:]
    assert sha_hex(first) in code_trees(server) and layer_tree in code_trees(server)
    # new code: the first tree is used by nothing any more
    second = lam.update_function_code(
        FunctionName="gc-fn", ZipFile=escaping([("second.txt", b"2", 0o100644)])
    )
    waiter.wait(FunctionName="gc-fn", WaiterConfig={"Delay": 0.2})
    lam.invoke(FunctionName="gc-fn", Payload=b"{}")
    assert sha_hex(second) in code_trees(server)
    wait_until(lambda: sha_hex(first) not in code_trees(server))
    # a published version keeps its tree while the function lives; deleting it all removes it
    lam.publish_version(FunctionName="gc-fn")
    lam.get_waiter("function_active_v2").wait(
        FunctionName="gc-fn", Qualifier="1", WaiterConfig={"Delay": 0.2}
    )
    lam.invoke(FunctionName="gc-fn", Qualifier="1", Payload=b"{}")
    assert sha_hex(second) in code_trees(server)
    lam.delete_function(FunctionName="gc-fn")
    wait_until(lambda: sha_hex(second) not in code_trees(server) and layer_tree not in code_trees(server))


def test_unused_trees_and_leftovers_are_removed_at_start(tmp_path: Path) -> None:
    code = tmp_path / "data" / "code"
    code.mkdir(parents=True)
    for name in ("ab" * 32, ".trash-" + "cd" * 32 + ".1", "layer" + "ef" * 16):
        (code / name / "sub").mkdir(parents=True)
        (code / name / "sub" / "f.py").write_text("x = 1\n")
        os.chmod(code / name / "sub", 0o555)  # read-only, as unpacked trees are
    srv = start_server(tmp_path / "data")
    try:
        wait_until(lambda: not any(code.iterdir()))
    finally:
        srv.stop()
