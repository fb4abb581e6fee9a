"""Queue operations: create, find, list, delete, attributes, tags, purge, DLQ sources."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from squall.services.base import RequestContext
from squall.services.operations import operation
from squall.services.sqs import access
from squall.services.sqs import attributes as qa
from squall.services.sqs.errors import (
    invalid_attribute_name,
    invalid_parameter,
    invalid_value,
    queue_does_not_exist,
    sqs_error,
)
from squall.services.sqs.messaging import SqsQueues, now_ms
from squall.services.sqs.queues import Queue, valid_name

MAX_TAGS = 50
PURGE_INTERVAL_S = 60
LIST_LIMIT = 1000


class QueuesApi:
    def __init__(self, sqs: SqsQueues) -> None:
        self.sqs = sqs
        self.dir = sqs.directory

    def _queue(self, ctx: RequestContext, params: dict[str, Any]) -> Queue:
        """The queue of `QueueUrl`, if the caller may perform this operation on it."""
        return access.check(
            ctx.principal, self.dir.by_url(params["QueueUrl"], ctx.account_id, ctx.region), ctx.operation
        )

    @operation("CreateQueue")
    def create_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["QueueName"]
        given = dict(params.get("Attributes") or {})
        fifo = given.get("FifoQueue", "false").lower() == "true"
        if fifo and not (name.endswith(".fifo") and valid_name(name)):
            raise invalid_parameter(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, "
                "must end with .fifo suffix and be 1 to 80 in length."
            )
        if not fifo and (name.endswith(".fifo") or not valid_name(name)):
            # without FifoQueue=true it is a standard queue, whose name cannot hold a "."
            raise invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
            )
        given = qa.check_attributes(given, fifo=fifo, creating=True)
        if not fifo:
            given.pop("FifoQueue", None)  # "false": not an attribute standard queues report
        self._check_redrive(ctx.account_id, ctx.region, name, fifo, given.get("RedrivePolicy"))
        tags = dict(params.get("tags") or {})
        with self.dir.store.write() as w:
            existing = self.dir.read(w, ctx.account_id, ctx.region, name)
            if existing is not None:
                for key, value in given.items():
                    if existing.attributes.get(key, "") != value:
                        raise sqs_error(
                            "QueueNameExists",
                            f"A queue already exists with the same name and a different value for attribute {key}",
                        )
                return {"QueueUrl": existing.url(ctx.endpoint)}
            queue = self.dir.create(
                w, ctx.account_id, ctx.region, name, {**qa.settable_defaults(fifo), **given}
            )
            queue.tags = tags
            self.dir.put(w, queue)
        return {"QueueUrl": queue.url(ctx.endpoint)}

    def _check_redrive(self, account: str, region: str, name: str, fifo: bool, raw: str | None) -> None:
        if not raw:
            return
        policy = json.loads(raw)
        target, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise invalid_value("RedrivePolicy", raw, "Redrive policy is not a valid JSON map.") from None
        if not 1 <= count <= 1000:
            raise invalid_value(
                "RedrivePolicy",
                raw,
                f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive.",
            )
        dlq = self.dir.by_arn(str(target)) if isinstance(target, str) else None
        if dlq is None:
            raise invalid_value("RedrivePolicy", raw, "Dead letter target does not exist.")
        if dlq.account != account:
            # a dead-letter queue is in the source queue's account (whatever its policy says)
            raise invalid_value(
                "RedrivePolicy", raw, "Dead-letter target owner should be same as the source."
            )
        if dlq.fifo != fifo:
            raise invalid_value(
                "RedrivePolicy", raw, "Dead-letter queue must be same type of queue as the source."
            )
        allow = json.loads(dlq.attributes.get("RedriveAllowPolicy") or '{"redrivePermission": "allowAll"}')
        source_arn = f"arn:aws:sqs:{region}:{account}:{name}"
        permission = allow.get("redrivePermission")
        if permission == "denyAll" or (
            permission == "byQueue" and source_arn not in allow.get("sourceQueueArns", [])
        ):
            raise invalid_value(
                "RedrivePolicy",
                raw,
                f"Queue {source_arn} is not allowed to use {dlq.arn} as a dead-letter queue.",
            )

    @operation("GetQueueUrl")
    def get_queue_url(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        account = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        queue = self.dir.get(account, ctx.region, params["QueueName"])
        if not access.may(ctx.principal, queue, "GetQueueUrl"):
            raise queue_does_not_exist()  # another account's queue names are not revealed
        return {"QueueUrl": queue.url(ctx.endpoint)}

    @operation("ListQueues")
    def list_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queues = sorted(
            q.name
            for q in self.dir.in_region(ctx.account_id, ctx.region, params.get("QueueNamePrefix") or "")
        )
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise invalid_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
        token = params.get("NextToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise invalid_parameter("Invalid NextToken value.") from None
            queues = [n for n in queues if n > after]
        out: dict[str, Any] = {}
        page = queues[: limit or LIST_LIMIT]
        if page:
            out["QueueUrls"] = [f"{ctx.endpoint.rstrip('/')}/{ctx.account_id}/{n}" for n in page]
        if limit is not None and len(queues) > len(page):
            out["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return out

    @operation("DeleteQueue")
    def delete_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        with self.dir.store.write() as w:
            self.dir.delete(w, queue)
            self.sqs.messages.drop_queue(w, queue.qid)
        self.sqs.signals.notify(queue.qid)
        return {}

    @operation("GetQueueAttributes")
    def get_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        wanted = list(params.get("AttributeNames") or [])
        known = qa.SETTABLE | qa.COMPUTED
        for name in wanted:
            if name != "All" and name not in known:
                raise invalid_attribute_name(f"Unknown Attribute {name}.")
        if not wanted:
            return {}
        everything = self.attributes_of(queue)
        if "All" in wanted:
            return {"Attributes": everything}
        picked = {k: everything[k] for k in wanted if k in everything}
        return {"Attributes": picked} if picked else {}

    def attributes_of(self, queue: Queue) -> dict[str, str]:
        counts = self.sqs.messages.counts(queue, now_ms())
        out = {k: v for k, v in queue.attributes.items() if v != ""}
        out.update(
            QueueArn=queue.arn,
            ApproximateNumberOfMessages=str(counts.visible),
            ApproximateNumberOfMessagesNotVisible=str(counts.in_flight),
            ApproximateNumberOfMessagesDelayed=str(counts.delayed),
            CreatedTimestamp=str(queue.created),
            LastModifiedTimestamp=str(queue.modified),
        )
        return out

    @operation("SetQueueAttributes")
    def set_queue_attributes(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        given = qa.check_attributes(dict(params.get("Attributes") or {}), fifo=queue.fifo, creating=False)
        self._check_redrive(queue.account, queue.region, queue.name, queue.fifo, given.get("RedrivePolicy"))
        with self.dir.store.write() as w:
            current = self.dir.read(w, queue.account, queue.region, queue.name)
            if current is None:
                raise queue_does_not_exist()
            current.attributes.update(given)
            current.modified = int(time.time())
            self.dir.put(w, current)
        return {}

    @operation("PurgeQueue")
    def purge_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(ctx, params)
        if time.time() - queue.purged < PURGE_INTERVAL_S:
            raise sqs_error(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {queue.name} is allowed every {PURGE_INTERVAL_S} seconds.",
            )
        self.sqs.messages.purge(queue)
        with self.dir.store.write() as w:
            current = self.dir.read(w, queue.account, queue.region, queue.name)
            if current is not None:
                current.purged = time.time()
                self.dir.put(w, current)
        return {}

    @operation("ListDeadLetterSourceQueues")
    def list_dead_letter_source_queues(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        dlq = self._queue(ctx, params)
        sources = []
        for queue in self.dir.in_region(dlq.account, dlq.region):
            raw = queue.attributes.get("RedrivePolicy")
            if raw and json.loads(raw).get("deadLetterTargetArn") == dlq.arn:
                sources.append(queue.url(ctx.endpoint))
        sources.sort()
        limit = params.get("MaxResults")
        token = params.get("NextToken")
        if token:
            sources = [s for s in sources if s > base64.urlsafe_b64decode(token.encode()).decode()]
        page = sources[: limit or LIST_LIMIT]
        out: dict[str, Any] = {"queueUrls": page}
        if limit is not None and len(sources) > len(page):
            out["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return out

    # -- tags ----------------------------------------------------------------------------

    def _update_tags(self, queue: Queue, apply: Any) -> None:
        with self.dir.store.write() as w:
            current = self.dir.read(w, queue.account, queue.region, queue.name)
            if current is None:
                raise queue_does_not_exist()
            apply(current.tags)
            if len(current.tags) > MAX_TAGS:
                raise invalid_parameter(f"Too many tags added for queue {queue.name}.")
            self.dir.put(w, current)

    @operation("TagQueue")
    def tag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(self._queue(ctx, params), lambda tags: tags.update(params["Tags"]))
        return {}

    @operation("UntagQueue")
    def untag_queue(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        def drop(tags: dict[str, str]) -> None:
            for key in params["TagKeys"]:
                tags.pop(key, None)

        self._update_tags(self._queue(ctx, params), drop)
        return {}

    @operation("ListQueueTags")
    def list_queue_tags(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        tags = self._queue(ctx, params).tags
        return {"Tags": tags} if tags else {}
