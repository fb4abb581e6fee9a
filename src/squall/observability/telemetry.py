"""`Telemetry`: the log store, its background writer and the metrics, owned together.

Whoever builds it (the server's composition root; a provider built alone in a
test) calls ``start()`` and ``close()``. ``record_lambda`` is what the Lambda
invocation path calls after each run: the invocation's framed log events go to
``/aws/lambda/NAME`` in the execution environment's stream (through the
writer, off the hot path) and its metrics to the per-minute aggregation.
"""

from __future__ import annotations

import time

from squall.observability.lambda_report import Report, invocation_events
from squall.observability.logs import LogStore
from squall.observability.metrics import Invocation, Metrics
from squall.observability.writer import LogWriter, Periodic
from squall.storage import Store

RETENTION_SWEEP_S = 3600.0


class Telemetry:
    def __init__(self, store: Store, *, interval: float = 0.05) -> None:
        self.logs = LogStore(store)
        self.metrics = Metrics(store)
        self.writer = LogWriter(
            self.logs,
            interval=interval,
            ticks=[self.metrics.flush, Periodic(self.logs.expire, RETENTION_SWEEP_S)],
        )

    def start(self) -> None:
        self.writer.start()

    def close(self) -> None:
        """Write every buffered log event and every metric, including the current minute's."""
        self.writer.close()
        self.metrics.flush(everything=True)

    def record_lambda(
        self,
        inv: Invocation,
        report: Report,
        log_stream: str | None,
        ended_at: float | None = None,
    ) -> None:
        """Log one finished invocation (START, output lines, END, REPORT) and count its metrics."""
        self.metrics.record_invocation(inv)
        if log_stream is None:
            return
        end_ms = int((ended_at or time.time()) * 1000)
        start_ms = end_ms - int(report.duration_ms)
        lines = invocation_events(report)
        events = [(start_ms, lines[0])] + [(end_ms, line) for line in lines[1:]]
        self.writer.append(inv.account, inv.region, f"/aws/lambda/{inv.function}", log_stream, events)
