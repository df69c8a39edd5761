"""Queueing Celery tasks once the database transaction commits, without losing work when the
broker is down.

Celery's ``delay_on_commit`` raises from inside the commit hook when the broker cannot be
reached: the rows are committed, yet the request answers 500, and a person who submits again
books the stay twice (and its codes can never be revoked). Here a failed send is logged and
noted instead. Nothing is lost, because every queued job is also a row in a waiting state (a
pending code, a queued email) that the beat's sweep queues again once its task is overdue; the
page that asked can tell its user the work will follow (``watch_queueing``).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError
from kombu.transport.redis import PRIORITY_STEPS, Channel

logger = logging.getLogger(__name__)

# Redis hands out a queue's messages by priority, 0 first (kombu's steps 0, 3, 6 and 9; the
# reverse of AMQP), oldest first within one. Every task goes out at CELERY_TASK_DEFAULT_PRIORITY
# (3). A create handed back to wait for its door's next slot goes at this one, ahead of any
# backlog (an import's thousands of creates, the webhooks' status checks): the worker receives it
# at once and holds it until its turn. The filesystem broker ignores both.
AHEAD_PRIORITY = 0


def redis_queue_lists(queue: str) -> list[str]:
    """The Redis lists that hold ``queue``'s waiting messages, one per priority step, named as
    kombu names them (the queue's own name for step 0)."""
    return [queue if step == 0 else f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS]


@dataclass
class QueueingOutcome:
    """What happened to the tasks queued while it was watched: the names of those not queued."""

    failed: list[str] = field(default_factory=list)


_watching: ContextVar[QueueingOutcome | None] = ContextVar("queueing_outcome", default=None)


def enqueue_on_commit(task: Any, *args: Any) -> None:
    """Queue ``task(*args)`` once the current transaction commits (at once outside one).

    A broker that cannot take it is logged and noted for ``watch_queueing``, never raised: the
    caller's rows are committed by then, and the sweep queues their work again.
    """
    outcome = _watching.get()

    def send() -> None:
        try:
            task.delay(*args)
        except (OperationalError, OSError) as exc:
            logger.warning("Could not queue %s%r, the sweep will queue it again: %s", task.name, args, exc)
            if outcome is not None:
                outcome.failed.append(task.name)

    transaction.on_commit(send)


@contextmanager
def watch_queueing() -> Iterator[QueueingOutcome]:
    """Note which tasks queued inside the block (and committed by its end) could not be queued."""
    outcome = QueueingOutcome()
    token = _watching.set(outcome)
    try:
        yield outcome
    finally:
        _watching.reset(token)
