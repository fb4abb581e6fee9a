"""The typed in-process interfaces one service offers the others, declared once.

Most calls between services go through the in-process client (`calls.Calls`):
the operation table, validation, authorization and error model of a wire
request. The interfaces here are for the few paths where a typed call serves
better: hot paths (Lambda's SQS and stream event source mappings, the Lambda
event door every event source uses) and reads no API operation offers (a
deployment package's bytes from S3).

The offering service implements a Protocol in its own `ports.py`
(`services/sqs/ports.py`, ...); the composition root (squall/compose.py) hands
the implementation to the receiving service's constructor, which types it with
the Protocol below, so no service imports another. Every method takes the
calling `Principal` explicitly, as the client does. Errors are the offering
service's `ServiceError`s, as its API would answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from squall.protocol.errors import ServiceError
from squall.services.context import Principal

# -- Lambda: the event door ------------------------------------------------------------------


class FunctionEvents(Protocol):
    """Lambda's door for asynchronous events from other services (S3 notifications, SNS,
    async-invoke destinations; services/lambda_/ports.py). For a service principal the
    function's resource policy must allow it (`principal.service`, its source ARN and account),
    as on AWS; the event is committed to the durable async queue and runs like an `Invoke`
    with `InvocationType=Event`."""

    def submit(self, principal: Principal, function: str, payload: bytes, *, region: str) -> str:
        """Commit one asynchronous invocation of `function` (name or ARN, qualified or not);
        its request id. ResourceNotFoundException, AccessDeniedException,
        RequestEntityTooLargeException."""
        ...

    def allowed(self, principal: Principal, function: str, *, region: str) -> bool:
        """Whether `submit` would accept `principal`'s event (existence and policy only)."""
        ...


# -- STS: role sessions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedSession:
    access_key_id: str
    secret_access_key: str
    session_token: str
    #: Epoch seconds.
    expiration: float
    #: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    arn: str


class RoleSessions(Protocol):
    """STS's role sessions for services acting with a role (services/sts/ports.py): Lambda's
    execution environments run with their function's execution role."""

    def assume(
        self, principal: Principal, role_arn: str, session_name: str, duration_s: int
    ) -> IssuedSession:
        """Temporary credentials of `role_arn` for `principal` (a service acting for a resource
        of the role's account). ValidationError (not a role ARN, bad name or duration),
        AccessDenied (a role of another account)."""
        ...


# -- S3: object bytes --------------------------------------------------------------------------


class ObjectReader(Protocol):
    """S3's whole-object read for small objects (Lambda deployment packages and layers;
    services/s3/ports.py). Errors as GetObject's: NoSuchBucket, NoSuchKey, NoSuchVersion,
    AccessDenied (another account's bucket), PermanentRedirect (another region),
    InvalidObjectState (archived), EntityTooLarge (past `limit`)."""

    def read(
        self,
        principal: Principal,
        region: str,
        bucket: str,
        key: str,
        version_id: str | None = None,
        limit: int | None = None,
    ) -> bytes: ...


# -- SQS: the feed of Lambda's SQS event source mapping ----------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A received message, with what Lambda's SQS event record carries."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    #: MD5OfMessageAttributes as SendMessage answered it; None when the message has none.
    md5_of_message_attributes: str | None
    #: System attributes as ReceiveMessage(AttributeNames=["All"]) returns them.
    attributes: dict[str, str]
    #: Message attributes in stored form: {"DataType", "StringValue" | "BinaryValue" (base64)}.
    message_attributes: dict[str, dict[str, str]]
    group: str | None
    #: Bytes this message counts for against a batch's payload limit (body and attributes).
    size: int
    #: The queue's own reference to the message (opaque to the receiver).
    handle: Any


