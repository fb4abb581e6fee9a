"""The durable record of final async outcomes (what `destinations.DeliveringSink` delivered).

`RecordingSink` implements `engine.asyncq.OutcomeSink` on its own (records
only; a provider built without delivery) and is the recorder of
`DeliveringSink`. For each final outcome `entry` works out the targets from
the event invoke config (`DestinationConfig` `OnSuccess` / `OnFailure`) and
the executed version's `DeadLetterConfig` and what each receives
(`destination_record`, `dlq_message`); `record` stores the entry in namespace
`lambda.async.outcomes` under (account, region, function, sequence), keeping
the newest `keep` per function, and logs it at INFO. A delivering sink adds
each destination's result (`delivered`, `error`) before recording.
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from squall.engine.asyncq import AsyncOutcome
from squall.protocol.errors import ServiceError
from squall.services.lambda_.async_invoke import (
    destination_record,
    destinations_for,
    dlq_message,
    ref_of_event,
)
from squall.services.lambda_.functions import is_version_number, read_function, read_version
from squall.services.lambda_.invoke_config import InvokeConfigStore
from squall.storage import Store, pack

log = logging.getLogger("squall.lambda.async")

NS = "lambda.async.outcomes"
SEQUENCE = "lambda.async.outcomes"
KEEP = 100


class RecordingSink:
    def __init__(self, store: Store, invoke_configs: InvokeConfigStore, keep: int = KEEP) -> None:
        self.store = store
        self.invoke_configs = invoke_configs
        self.keep = keep

    def _function_config(self, outcome: AsyncOutcome) -> dict[str, Any]:
        ref = ref_of_event(outcome.event)
        version = outcome.last.executed_version if outcome.last is not None else None
        with self.store.read() as r:
            try:
                fn = read_function(r, ref)
            except ServiceError:
                return {}
            if version and is_version_number(version):
                ver = read_version(r, ref, int(version))
                return ver.config if ver is not None else fn.config
            return fn.config

    def entry(self, outcome: AsyncOutcome) -> dict[str, Any]:
        """What is recorded for `outcome`: the record and where it goes."""
        config = self.invoke_configs.find(ref_of_event(outcome.event))
        dest_config = config.destination_config if config is not None else {}
        targets = destinations_for(outcome, dest_config, self._function_config(outcome))
        entry: dict[str, Any] = {
            "condition": outcome.condition,
            "record": destination_record(outcome),
            "destinations": [{"kind": kind, "arn": arn} for kind, arn in targets],
        }
        if any(kind == "DeadLetterConfig" for kind, _ in targets):
            msg = dlq_message(outcome)
            entry["deadLetter"] = {
                "body": base64.b64encode(msg.body).decode(),
                "attributes": {k: {"DataType": t, "Value": v} for k, (t, v) in msg.attributes.items()},
            }
        return entry

    async def deliver(self, outcome: AsyncOutcome) -> None:
        self.record(outcome, self.entry(outcome))

    def record(self, outcome: AsyncOutcome, entry: dict[str, Any]) -> None:
        e = outcome.event
        prefix = pack(e.account, e.region, e.function)
        with self.store.write() as w:
            seq = w.next_sequence(SEQUENCE)
            w.put(NS, pack(e.account, e.region, e.function, seq), json.dumps(entry).encode())
            excess = w.count(NS, prefix) - self.keep
            if excess > 0:
                old = [k for k, _ in w.scan(NS, prefix=prefix, limit=excess)]
                for key in old:
                    w.delete(NS, key)
        log.info(
            "async event %s of %s: %s after %d invocation(s)%s",
            e.event_id,
            entry["record"]["requestContext"]["functionArn"],
            outcome.condition,
            e.attempts,
            "".join(f"; {d['kind']} {d['arn']}{_result(d)}" for d in entry["destinations"]),
        )

    def recent_outcomes(self, account: str, region: str, function: str) -> list[dict[str, Any]]:
        """The recorded outcomes of a function, oldest first (at most `keep`)."""
        with self.store.read() as r:
            return [json.loads(v) for _, v in r.scan(NS, prefix=pack(account, region, function))]


def _result(destination: dict[str, Any]) -> str:
    if "delivered" not in destination:
        return " (not delivered: recording only)"
    return "" if destination["delivered"] else f" (delivery failed: {destination.get('error')})"
