"""Committed transactions survive kill -9 of the process that made them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from squall.storage import SQLiteStore, pack, unpack

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = textwrap.dedent(
    """
    import sys, time
    from squall.storage import SQLiteStore, pack
    store = SQLiteStore(sys.argv[1])
    with store.write() as w:
        w.put("ns", b"first", b"1")
        for i in range(100):
            w.put("ns", pack("batch", i), b"x" * 100)
    print("committed", flush=True)
    i = 0
    while True:  # keep committing until killed; report each commit after it returns
        with store.write() as w:
            seq = w.next_sequence("s")
            w.put("ns", pack("loop", seq), str(seq).encode())
        print(seq, flush=True)
        i += 1
        if i == 2000:
            time.sleep(60)
    """
)


def _run_and_kill(db: Path, stop_after_lines: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.strip())
            if len(lines) >= stop_after_lines:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    lines += proc.stdout.read().split()  # acknowledged before the kill but not read yet
    return lines


@pytest.mark.parametrize("stop_after", [1, 37])
def test_committed_data_survives_sigkill(tmp_path: Path, stop_after: int) -> None:
    db = tmp_path / "d.db"
    lines = _run_and_kill(db, stop_after)
    assert lines[0] == "committed"
    acknowledged = [int(x) for x in lines[1:]]
    store = SQLiteStore(db)
    try:
        with store.read() as r:
            assert r.get("ns", b"first") == b"1"
            assert r.count("ns", pack("batch")) == 100
            found = [unpack(k)[1] for k, _ in r.scan("ns", prefix=pack("loop"))]
        # everything acknowledged is there; at most the in-flight commit beyond it
        assert found[: len(acknowledged)] == acknowledged
        assert len(found) - len(acknowledged) <= 1
        with store.write() as w:
            assert w.next_sequence("s") == len(found) + 1
    finally:
        store.close()
