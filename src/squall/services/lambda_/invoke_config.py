"""Asynchronous invocation configuration (event invoke configs) per function qualifier.

Stored in namespace `lambda.invoke_config` under (account, region, function,
qualifier) with "$LATEST" for an unqualified function, as
{"MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig", "LastModified"}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from squall.services.lambda_.attachment_util import dumps, invalid, loads, not_found, now, page
from squall.services.lambda_.contracts import FunctionDirectory
from squall.services.lambda_.names import LATEST, FunctionRef, function_arn
from squall.storage import Store, pack, unpack

NS = "lambda.invoke_config"
_FIELDS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
_DESTINATION = re.compile(
    r"^arn:aws[a-zA-Z-]*:(?P<service>sqs|sns|lambda|events|s3):(?P<region>[a-z0-9-]*):(?P<account>\d{12})?:(?P<rest>.+)$"
)


@dataclass(frozen=True)
class EventInvokeConfig:
    function_arn: str
    maximum_retry_attempts: int | None
    maximum_event_age_in_seconds: int | None
    destination_config: dict[str, Any]
    last_modified: float

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"LastModified": self.last_modified, "FunctionArn": self.function_arn}
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age_in_seconds is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age_in_seconds
        out["DestinationConfig"] = {
            "OnSuccess": self.destination_config.get("OnSuccess") or {},
            "OnFailure": self.destination_config.get("OnFailure") or {},
        }
        return out


def _key(ref: FunctionRef) -> bytes:
    return pack(ref.account_id, ref.region, ref.name, ref.qualifier or LATEST)


def _arn(ref: FunctionRef) -> str:
    return function_arn(ref.account_id, ref.region, ref.name, ref.qualifier or LATEST)


def _missing(ref: FunctionRef) -> Exception:
    return not_found(f"The function {_arn(ref)} doesn't have an EventInvokeConfig")


class InvokeConfigStore:
    def __init__(self, store: Store, directory: FunctionDirectory) -> None:
        self._store = store
        self._directory = directory
        directory.on_delete(self._function_deleted)

    def put(self, ref: FunctionRef, params: dict[str, Any], *, merge: bool) -> EventInvokeConfig:
        """PutFunctionEventInvokeConfig (`merge=False`: replaces) or Update (`merge=True`)."""
        self._directory.resolve(ref)
        given = {k: params[k] for k in _FIELDS if params.get(k) is not None}
        if not merge and not given:
            raise invalid("You must specify at least one of error handling or destination setting.")
        self._check(ref, given)
        with self._store.write() as w:
            raw = w.get(NS, _key(ref))
            current: dict[str, Any] = loads(raw) if raw is not None else {}
            if merge:
                if raw is None:
                    raise _missing(ref)
                dest = dict(current.get("DestinationConfig") or {})
                dest.update(given.pop("DestinationConfig", {}))
                record = {**current, **given, "DestinationConfig": dest}
            else:
                record = dict(given)
            record["LastModified"] = now()
            w.put(NS, _key(ref), dumps(record))
        return self._from_record(ref, record)

    def get(self, ref: FunctionRef) -> EventInvokeConfig:
        self._directory.resolve(ref)
        with self._store.read() as r:
            raw = r.get(NS, _key(ref))
        if raw is None:
            raise _missing(ref)
        return self._from_record(ref, loads(raw))

    def find(self, ref: FunctionRef) -> EventInvokeConfig | None:
        """For the engine: the config of `ref` (qualifier as invoked), or None."""
        with self._store.read() as r:
            raw = r.get(NS, _key(ref))
        return self._from_record(ref, loads(raw)) if raw is not None else None

    def delete(self, ref: FunctionRef) -> None:
        self._directory.resolve(ref)
        with self._store.write() as w:
            if not w.delete(NS, _key(ref)):
                raise _missing(ref)

    def list(
        self, ref: FunctionRef, marker: str | None, max_items: int | None
    ) -> tuple[list[EventInvokeConfig], str | None]:
        self._directory.resolve(FunctionRef(ref.account_id, ref.region, ref.name))
        with self._store.read() as r:
            rows = list(r.scan(NS, prefix=pack(ref.account_id, ref.region, ref.name)))
        configs = []
        for key, raw in rows:
            qualifier = str(_unpack_qualifier(key))
            q = FunctionRef(ref.account_id, ref.region, ref.name, qualifier)
            configs.append(self._from_record(q, loads(raw)))
        return page(configs, marker, max_items, default=50)

    def _check(self, ref: FunctionRef, given: dict[str, Any]) -> None:
        retries = given.get("MaximumRetryAttempts")
        if retries is not None and not 0 <= retries <= 2:
            raise invalid("MaximumRetryAttempts must be between 0 and 2.")
        age = given.get("MaximumEventAgeInSeconds")
        if age is not None and not 60 <= age <= 21600:
            raise invalid("MaximumEventAgeInSeconds must be between 60 and 21600.")
        for kind in ("OnSuccess", "OnFailure"):
            dest = ((given.get("DestinationConfig") or {}).get(kind) or {}).get("Destination")
            if dest:
                check_destination(dest, kind, ref)

    def _from_record(self, ref: FunctionRef, record: dict[str, Any]) -> EventInvokeConfig:
        return EventInvokeConfig(
            _arn(ref),
            record.get("MaximumRetryAttempts"),
            record.get("MaximumEventAgeInSeconds"),
            record.get("DestinationConfig") or {},
            record["LastModified"],
        )

    def _function_deleted(self, ref: FunctionRef) -> None:
        with self._store.write() as w:
            if ref.qualifier is None:
                w.delete_range(NS, prefix=pack(ref.account_id, ref.region, ref.name))
            else:
                w.delete(NS, _key(ref))


def _unpack_qualifier(key: bytes) -> object:
    return unpack(key)[-1]


def check_destination(arn: str, kind: str, ref: FunctionRef | None = None) -> None:
    """A destination must be an SQS queue, SNS topic, Lambda function or EventBridge bus
    (an S3 bucket for OnFailure only)."""
    m = _DESTINATION.match(arn)
    if m is None:
        raise invalid(f"The provided destination config DestinationConfig.{kind}.Destination is invalid.")
    service = m.group("service")
    if service == "s3" and kind != "OnFailure":
        raise invalid("S3 destinations are supported only for on-failure destinations.")
    if service == "events" and not m.group("rest").startswith("event-bus/"):
        raise invalid(f"The provided destination config DestinationConfig.{kind}.Destination is invalid.")
    if (
        service == "lambda"
        and ref is not None
        and arn.split(":")[6] == ref.name
        and arn.split(":")[4] == ref.account_id
    ):
        raise invalid("You can't specify the function as a destination for itself.")
