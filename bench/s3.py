"""S3 throughput: 1 KB PUT/s and GET/s with wrk, and a 1 GB object streamed up and down.

Starts a Squall server on a free port with a throwaway data directory. Small
objects: wrk replays presigned (SigV4 query-signed) PUT and GET URLs over
1,000 keys, rotated per request by a Lua script, so every request is signature
-checked, routed, parsed and stored (a 1 KB body is stored inline in the store:
PUT is one commit, GET one read). Then PUTs of a medium body (`--medium-kb`,
default 256: above the 64 KiB inline limit, so a blob file each: fsync +
rename + directory fsync). Large object: a 1 GiB PUT and GET through
http.client in 1 MiB pieces, with the server's RSS sampled from
/proc/<pid>/status during each (growth over the idle RSS is reported).

    python bench/s3.py [--duration 10] [--connections 16] [--repeat 3] [--size-mb 1024] [--medium-kb 256]
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import boto3
from botocore.config import Config
from harness import arguments, line, squall_server, wrk

KEYS = 1000
MiB = 1 << 20


def _client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(signature_version="s3v4"),
    )  # fmt: skip


def rotating_script(path: Path, method: str, urls: list[str], body: bytes) -> Path:
    """A wrk script sending `method` to each of `urls` in turn (paths with query)."""
    paths = [u.split("/", 3)[3] for u in urls]
    lines = [f'wrk.method = "{method}"', "local paths = {"]
    lines += [f'  "/{p}",' for p in paths]
    lines += ["}", "local i = 0"]
    if body:
        lines.append(f'wrk.body = "{body.decode()}"')
    lines += [
        "request = function()",
        "  i = (i % #paths) + 1",
        "  return wrk.format(nil, paths[i])",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def rss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


class RssPeak:
    """Samples a process's RSS every 20 ms in a thread; `peak` in KiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pieces(total: int) -> Iterator[bytes]:
    block = os.urandom(MiB)
    for i in range(total // MiB):
        yield block[i % 251 :] + block[: i % 251]


def big_object(endpoint: str, pid: int, size_mb: int) -> None:
    s3 = _client(endpoint)
    s3.create_bucket(Bucket="bench-big")
    total = size_mb * MiB
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "bench-big", "Key": "big"}, ExpiresIn=3600
    )
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": "bench-big", "Key": "big"}, ExpiresIn=3600
    )
    parsed = urllib.parse.urlsplit(endpoint)
    idle = rss_kib(pid)

    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
    with RssPeak(pid) as peak:
        start = time.perf_counter()
        conn.putrequest("PUT", put_url.split(f":{parsed.port}", 1)[1])
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        for piece in _pieces(total):
            conn.send(piece)
        resp = conn.getresponse()
        resp.read()
        elapsed = time.perf_counter() - start
    assert resp.status == 200, resp.status
    print(f"PUT {size_mb} MiB: {total / MiB / elapsed:7.0f} MB/s  ({elapsed:.2f} s)  "
          f"server RSS growth {(peak.peak - idle) / 1024:.1f} MiB (idle {idle / 1024:.0f} MiB)")  # fmt: skip

    idle = rss_kib(pid)
    with RssPeak(pid) as peak:
        start = time.perf_counter()
        conn.request("GET", get_url.split(f":{parsed.port}", 1)[1])
        resp = conn.getresponse()
        got = 0
        while chunk := resp.read(MiB):
            got += len(chunk)
        elapsed = time.perf_counter() - start
    assert resp.status == 200 and got == total, (resp.status, got)
    print(f"GET {size_mb} MiB: {total / MiB / elapsed:7.0f} MB/s  ({elapsed:.2f} s)  "
          f"server RSS growth {(peak.peak - idle) / 1024:.1f} MiB")  # fmt: skip
    conn.close()


def main() -> None:
    args = arguments(
        "S3 1 KB PUT/GET with wrk, and a 1 GB streamed object", **{"size-mb": "1024", "medium-kb": "256"}
    )
    body = b"x" * 1024
    with (
        tempfile.TemporaryDirectory() as tmp,
        squall_server(f"{tmp}/data", args.workers, args.profile) as endpoint,
    ):
        pid = json.loads((Path(tmp) / "data" / "server.json").read_text())["pid"]
        s3 = _client(endpoint)
        s3.create_bucket(Bucket="bench")
        keys = [f"obj/{i:05d}" for i in range(KEYS)]
        for k in keys:  # GETs find every key whatever the PUT rate was
            s3.put_object(Bucket="bench", Key=k, Body=body)
        puts = [s3.generate_presigned_url("put_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600)
                for k in keys]  # fmt: skip
        gets = [s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": k}, ExpiresIn=3600)
                for k in keys]  # fmt: skip
        put_script = rotating_script(Path(tmp) / "put.lua", "PUT", puts, body)
        get_script = rotating_script(Path(tmp) / "get.lua", "GET", gets, b"")
        for c in args.connection_counts:
            print(
                line("PUT 1 KB", c, wrk(endpoint + "/", put_script, c, args.duration, args.repeat)),
                flush=True,
            )
        for c in args.connection_counts:
            print(
                line("GET 1 KB", c, wrk(endpoint + "/", get_script, c, args.duration, args.repeat)),
                flush=True,
            )
        medium = int(args.medium_kb) * 1024
        if medium:
            medium_script = rotating_script(Path(tmp) / "medium.lua", "PUT", puts, b"m" * medium)
            for c in args.connection_counts:
                print(
                    line(
                        f"PUT {medium >> 10} KB",
                        c,
                        wrk(endpoint + "/", medium_script, c, args.duration, args.repeat),
                    ),
                    flush=True,
                )
        big_object(endpoint, pid, int(args.size_mb))


if __name__ == "__main__":
    main()
