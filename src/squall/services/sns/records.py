"""Topic and subscription records, their ARNs and their store (`sns.topics`, `sns.subs`)."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import asdict, dataclass, field, replace

import orjson

from squall.services.sns.errors import invalid_parameter, subscription_not_found, topic_not_found
from squall.storage import Store, pack

TOPICS = "sns.topics"
SUBS = "sns.subs"
PAGE = 100

_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ARN_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}(\.fifo)?")


@dataclass(frozen=True)
class Topic:
    account: str
    region: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    deleted_subs: int = 0

    @property
    def arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{self.name}"

    @property
    def fifo(self) -> bool:
        return self.attributes.get("FifoTopic") == "true"


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    owner: str
    attributes: dict[str, str] = field(default_factory=dict)
    pending: bool = False
    token: str | None = None
    authenticated: bool = False
    #: ConfirmSubscription's AuthenticateOnUnsubscribe: the unsigned UnsubscribeURL is refused.
    authenticate_unsubscribe: bool = False

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery") == "true"

    def with_attributes(self, **changes: str | None) -> Subscription:
        attrs = dict(self.attributes)
        for k, v in changes.items():
            if v is None:
                attrs.pop(k, None)
            else:
                attrs[k] = v
        return replace(self, attributes=attrs)


def parse_topic_arn(arn: str) -> tuple[str, str, str] | None:
    """(account, region, name) of a topic ARN, or None."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not _ARN_NAME.fullmatch(parts[5]):
        return None
    return parts[4], parts[3], parts[5]


def parse_subscription_arn(arn: str) -> tuple[str, str, str, str] | None:
    """(account, region, topic name, id) of a subscription ARN, or None."""
    parts = arn.split(":")
    if len(parts) != 7 or parts[0] != "arn" or parts[2] != "sns":
        return None
    return parts[4], parts[3], parts[5], parts[6]


def valid_topic_name(name: str, fifo: bool) -> bool:
    base = name[:-5] if fifo and name.endswith(".fifo") else name
    return bool(_NAME.fullmatch(base)) and len(name) <= 256 and (fifo == name.endswith(".fifo"))


def _dump(record: Topic | Subscription) -> bytes:
    return orjson.dumps(asdict(record))


def encode_token(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_token(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token.encode())
    except ValueError:
        raise invalid_parameter("NextToken") from None


class Directory:
    """Topics and subscriptions in the store. Call from one thread at a time per transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- topics ---------------------------------------------------------------------------

    def find_topic(self, account: str, region: str, name: str) -> Topic | None:
        with self.store.read() as r:
            raw = r.get(TOPICS, pack(account, region, name))
        return Topic(**orjson.loads(raw)) if raw is not None else None

    def topic(self, arn: str) -> Topic:
        """The topic of `arn`; NotFound otherwise (InvalidParameter for a malformed ARN)."""
        parsed = parse_topic_arn(arn)
        if parsed is None:
            raise invalid_parameter("TopicArn")
        found = self.find_topic(*parsed)
        if found is None:
            raise topic_not_found()
        return found

    def put_topic(self, topic: Topic) -> None:
        with self.store.write() as w:
            w.put(TOPICS, pack(topic.account, topic.region, topic.name), _dump(topic))

    def delete_topic(self, topic: Topic) -> list[Subscription]:
        subs = self.subscriptions_of(topic)
        with self.store.write() as w:
            w.delete(TOPICS, pack(topic.account, topic.region, topic.name))
            for sub in subs:
                w.delete(SUBS, self.sub_key(sub.arn))
        return subs

    def list_topics(self, account: str, region: str, token: str | None) -> tuple[list[Topic], str | None]:
        prefix = pack(account, region)
        start = decode_token(token) if token else None
        out: list[Topic] = []
        last = b""
        with self.store.read() as r:
            for key, value in r.scan(TOPICS, prefix=prefix):
                if start is not None and key <= start:
                    continue
                if len(out) == PAGE:
                    return out, encode_token(last)
                out.append(Topic(**orjson.loads(value)))
                last = key
        return out, None

    # -- subscriptions --------------------------------------------------------------------

    @staticmethod
    def sub_key(arn: str) -> bytes:
        parsed = parse_subscription_arn(arn)
        if parsed is None:
            raise invalid_parameter("SubscriptionArn")
        return pack(*parsed)

    @staticmethod
    def new_subscription_arn(topic: Topic) -> str:
        return f"{topic.arn}:{uuid.uuid4()}"

    def find_subscription(self, arn: str) -> Subscription | None:
        with self.store.read() as r:
            raw = r.get(SUBS, self.sub_key(arn))
        return Subscription(**orjson.loads(raw)) if raw is not None else None

    def subscription(self, arn: str) -> Subscription:
        found = self.find_subscription(arn)
        if found is None:
            raise subscription_not_found()
        return found

    def put_subscription(self, sub: Subscription) -> None:
        with self.store.write() as w:
            w.put(SUBS, self.sub_key(sub.arn), _dump(sub))

    def remove_subscription(self, sub: Subscription) -> None:
        account, region, name, _ = parse_subscription_arn(sub.arn) or ("", "", "", "")
        with self.store.write() as w:
            w.delete(SUBS, self.sub_key(sub.arn))
            raw = w.get(TOPICS, pack(account, region, name))
            if raw is not None:
                topic = Topic(**orjson.loads(raw))
                topic = replace(topic, deleted_subs=topic.deleted_subs + 1)
                w.put(TOPICS, pack(account, region, name), _dump(topic))

    def subscriptions_of(self, topic: Topic) -> list[Subscription]:
        with self.store.read() as r:
            return [
                Subscription(**orjson.loads(v))
                for _, v in r.scan(SUBS, prefix=pack(topic.account, topic.region, topic.name))
            ]

    def list_subscriptions(
        self, account: str, region: str, token: str | None, topic: Topic | None = None
    ) -> tuple[list[Subscription], str | None]:
        prefix = pack(account, region, topic.name) if topic else pack(account, region)
        start = decode_token(token) if token else None
        out: list[Subscription] = []
        last = b""
        with self.store.read() as r:
            for key, value in r.scan(SUBS, prefix=prefix):
                if start is not None and key <= start:
                    continue
                if len(out) == PAGE:
                    return out, encode_token(last)
                out.append(Subscription(**orjson.loads(value)))
                last = key
        return out, None
