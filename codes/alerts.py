"""Staff alerts: problems at Seam that staff must hear of at once (see ``StaffAlert``).

A code Seam put an error on, a code made for another window than asked, a guest's code gone
from its lock, a door or a dormakaba account disconnected. Each is raised once per problem
(its ``key`` is unique among open alerts), shown on the dashboard while open, and emailed
once to the site's active staff by a task queued after commit: the webhook view answers Seam
without waiting on SMTP, and an alert raised in a transaction that rolls back is never sent.
A failed email is recorded on the alert, never raised.

Messages never carry a PIN: they are emailed, and staff reveal PINs on the dashboard only.
"""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone

from codes.history import record
from codes.localtime import describe_window, format_date
from codes.messages import explain_error
from codes.models import AccessCode, AccessCodeEvent, StaffAlert
from config.queueing import enqueue_on_commit
from locks.models import Lock
from locks.seam import SeamAccessCode
from properties.models import Reservation, Site

logger = logging.getLogger(__name__)

Kind = StaffAlert.Kind

# Keys are a kind and an id or two, far shorter; cut anyway, so an odd id cannot break the insert.
KEY_MAX_LENGTH = 200


def staff_alert_raise(
    *,
    site: Site,
    kind: str,
    key: str,
    message: str,
    lock: Lock | None = None,
    access_code: AccessCode | None = None,
) -> StaffAlert:
    """Raise the alert named ``key`` unless one is open already; returns the open alert.

    Race-safe: the unique index on open keys lets one insert win and the others read the
    winner's row. Only the winner queues the email, once its transaction commits.
    """
    key = key[:KEY_MAX_LENGTH]
    alert, created = StaffAlert.objects.get_or_create(
        key=key,
        resolved_at__isnull=True,
        defaults={"site": site, "kind": kind, "message": message, "lock": lock, "access_code": access_code},
    )
    if created:
        logger.warning("Staff alert %s raised at %s", key, site.name)
        enqueue_on_commit(staff_alert_email_task, alert.pk)
    return alert


# An alert's email still unsent this long after it was queued lost its task (the broker was
# down or flushed): the sweep queues it again.
EMAIL_QUEUED_GRACE = timedelta(minutes=5)


def staff_alerts_requeue_unsent(*, now: datetime) -> list[int]:
    """Queue again the alert emails whose task was lost; returns the alerts' ids.

    Each is claimed by a conditional update of ``email_queued_at``, so it is queued again once
    per grace period, however many sweeps run; the send itself does nothing twice.
    """
    lost = StaffAlert.objects.filter(
        emailed_at__isnull=True, email_error="", email_queued_at__lt=now - EMAIL_QUEUED_GRACE
    ).values_list("pk", "email_queued_at")
    requeued = []
    for pk, queued_at in lost:
        if StaffAlert.objects.filter(pk=pk, emailed_at__isnull=True, email_queued_at=queued_at).update(
            email_queued_at=now
        ):
            enqueue_on_commit(staff_alert_email_task, pk)
            requeued.append(pk)
    return requeued


def staff_alerts_resolve(*, keys: Q) -> int:
    """Mark the open alerts whose key matches ``keys`` resolved; returns how many."""
    return StaffAlert.objects.filter(keys, resolved_at__isnull=True).update(resolved_at=timezone.now())


def staff_alert_email(*, alert_id: int) -> StaffAlert:
    """Email the alert to its site's active staff that have an email address; returns the alert.

    Does nothing when it was emailed or tried already (safe to deliver twice, at worst one
    duplicate email if a worker dies mid-send). Nobody to email, or an SMTP failure, is
    recorded in ``email_error`` (and the code's history) where the dashboard shows it.
    """
    alert = StaffAlert.objects.select_related("site", "lock", "access_code").get(pk=alert_id)
    if alert.emailed_at is not None or alert.email_error:
        return alert
    site = alert.site
    recipients = list(site.staff.filter(is_active=True).exclude(email="").values_list("email", flat=True))
    where = f" – {alert.lock.name}" if alert.lock else ""
    subject = f"[Alert] {site.name}{where}: {alert.get_kind_display()}"
    body = f"{alert.message}\n\nOpen the dashboard to see this site's alerts and each code's history.\n"
    if not recipients:
        logger.warning("No staff with an email address to alert at %s (alert %s)", site.name, alert.pk)
        alert.email_error = f"No staff of {site.name} has an email address to notify."
    else:
        try:
            send_mail(subject, body, None, recipients, fail_silently=False)
        except OSError as exc:
            # SMTP errors are OSErrors: the alert stays on the dashboard either way.
            logger.exception("Could not email staff alert %s", alert.pk)
            alert.email_error = f"Could not email staff: {exc}"
        else:
            alert.emailed_at = timezone.now()
    alert.save(update_fields=["emailed_at", "email_error"])
    if alert.access_code is not None:
        outcome = alert.email_error or f"staff emailed ({len(recipients)} recipient(s))"
        record(alert.access_code, AccessCodeEvent.Kind.ALERTED, f"{alert.get_kind_display()}: {outcome}")
    return alert


