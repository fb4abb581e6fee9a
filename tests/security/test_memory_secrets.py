"""Secrets never pass through the zygote (issue 13, item 1).

The attack: the zygote used to receive every spawn spec (environment variables, role keys,
session token) and fork; freed buffers stayed in its heap, and every EE forked later
inherited them, so a function in account B read account A's credentials in its own memory.

Here three functions (two in account A with different roles, one in account B) each get a
unique marker variable and their role's credentials. Each is first run once (its spawn went
through the zygote), then a second EE of each (version 1, forked after every other spawn)
scans all of its readable memory (/proc/self/maps + /proc/self/mem) for the others' markers,
secret keys and session tokens. The needles are sent as a prefix plus a digest of the whole,
so the scanner never holds a needle it did not find. Then, as root, the test scans the
zygotes' own memory for every marker and secret.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from squall.engine.host import discover_interpreters
from tests.conftest import RunningServer, start_server
from tests.security import procs
from tests.services.lambda_.helpers import create, make_zip, publish, unique

pytestmark = pytest.mark.skipif(
    not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
)

ACCOUNT_A, ACCOUNT_B = "000000000000", "111111111111"

SCANNER = """
import hashlib, os

def scan(needles):
    found = set()
    with open("/proc/self/maps") as f:
        regions = [line.split() for line in f]
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        for fields in regions:
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                data = os.pread(fd, end - start, start)
            except OSError:
                continue
            for i, (prefix, length, digest) in enumerate(needles):
                at = data.find(prefix.encode())
                while at >= 0 and i not in found:
                    if hashlib.sha256(data[at : at + length]).hexdigest() == digest:
                        found.add(i)
                    at = data.find(prefix.encode(), at + 1)
            del data
    finally:
        os.close(fd)
    return sorted(found)

def handler(event, context):
    if event["op"] == "report":
        return {
            "marker": os.environ["MARKER"],
            "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
            "token": os.environ["AWS_SESSION_TOKEN"],
        }
    return scan(event["needles"])
"""


def needle(secret: str) -> list[Any]:
    """What the scanner is told: a prefix, the length and a digest (never the whole secret)."""
    return [secret[:12], len(secret), hashlib.sha256(secret.encode()).hexdigest()]


@pytest.fixture(scope="module")
def two_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(
        tmp_path_factory.mktemp("secrets") / "data",
        "--root-key",
        f"test:test:{ACCOUNT_A}",
        "--root-key",
        f"bkey:bsecret:{ACCOUNT_B}",
    )
    yield srv
    srv.stop()


def _memory_holds(pid: int, secrets: list[str]) -> list[str]:
    found = []
    wanted = [s.encode() for s in secrets]
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                data = os.pread(fd, end - start, start)
            except OSError:
                continue
            found += [s.decode() for s in wanted if s in data]
    finally:
        os.close(fd)
    return found


def test_no_function_finds_another_functions_secrets_in_its_memory(two_accounts: RunningServer) -> None:
    clients = {
        ACCOUNT_A: two_accounts.client("lambda"),
        ACCOUNT_B: two_accounts.client("lambda", access_key="bkey", secret="bsecret"),
    }
    functions = [(ACCOUNT_A, "r1"), (ACCOUNT_A, "r2"), (ACCOUNT_B, "rb")]
    names, markers = [], []
    for account, role in functions:
        name, marker = unique("scan"), f"MARKER-{uuid.uuid4().hex}{uuid.uuid4().hex}"
        create(
            clients[account],
            name,
            Runtime="python3.11",
            Role=f"arn:aws:iam::{account}:role/{role}",
            Timeout=60,
            MemorySize=512,
            Environment={"Variables": {"MARKER": marker}},
            Code={"ZipFile": make_zip(SCANNER)},
        )
        assert publish(clients[account], name) == "1"
        names.append(name)
        markers.append(marker)

    def invoke(i: int, event: dict[str, Any], qualifier: str) -> Any:
        out = clients[functions[i][0]].invoke(
            FunctionName=names[i], Qualifier=qualifier, Payload=json.dumps(event).encode()
        )
        body = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, body
        return body

    # Round 1: every function's spawn passes the server, the zygote, the EE.
    reports = [invoke(i, {"op": "report"}, "$LATEST") for i in range(len(functions))]
    assert [r["marker"] for r in reports] == markers
    secrets = [[r["marker"], r["secret"], r["token"]] for r in reports]
    assert len({s for group in secrets for s in group}) == 9  # all distinct

    # Round 2: a new EE of each (forked after every spawn above) scans its own memory.
    for i in range(len(functions)):
        others = [s for j, group in enumerate(secrets) if j != i for s in group]
        found = invoke(i, {"op": "scan", "needles": [needle(s) for s in others]}, "1")
        assert found == [], f"{names[i]} found {[others[k][:16] for k in found]} in its memory"
    # Sanity: the scanner finds a secret that is in its memory (its own marker).
    assert invoke(0, {"op": "scan", "needles": [needle(markers[0])]}, "1") == [0]

    # The zygotes themselves never held any of it.
    zygotes = procs.zygotes(two_accounts.process.pid)
    assert zygotes, "no zygote found under the server"
    everything = [s for group in secrets for s in group]
    for pid in zygotes:
        assert _memory_holds(pid, everything) == [], f"zygote {pid} holds a function's secret"
