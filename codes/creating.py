"""Creating a code at Seam, exactly once, under at-least-once task delivery and failing networks
and workers (an Oracode code can never be deleted, so a second one would stay on the door):

1. Work is claimed with a conditional UPDATE (status ``pending`` → ``creating`` with a lease);
   only the worker whose UPDATE changed the row goes on. A lease that runs out (a worker
   killed mid-call) lets the sweep hand the code to another worker.
2. Before the create call, ``create_sent`` is set and committed. While it is set, Seam may
   hold a code we have no id for, so the next attempt lists the door's codes and adopts the
   one with our stable name instead of creating again.
3. ``create_sent`` is cleared only when the outcome is certain: the id is stored, Seam
   refused the request (4xx), or the request never reached Seam.
4. The unique constraint on ``seam_access_code_id`` backs this up.

A create call never outlives the claim it was made under: ``create_slot_reserve`` sends it
only while the lease has longer to run than the client's timeout (``SEAM_TIMEOUT_SECONDS``,
which bounds every wait for Seam) plus a margin. That holds in every Celery pool; the prefork
pool's hard time limit on the task, shorter than the lease, is a second bound (the threads
pool, which production runs for many calls in flight, has no time limits; see
docs/scaling.md).
"""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from codes.errors import Refused
from codes.following import apply_seam_state, fail, retry_delay
from codes.history import record
from codes.models import AccessCode, AccessCodeEvent
from codes.rate_limit import (
    CLAIM_LEASE,
    REQUEUE_COUNTDOWN_MAX,
    ClaimLost,
    create_call_answered,
    create_slot_reserve,
)
from codes.windows import Window
from config.queueing import AHEAD_PRIORITY, enqueue_on_commit
from locks.models import Lock
from locks.seam import SeamAccessCode, SeamClient, SeamError, SeamPermanentError, seam_client_from_settings
from properties.models import Reservation

logger = logging.getLogger(__name__)

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

# Celery timers may fire a hair early; the task's claim needs the code due.
REQUEUE_SLACK_SECONDS = 0.05


def access_code_name(*, reservation: Reservation, sequence: int) -> str:
    """The stable name sent to Seam, by which the code is found again after an ambiguous failure."""
    suffix = "" if sequence == 1 else f" #{sequence}"
    return f"R{reservation.pk} {reservation.guest_name}"[: 90 - len(suffix)] + suffix


@transaction.atomic
def access_code_request(*, reservation: Reservation, lock: Lock, window: Window) -> AccessCode:
    """Record that ``reservation`` needs a code for ``window`` on ``lock``; returns the pending row.

    Its name numbers it among the stay's codes (on every door), so it is unique on the door
    and found there again by name after an ambiguous create. The create task is queued once
    this transaction commits.
    """
    from codes.tasks import access_code_create_task

    sequence = AccessCode.objects.filter(reservation=reservation).count() + 1
    code = AccessCode.objects.create(
        reservation=reservation,
        lock=lock,
        name=access_code_name(reservation=reservation, sequence=sequence),
        slot_name=window.slot_name,
        user_level_id=window.user_level_id or "",
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        timezone=window.timezone,
        max_time_rounding=window.max_time_rounding,
        status=Status.PENDING,
    )
    record(code, Kind.REQUESTED, window.label)
    enqueue_on_commit(access_code_create_task, code.pk)
    return code


def access_code_retry(*, access_code: AccessCode, user: User | None = None) -> AccessCode:
    """Request a new code for a reservation whose code failed before Seam created one.

    A failed code that Seam did create stays on the lock (Oracode codes cannot be deleted),
    so it is not replaced silently. Raises ``Refused`` when there is nothing to retry.
    """
    from codes.tasks import access_code_create_task

    if access_code.status != Status.FAILED:
        raise Refused("Only a failed code can be retried.")
    if access_code.superseded_at is not None or access_code.reservation.cancelled_at is not None:
        raise Refused("This code's stay was cancelled or its dates changed: it is not needed any more.")
    with transaction.atomic():
        replaced = AccessCode.objects.filter(pk=access_code.pk, status=Status.FAILED, seam_access_code_id="").update(
            status=Status.PENDING,
            attempts=0,
            next_check_at=None,
            in_line_since=None,
            last_error_type="",
            last_error_message="",
            errors=[],
        )
        if not replaced:
            raise Refused("This code exists at Seam and cannot be replaced by a retry; create a new reservation.")
        record(access_code, Kind.RETRY, "Retry requested by staff.", user=user)
        enqueue_on_commit(access_code_create_task, access_code.pk)
    return AccessCode.objects.get(pk=access_code.pk)


