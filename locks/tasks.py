from celery import shared_task

from locks.services import locks_sync


@shared_task
def locks_sync_task() -> str:
    """Periodic import of the Oracode doors from Seam (beat). Returns the summary."""
    return locks_sync().summary()
