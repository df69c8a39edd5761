"""The beat's sweep: the codes whose next step is due, and the codes still not set close to
check-in, which the site's staff hear about (once per level)."""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail as send_mail
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from codes.creating import CLAIM_LEASE
from codes.history import record
from codes.models import AccessCode, AccessCodeEvent

logger = logging.getLogger(__name__)

Status = AccessCode.Status
Escalation = AccessCode.Escalation

# Seam programs an offline code about an hour before it starts; a code still deferred this
# long after the time Seam gave is late after all.
DEFERRAL_GRACE = timedelta(minutes=15)


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
        # Its task was never queued (the broker was down, or a crash between commit and
        # on_commit) or was lost.
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
    ``CODES_URGENT_HOURS``. Each level is sent once per code (conditional update). Only codes a
    guest still counts on (``AccessCodeQuerySet.needed``): a cancelled stay or a superseded
    code has nobody waiting. A code Seam says it will program later (``deferring_creation``,
    about an hour before it starts) is on schedule, not late, until that time is
    ``DEFERRAL_GRACE`` past.
    """
    not_set = AccessCode.objects.needed(now).exclude(status=Status.SET)
    escalated: list[AccessCode] = []
    for level, hours, below in (
        (Escalation.URGENT, settings.CODES_URGENT_HOURS, [Escalation.NONE, Escalation.WARNING]),
        (Escalation.WARNING, settings.CODES_WARN_HOURS, [Escalation.NONE]),
    ):
        candidates = not_set.filter(starts_at__lte=now + timedelta(hours=hours), escalation__in=below)
        for code in candidates.select_related("reservation__site", "lock"):
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
    """Email the level to the site's active staff with an address; the outcome goes into the
    code's history (the level stays recorded either way: each is sent once)."""
    site = code.reservation.site
    recipients = list(site.staff.filter(is_active=True).exclude(email="").values_list("email", flat=True))
    if not recipients:
        logger.warning("No staff with an email address to warn about code %s at %s", code.pk, site.name)
        record(
            code, AccessCodeEvent.Kind.ESCALATED, f"{level}: no staff of {site.name} has an email address to notify."
        )
        return
    starts = code.starts_at.astimezone(ZoneInfo(code.timezone))
    context = {
        "level": level,
        "guest_name": code.reservation.guest_name,
        "site_name": site.name,
        "door_name": code.lock.name,
        "state": code.get_status_display().lower(),
        "check_in": f"{starts:%a %d %b %H:%M}",
        "zone": code.timezone,
        "zone_abbreviation": starts.tzname(),
        "error_type": code.last_error_type,
        "error_message": code.last_error_message,
    }
    subject = render_to_string("codes/email/escalation_subject.txt", context).strip()
    body = render_to_string("codes/email/escalation.txt", context)
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except OSError as exc:
        # SMTP errors are OSErrors: the failure goes into the history, where the dashboard
        # shows it, and the sweep goes on.
        logger.exception("Could not email staff about code %s", code.pk)
        record(code, AccessCodeEvent.Kind.ESCALATED, f"{level}: could not email staff: {exc}")
        return
    record(code, AccessCodeEvent.Kind.ESCALATED, f"{level}: staff notified ({len(recipients)} recipient(s)).")
