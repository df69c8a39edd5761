"""The beat's sweep: the codes whose next step is due, and the codes still not set close to
check-in, which the site's staff hear about (a staff alert per level, see ``codes.alerts``)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils.dateparse import parse_datetime

from codes.alerts import alert_code_not_set, staff_alerts_resolve
from codes.models import AccessCode, StaffAlert
from codes.rate_limit import CLAIM_LEASE

Status = AccessCode.Status
Escalation = AccessCode.Escalation

# Seam programs an offline code about an hour before it starts; a code still deferred this
# long after the time Seam gave is late after all.
DEFERRAL_GRACE = timedelta(minutes=15)


def access_codes_due(*, now: datetime, limit: int | None = None) -> list[tuple[int, str]]:
    """Claim the codes whose next step is due; returns (id, "create" | "refresh") pairs.

    Each due code is claimed for a lease by a conditional UPDATE on the values just read, so
    two sweepers (or one sweeping twice before the workers catch up) never queue it twice,
    and a code whose task was lost is due again once the lease runs out. A code handed back to
    wait for its door's next slot carries the same mark until a grace past its turn, as it
    queued its own task for then (``codes.rate_limit``). A waiting code is
    claimed by moving ``next_check_at`` past the lease; create work by ``claim_expires_at`` on
    the pending row, which the task's own claim ignores. A claim whose worker died is handed
    back as pending, ``create_sent`` kept, so the next attempt looks the code up first.
    At most ``limit`` codes (``CODES_SWEEP_LIMIT``), the longest due first, so that a backlog
    bigger than one sweep is worked off in order rather than some codes waiting indefinitely.
    """
    limit = settings.CODES_SWEEP_LIMIT if limit is None else limit
    rows = access_codes_due_rows(now=now).values_list("pk", "status", "next_check_at", "claim_expires_at")
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


def access_codes_due_rows(*, now: datetime) -> QuerySet[AccessCode]:
    """The codes whose next step is due at ``now``, the longest due first (what the sweep claims).

    Every branch names a status the partial index ``access_code_sweep`` covers (pending,
    creating, waiting), so this reads only the codes still in flight, however many set, failed
    or cancelled codes pile up (the bench's ``scale.sweeper``; ``test_sweep_index``)."""
    not_queued = Q(claim_expires_at__isnull=True) | Q(claim_expires_at__lt=now)
    due_filter = (
        Q(status=Status.WAITING, next_check_at__lte=now)
        | (Q(status=Status.PENDING, next_check_at__lte=now) & not_queued)
        # Its task was never queued (the broker was down, or a crash between commit and
        # on_commit) or was lost.
        | (Q(status=Status.PENDING, next_check_at__isnull=True, created_at__lt=now - CLAIM_LEASE) & not_queued)
        # A lease that ran out: its worker died somewhere in the call.
        | Q(status=Status.CREATING, claim_expires_at__lt=now)
    )
    return AccessCode.objects.filter(due_filter).order_by(F("next_check_at").asc(nulls_first=True), "pk")


def access_codes_escalate(*, now: datetime) -> list[AccessCode]:
    """Alert the site's staff about codes still not set close to check-in; returns those escalated.

    A warning when a code is still not set ``CODES_WARN_HOURS`` before it starts, urgent at
    ``CODES_URGENT_HOURS``: each a ``CODE_NOT_SET`` staff alert, raised once per code and level
    (conditional update of the code's ``escalation``, and the alert's unique open key), on the
    dashboard and emailed. Only codes a guest still counts on (``AccessCodeQuerySet.needed``):
    a cancelled stay or a superseded code has nobody waiting, and its open alert is resolved
    quietly. A code Seam says it will program later (``deferring_creation``, about an hour
    before it starts) is on schedule, not late, until that time is ``DEFERRAL_GRACE`` past.
    A code set after all resolves its alert where it is set (``codes.following``).
    """
    not_set = AccessCode.objects.needed(now).exclude(status=Status.SET)
    _resolve_not_needed(now)
    escalated: list[AccessCode] = []
    for level, hours, below in (
        (Escalation.URGENT, settings.CODES_URGENT_HOURS, [Escalation.NONE, Escalation.WARNING]),
        (Escalation.WARNING, settings.CODES_WARN_HOURS, [Escalation.NONE]),
    ):
        candidates = not_set.filter(starts_at__lte=now + timedelta(hours=hours), escalation__in=below)
        for code in candidates.select_related("reservation__site", "lock__site"):
            if _deferred_on_schedule(code, now):
                continue
            # not_set again: a refresh may have set the code since it was selected.
            if not_set.filter(pk=code.pk, escalation__in=below).update(escalation=level):
                code.escalation = level
                _notify_staff(code, level)
                escalated.append(code)
    return escalated


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
    """Raise the level's alert (its email goes after commit; the level stays recorded on the
    code either way: each is raised once)."""
    alert_code_not_set(code, level)


def _resolve_not_needed(now: datetime) -> int:
    """Quietly resolve the not-set alerts of codes nobody counts on any more (the stay was
    cancelled or moved, the window ended): nothing is left to do, nor to tell."""
    open_alerts = dict(
        StaffAlert.objects.filter(kind=StaffAlert.Kind.CODE_NOT_SET, resolved_at__isnull=True).values_list(
            "key", "access_code_id"
        )
    )
    if not open_alerts:
        return 0
    needed = set(AccessCode.objects.needed(now).filter(pk__in=open_alerts.values()).values_list("pk", flat=True))
    keys = [key for key, code_id in open_alerts.items() if code_id not in needed]
    return staff_alerts_resolve(keys=Q(key__in=keys)) if keys else 0
