"""Event source mappings: the records pollers read, with AWS's states.

Namespace `lambda.esm` holds (account, region, uuid) -> the mapping's configuration as
the API reports it, plus `_settle_at` and `_target`: a state change (Creating, Enabling,
Disabling, Updating) is recorded with the time it completes, and reads report the target
state once that time has passed (`settle()` also writes settled states back, for the
provider's start-up). Deleting removes the record at once and answers `Deleting`.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from squall.protocol.errors import ServiceError
from squall.services.lambda_ import esm_rules as rules
from squall.services.lambda_.attachment_util import conflict, dumps, invalid, loads, not_found, now, page
from squall.services.lambda_.contracts import FunctionDirectory
from squall.services.lambda_.names import FunctionRef, parse_function
from squall.storage import ReadTxn, Store, pack

NS = "lambda.esm"
#: how long Creating/Enabling/Disabling/Updating last
TRANSITION_SECONDS = 1.0
_UPDATABLE = (
    "BatchSize",
    "FilterCriteria",
    "ScalingConfig",
    "MaximumBatchingWindowInSeconds",
    "ParallelizationFactor",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "FunctionResponseTypes",
)
_CREATE_ONLY = ("StartingPosition", "StartingPositionTimestamp")
#: tags per mapping, as for functions
MAX_TAGS = 50


class EventSourceMappings:
    def __init__(
        self, store: Store, directory: FunctionDirectory, transition_seconds: float = TRANSITION_SECONDS
    ) -> None:
        self._store = store
        self._directory = directory
        self._delay = transition_seconds
        #: Checks a source of another account (esm_access.SourceAccess.check; the provider sets
        #: it once the ports exist). None: not checked (a store-only unit test).
        self.check_source: Callable[[FunctionRef, str, str, str], None] | None = None
        #: Where LATEST stands now on a stream ({shard id: position}, engine.stream_pollers'
        #: positions), recorded when a stream mapping is created or enabled, before it can report
        #: Enabled (the provider sets it when DynamoDB is served). None: resolved by the poller.
        self.latest_positions: Callable[[str], dict[str, str]] | None = None

    def _function(self, ctx_account: str, ctx_region: str, name: str) -> tuple[FunctionRef, str]:
        ref = parse_function(name, account_id=ctx_account, region=ctx_region)
        try:
            resolved = self._directory.resolve(ref)
        except ServiceError as e:
            if e.code == "ResourceNotFoundException":
                raise invalid("Function does not exist") from None
            raise
        return ref, resolved.arn

    def create(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        source: str = params.get("EventSourceArn") or ""
        kind = rules.source_kind(source)
        ref, fn_arn = self._function(account, region, params["FunctionName"])
        given = {k: v for k, v in params.items() if k in (*_UPDATABLE, *_CREATE_ONLY) and v is not None}
        if isinstance(given.get("StartingPositionTimestamp"), datetime):
            given["StartingPositionTimestamp"] = given["StartingPositionTimestamp"].timestamp()
        default_size = rules.BATCH_SIZES[kind][0]
        cfg: dict[str, Any] = {
            "EventSourceArn": source,
            "BatchSize": default_size,
            "MaximumBatchingWindowInSeconds": 0,
        }
        if kind in rules.STREAMS:
            cfg.update(rules.STREAM_DEFAULTS, LastProcessingResult="No records processed")
        cfg.update(given)
        rules.check(kind, cfg, given, creating=True)
        mapping_id = str(uuidlib.uuid4())
        mapping_arn = f"arn:aws:lambda:{region}:{account}:event-source-mapping:{mapping_id}"
        if self.check_source is not None:
            self.check_source(ref, source, kind, mapping_arn)
        self._record_latest(cfg)
        t = now()
        cfg.update(
            UUID=mapping_id,
            FunctionArn=fn_arn,
            EventSourceMappingArn=mapping_arn,
            LastModified=t,
            State="Creating",
            StateTransitionReason="USER_INITIATED",
            _target="Enabled" if params.get("Enabled", True) else "Disabled",
            _settle_at=t + self._delay,
            _kind=kind,
            _created=t,
            _tags=dict(params.get("Tags") or {}),
        )
        with self._store.write() as w:
            _check_duplicate(w, account, region, source, fn_arn, ref.name, kind, None)
            w.put(NS, pack(account, region, mapping_id), dumps(cfg))
        return _output(cfg)

    def get(self, account: str, region: str, mapping_id: str) -> dict[str, Any]:
        with self._store.read() as r:
            raw = r.get(NS, pack(account, region, mapping_id))
        if raw is None:
            raise not_found()
        return _output(_settled(loads(raw)))

    def update(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        mapping_id = params["UUID"]
        fn_arn = fn_name = None
        fn_ref: FunctionRef | None = None
        if params.get("FunctionName"):
            fn_ref, fn_arn = self._function(account, region, params["FunctionName"])
            fn_name = fn_ref.name
        if self.check_source is not None:
            with self._store.read() as r:
                raw = r.get(NS, pack(account, region, mapping_id))
            if raw is not None:
                old = loads(raw)
                ref = fn_ref or parse_function(old["FunctionArn"], account_id=account, region=region)
                self.check_source(ref, old["EventSourceArn"], old["_kind"], old["EventSourceMappingArn"])
        given = {k: v for k, v in params.items() if k in _UPDATABLE and v is not None}
        t = now()
        with self._store.write() as w:
            raw = w.get(NS, pack(account, region, mapping_id))
            if raw is None:
                raise not_found()
            cfg = _settled(loads(raw))
            merged = {**cfg, **given}
            rules.check(cfg["_kind"], merged, given, creating=False)
            if fn_arn and fn_name and fn_arn != cfg["FunctionArn"]:
                _check_duplicate(
                    w, account, region, cfg["EventSourceArn"], fn_arn, fn_name, cfg["_kind"], mapping_id
                )
                merged["FunctionArn"] = fn_arn
            current = cfg["_target"]
            enabled = params.get("Enabled")
            target = current if enabled is None else ("Enabled" if enabled else "Disabled")
            state = "Updating" if target == current else ("Enabling" if target == "Enabled" else "Disabling")
            if state == "Enabling":
                self._record_latest(merged)
            merged.update(
                LastModified=t,
                State=state,
                StateTransitionReason="USER_INITIATED",
                _target=target,
                _settle_at=t + self._delay,
            )
            w.put(NS, pack(account, region, mapping_id), dumps(merged))
        return _output(merged)

    def _record_latest(self, cfg: dict[str, Any]) -> None:
        if (
            self.latest_positions is not None
            and cfg.get("StartingPosition") == "LATEST"
            and rules.source_kind(cfg["EventSourceArn"]) == rules.DYNAMODB
        ):
            try:
                cfg["_latest"] = self.latest_positions(cfg["EventSourceArn"])
            except ServiceError:
                cfg.pop("_latest", None)  # (the stream is gone: the poller reports it)

    def start_positions(self, account: str, region: str, mapping_id: str) -> dict[str, str] | None:
        """Where LATEST stood when the mapping was created or last enabled (None: not recorded)."""
        with self._store.read() as r:
            raw = r.get(NS, pack(account, region, mapping_id))
        if raw is None:
            return None
        latest: dict[str, str] | None = loads(raw).get("_latest")
        return latest

    def delete(self, account: str, region: str, mapping_id: str) -> dict[str, Any]:
        with self._store.write() as w:
            key = pack(account, region, mapping_id)
            raw = w.get(NS, key)
            if raw is None:
                raise not_found()
            w.delete(NS, key)
        cfg = _settled(loads(raw))
        cfg.update(State="Deleting", StateTransitionReason="USER_INITIATED")
        return _output(cfg)

    def tags(
        self, account: str, region: str, arn: str, update: Callable[[dict[str, str]], None] | None
    ) -> dict[str, str]:
        """The mapping's tags (a `tags.TagTarget` for `event-source-mapping` ARNs), after
        `update` when one is given; ResourceNotFoundException for an unknown mapping."""
        parts = arn.split(":")
        if len(parts) != 7 or parts[3] != region or parts[4] != account:
            raise not_found()
        key = pack(account, region, parts[6])
        if update is None:
            with self._store.read() as r:
                raw = r.get(NS, key)
            if raw is None:
                raise not_found()
            return dict(loads(raw).get("_tags") or {})
        with self._store.write() as w:
            raw = w.get(NS, key)
            if raw is None:
                raise not_found()
            cfg = loads(raw)
            tags = dict(cfg.get("_tags") or {})
            update(tags)
            if len(tags) > MAX_TAGS:
                raise invalid(f"Number of tags exceeds resource tag limit of {MAX_TAGS}.")
            cfg["_tags"] = tags
            w.put(NS, key, dumps(cfg))
        return tags

    def list_mappings(
        self,
        account: str,
        region: str,
        source: str | None,
        function: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        fn_arn = None
        if function:
            ref = parse_function(function, account_id=account, region=region)
            fn_arn = ref.qualified_arn
        with self._store.read() as r:
            rows = [loads(v) for _, v in r.scan(NS, prefix=pack(account, region))]
        rows.sort(key=lambda c: (c["_created"], c["UUID"]))
        out = [
            _output(_settled(c))
            for c in rows
            if (source is None or c["EventSourceArn"] == source)
            and (fn_arn is None or c["FunctionArn"] == fn_arn)
        ]
        return page(out, marker, max_items, default=100)

    def active(self, *kinds: str) -> list[dict[str, Any]]:
        """Every mapping whose state is Enabled now (all accounts), for the pollers; with `kinds`
        (esm_rules' SQS, SQS_FIFO, KINESIS, DYNAMODB), only those reading such a source."""
        with self._store.read() as r:
            rows = [_settled(loads(v)) for _, v in r.scan(NS)]
        enabled = [_output(c) for c in rows if c["State"] == "Enabled"]
        return [c for c in enabled if not kinds or _kind(c) in kinds]

    def ids(self) -> set[str]:
        """The ids of every mapping (all accounts)."""
        with self._store.read() as r:
            return {loads(v)["UUID"] for _, v in r.scan(NS)}

    def record_result(self, account: str, region: str, mapping_id: str, result: str) -> None:
        """Set the mapping's `LastProcessingResult` (the pollers call this when it changes)."""
        with self._store.write() as w:
            key = pack(account, region, mapping_id)
            raw = w.get(NS, key)
            if raw is None:
                return
            cfg = loads(raw)
            if cfg.get("LastProcessingResult") != result:
                cfg["LastProcessingResult"] = result
                w.put(NS, key, dumps(cfg))

    def settle(self) -> int:
        """Write back every completed transition; returns how many changed."""
        changed = 0
        with self._store.write() as w:
            for key, raw in list(w.scan(NS)):
                cfg = loads(raw)
                if cfg["State"] != cfg["_target"] and cfg["_settle_at"] <= now():
                    w.put(NS, key, dumps(_settled(cfg)))
                    changed += 1
        return changed


def _check_duplicate(
    r: ReadTxn,
    account: str,
    region: str,
    source: str,
    fn_arn: str,
    fn_name: str,
    kind: str,
    exclude: str | None,
) -> None:
    for _, raw in r.scan(NS, prefix=pack(account, region)):
        other = loads(raw)
        if other["EventSourceArn"] == source and other["FunctionArn"] == fn_arn and other["UUID"] != exclude:
            if kind in (rules.SQS, rules.SQS_FIFO):
                msg = f'An event source mapping with SQS arn (" {source} ") and function (" {fn_name} ") '
            else:
                msg = f'The event source arn (" {source} ") and function (" {fn_name} ") provided mapping '
            raise conflict(
                msg
                + "already exists. Please update or delete the existing mapping with UUID "
                + other["UUID"]
            )


def _kind(cfg: dict[str, Any]) -> str | None:
    try:
        return rules.source_kind(cfg.get("EventSourceArn"))
    except ServiceError:
        return None


def _settled(cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg["State"] != cfg["_target"] and cfg["_settle_at"] <= now():
        cfg = {**cfg, "State": cfg["_target"]}
    return cfg


def _output(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if not k.startswith("_")}
