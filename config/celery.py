import functools
import os

from celery import Celery, bootsteps
from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.worker import WorkController
from kombu.asynchronous import Hub

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("oracode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# How often a threads-pool worker's event loop wakes to fetch more tasks (see EventLoopPace).
THREADS_POOL_TICK_SECONDS = 0.05
# Due timers (countdown tasks among them) a worker's loop fires per turn; kombu's own is 10.
TIMERS_PER_TURN = 100


class EventLoopPace(bootsteps.StartStopStep):  # type: ignore[misc]
    """Keeps the worker's event loop turning: every ``THREADS_POOL_TICK_SECONDS`` on the threads
    pool, and without a pause while timers are due in any pool.

    The threads pool ends tasks on its own threads, which never wake the loop (prefork's
    processes wake it through their result pipes). With its prefetch window full the loop
    sleeps until its next timer, up to 10 s, before it asks the broker for more: a worker of 24
    threads ran 24 tasks every 5 to 10 s (measured in ``make bench``'s scale backfill). Each
    tick is one turn of the loop, which fetches as many tasks as have finished.

    In any pool, it also lets the loop fire every due timer without a pause. kombu fires at most
    10 due timers a turn and then, with more due, waits up to a second for the next turn
    (``Hub.fire_timers``' ``min_delay``) unless a message wakes it: a backfill's codes handed
    back for their door's next minute, a countdown task each, ran at about 60 a second while
    100 a second fell due, and their creates went up to 15 s after their turn (measured in
    ``make bench``'s scale backfill). See ``fire_due_timers_without_pause``.
    """

    requires = ("celery.worker.components:Hub",)

    def __init__(self, parent: WorkController, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.tick: object = None

    def start(self, parent: WorkController) -> None:
        hub = getattr(parent, "hub", None)
        if hub is None:
            return
        fire_due_timers_without_pause(hub)
        if issubclass(parent.pool_cls, ThreadsPool):
            self.tick = hub.call_repeatedly(THREADS_POOL_TICK_SECONDS, _nothing)

    def stop(self, parent: WorkController) -> None:
        if self.tick is not None:
            self.tick.cancel()  # type: ignore[attr-defined]
            self.tick = None


def fire_due_timers_without_pause(hub: Hub) -> None:
    """Make each turn of ``hub``'s loop fire up to ``TIMERS_PER_TURN`` due timers and, with more
    still due, come back after a tick rather than a second. Called before the worker's consumer
    creates the loop, which reads ``hub.fire_timers`` once."""
    hub.fire_timers = functools.partial(
        hub.fire_timers, min_delay=THREADS_POOL_TICK_SECONDS, max_timers=TIMERS_PER_TURN
    )


def _nothing() -> None:
    """A timer's whole work: the turn of the loop it causes is the point."""


app.steps["worker"].add(EventLoopPace)
