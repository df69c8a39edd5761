"""Access code services: request an offline Oracode code, create it at Seam exactly once,
and follow it until it is set.

Exactly once, under at-least-once task delivery and failing networks and workers:

1. Work is claimed with a conditional UPDATE (status ``pending`` → ``creating`` with a lease);
   only the worker whose UPDATE changed the row goes on. A lease that runs out (a worker
   killed mid-call) lets the sweeper hand the code to another worker.
2. Before the create call, ``create_sent`` is set and committed. While it is set, Seam may
   hold a code we have no id for, so the next attempt lists the door's codes and adopts the
   one with our stable name instead of creating again.
3. ``create_sent`` is cleared only when the outcome is certain: the id is stored, Seam
   refused the request (4xx), or the request never reached Seam.
4. The unique constraint on ``seam_access_code_id`` backs this up.

Long waits (an offline code may stay ``unset`` until an hour before check-in) live in
``next_check_at``; the beat sweeper enqueues what is due. No task sleeps or counts down long.
"""

import bisect
import logging
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail as send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from codes.alerts import alert_code_failed, alert_window_mismatch, seam_window_mismatch, window_asked
from codes.models import AccessCode, AccessCodeEvent, SeamCreateCall
from codes.windows import Window
from config.queueing import enqueue_on_commit
from locks.models import Lock
from locks.seam import SeamAccessCode, SeamClient, SeamError, SeamPermanentError, seam_client_from_settings
from properties.models import Reservation

logger = logging.getLogger(__name__)

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

# Seam allows 10 creates per minute per door (SEAM_CREATES_PER_WINDOW per
# SEAM_CREATE_WINDOW_SECONDS, see create_window()). A code that finds its door's budget spent
# queues itself again with a countdown up to this long; a longer wait is left to the sweeper.
# The sweeper may queue it too once it is due (should the task be lost): only one claim wins.
REQUEUE_COUNTDOWN_MAX = timedelta(minutes=5)
# Celery timers may fire a hair early; the task's claim needs the code due.
REQUEUE_SLACK_SECONDS = 0.05
# Longer than one create call can take (client timeout plus margin). A claim older than this
# belongs to a worker that died.
CLAIM_LEASE = timedelta(seconds=120)
# Time a create call needs beyond the client timeout (connection set-up, writing the answer).
CALL_MARGIN = timedelta(seconds=15)
# Seam programs an offline code about an hour before it starts: check often from just before.
SEAM_SETS_BEFORE_START = timedelta(minutes=65)
MAX_CHECK_INTERVAL = timedelta(hours=6)
NEAR_START_CHECK_INTERVAL = timedelta(minutes=2)
MAX_RETRY_DELAY = timedelta(minutes=30)


def _event(code: AccessCode, kind: str, message: str = "", user: User | None = None) -> None:
    AccessCodeEvent.objects.create(access_code=code, kind=kind, message=message, user=user)


def access_code_name(*, reservation: Reservation, sequence: int) -> str:
    """The stable name sent to Seam, by which the code is found again after an ambiguous failure."""
    suffix = "" if sequence == 1 else f" #{sequence}"
    return f"R{reservation.pk} {reservation.guest_name}"[: 90 - len(suffix)] + suffix


@transaction.atomic
def access_code_request(*, reservation: Reservation, window: Window) -> AccessCode:
    """Record that ``reservation`` needs a code for ``window``; returns the pending row.

    The create task is queued once this transaction commits.
    """
    from codes.tasks import access_code_create_task

    sequence = AccessCode.objects.filter(reservation=reservation).count() + 1
    code = AccessCode.objects.create(
        reservation=reservation,
        lock=reservation.lock,
        name=access_code_name(reservation=reservation, sequence=sequence),
        slot_name=window.slot_name,
        user_level_id=window.user_level_id or "",
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        timezone=window.timezone,
        max_time_rounding=window.max_time_rounding,
        status=Status.PENDING,
    )
    _event(code, Kind.REQUESTED, window.label)
    enqueue_on_commit(access_code_create_task, code.pk)
    return code


