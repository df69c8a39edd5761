"""Celery tasks: thin wrappers that load ids and call services. Safe to deliver twice."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from codes import following, sending, sweeping
from codes.alerts import staff_alert_email_task, staff_alerts_requeue_unsent  # noqa: F401 - registers the task
from codes.creating import access_code_create
from codes.emails import code_email_send_task, code_emails_fail_stale, code_emails_requeue_lost  # noqa: F401
from codes.rate_limit import CLAIM_LEASE, seam_create_calls_prune

# A create call never outlives the claim it was made under (see codes.creating): besides the
# lease check before the call, the prefork pool kills the task past this, well inside the lease.
# The threads pool enforces no time limit; there the lease check and the client's timeout do.
CREATE_TIME_LIMIT_SECONDS = (CLAIM_LEASE - timedelta(seconds=15)).total_seconds()


@shared_task(acks_late=True, time_limit=CREATE_TIME_LIMIT_SECONDS)
def access_code_create_task(access_code_id: int) -> str:
    """Create the code at Seam unless done or held elsewhere; returns the status afterwards."""
    return access_code_create(access_code_id=access_code_id).status


@shared_task(acks_late=True)
def access_code_refresh_task(access_code_id: int) -> str:
    """Ask Seam where the code stands; returns the status afterwards."""
    return following.access_code_refresh(access_code_id=access_code_id).status


@shared_task(acks_late=True)
def access_codes_refresh_door_task(lock_id: int, access_code_ids: list[int]) -> int:
    """Ask Seam once for one door's codes and store what it says of the due ones; returns how
    many of them were refreshed (those no longer waiting are skipped)."""
    return len(following.access_codes_refresh_door(lock_id=lock_id, access_code_ids=access_code_ids))


@shared_task
def access_codes_sweep_task() -> int:
    """Beat: queue every code whose next step is due (status checks batched per door), escalate
    late ones, surface emails whose worker died, queue again the emails whose task was lost (the
    broker was down) and trim the create ledger; returns the number of codes queued."""
    now = timezone.now()
    work = sweeping.access_codes_due(now=now)
    for pk, kind in work:
        if kind == "create":
            access_code_create_task.delay(pk)
    due_checks = [pk for pk, kind in work if kind == "refresh"]
    for lock_id, code_ids in following.access_codes_by_door(due_checks).items():
        if len(code_ids) == 1:
            access_code_refresh_task.delay(code_ids[0])
        else:
            access_codes_refresh_door_task.delay(lock_id, code_ids)
    sweeping.access_codes_escalate(now=now)
    code_emails_fail_stale(now=now)
    code_emails_requeue_lost(now=now)
    staff_alerts_requeue_unsent(now=now)
    seam_create_calls_prune(now=now)
    return len(work)


@shared_task
def guest_emails_send_due_task() -> int:
    """Beat: request the code email of every stay due by its site's email policy (see
    ``codes.sending``); returns how many were requested. Safe to run in two workers at once."""
    return len(sending.guest_emails_send_due(now=timezone.now()))