@shared_task(acks_late=True)
def staff_alert_email_task(alert_id: int) -> str:
    """Email one staff alert; returns "sent" or what went wrong."""
    alert = staff_alert_email(alert_id=alert_id)
    return alert.email_error or "sent"


# The alerts this app raises, each with its key and its words for staff.


def _about(code: AccessCode) -> str:
    return (
        f"The code for {code.reservation.guest_name} on {code.lock.name} "
        f"({describe_window(code.starts_at, code.ends_at, code.timezone)})"
    )


def _code_alert(code: AccessCode, kind: str, message: str) -> StaffAlert:
    """One alert per code and kind, with the stay named in its words."""
    return staff_alert_raise(
        site=code.lock.site,
        kind=kind,
        key=f"{kind}:{code.pk}",
        message=f"{_about(code)} {message}",
        lock=code.lock,
        access_code=code,
    )


def alert_code_failed(code: AccessCode) -> StaffAlert:
    """A code Seam refused or put an error on: the guest has no working code."""
    advice = explain_error(code.last_error_type)
    seam = f"Seam: {code.last_error_type}" + (f": {code.last_error_message}" if code.last_error_message else "")
    return _code_alert(code, Kind.CODE_FAILED, f"failed. {advice.summary} {advice.action} ({seam})")


_MISMATCH = (
    "was made differently at Seam. {mismatch} {asked} Tell the guest the times the code really works, or book the "
    "stay again."
)
_REMOVED = (
    "is no longer on the lock (Seam: {event_type}). The guest's PIN may not open the door: have a key ready, and "
    "book the stay again for a new code."
)


def alert_window_mismatch(code: AccessCode) -> StaffAlert:
    """Seam made the code for another window or user level than asked."""
    message = _MISMATCH.format(mismatch=code.seam_window_mismatch, asked=window_asked(code))
    return _code_alert(code, Kind.WINDOW_MISMATCH, message)


def alert_code_removed(code: AccessCode, event_type: str) -> StaffAlert:
    """Seam says a guest's code was removed from its lock or deleted before its stay ended."""
    return _code_alert(code, Kind.CODE_REMOVED, _REMOVED.format(event_type=event_type))


def seam_window_mismatch(code: AccessCode, seam_code: SeamAccessCode) -> str:
    """What Seam made, in words, when it is not the window and level asked for; "" when it is.

    Compared as instants (Seam answers in UTC). A value Seam did not send is not a difference.
    """
    asked_level = code.user_level_id
    made_level = seam_code.user_level_id
    differs = [
        name
        for name, made, asked in (
            ("start", seam_code.starts_at, code.starts_at),
            ("end", seam_code.ends_at, code.ends_at),
        )
        if made is not None and made != asked
    ]
    if made_level and asked_level and made_level != asked_level:
        differs.append("user level")
    if not differs:
        return ""
    made = describe_window(seam_code.starts_at or code.starts_at, seam_code.ends_at or code.ends_at, code.timezone)
    level = seam_code.user_level_name or made_level or "a level it did not name"
    return f"Seam made {made} on “{level}” (different: {', '.join(differs)})."


def window_asked(code: AccessCode) -> str:
    """The window and level the code was asked for, for messages next to what Seam made."""
    window = describe_window(code.starts_at, code.ends_at, code.timezone)
    return f"Asked for {window} on “{code.slot_name or 'the level chosen'}”."


def door_alert(*, lock: Lock, kind: str, message: str) -> StaffAlert:
    """An alert about one door (disconnected, removed); one open per door and kind."""
    return staff_alert_raise(site=lock.site, kind=kind, key=f"{kind}:{lock.pk}", message=message, lock=lock)


def stay_alert_key(reservation: Reservation) -> str:
    return f"{Kind.STAY_NEEDS_ATTENTION}:{reservation.pk}"


def alert_stay_needs_attention(reservation: Reservation) -> StaffAlert:
    """A stay that arrived on its own (a calendar feed, the API) and could not get its codes or
    follow a change: once per stay until it is resolved, with its reasons."""
    when = f"{format_date(reservation.arrival)} → {format_date(reservation.departure)}"
    return staff_alert_raise(
        site=reservation.site,
        kind=Kind.STAY_NEEDS_ATTENTION,
        key=stay_alert_key(reservation),
        message=(
            f"The stay of {reservation.guest_name} in {reservation.unit.name}, {when}, needs attention: "
            f"{reservation.attention} Open the reservation to choose its codes or change it."
        ),
    )