def _retry_delay(attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with full jitter, never shorter than Seam's Retry-After."""
    base = min(MAX_RETRY_DELAY.total_seconds(), 15 * 2 ** max(attempt - 1, 0))
    delay = random.uniform(base / 2, base)  # noqa: S311 - jitter, not cryptography
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def next_check_time(*, starts_at: datetime, checks: int, now: datetime) -> datetime:
    """When to ask Seam about a code that is not set yet.

    Soon after creation (to catch errors early), then backing off, capped so that a check
    always lands just before Seam programs the code (an hour before it starts), then often.
    """
    if checks == 0:
        return now + timedelta(seconds=settings.CODES_FIRST_CHECK_SECONDS)
    near_start = starts_at - SEAM_SETS_BEFORE_START
    if now >= near_start:
        return now + NEAR_START_CHECK_INTERVAL
    # Capped in seconds before it becomes a timedelta: 30 * 2**checks overflows timedelta
    # after about 40 checks, which six-hourly checks of a code booked weeks ahead reach.
    step = timedelta(seconds=min(30 * 2**checks, MAX_CHECK_INTERVAL.total_seconds()))
    return min(now + step, near_start)


def _local(instant: datetime, zone: str) -> datetime:
    return instant.astimezone(ZoneInfo(zone))


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


# The ledger only needs the last minute for the rate limit; a month stays for staff to read.
CREATE_LEDGER_KEPT = timedelta(days=30)


def seam_create_calls_prune(*, now: datetime) -> int:
    """Delete create-ledger rows older than ``CREATE_LEDGER_KEPT``; returns how many."""
    deleted, _ = SeamCreateCall.objects.filter(sent_at__lt=now - CREATE_LEDGER_KEPT).delete()
    return deleted


class _ClaimLost(Exception):
    """Our lease ran out (a very slow worker) and another worker may own the code now."""


def _reserve_create_slot(code: AccessCode, now: datetime) -> timedelta | None:
    """Book one of the door's creates for this window; returns how long to wait if none is free.

    Shared by every worker through the database: the UPDATE on the lock row serialises
    concurrent bookings for one door (a row lock on PostgreSQL, the write lock on SQLite).
    On success ``create_sent`` is committed with the booking, before the call is made.
    With no slot free the code is handed back as pending, due when its turn comes, under the
    same row lock: codes already handed back on this door take the slots that free up first,
    so a backfill of hundreds of codes on one door wakes each about once, not all every window.
    Raises ``_ClaimLost`` when this worker's lease is gone or too short for the call: a slow
    worker must never create beside the one that took the code over.
    """
    per_window = settings.SEAM_CREATES_PER_WINDOW
    window = create_window()
    with transaction.atomic():
        Lock.objects.filter(pk=code.lock_id).update(creates_paused_until=F("creates_paused_until"))
        lock = Lock.objects.get(pk=code.lock_id)
        if lock.creates_paused_until and lock.creates_paused_until > now:
            return _hand_back(code, now, lock.creates_paused_until - now)
        recent = list(
            SeamCreateCall.objects.filter(lock_id=code.lock_id, sent_at__gt=now - window)
            .order_by("sent_at")
            .values_list("sent_at", flat=True)
        )
        if len(recent) >= per_window:
            return _hand_back(code, now, _next_turn(code, recent[-per_window:], now) - now)
        # The call must end inside our lease, or the sweeper could hand the code to another
        # worker while our create is still on its way.
        call_margin = timedelta(seconds=settings.SEAM_TIMEOUT_SECONDS) + CALL_MARGIN
        still_ours = AccessCode.objects.filter(
            pk=code.pk,
            status=Status.CREATING,
            claim_expires_at=code.claim_expires_at,
            claim_expires_at__gt=now + call_margin,
        ).update(create_sent=True)
        if not still_ours:
            raise _ClaimLost
        SeamCreateCall.objects.create(lock_id=code.lock_id, access_code=code, sent_at=now)
        _event(code, Kind.CREATE_SENT, f"Attempt {code.attempts}.")
    return None


def _apply_seam_state(code: AccessCode, seam_code: SeamAccessCode, now: datetime) -> None:
    """Store what Seam says of the code: a ``set`` code with its PIN ends the follow-up, and so
    does an error on the code, which fails it at once.

    Seam answered, so an earlier timeout or 5xx no longer describes the code (the events keep
    it). An error Seam puts on a code it accepted (``provider_issue``,
    ``no_space_for_access_code_on_device``, ...) means dormakaba will not issue it: following it
    until its window ends would hide that until the guest stands at the door. Warnings
    (``delay_in_setting_on_device``) do not fail it. What Seam made is checked against what was
    asked (Seam rounds to the nearest user level); a difference is recorded and alerted, never
    silent.
    """
    was_set = code.status == Status.SET
    code.last_error_type = code.last_error_message = ""
    code.seam_access_code_id = seam_code.access_code_id
    code.seam_status = seam_code.status
    code.errors = seam_code.errors
    code.warnings = seam_code.warnings
    code.pending_mutations = seam_code.pending_mutations
    if seam_code.code:
        code.code = seam_code.code
    code.claim_expires_at = None
    code.create_sent = False
    if seam_code.errors:
        first = seam_code.errors[0]
        code.status = Status.FAILED
        code.next_check_at = None
        code.last_error_type = str(first.get("error_code") or first.get("type") or "error")
        code.last_error_message = str(first.get("message") or "")
    elif seam_code.status == "set" and code.code:
        code.status = Status.SET
        code.set_at = code.set_at or now
        code.next_check_at = None
    else:
        code.status = Status.WAITING
        code.next_check_at = next_check_time(starts_at=code.starts_at, checks=code.checks, now=now)
        if code.ends_at <= now:
            code.status = Status.FAILED
            code.next_check_at = None
            code.last_error_type = "not_set_in_time"
            code.last_error_message = "The stay's window ended and Seam never reported the code as set."
    mismatch = seam_window_mismatch(code, seam_code)
    new_mismatch = bool(mismatch) and mismatch != code.seam_window_mismatch
    if new_mismatch:
        code.seam_window_mismatch = mismatch
    code.save()
    if code.status == Status.SET and not was_set:
        _event(code, Kind.SET, "Seam reports the code set on the lock system.")
    elif code.status == Status.FAILED and seam_code.errors:
        error = f"{code.last_error_type}: {code.last_error_message}"
        _event(code, Kind.FAILED, f"Seam reports an error on the code: {error}")
        alert_code_failed(code)
    elif code.status == Status.FAILED:
        _event(code, Kind.FAILED, code.last_error_message)
    if new_mismatch:
        _event(code, Kind.WINDOW_MISMATCH, f"{mismatch} {window_asked(code)}")
        alert_window_mismatch(code)


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
        _event(code, Kind.CANCELLED, f"Not created: {why} before it was sent to Seam.")
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
        _event(code, Kind.FAILED, f"Not sent to Seam: the door's time zones disagree. {problem}")
        return True
    return False


@transaction.atomic
def _fail(code: AccessCode, exc: SeamError) -> None:
    """Seam refused the code for good (a 4xx): fail it and alert the site's staff."""
    AccessCode.objects.filter(pk=code.pk).update(
        status=Status.FAILED,
        create_sent=False,
        claim_expires_at=None,
        next_check_at=None,
        last_error_type=exc.error_type,
        last_error_message=exc.message,
    )
    code.status, code.last_error_type, code.last_error_message = Status.FAILED, exc.error_type, exc.message
    _event(code, Kind.FAILED, str(exc))
    alert_code_failed(code)


def _retry_later(code: AccessCode, exc: SeamError, now: datetime, *, create_sent: bool) -> None:
    delay = _retry_delay(code.attempts, exc.retry_after)
    AccessCode.objects.filter(pk=code.pk).update(
        status=Status.PENDING,
        create_sent=create_sent,
        claim_expires_at=None,
        next_check_at=now + delay,
        last_error_type=exc.error_type,
        last_error_message=exc.message,
    )
    _event(code, Kind.RETRY, f"{exc}. Next try in {int(delay.total_seconds())} s.")


def access_code_create(*, access_code_id: int, client: SeamClient | None = None) -> AccessCode:
    """Create the code at Seam, exactly once; returns the row as it stands afterwards.

    Does nothing when another worker holds the code, when it is not due, or when it was
    created already. Seam errors never escape: permanent ones fail the code with Seam's
    error type and message, transient ones schedule a retry with backoff and jitter.
    """
    now = timezone.now()
    if not _claim(access_code_id, now):
        return AccessCode.objects.get(pk=access_code_id)
    code = AccessCode.objects.select_related("lock__site", "reservation").get(pk=access_code_id)
    client = client or seam_client_from_settings()

    if code.create_sent:
        # An earlier call may have reached Seam (timeout, reset, dead worker): adopt its code.
        try:
            found = _find_at_seam(client, code)
        except SeamError as exc:
            _retry_later(code, exc, now, create_sent=True)
            return AccessCode.objects.get(pk=code.pk)
        if found is not None:
            with transaction.atomic():
                _event(code, Kind.ADOPTED, f"Seam code {found.access_code_id}.")
                _apply_seam_state(code, found, timezone.now())
            return code
        code.create_sent = False
        AccessCode.objects.filter(pk=code.pk).update(create_sent=False)

    # Seam holds no code of ours for this row now: the last chance not to make one.
    if _withdraw_if_unwanted(code):
        return AccessCode.objects.get(pk=code.pk)

    # The time the call goes out, not when the task started: a slow lookup (read retries) in
    # between would otherwise book the call early and let Seam count an eleventh in its minute.
    sent_at = timezone.now()
    try:
        wait = _reserve_create_slot(code, sent_at)
    except _ClaimLost:
        logger.warning("Code %s: lease ran out before the create call; leaving it to the sweeper", code.pk)
        return AccessCode.objects.get(pk=code.pk)
    if wait is not None:
        # The door's create budget is spent and the code is back to pending, due at its turn:
        # it queues itself for then rather than waiting for the next sweep, which stays the
        # fallback should this task be lost. Its own claim still decides who creates.
        if wait <= REQUEUE_COUNTDOWN_MAX:
            from codes.tasks import access_code_create_task

            countdown = wait.total_seconds() + REQUEUE_SLACK_SECONDS
            transaction.on_commit(lambda: access_code_create_task.apply_async((code.pk,), countdown=countdown))
        return AccessCode.objects.get(pk=code.pk)

    try:
        seam_code = client.create_offline_access_code(
            device_id=code.lock.seam_device_id,
            name=code.name,
            starts_at=_local(code.starts_at, code.timezone),
            ends_at=_local(code.ends_at, code.timezone),
            max_time_rounding=code.max_time_rounding,
        )
    except SeamPermanentError as exc:
        _fail(code, exc)
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
                _event(code, Kind.CREATED, f"Seam code {seam_code.access_code_id}, status {seam_code.status}.")
                _apply_seam_state(code, seam_code, timezone.now())
        except IntegrityError:
            # The same Seam code is already stored on another row: never two rows for one code.
            logger.exception("Seam code %s is already stored", seam_code.access_code_id)
            raise
    return AccessCode.objects.get(pk=code.pk)


def access_code_refresh(*, access_code_id: int, client: SeamClient | None = None) -> AccessCode:
    """Ask Seam where the code stands and store it; returns the row.

    Only codes waiting for the lock system are refreshed. A transient error moves the next
    check back; a permanent one (Seam no longer knows the code) fails it.
    """
    now = timezone.now()
    code = AccessCode.objects.select_related("lock").get(pk=access_code_id)
    if code.status != Status.WAITING or not code.seam_access_code_id:
        return code
    client = client or seam_client_from_settings()
    try:
        seam_code = client.get_access_code(code.seam_access_code_id)
    except SeamPermanentError as exc:
        _fail(code, exc)
        return AccessCode.objects.get(pk=code.pk)
    except SeamError as exc:
        AccessCode.objects.filter(pk=code.pk, status=Status.WAITING).update(
            next_check_at=now + _retry_delay(code.checks + 1, exc.retry_after),
            last_error_type=exc.error_type,
            last_error_message=exc.message,
        )
        return AccessCode.objects.get(pk=code.pk)
    return access_code_store_check(access_code_id=access_code_id, seam_code=seam_code)


def access_code_retry(*, access_code: AccessCode, user: User | None = None) -> AccessCode:
    """Request a new code for a reservation whose code failed before Seam created one.

    A failed code that Seam did create stays on the lock (Oracode codes cannot be deleted),
    so it is not replaced silently. Raises ValueError when there is nothing to retry.
    """
    if access_code.status != Status.FAILED:
        raise ValueError("Only a failed code can be retried.")
    if access_code.superseded_at is not None or access_code.reservation.cancelled_at is not None:
        raise ValueError("This code's stay was cancelled or its dates changed: it is not needed any more.")
    from codes.tasks import access_code_create_task

    with transaction.atomic():
        replaced = AccessCode.objects.filter(pk=access_code.pk, status=Status.FAILED, seam_access_code_id="").update(
            status=Status.PENDING,
            attempts=0,
            next_check_at=None,
            last_error_type="",
            last_error_message="",
            errors=[],
        )
        if not replaced:
            raise ValueError("This code exists at Seam and cannot be replaced by a retry; create a new reservation.")
        _event(access_code, Kind.RETRY, "Retry requested by staff.", user=user)
        enqueue_on_commit(access_code_create_task, access_code.pk)
    return AccessCode.objects.get(pk=access_code.pk)


def access_codes_due(*, now: datetime, limit: int | None = None) -> list[tuple[int, str]]:
    """Claim the codes whose next step is due; returns (id, "create" | "refresh") pairs.

    Each due code is claimed for a lease by a conditional UPDATE on the values just read, so
    two sweepers (or one sweeping twice before the workers catch up) never queue it twice,
    and a code whose task was lost is due again once the lease runs out. A waiting code is
    claimed by moving ``next_check_at`` past the lease; create work by ``claim_expires_at`` on
    the pending row, which the task's own claim ignores. A claim whose worker died is handed
    back as pending, ``create_sent`` kept, so the next attempt looks the code up first.
    At most ``limit`` codes (``CODES_SWEEP_LIMIT``), the longest due first, so that a backlog
    bigger than one sweep is worked off in order rather than some codes waiting indefinitely.
    """
    limit = settings.CODES_SWEEP_LIMIT if limit is None else limit
    not_queued = Q(claim_expires_at__isnull=True) | Q(claim_expires_at__lt=now)
    due_filter = (
        Q(status=Status.WAITING, next_check_at__lte=now)
        | (Q(status=Status.PENDING, next_check_at__lte=now) & not_queued)
        # Its task was never queued (a crash between commit and on_commit) or was lost.
        | (Q(status=Status.PENDING, next_check_at__isnull=True, created_at__lt=now - CLAIM_LEASE) & not_queued)
        # A lease that ran out: its worker died somewhere in the call.
        | Q(status=Status.CREATING, claim_expires_at__lt=now)
    )
    rows = (
        AccessCode.objects.filter(due_filter)
        .order_by(F("next_check_at").asc(nulls_first=True), "pk")
        .values_list("pk", "status", "next_check_at", "claim_expires_at")
    )
    work: list[tuple[int, str]] = []
    for pk, status, next_check_at, claim_expires_at in rows[:limit]:
        unchanged = AccessCode.objects.filter(
            pk=pk, status=status, next_check_at=next_check_at, claim_expires_at=claim_expires_at
        )
        if status == Status.WAITING:
            if unchanged.update(next_check_at=now + CLAIM_LEASE):
                work.append((pk, "refresh"))
        elif unchanged.update(status=Status.PENDING, claim_expires_at=now + CLAIM_LEASE):
            work.append((pk, "create"))
    return work


def access_codes_escalate(*, now: datetime) -> list[AccessCode]:
    """Warn the site's staff about codes still not set close to check-in; returns those escalated.

    A warning when a code is still not set ``CODES_WARN_HOURS`` before it starts, urgent at
    ``CODES_URGENT_HOURS``. Each level is sent once per code (conditional update). A code Seam
    says it will program later (``deferring_creation``, about an hour before it starts) is on
    schedule, not late, until that time is ``DEFERRAL_GRACE`` past.
    """
    warn_at = now + timedelta(hours=settings.CODES_WARN_HOURS)
    urgent_at = now + timedelta(hours=settings.CODES_URGENT_HOURS)
    # A cancelled stay or a superseded code has no guest waiting for it: nothing to warn about.
    not_set = (
        Q(status__in=[Status.PENDING, Status.CREATING, Status.WAITING, Status.FAILED])
        & Q(ends_at__gt=now)
        & Q(superseded_at__isnull=True, reservation__cancelled_at__isnull=True)
    )
    escalated: list[AccessCode] = []
    for level, deadline, below in (
        (AccessCode.Escalation.URGENT, urgent_at, [AccessCode.Escalation.NONE, AccessCode.Escalation.WARNING]),
        (AccessCode.Escalation.WARNING, warn_at, [AccessCode.Escalation.NONE]),
    ):
        candidates = AccessCode.objects.filter(not_set, starts_at__lte=deadline, escalation__in=below)
        for code in candidates.select_related("reservation__site", "lock"):
            if _deferred_on_schedule(code, now):
                continue
            # not_set again: a refresh may have set the code since it was selected.
            if AccessCode.objects.filter(not_set, pk=code.pk, escalation__in=below).update(escalation=level):
                code.escalation = level
                _notify_staff(code, level)
                escalated.append(code)
    return escalated


# Seam programs an offline code about an hour before it starts; a code still deferred this
# long after the time Seam gave is late after all.
DEFERRAL_GRACE = timedelta(minutes=15)


def _deferred_on_schedule(code: AccessCode, now: datetime) -> bool:
    """True while Seam's ``deferring_creation`` mutation says the code is programmed later."""
    mutations = code.pending_mutations if isinstance(code.pending_mutations, list) else []
    for mutation in mutations:
        if not isinstance(mutation, dict) or mutation.get("mutation_code") != "deferring_creation":
            continue
        scheduled_at = parse_datetime(str(mutation.get("scheduled_at") or ""))
        if scheduled_at is not None and scheduled_at.tzinfo is not None and now < scheduled_at + DEFERRAL_GRACE:
            return True
    return False


def _notify_staff(code: AccessCode, level: str) -> None:
    site = code.reservation.site
    recipients = list(site.staff.filter(is_active=True).exclude(email="").values_list("email", flat=True))
    starts = _local(code.starts_at, code.timezone)
    state = code.get_status_display().lower()
    subject = f"[{'URGENT' if level == 'urgent' else 'Warning'}] Code for {code.reservation.guest_name} not set"
    body = (
        f"The door code for {code.reservation.guest_name} at {site.name}, {code.lock.name}, is still {state}.\n"
        f"Check-in: {starts:%a %d %b %H:%M} ({code.timezone}, {starts.tzname()}).\n"
    )
    if code.last_error_type:
        body += f"Last error from Seam: {code.last_error_type}: {code.last_error_message}\n"
    body += "Open the dashboard to see the code's history and what to do; have a key ready for the guest.\n"
    if not recipients:
        logger.warning("No staff with an email address to warn about code %s at %s", code.pk, site.name)
        _event(code, Kind.ESCALATED, f"{level}: no staff of {site.name} has an email address to notify.")
        return
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except OSError as exc:
        # SMTP errors are OSErrors. The level stays recorded (each level is sent once), so the
        # failure goes into the history where the dashboard shows it, and the sweep goes on.
        logger.exception("Could not email staff about code %s", code.pk)
        _event(code, Kind.ESCALATED, f"{level}: could not email staff: {exc}")
        return
    _event(code, Kind.ESCALATED, f"{level}: staff notified ({len(recipients)} recipient(s)).")


def access_code_reveal(*, access_code: AccessCode, user: User) -> str:
    """Return the PIN and record who revealed it, and when, in the code's history."""
    _event(access_code, Kind.REVEALED, f"PIN revealed to {user.get_username()}.", user=user)
    return access_code.code


def _hand_back(code: AccessCode, now: datetime, wait: timedelta) -> timedelta:
    """Return a claimed code to pending, due in ``wait``; returns ``wait``.

    Raises ``_ClaimLost`` when the code is no longer ours.
    """
    handed_back = AccessCode.objects.filter(
        pk=code.pk, status=Status.CREATING, claim_expires_at=code.claim_expires_at
    ).update(status=Status.PENDING, claim_expires_at=None, next_check_at=now + wait, attempts=F("attempts") - 1)
    if not handed_back:
        raise _ClaimLost
    return wait


def access_code_store_check(*, access_code_id: int, seam_code: SeamAccessCode) -> AccessCode:
    """Store Seam's answer about a waiting code (from a get or a door's list); returns the row.

    Counts as one status check. Does nothing unless the code is still waiting and the answer
    is about the Seam code it holds.
    """
    with transaction.atomic():
        code = AccessCode.objects.select_for_update().select_related("lock").get(pk=access_code_id)
        if code.status != Status.WAITING or code.seam_access_code_id != seam_code.access_code_id:
            return code
        code.checks += 1
        previous = code.seam_status
        _apply_seam_state(code, seam_code, timezone.now())
        if previous != code.seam_status and code.status == Status.WAITING:
            _event(code, Kind.STATUS, f"Seam status {code.seam_status}.")
    return code


def _next_turn(code: AccessCode, last_creates: list[datetime], now: datetime) -> datetime:
    """When the next create slot of the door that no code already in line has taken frees up.

    Slots free up as the last window's creates age out, then a window after each (an estimate:
    a slot used late frees late, and a code that wakes too early takes the first slot free
    again, ahead of codes queued after it). Called under the door's row lock.
    """
    per_window = len(last_creates)
    window = create_window()
    rows = AccessCode.objects.filter(lock_id=code.lock_id, status=Status.PENDING, next_check_at__gt=now)
    in_line = sorted(due for due in rows.exclude(pk=code.pk).values_list("next_check_at", flat=True) if due)
    turn = 0
    while True:
        slot = last_creates[turn % per_window] + window * (1 + turn // per_window)
        # Slots 0..turn are turn + 1 creates; the code takes one if those in line leave one.
        if bisect.bisect_right(in_line, slot) <= turn:
            return slot
        turn += 1


def create_window() -> timedelta:
    """Seam's per-door create window plus our margin, so that our clock and the network delay
    can never make Seam count one create too many (61 s by default)."""
    return timedelta(seconds=settings.SEAM_CREATE_WINDOW_SECONDS + settings.SEAM_CREATE_MARGIN_SECONDS)
