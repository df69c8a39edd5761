"""Celery tasks for feeds: beat fans the sync out, one task per feed. Safe to deliver twice."""

from celery import shared_task

from config.queueing import enqueue_on_commit
from feeds.models import CalendarFeed
from feeds.sync import feed_sync

# A feed's fetch is bounded by its timeouts; its stays by the unit's doors. Well past both.
FEED_SYNC_TIME_LIMIT_SECONDS = 240


@shared_task
def feeds_sync_task() -> int:
    """Beat: queue a sync of every active feed; returns how many were queued."""
    ids = list(CalendarFeed.objects.filter(active=True).order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        enqueue_on_commit(feed_sync_task, pk)
    return len(ids)


@shared_task(acks_late=True, time_limit=FEED_SYNC_TIME_LIMIT_SECONDS)
def feed_sync_task(feed_id: int) -> str:
    """Sync one feed; returns what it did in words."""
    feed = CalendarFeed.objects.filter(pk=feed_id, active=True).select_related("unit__site").first()
    if feed is None:
        return "no such active feed"
    return str(feed_sync(feed=feed))