class FeedQueue(Protocol):
    """One queue, opened for polling."""

    @property
    def arn(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def fifo(self) -> bool: ...

    @property
    def visibility_timeout(self) -> int:
        """The queue's current `VisibilityTimeout` attribute, in seconds."""
        ...

    async def receive(self, limit: int, wait_s: float) -> Sequence[QueuedMessage]:
        """Up to `limit` messages (made invisible for the queue's current visibility timeout);
        waits up to `wait_s` for the first."""
        ...

    def release(self, messages: Sequence[QueuedMessage]) -> None:
        """Make `messages` visible again at once (a throttled batch)."""
        ...

    def delete(self, messages: Sequence[QueuedMessage]) -> None:
        """Delete `messages` (handles that expired meanwhile are skipped)."""
        ...


def queue_url(queue_arn: str) -> str:
    """AWS's URL of a queue, from its ARN (what GetQueueUrl answers): what in-process
    `SendMessage` calls address a queue by, as a client would."""
    parts = queue_arn.split(":")
    if len(parts) != 6:
        return queue_arn  # not an ARN: SQS answers QueueDoesNotExist
    return f"https://sqs.{parts[3]}.amazonaws.com/{parts[4]}/{parts[5]}"


class QueueFeed(Protocol):
    """SQS's side of Lambda's SQS event source mapping (services/sqs/ports.py)."""

    def open(self, principal: Principal, queue_arn: str) -> FeedQueue:
        """The queue `queue_arn`, polled as `principal`; QueueDoesNotExist, AccessDenied (another
        account's queue whose policy does not grant `principal` sqs:ReceiveMessage: checked here
        and again on every `receive`)."""
        ...


# -- DynamoDB: stream records -------------------------------------------------------------------

#: Stream sequence numbers are decimal strings zero-padded to this many digits, so that they
#: compare as strings.
SEQ_DIGITS = 21


def seq(n: int) -> str:
    """The sequence number string of `n`."""
    return f"{n:0{SEQ_DIGITS}d}"


@dataclass(frozen=True, slots=True)
class StreamInfo:
    arn: str
    account: str
    region: str
    table: str
    view_type: str
    status: str  # ENABLED | DISABLED


@dataclass(frozen=True, slots=True)
class ShardInfo:
    shard_id: str
    parent_id: str | None
    start_seq: str
    end_seq: str | None  # None while the shard is open


def stream_not_found(arn: str) -> ServiceError:
    """What `StreamRecords` raises for an unknown stream (as DynamoDB Streams answers)."""
    return ServiceError(
        "ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found", 400
    )


def shard_not_found(arn: str, shard: str) -> ServiceError:
    """What `StreamRecords` raises for an unknown shard of a stream."""
    return ServiceError(
        "ResourceNotFoundException",
        f"Requested resource not found: Shard: {shard} in Stream: {arn} not found",
        400,
    )


class StreamRecords(Protocol):
    """DynamoDB's table streams, read in process (services/dynamodb/ports.py): by the DynamoDB
    Streams API and by Lambda's stream event source mappings. Records are in AWS's shape
    (`eventID`, `eventName`, `dynamodb` with `Keys`, images, `SequenceNumber`, `SizeBytes`).
    ResourceNotFoundException for an unknown stream or shard."""

    def owner(self, stream_arn: str) -> tuple[str, str] | None:
        """(account, region) named by a stream ARN; None when it is not one."""
        ...

    def meta(self, stream_arn: str) -> dict[str, Any]:
        """The stream's description: StreamArn, StreamLabel, StreamStatus, StreamViewType,
        CreationRequestDateTime, TableName, KeySchema, ShardId, StartingSequenceNumber,
        EndingSequenceNumber (closed shard), TrimmedThrough (records trimmed up to)."""
        ...

    def streams_of(
        self, account: str, region: str, table: str | None, after_arn: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` stream descriptions of the account and region (of `table` only, if
        given), in ARN order after `after_arn`. ValueError for an `after_arn` that is not a
        stream ARN."""
        ...

    def stream(self, stream_arn: str) -> StreamInfo: ...

    def shards(self, stream_arn: str) -> Sequence[ShardInfo]: ...

    def read(self, stream_arn: str, shard_id: str, after_seq: str | None, limit: int) -> list[dict[str, Any]]:
        """Records with SequenceNumber > `after_seq` (None: from the oldest kept), oldest first."""
        ...

    def latest_seq(self, stream_arn: str, shard_id: str) -> str | None: ...

    def first_seq_at(self, stream_arn: str, shard_id: str, timestamp: float) -> str | None:
        """The sequence number of the first record created at or after `timestamp`."""
        ...

    async def wait(self, stream_arn: str, wait_s: float) -> None:
        """Return when a record is appended to the stream (or after `wait_s` seconds)."""
        ...