def access_code_create(*, access_code_id: int, client: SeamClient | None = None) -> AccessCode:
    """Create the code at Seam, exactly once; returns the row as it stands afterwards.

    Does nothing when another worker holds the code, when it is not due, or when it was
    created already. Seam errors never escape: permanent ones fail the code with Seam's
    error type and message, transient ones schedule a retry with backoff and jitter.
    """
    if not _claim(access_code_id, timezone.now()):
        return AccessCode.objects.get(pk=access_code_id)
    code = AccessCode.objects.select_related("lock__site", "reservation").get(pk=access_code_id)
    client = client or seam_client_from_settings()
    if code.create_sent and _adopt_earlier_create(client, code):
        return AccessCode.objects.get(pk=code.pk)
    # Seam holds no code of ours for this row now: the last chance not to make one.
    if _withdraw_if_unwanted(code) or not _create_slot_booked(code):
        return AccessCode.objects.get(pk=code.pk)
    _send_create(client, code)
    return AccessCode.objects.get(pk=code.pk)


def _claim(code_id: int, now: datetime) -> bool:
    """Take the create work for one code; True only for the single worker that got it."""
    claimable = Q(status=Status.PENDING) & (Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
    # A lease that ran out: its worker died (SIGKILL, lost node) somewhere in the call.
    abandoned = Q(status=Status.CREATING, claim_expires_at__lt=now)
    claimed = (
        AccessCode.objects.filter(pk=code_id)
        .filter(claimable | abandoned)
        .update(
            status=Status.CREATING,
            claim_expires_at=now + CLAIM_LEASE,
            next_check_at=None,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )
    return claimed == 1


def _adopt_earlier_create(client: SeamClient, code: AccessCode) -> bool:
    """An earlier call may have reached Seam (timeout, reset, dead worker): adopt its code.

    True when the code's outcome is settled here (adopted, or the lookup failed and a retry is
    planned); False when Seam holds nothing under our name, so a create may go out.
    """
    try:
        found = _find_at_seam(client, code)
    except SeamError as exc:
        _retry_later(code, exc, timezone.now(), create_sent=True)
        return True
    if found is not None:
        with transaction.atomic():
            record(code, Kind.ADOPTED, f"Seam code {found.access_code_id}.")
            apply_seam_state(code, found, timezone.now())
        return True
    code.create_sent = False
    AccessCode.objects.filter(pk=code.pk).update(create_sent=False)
    return False


def _find_at_seam(client: SeamClient, code: AccessCode) -> SeamAccessCode | None:
    """The code Seam holds under our stable name on this door, if an earlier call made it."""
    matches = [c for c in client.list_access_codes(code.lock.seam_device_id) if c.name == code.name]
    if len(matches) > 1:
        logger.error("Seam holds %d codes named %r on door %s", len(matches), code.name, code.lock.seam_device_id)
    return matches[0] if matches else None


def _withdraw_if_unwanted(code: AccessCode) -> bool:
    """Stop a create that should not happen; True when it was stopped.

    A stay cancelled or a code superseded since it was requested: the code is withdrawn. A door
    whose time zones disagree: the code fails with ``time_zone_mismatch`` and our explanation,
    since every window computed for it could be off by hours; staff retry once it is fixed.
    """
    reservation = code.reservation
    if reservation.cancelled_at is not None or code.superseded_at is not None:
        why = "the stay was cancelled" if reservation.cancelled_at is not None else "a date change replaced it"
        AccessCode.objects.filter(pk=code.pk).update(
            status=Status.CANCELLED, claim_expires_at=None, next_check_at=None, create_sent=False
        )
        record(code, Kind.CANCELLED, f"Not created: {why} before it was sent to Seam.")
        return True
    problem = code.lock.timezone_problem
    if problem:
        AccessCode.objects.filter(pk=code.pk).update(
            status=Status.FAILED,
            claim_expires_at=None,
            next_check_at=None,
            create_sent=False,
            last_error_type="time_zone_mismatch",
            last_error_message=f"Not sent to Seam. {problem}",
        )
        record(code, Kind.FAILED, f"Not sent to Seam: the door's time zones disagree. {problem}")
        return True
    return False


def _create_slot_booked(code: AccessCode) -> bool:
    """Book one of the door's creates now; False when the code must wait (or is no longer ours).

    The time the call goes out, not when the task started: a slow lookup (read retries) in
    between would otherwise book the call early and let Seam count an eleventh in its minute.
    A code held back for the door's budget queues itself for its turn rather than waiting for
    the next sweep, which stays the fallback should this task be lost.
    """
    from codes.tasks import access_code_create_task

    try:
        wait = create_slot_reserve(code, timezone.now())
    except ClaimLost:
        logger.warning("Code %s: lease ran out before the create call; leaving it to the sweeper", code.pk)
        return False
    if wait is None:
        return True
    if wait <= REQUEUE_COUNTDOWN_MAX:
        # Ahead of the queue: the worker holds it until its turn (an ETA task) instead of
        # reaching it only after a backlog queued before it, such as the rest of an import.
        countdown = wait.total_seconds() + REQUEUE_SLACK_SECONDS
        transaction.on_commit(
            lambda: access_code_create_task.apply_async((code.pk,), countdown=countdown, priority=AHEAD_PRIORITY)
        )
    return False


def _send_create(client: SeamClient, code: AccessCode) -> None:
    """The create call itself, and what its answer means for the row."""
    try:
        seam_code = _create_at_seam(client, code)
    except SeamPermanentError as exc:
        fail(code, exc)
    except SeamError as exc:
        answered_at = timezone.now()
        if exc.status_code == 429:
            # Counted from Seam's answer; a longer pause another worker set is kept.
            pause_until = answered_at + timedelta(seconds=exc.retry_after or 60)
            Lock.objects.filter(pk=code.lock_id).filter(
                Q(creates_paused_until__isnull=True) | Q(creates_paused_until__lt=pause_until)
            ).update(creates_paused_until=pause_until)
        # Only an ambiguous failure may have left a code at Seam; any earlier one was looked up.
        _retry_later(code, exc, answered_at, create_sent=exc.ambiguous)
    else:
        try:
            with transaction.atomic():
                record(code, Kind.CREATED, f"Seam code {seam_code.access_code_id}, status {seam_code.status}.")
                apply_seam_state(code, seam_code, timezone.now())
        except IntegrityError:
            # The same Seam code is already stored on another row: never two rows for one code.
            logger.exception("Seam code %s is already stored", seam_code.access_code_id)
            raise


def _create_at_seam(client: SeamClient, code: AccessCode) -> SeamAccessCode:
    """The create call, its return written on the door's ledger however it ends: the codes
    waiting on the door time their turn from it."""
    try:
        return client.create_offline_access_code(
            device_id=code.lock.seam_device_id,
            name=code.name,
            starts_at=code.starts_at.astimezone(ZoneInfo(code.timezone)),
            ends_at=code.ends_at.astimezone(ZoneInfo(code.timezone)),
            max_time_rounding=code.max_time_rounding,
        )
    finally:
        create_call_answered(code, timezone.now())


def _retry_later(code: AccessCode, exc: SeamError, now: datetime, *, create_sent: bool) -> None:
    delay = retry_delay(code.attempts, exc.retry_after)
    AccessCode.objects.filter(pk=code.pk).update(
        status=Status.PENDING,
        create_sent=create_sent,
        claim_expires_at=None,
        next_check_at=now + delay,
        last_error_type=exc.error_type,
        last_error_message=exc.message,
    )
    record(code, Kind.RETRY, f"{exc}. Next try in {int(delay.total_seconds())} s.")
