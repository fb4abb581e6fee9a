"""The pollers of the SQS event source mappings: `engine.pollers.PollerManager` fed from
the mappings store.

`desired()` turns every Enabled SQS mapping into a `PollerSpec`: its cap is the lower of
`ScalingConfig.MaximumConcurrency` and the function's reserved concurrency; its revision
holds what needs fresh pollers when it changes (queue, function, batching, filters,
response types). `open(spec)` builds the `QueueSource` and `SqsBatchHandler`. Kinesis
and DynamoDB stream mappings are left to their own sources.

`FilterCriteria` patterns are compiled with the shared event-pattern matcher
(`squall.eventpattern`, Lambda dialect) over `lambda_record_document(record)` (the body
parsed when it is JSON); a message any filter matches is processed.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from squall.engine.pollers import MAX_CONCURRENCY, PollerManager, PollerSpec
from squall.eventpattern import compile_pattern
from squall.lib.tasks import Started
from squall.services.lambda_ import esm_rules as rules
from squall.services.lambda_.esm import EventSourceMappings
from squall.services.lambda_.esm_sqs import Matcher, QueueSource, SqsBatchHandler
from squall.services.lambda_.invoker import Invoker
from squall.services.lambda_.names import parse_function
from squall.services.ports import QueueFeed

log = logging.getLogger("squall.lambda.esm")


def compile_filters(criteria: dict[str, Any] | None) -> Matcher | None:
    """One matcher for a mapping's FilterCriteria (any filter matches); None without filters."""
    filters = (criteria or {}).get("Filters") or []
    if not filters:
        return None

    patterns = [compile_pattern(orjson.loads(f["Pattern"]), dialect="lambda") for f in filters]
    return lambda doc: any(p.matches(doc) for p in patterns)


def _scope(cfg: dict[str, Any]) -> tuple[str, str]:
    """(account, region) of a mapping, from its ARN."""
    parts = cfg["EventSourceMappingArn"].split(":")
    return parts[4], parts[3]


class SqsPollers:
    def __init__(
        self,
        mappings: EventSourceMappings,
        invoker: Invoker,
        queues: QueueFeed,
        endpoint: str | None = None,
        interval_s: float = 0.5,
    ) -> None:
        self.mappings = mappings
        self.invoker = invoker
        self.queues = queues
        self.endpoint = endpoint
        self.manager = PollerManager(self.desired, self.open, interval_s)  # type: ignore[arg-type]
        self._configs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, str] = {}

    async def run(self, started: Started) -> None:
        """The pollers (a `lib.tasks.Background`, see `PollerManager.run`)."""
        await self.manager.run(started)

    def desired(self) -> dict[str, PollerSpec]:
        out: dict[str, PollerSpec] = {}
        configs: dict[str, dict[str, Any]] = {}
        for cfg in self.mappings.active(rules.SQS, rules.SQS_FIFO):
            account, region = _scope(cfg)
            name = parse_function(cfg["FunctionArn"], account_id=account, region=region).name
            cap = (cfg.get("ScalingConfig") or {}).get("MaximumConcurrency") or MAX_CONCURRENCY
            reserved = self.invoker.limiter.reserved(account, region, name)
            if reserved is not None:
                cap = min(cap, reserved)
            if cap <= 0:
                continue  # reserved concurrency 0: the function cannot run; the messages wait
            revision = orjson.dumps(
                [
                    cfg["EventSourceArn"],
                    cfg["FunctionArn"],
                    cfg.get("BatchSize"),
                    cfg.get("MaximumBatchingWindowInSeconds"),
                    cfg.get("FilterCriteria"),
                    cfg.get("FunctionResponseTypes"),
                ]
            )
            uuid = cfg["UUID"]
            configs[uuid] = cfg
            window = float(cfg.get("MaximumBatchingWindowInSeconds") or 0)
            out[uuid] = PollerSpec(uuid, int(cfg.get("BatchSize") or 10), window, cap, revision)
        self._configs = configs
        return out

    def open(self, spec: PollerSpec) -> tuple[QueueSource, SqsBatchHandler]:
        cfg = self._configs[spec.key]
        account, region = _scope(cfg)
        function = parse_function(cfg["FunctionArn"], account_id=account, region=region)
        principal = self.invoker.acting_principal(function, cfg["EventSourceMappingArn"])
        source = QueueSource(self.queues.open(principal, cfg["EventSourceArn"]))
        handler = SqsBatchHandler(
            self.invoker,
            source,
            function,
            report_failures="ReportBatchItemFailures" in (cfg.get("FunctionResponseTypes") or []),
            matches=compile_filters(cfg.get("FilterCriteria")),
            endpoint=self.endpoint,
            on_result=lambda result: self._record(account, region, spec.key, result),
        )
        return source, handler

    def _record(self, account: str, region: str, mapping_id: str, result: str) -> None:
        if self._results.get(mapping_id) != result:
            self._results[mapping_id] = result
            self.mappings.record_result(account, region, mapping_id, result)
