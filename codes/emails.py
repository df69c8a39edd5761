"""The guest's code email: the PIN, the stay's window in the lock's local time, how to use the
keypad, the guest page's link, and the window as a calendar event; all in the guest's language
(the reservation's, else its site's).

The site's own subject and body (``SiteMessage``, written in the placeholder language of
``codes.placeholders``) replace the built-in ones where staff wrote them for that language. A
stored text that cannot be used is never half sent: the built-in one goes instead, and the
code's history says why.

Sent at most once per request, under at-least-once task delivery: the request records a
``CodeEmail`` row (one in flight per code, by a partial unique constraint) and the task claims
it with a conditional UPDATE ``queued`` → ``sending``; only the worker whose UPDATE changed the
row sends. Every outcome is data on the row and in the code's history; a failure is never lost.

The PIN appears in the email body only: not in the subject (it shows on lock screens), not in
the calendar attachment (calendars are synced and shared widely), never in a log line.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext
from icalendar import Calendar, Event

from codes.errors import Refused
from codes.guest_messages import code_entries, custom_email, site_message, stay_values
from codes.guestlinks import guest_link_for, guest_link_url
from codes.history import record
from codes.localtime import describe_window, format_local
from codes.models import AccessCode, AccessCodeEvent, CodeEmail, walking_order
from config.queueing import enqueue_on_commit
from properties.models import SiteMessage

logger = logging.getLogger(__name__)

Status = CodeEmail.Status
EMAILED = AccessCodeEvent.Kind.EMAILED
IN_FLIGHT = [Status.QUEUED, Status.SENDING]

# Without a timeout a stuck SMTP server would hold a worker (and the row, "sending") forever.
SMTP_TIMEOUT_SECONDS = 30
# Far longer than one send can take with that timeout: a row "sending" for longer than this
# belongs to a worker that died mid-send.
SENDING_LEASE = timedelta(minutes=15)
# A row "queued" this long lost its task (broker flushed, worker never started): queue it again.
QUEUED_GRACE = timedelta(minutes=5)


def _refusal(code: AccessCode, now: datetime) -> str | None:
    """Why this code cannot be emailed now, in words staff can act on; None when it can."""
    if code.status != AccessCode.Status.SET:
        return (
            f"The code is not set on the lock system yet ({code.get_status_display().lower()}); "
            "it can be emailed once Seam reports it set."
        )
    if not code.code:
        return "The code is set but its PIN is not known yet; refresh the code from Seam, then email it."
    if not code.reservation.guest_email:
        return "The reservation has no guest email address; add one to the reservation, then email the code."
    if code.ends_at <= now:
        return "The stay has ended and the code no longer opens the door, so it was not emailed."
    if code.reservation.cancelled_at is not None:
        return "The reservation is cancelled, so its code was not emailed."
    if code.superseded_at is not None:
        return "A date change replaced this code; email the stay's current code instead."
    return None


def code_emails_fail_stale(*, now: datetime, access_code: AccessCode | None = None) -> int:
    """Fail the emails whose worker died mid-send; returns how many.

    Whether the guest received such an email is unknown, so it is not sent again on its own:
    the row says so and staff decide to resend. Safe to call from a periodic sweep.
    """
    stale = CodeEmail.objects.filter(status=Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
    if access_code is not None:
        stale = stale.filter(access_code=access_code)
    failed = 0
    for email in stale.select_related("access_code"):
        with transaction.atomic():
            error = "The worker stopped while sending; the guest may not have received this email."
            if CodeEmail.objects.filter(pk=email.pk, status=Status.SENDING).update(status=Status.FAILED, error=error):
                record(email.access_code, EMAILED, f"Email to {email.to_address} failed: {error}")
                failed += 1
    return failed


def code_email_request(
    *, access_code: AccessCode, user: User | None = None, resend: bool = False, automatic: bool = False
) -> CodeEmail:
    """Record that the guest should get the code by email and queue the send after commit.

    Returns the ``CodeEmail`` row. When an email for this code is already queued or sending,
    returns that one (a double click queues one email). Without ``resend``, an email already
    sent is returned as it is; with ``resend`` (staff asking on purpose) a new one is queued.

    ``automatic`` marks a send the site's email policy asked for (``codes.sending``): its
    history says so.

    Raises ``Refused`` with a message for staff when the code cannot be emailed: not set,
    no PIN yet, no guest address, or the stay is over.
    """
    now = timezone.now()
    code = AccessCode.objects.select_related("reservation").get(pk=access_code.pk)
    refusal = _refusal(code, now)
    if refusal:
        raise Refused(refusal)
    code_emails_fail_stale(now=now, access_code=code)

    in_flight = CodeEmail.objects.filter(access_code=code, status__in=IN_FLIGHT).first()
    if in_flight is not None:
        _requeue_if_lost(in_flight, now)
        return in_flight
    if not resend:
        sent = CodeEmail.objects.filter(access_code=code, status=Status.SENT).first()
        if sent is not None:
            return sent

    try:
        with transaction.atomic():
            email = CodeEmail.objects.create(
                access_code=code,
                to_address=code.reservation.guest_email,
                requested_by=user,
                is_resend=resend,
                is_automatic=automatic,
            )
            enqueue_on_commit(code_email_send_task, email.pk)
    except IntegrityError:
        # Another request queued one between our check and our insert: that one goes out
        # (and may even have gone out already, so take the newest rather than insist on in-flight).
        newest = CodeEmail.objects.filter(access_code=code).first()
        assert newest is not None
        return newest
    return email


def _requeue_if_lost(email: CodeEmail, now: datetime) -> bool:
    """Queue the send again if the email has waited in the queue past ``QUEUED_GRACE`` (its task
    was lost: the broker was down or flushed); True when it was queued again.

    Claimed by a conditional update of ``queued_at``, so two sweeps (or a sweep and a click)
    queue it once per grace period; a duplicate task would be harmless anyway, as only one
    worker can claim the row.
    """
    if email.status != Status.QUEUED or email.queued_at >= now - QUEUED_GRACE:
        return False
    if not CodeEmail.objects.filter(pk=email.pk, status=Status.QUEUED, queued_at=email.queued_at).update(
        queued_at=now
    ):
        return False
    logger.warning("Code email %s queued at %s was never sent; queueing it again", email.pk, email.queued_at)
    enqueue_on_commit(code_email_send_task, email.pk)
    return True


def code_emails_requeue_lost(*, now: datetime) -> list[int]:
    """Queue again every email whose task was lost (see ``_requeue_if_lost``); returns their ids.

    For the beat's sweep: an email asked for while the broker was down is sent once it is back.
    """
    lost = CodeEmail.objects.filter(status=Status.QUEUED, queued_at__lt=now - QUEUED_GRACE).order_by("pk")
    return [email.pk for email in lost if _requeue_if_lost(email, now)]


def code_email_send(*, code_email_id: int) -> CodeEmail:
    """Send one queued code email; returns the row as it stands afterwards.

    Sends nothing when the row is not ``queued`` (sent, failed, or another worker has it):
    that is what makes a duplicate task delivery harmless. A failure of any kind marks the row
    ``failed`` with the error and records it in the code's history; nothing is raised.
    """
    now = timezone.now()
    claimed = CodeEmail.objects.filter(pk=code_email_id, status=Status.QUEUED).update(
        status=Status.SENDING, claimed_at=now
    )
    email = CodeEmail.objects.select_related(
        "access_code__reservation__site", "access_code__lock", "requested_by"
    ).get(pk=code_email_id)
    if not claimed:
        return email
    code = email.access_code

    refusal = _refusal(code, now)
    if refusal:
        return _mark_failed(email, refusal)
    try:
        message, problems = _build_message(code, to_address=email.to_address)
        for problem in problems:
            # Staff see in the code's history that their text was not used, and why; the guest
            # got the built-in text instead of no email.
            logger.warning("Code email %s for code %s: the site's own text was not used", email.pk, code.pk)
            record(code, EMAILED, problem, user=email.requested_by)
        message.connection = get_connection(timeout=settings.EMAIL_TIMEOUT or SMTP_TIMEOUT_SECONDS)
        message.send(fail_silently=False)
    except Exception as exc:
        # Any failure (SMTP, DNS, a template error) must end as data on the row, never as a
        # row stuck in "sending". The traceback goes to the log; no message part is logged.
        logger.exception("Could not send code email %s for code %s", email.pk, code.pk)
        return _mark_failed(email, f"{type(exc).__name__}: {exc}")

    with transaction.atomic():
        # Unconditional: the email went out, even if a sweep gave up on this row meanwhile.
        CodeEmail.objects.filter(pk=email.pk).update(status=Status.SENT, sent_at=timezone.now(), error="")
        kind = "Resent" if email.is_resend else "Emailed"
        how = " automatically, by the site's email policy" if email.is_automatic else ""
        record(code, EMAILED, f"{kind} to {email.to_address}{how}", user=email.requested_by)
    logger.info("Sent code email %s for code %s", email.pk, code.pk)
    email.refresh_from_db()
    return email


def _mark_failed(email: CodeEmail, error: str) -> CodeEmail:
    with transaction.atomic():
        CodeEmail.objects.filter(pk=email.pk).update(status=Status.FAILED, error=error)
        record(email.access_code, EMAILED, f"Email to {email.to_address} failed: {error}", user=email.requested_by)
    email.refresh_from_db()
    return email


@shared_task(acks_late=True)
def code_email_send_task(code_email_id: int) -> str:
    """Send one queued code email unless it was sent or taken already; returns its status."""
    return code_email_send(code_email_id=code_email_id).status


def code_window_text(access_code: AccessCode) -> str:
    """The code's window in the lock's local time with its zone (see ``describe_window``)."""
    return describe_window(access_code.starts_at, access_code.ends_at, access_code.timezone)


def _stay_codes(code: AccessCode) -> tuple[list[AccessCode], bool]:
    """The stay's current codes door by door in walking order, first first (``code``, which
    ``_refusal`` let through, among them), and whether a code the guest may hold from before a
    date change still opens a door."""
    siblings = list(
        AccessCode.objects.filter(reservation_id=code.reservation_id)
        .exclude(status=AccessCode.Status.CANCELLED)
        .select_related("lock")
    )
    current = walking_order((c for c in siblings if c.is_current), code.reservation.unit)
    now = timezone.now()
    earlier = any(
        c.superseded_at is not None and c.status == AccessCode.Status.SET and c.ends_at > now for c in siblings
    )
    return current, earlier


# Seam programs an offline Oracode code only about an hour before it starts (see README): a code
# set this close to its start was one of those, and its email could not have gone out sooner.
SET_SHORTLY_BEFORE = timedelta(hours=2)


def set_shortly_before(stay_codes: list[AccessCode]) -> bool:
    """Whether a code of the stay with its PIN was set only shortly before it starts, so the
    guest hears why the email comes so close to check-in."""
    return any(
        c.status == AccessCode.Status.SET and c.set_at is not None and c.set_at >= c.starts_at - SET_SHORTLY_BEFORE
        for c in stay_codes
    )


def _context(code: AccessCode, stay_codes: list[AccessCode], earlier: bool, link: str) -> dict[str, Any]:
    zone = ZoneInfo(code.timezone)
    start, end = code.starts_at.astimezone(zone), code.ends_at.astimezone(zone)
    with_year = start.year != end.year
    several_doors = len({c.lock_id for c in stay_codes}) > 1
    return {
        # A chain, a continuation or several doors: every code with its window, so the guest
        # knows which opens what, and when.
        "codes": code_entries(stay_codes) if len(stay_codes) > 1 else [],
        "several_doors": several_doors,
        "earlier_codes": earlier,
        "set_shortly_before": set_shortly_before(stay_codes),
        "guest_name": code.reservation.guest_name,
        "site_name": code.reservation.site.name,
        # The unit when the stay opens several doors; the door when it opens one.
        "door_name": code.reservation.unit.name if several_doors else code.lock.name,
        "pin": code.code,
        "pin_spoken": " ".join(code.code),
        "window": code_window_text(code),
        "starts_local": format_local(start, with_year=with_year),
        "ends_local": format_local(end, with_year=with_year),
        "timezone": code.timezone,
        "link": link,
        "link_html": format_html('<a href="{}">{}</a>', link, link),
    }


_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")


@dataclass(frozen=True)
class GuestEmail:
    """A guest code email's parts, and why the site's own text was not used where it was not."""

    subject: str
    text: str
    html: str
    problems: tuple[str, ...]


def guest_email_render(
    *, code: AccessCode, stay_codes: list[AccessCode], earlier: bool, link: str, message: SiteMessage | None
) -> GuestEmail:
    """The stay's code email in the guest's language: the site's own subject and body from
    ``message`` where it has them and they can be used, else the built-in ones; the notes the
    guest needs (codes set only shortly before check-in, an earlier code still valid) either way.
    Reads nothing; the editor's preview calls it with a sample stay in memory."""
    reservation = code.reservation
    with translation.override(reservation.guest_language):
        context = _context(code, stay_codes, earlier, link)
        builtin_subject = " ".join(render_to_string("codes/email/code_email_subject.txt", context).split())
        values = stay_values(reservation, stay_codes, link=link)
    # Outside the guest's language: a mistake in the text is reported to staff, in theirs.
    custom = custom_email(message, values)
    with translation.override(reservation.guest_language):
        context.update(subject=custom.subject or builtin_subject, custom_text=custom.text, custom_html=custom.html)
        return GuestEmail(
            subject=context["subject"],
            # The templates' conditional parts leave runs of blank lines: one is enough.
            text=_BLANK_LINES.sub("\n\n", render_to_string("codes/email/code_email.txt", context)).strip() + "\n",
            html=render_to_string("codes/email/code_email.html", context),
            problems=custom.problems,
        )


