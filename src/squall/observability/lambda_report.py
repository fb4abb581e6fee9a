"""The lines Lambda frames every invocation's output with, as one formatter.

Used both for the durable log stream (one event per line, as the Lambda Python
runtime emits them) and for `Invoke`'s `LogType=Tail`, so the two never differ::

    START RequestId: <id> Version: <version>
    <the function's output, one event per line>
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t
        Max Memory Used: 40 MB\t[Init Duration: 3.45 ms\t]
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def billed_ms(duration_ms: float) -> int:
    """Billed duration: rounded up to the next millisecond, at least 1 ms."""
    return max(1, math.ceil(duration_ms))


def gb_seconds(memory_mb: int, billed: int) -> float:
    return memory_mb / 1024 * billed / 1000


@dataclass(frozen=True)
class Report:
    """What one invocation's frame says; plain values, so no layer depends on the engine's types."""

    request_id: str
    version: str
    output: bytes
    duration_ms: float
    memory_mb: int
    max_memory_mb: int | None = None
    init_ms: float | None = None

    @property
    def billed_ms(self) -> int:
        return billed_ms(self.duration_ms)


def output_lines(output: bytes) -> list[str]:
    """The function's output as log events: one per line, each ending in a newline."""
    if not output:
        return []
    text = output.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line + "\n" for line in lines]


def report_line(r: Report) -> str:
    line = (
        f"REPORT RequestId: {r.request_id}\tDuration: {r.duration_ms:.2f} ms\t"
        f"Billed Duration: {r.billed_ms} ms\tMemory Size: {r.memory_mb} MB\t"
        f"Max Memory Used: {r.max_memory_mb or 0} MB\t"
    )
    if r.init_ms is not None:
        line += f"Init Duration: {r.init_ms:.2f} ms\t"
    return line + "\n"


def invocation_events(r: Report) -> list[str]:
    """START, the output lines, END and REPORT: the messages of one invocation's log events."""
    return [
        f"START RequestId: {r.request_id} Version: {r.version}\n",
        *output_lines(r.output),
        f"END RequestId: {r.request_id}\n",
        report_line(r),
    ]


def tail(r: Report, limit: int = 4096) -> bytes:
    """The last `limit` bytes of the framed log, as `LogType=Tail` returns it."""
    return "".join(invocation_events(r)).encode()[-limit:]
