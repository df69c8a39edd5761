"""Celery tasks: thin wrappers that load ids and call services. Safe to deliver twice."""

from celery import shared_task
from django.utils import timezone

from codes import polling, services
from codes.alerts import staff_alert_email_task, staff_alerts_requeue_unsent  # noqa: F401 - registers the task
from codes.emails import code_email_send_task, code_emails_fail_stale, code_emails_requeue_lost  # noqa: F401


@shared_task(acks_late=True)
def access_code_create_task(access_code_id: int) -> str:
    """Create the code at Seam unless done or held elsewhere; returns the status afterwards."""
    return services.access_code_create(access_code_id=access_code_id).status


@shared_task(acks_late=True)
def access_code_refresh_task(access_code_id: int) -> str:
    """Ask Seam where the code stands; returns the status afterwards."""
    return services.access_code_refresh(access_code_id=access_code_id).status


@shared_task(acks_late=True)
def access_codes_refresh_door_task(lock_id: int, access_code_ids: list[int]) -> int:
    """Ask Seam once for one door's codes and store what it says of the due ones; returns how
    many of them were refreshed (those no longer waiting are skipped)."""
    return len(polling.access_codes_refresh_door(lock_id=lock_id, access_code_ids=access_code_ids))


@shared_task
def access_codes_sweep_task() -> int:
    """Beat: queue every code whose next step is due (status checks batched per door), escalate
    late ones, surface emails whose worker died, queue again the emails whose task was lost (the
    broker was down) and trim the create ledger; returns the number of codes queued."""
    now = timezone.now()
    work = services.access_codes_due(now=now)
    for pk, kind in work:
        if kind == "create":
            access_code_create_task.delay(pk)
    due_checks = [pk for pk, kind in work if kind == "refresh"]
    for lock_id, code_ids in polling.access_codes_by_door(due_checks).items():
        if len(code_ids) == 1:
            access_code_refresh_task.delay(code_ids[0])
        else:
            access_codes_refresh_door_task.delay(lock_id, code_ids)
    services.access_codes_escalate(now=now)
    code_emails_fail_stale(now=now)
    code_emails_requeue_lost(now=now)
    staff_alerts_requeue_unsent(now=now)
    services.seam_create_calls_prune(now=now)
    return len(work)