def _build_message(code: AccessCode, *, to_address: str) -> tuple[EmailMultiAlternatives, tuple[str, ...]]:
    """The email for ``code``'s stay, and why the site's own text was not used (if so)."""
    reservation = code.reservation
    stay_codes, earlier = _stay_codes(code)
    link = guest_link_url(guest_link_for(reservation))
    email = guest_email_render(
        code=code, stay_codes=stay_codes, earlier=earlier, link=link, message=site_message(reservation)
    )
    message = EmailMultiAlternatives(subject=email.subject, body=email.text, to=[to_address])
    message.attach_alternative(email.html, "text/html")
    span = (min(c.starts_at for c in stay_codes), max(c.ends_at for c in stay_codes))
    message.attach("stay.ics", build_code_calendar(code, span=span), "text/calendar")
    return message, email.problems


def _uid_domain() -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "localhost"


def build_code_calendar(access_code: AccessCode, *, span: tuple[datetime, datetime] | None = None) -> bytes:
    """The stay's window as an iCalendar event; returns the .ics bytes.

    Times carry the lock's zone (``TZID``) with a matching ``VTIMEZONE``, so calendars show
    check-in at the lock's wall-clock time wherever the guest is. The UID is stable per code,
    so a resend updates the same event instead of adding another; ``span`` widens the event to
    the whole stay when it takes several codes. The PIN is left out:
    calendars are synced and shared far more widely than one email.
    """
    zone = ZoneInfo(access_code.timezone)
    starts_at, ends_at = span or (access_code.starts_at, access_code.ends_at)
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    reservation = access_code.reservation
    place = f"{reservation.site.name}, {reservation.unit.name}"

    event = Event()
    event.add("uid", f"access-code-{access_code.pk}@{_uid_domain()}")
    event.add("dtstamp", timezone.now())
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("location", place)
    # In the guest's words, like the email it comes with.
    with translation.override(reservation.guest_language):
        event.add("summary", gettext("Stay at %(place)s") % {"place": place})
        event.add(
            "description",
            gettext(
                "Your door code is in the email we sent you. It opens the door only between check-in "
                "(%(check_in)s) and check-out (%(check_out)s), %(zone)s time."
            )
            % {"check_in": format_local(start), "check_out": format_local(end), "zone": access_code.timezone},
        )
    # A multi-day stay should not mark the guest busy for days.
    event.add("transp", "TRANSPARENT")

    calendar = Calendar()
    calendar.add("prodid", "-//Oracode codes//Guest door code//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    # The VTIMEZONE must cover the event; a narrow range keeps it short (1970-2038 is ~5 kB).
    calendar.add_missing_timezones(
        first_date=(start - timedelta(days=7)).date(), last_date=(end + timedelta(days=7)).date()
    )
    ics: bytes = calendar.to_ical()
    return ics
