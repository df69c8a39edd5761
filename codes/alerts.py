"""Staff alerts: problems staff must hear of at once (see ``StaffAlert``).

A code Seam put an error on, a code made for another window than asked, a guest's code gone
from its lock, a code still not set close to check-in, a door or a dormakaba account
disconnected, a calendar feed failing. Each is raised once per problem (its ``key`` is unique
among open alerts), shown on the dashboard while open, and emailed once to the site's active
staff by a task queued after commit: the webhook view answers Seam without waiting on SMTP,
and an alert raised in a transaction that rolls back is never sent. A failed email is recorded
on the alert, never raised. Every email links to the page where staff fix the problem
(``alert_page``), computed from the alert's own fields.

An alert that resolves itself (the door is connected again, the code got set, the feed syncs
again) says how in ``resolution``, and staff who were emailed about it get one short email
saying so. One resolved by staff themselves, or before its email went out, is quiet.

Messages never carry a PIN: they are emailed, and staff reveal PINs on the dashboard only.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail as send_mail  # exported: tests fail the mail server here
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from codes.history import record
from codes.localtime import describe_window, format_date, format_local, zone_abbreviation
from codes.messages import explain_error
from codes.models import AccessCode, AccessCodeEvent, StaffAlert
from config.queueing import enqueue_on_commit
from locks.models import Lock
from locks.seam import SeamAccessCode
from properties.models import Reservation, Site, Unit

logger = logging.getLogger(__name__)

Kind = StaffAlert.Kind
Escalation = AccessCode.Escalation

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
# down or flushed): the sweep queues it again. So is a resolution's email, up to a day after the
# alert resolved: older news is not worth sending.
EMAIL_QUEUED_GRACE = timedelta(minutes=5)
RESOLUTION_NEWS_FOR = timedelta(days=1)


def staff_alerts_requeue_unsent(*, now: datetime) -> list[int]:
    """Queue again the alert and resolution emails whose task was lost; returns the alerts' ids.

    Each is claimed by a conditional update of ``email_queued_at`` (the resolution's email's,
    once an alert resolved itself), so it is queued again once per grace period, however many
    sweeps run; the send itself does nothing twice. An alert resolved before its email went out
    is not sent at all. This also catches an alert whose own email finished sending just after
    it resolved: its resolution's email goes after the grace.
    """
    unsent_alerts = StaffAlert.objects.filter(emailed_at__isnull=True, email_error="", resolved_at__isnull=True)
    unsent_resolutions = _resolutions_to_tell().filter(resolved_at__gte=now - RESOLUTION_NEWS_FOR)
    requeued = []
    for unsent, task in (
        (unsent_alerts, staff_alert_email_task),
        (unsent_resolutions, staff_alert_resolution_email_task),
    ):
        lost = unsent.filter(email_queued_at__lt=now - EMAIL_QUEUED_GRACE).values_list("pk", "email_queued_at")
        for pk, queued_at in lost:
            if unsent.filter(pk=pk, email_queued_at=queued_at).update(email_queued_at=now):
                enqueue_on_commit(task, pk)
                requeued.append(pk)
    return requeued


def staff_alerts_resolve(*, keys: Q, resolution: str = "") -> int:
    """Mark the open alerts whose key matches ``keys`` resolved; returns how many.

    ``resolution`` says, in words for staff, how the problem resolved itself (the door is
    connected again, the code is set now): the staff who were emailed about it are told so,
    once, by a task queued after commit. Leave it empty when staff resolved it themselves (they
    know) or when nobody needs to hear of it: nothing is sent.
    """
    now = timezone.now()
    open_alerts = StaffAlert.objects.filter(keys, resolved_at__isnull=True)
    if not resolution:
        return open_alerts.update(resolved_at=now)
    found = list(open_alerts.values_list("pk", "emailed_at"))
    if not found:
        return 0
    resolved = StaffAlert.objects.filter(pk__in=[pk for pk, _ in found], resolved_at__isnull=True).update(
        resolved_at=now, resolution=resolution, email_queued_at=now
    )
    for pk, emailed_at in found:
        # One whose email is still on its way is caught by the sweep (staff_alerts_requeue_unsent).
        if emailed_at is not None:
            enqueue_on_commit(staff_alert_resolution_email_task, pk)
    return resolved


def _resolutions_to_tell() -> QuerySet[StaffAlert]:
    """Alerts that resolved themselves, that staff were emailed about and not yet told of."""
    return StaffAlert.objects.filter(
        resolved_at__isnull=False, emailed_at__isnull=False, resolution_emailed_at__isnull=True
    ).exclude(resolution="")


def _recipients(site: Site) -> list[str]:
    return list(site.staff.filter(is_active=True).exclude(email="").values_list("email", flat=True))


def staff_alert_email(*, alert_id: int) -> StaffAlert:
    """Email the alert to its site's active staff that have an email address; returns the alert.

    Does nothing when it was emailed or tried already (safe to deliver twice, at worst one
    duplicate email if a worker dies mid-send: an alert lost is worse than one twice), or when
    it resolved before its email went out (staff need not hear of a problem that is over).
    Nobody to email, or an SMTP failure, is recorded in ``email_error`` (and the code's
    history) where the dashboard shows it.
    """
    alert = StaffAlert.objects.select_related("site", "lock", "access_code__reservation", "access_code__lock").get(
        pk=alert_id
    )
    if alert.emailed_at is not None or alert.email_error or alert.resolved_at is not None:
        return alert
    site = alert.site
    recipients = _recipients(site)
    subject, body = _alert_email(alert)
    if not recipients:
        logger.warning("No staff with an email address to alert at %s (alert %s)", site.name, alert.pk)
        alert.email_error = gettext("No staff of %(site)s has an email address to notify.") % {"site": site.name}
    else:
        try:
            send_mail(subject, body, None, recipients, fail_silently=False)
        except OSError as exc:
            # SMTP errors are OSErrors: the alert stays on the dashboard either way.
            logger.exception("Could not email staff alert %s", alert.pk)
            alert.email_error = gettext("Could not email staff: %(error)s") % {"error": exc}
        else:
            alert.emailed_at = timezone.now()
    alert.save(update_fields=["emailed_at", "email_error"])
    if alert.access_code is not None:
        outcome = alert.email_error or f"staff emailed ({len(recipients)} recipient(s))"
        if alert.kind == Kind.CODE_NOT_SET:
            record(alert.access_code, AccessCodeEvent.Kind.ESCALATED, f"{_not_set_level(alert)}: {outcome}")
        else:
            record(alert.access_code, AccessCodeEvent.Kind.ALERTED, f"{alert.get_kind_display()}: {outcome}")
    return alert


@shared_task(acks_late=True)
def staff_alert_email_task(alert_id: int) -> str:
    """Email one staff alert; returns "sent" or what went wrong."""
    alert = staff_alert_email(alert_id=alert_id)
    return alert.email_error or ("sent" if alert.emailed_at else "not sent: resolved first")


def staff_alert_resolution_email(*, alert_id: int) -> bool:
    """Tell the site's staff that an alert they were emailed about resolved itself; returns
    whether this call sent it.

    Claimed first by a conditional update of ``resolution_emailed_at``, so a task delivered
    twice, or two at once, send one email. At most once: an SMTP failure is logged (and put in
    the code's history), not retried; the news is good and the dashboard no longer shows it.
    """
    claimed = _resolutions_to_tell().filter(pk=alert_id).update(resolution_emailed_at=timezone.now())
    if not claimed:
        return False
    alert = StaffAlert.objects.select_related("site", "lock", "access_code__reservation", "access_code__lock").get(
        pk=alert_id
    )
    recipients = _recipients(alert.site)
    if not recipients:
        return False
    resolved, earlier = gettext("Resolved"), gettext("Earlier alert")
    subject = f"[{resolved}] {_alert_subject(alert)}"
    body = f"{alert.resolution}\n\n{earlier}: {alert.message}\n\n{alert_url(alert)}\n"
    try:
        send_mail(subject, body, None, recipients, fail_silently=False)
    except OSError as exc:
        logger.exception("Could not email the resolution of staff alert %s", alert.pk)
        if alert.access_code is not None:
            record(
                alert.access_code,
                AccessCodeEvent.Kind.ALERTED,
                f"{alert.get_kind_display()} resolved; could not email staff: {exc}",
            )
        return False
    return True


@shared_task(acks_late=True)
def staff_alert_resolution_email_task(alert_id: int) -> str:
    """Email staff that one alert resolved itself; returns "sent" or "not sent"."""
    return "sent" if staff_alert_resolution_email(alert_id=alert_id) else "not sent"


def _alert_subject(alert: StaffAlert) -> str:
    """The subject after its tag; a resolution's email repeats it, so mail clients thread them."""
    if alert.kind == Kind.CODE_NOT_SET and alert.access_code is not None:
        return gettext("Code for %(guest)s not set") % {"guest": alert.access_code.reservation.guest_name}
    where = f" – {alert.lock.name}" if alert.lock else ""
    return f"{alert.site.name}{where}: {alert.get_kind_display()}"


def _alert_email(alert: StaffAlert) -> tuple[str, str]:
    """The alert's subject and body. A code not set in time keeps the escalation's own email:
    its level in the subject, the check-in in the door's clock, Seam's last error."""
    if alert.kind == Kind.CODE_NOT_SET and alert.access_code is not None:
        code = alert.access_code
        level = _not_set_level(alert)
        starts = code.starts_at.astimezone(ZoneInfo(code.timezone))
        context = {
            "level": level,
            "guest_name": code.reservation.guest_name,
            "site_name": alert.site.name,
            "door_name": code.lock.name,
            "state": code.get_status_display().lower(),
            "check_in": format_local(starts),
            "zone": code.timezone,
            "zone_abbreviation": zone_abbreviation(starts),
            "error_type": code.last_error_type,
            "error_message": code.last_error_message,
            "link": alert_url(alert),
        }
        subject = render_to_string("codes/email/escalation_subject.txt", context).strip()
        return subject, render_to_string("codes/email/escalation.txt", context)
    page = alert_page(alert)
    open_page = gettext("Open %(page)s to fix it:") % {"page": page.label}
    body = f"{alert.message}\n\n{open_page}\n{alert_url(alert)}\n"
    tag = gettext("Alert")
    return f"[{tag}] {_alert_subject(alert)}", body


# Where each alert is fixed.


@dataclass(frozen=True)
class AlertPage:
    """The staff page that fixes an alert's problem: its path, and its name in words."""

    path: str
    label: str
    url_name: str


def alert_page(alert: StaffAlert) -> AlertPage:
    """The page that fixes the alert, from its own fields: a code's stay (the guest's details
    for a missing address), a stay, a door's live codes, a feed's unit, else the dashboard."""
    key_id = _key_id(alert.key)
    reservation_id = alert.access_code.reservation_id if alert.access_code is not None else None
    if alert.kind in (Kind.STAY_NEEDS_ATTENTION, Kind.GUEST_NO_EMAIL) and reservation_id is None:
        reservation_id = key_id
    if alert.kind == Kind.GUEST_NO_EMAIL and reservation_id is not None:
        return _page("reservation_guest", reservation_id, gettext("the guest's details"))
    if reservation_id is not None:
        return _page("reservation_detail", reservation_id, gettext("the stay and its codes"))
    if alert.kind in (Kind.FEED_FAILING, Kind.FEED_HELD):
        # The key names the feed; its unit is found through the feeds relation, as codes sits
        # below feeds and imports nothing of it.
        unit_id = Unit.objects.filter(feeds__pk=key_id).values_list("pk", flat=True).first() if key_id else None
        if unit_id is not None:
            return _page("unit_detail", unit_id, gettext("the unit and its feeds"))
        return _page("unit_list", None, gettext("the units and their feeds"))
    if alert.lock_id is not None:
        return _page("door_codes", alert.lock_id, gettext("the door's live codes"))
    return _page("home", None, gettext("the dashboard"))


def alert_url(alert: StaffAlert) -> str:
    """The absolute link to the page that fixes the alert, for emails (sent with no request)."""
    return f"{settings.APP_BASE_URL}{alert_page(alert).path}"


def _page(url_name: str, pk: int | None, label: str) -> AlertPage:
    return AlertPage(reverse(url_name, args=[pk] if pk is not None else []), label, url_name)


def _key_id(key: str) -> int | None:
    """The id after the kind in ``kind:<id>...``; None when there is none."""
    parts = key.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


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


# Codes not set in time: a warning, then urgent, each an alert of its own (see access_codes_escalate).


def not_set_key(code: AccessCode, level: str) -> str:
    return f"{Kind.CODE_NOT_SET}:{code.pk}:{level}"


def _not_set_level(alert: StaffAlert) -> str:
    return alert.key.rpartition(":")[2]


def alert_code_not_set(code: AccessCode, level: str) -> StaffAlert:
    """A code a guest counts on is still not set close to check-in (``level``: warning or urgent).

    The urgent alert is a second email, not an edit of the warning: hours later, the same
    problem is now pressing and someone must act (have a key ready), which an edited dashboard
    row would not tell anyone away from it. The warning then leaves the dashboard quietly, so
    the stay shows one alert, the urgent one. Expects the code with its reservation and lock.
    """
    starts = code.starts_at.astimezone(ZoneInfo(code.timezone))
    check_in = f"{format_local(starts)} {zone_abbreviation(starts)}"
    state = code.get_status_display().lower()
    if level == Escalation.URGENT:
        message = gettext(
            "is still not set (%(state)s) and check-in is %(check_in)s: have a key ready for the guest."
        ) % {"state": state, "check_in": check_in}
    else:
        message = gettext(
            "is not set yet (%(state)s); check-in is %(check_in)s. Should it not be set in time, have a key "
            "ready for the guest."
        ) % {"state": state, "check_in": check_in}
    if code.last_error_type:
        message += f" Seam: {code.last_error_type}" + (
            f": {code.last_error_message}" if code.last_error_message else ""
        )
    alert = staff_alert_raise(
        site=code.lock.site,
        kind=Kind.CODE_NOT_SET,
        key=not_set_key(code, level),
        message=f"{_about(code)} {message}",
        lock=code.lock,
        access_code=code,
    )
    if level == Escalation.URGENT:
        staff_alerts_resolve(keys=Q(key=not_set_key(code, Escalation.WARNING)))
    return alert


def code_not_set_resolve(code: AccessCode) -> int:
    """The code got set after all: its not-set alert resolves itself, and staff who were
    emailed about it hear so; returns how many alerts resolved. Every code set passes here:
    without an open alert it costs one small query and reads nothing of the stay."""
    keys = [not_set_key(code, level) for level in (Escalation.WARNING, Escalation.URGENT)]
    if not StaffAlert.objects.filter(key__in=keys, resolved_at__isnull=True).exists():
        return 0
    words = gettext("Resolved: the code for %(guest)s on %(door)s is set now.") % {
        "guest": code.reservation.guest_name,
        "door": code.lock.name,
    }
    return staff_alerts_resolve(keys=Q(key__in=keys), resolution=words)
