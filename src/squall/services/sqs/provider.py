"""The SQS provider: queue and message operations over one `SqsQueues`."""

from __future__ import annotations

from collections.abc import Sequence

from squall.lib.tasks import Background
from squall.services.base import ServiceProvider
from squall.services.sqs.api_messages import MessagesApi
from squall.services.sqs.api_queues import QueuesApi
from squall.services.sqs.messaging import SqsQueues
from squall.services.sqs.move_tasks import MoveTasksApi
from squall.services.sqs.ports import SqsFeed
from squall.storage import Store


class SqsProvider(ServiceProvider):
    service = "sqs"

    def __init__(self, store: Store) -> None:
        #: The in-process interface other services use (see README.md).
        self.queues = SqsQueues(store)
        #: What Lambda's SQS event source mappings poll (ports.QueueFeed).
        self.feed = SqsFeed(self.queues)
        self.move_tasks = MoveTasksApi(self.queues)
        super().__init__(QueuesApi(self.queues), MessagesApi(self.queues), self.move_tasks)

    def background(self) -> Sequence[Background]:
        return (self.move_tasks,)
