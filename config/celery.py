import os

from celery import Celery, bootsteps
from celery.concurrency.thread import TaskPool as ThreadsPool
from celery.worker import WorkController

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("oracode")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# How often a threads-pool worker's event loop wakes to fetch more tasks (see ThreadsPoolTick).
THREADS_POOL_TICK_SECONDS = 0.05


class ThreadsPoolTick(bootsteps.StartStopStep):  # type: ignore[misc]
    """Wakes a threads-pool worker's event loop every ``THREADS_POOL_TICK_SECONDS``.

    The threads pool ends tasks on its own threads, which never wake the loop (prefork's
    processes wake it through their result pipes). With its prefetch window full the loop
    sleeps until its next timer, up to 10 s, before it asks the broker for more: a worker of 24
    threads ran 24 tasks every 5 to 10 s (measured in ``make bench``'s scale backfill). Each
    tick is one turn of the loop, which fetches as many tasks as have finished.
    """

    requires = ("celery.worker.components:Hub",)

    def __init__(self, parent: WorkController, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.tick: object = None

    def start(self, parent: WorkController) -> None:
        hub = getattr(parent, "hub", None)
        if hub is not None and issubclass(parent.pool_cls, ThreadsPool):
            self.tick = hub.call_repeatedly(THREADS_POOL_TICK_SECONDS, _nothing)

    def stop(self, parent: WorkController) -> None:
        if self.tick is not None:
            self.tick.cancel()  # type: ignore[attr-defined]
            self.tick = None


def _nothing() -> None:
    """A timer's whole work: the turn of the loop it causes is the point."""


app.steps["worker"].add(ThreadsPoolTick)
