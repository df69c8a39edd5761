"""Sending the guest's code email on its own, by each site's policy (``Site.guest_email_policy``).

A stay's email is due when the stay stands (not cancelled, departure not passed by the site's
date), its site does not leave the email to staff, each door's first current code is set with
its PIN (never before), the policy's moment has come (as soon as set; or the unit's check-in
time on the arrival date minus ``guest_email_days_before`` days, by the site's clocks, or when
the codes are set if that is later), and no email of the stay's current codes was sent or is
on its way, whoever asked for it. Only each door's *first* code must be set: the later links
of a long stay are programmed only about an hour before each starts, and the email already
tells the guest those follow.

The email is requested through ``code_email_request`` like a manual one (a ``CodeEmail`` row,
the code's history), marked automatic. A failed automatic send is tried once more after
``RETRY_AFTER``, then left to staff: a failure that repeats (a bad address, SMTP refusing it)
would fail every beat. Two workers running this at once request one email: the request finds
the other's row, or loses the insert on ``code_email_one_in_flight`` and returns the winner's.

A stay with no guest address raises one staff alert (``guest_no_email``) at the policy's "days
before" moment, so staff hear in time even when offline codes are set only an hour before
check-in. It is resolved once the email of the stay is sent, or the stay is cancelled.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Prefetch, Q

from codes.alerts import staff_alert_raise, staff_alerts_resolve
from codes.emails import code_email_request
from codes.errors import Refused
from codes.localtime import format_local, zone_abbreviation
from codes.models import AccessCode, CodeEmail, StaffAlert, walking_order
from codes.windows import check_in_at
from properties.models import Reservation, Site, UnitDoor

logger = logging.getLogger(__name__)

Policy = Site.GuestEmailPolicy
EmailStatus = CodeEmail.Status

# A failed automatic send is tried once more, this long after the failure; then staff decide.
AUTOMATIC_ATTEMPTS = 2
RETRY_AFTER = timedelta(minutes=30)
# Nothing is due more than 60 days (the most a site may choose) before its arrival; one more
# day covers the sites whose date is ahead of UTC's. Bounds the query for candidate stays.
HORIZON = timedelta(days=61)
OFFLINE_NOTE = "about an hour before check-in for offline codes"


@dataclass(frozen=True)
class EmailPlan:
    """Where a stay's code email stands for the site's policy: ``state`` for code, ``text``
    for staff, ``at`` the moment it names (sent, due, alerted), if any."""

    state: str
    text: str
    at: datetime | None = None


def days_before_at(reservation: Reservation) -> datetime:
    """The site's "days before" moment: check-in time, that many days earlier on the site's clocks."""
    return check_in_at(reservation, days_before=reservation.site.guest_email_days_before)


def _site_time(instant: datetime, site: Site) -> str:
    local = instant.astimezone(ZoneInfo(site.timezone))
    return f"{format_local(local, with_year=True)} {zone_abbreviation(local)}"


def _policy_words(site: Site) -> str:
    if site.guest_email_policy == Policy.BEFORE_ARRIVAL:
        days = site.guest_email_days_before
        return f"site policy: {days} day{'s' if days != 1 else ''} before check-in"
    return f"site policy: {site.get_guest_email_policy_display().lower()}"


def alert_key(reservation: Reservation) -> str:
    return f"{StaffAlert.Kind.GUEST_NO_EMAIL}:{reservation.pk}"


def email_plan(*, reservation: Reservation, now: datetime) -> EmailPlan | None:
    """Where the stay's code email stands: sent (by whom, when), on its way, due (when), left
    to staff, or waiting for an address; None for a cancelled stay or one without codes.

    Reads the stay's codes and their emails as prefetched (``reservation.access_codes``, each
    with ``emails`` newest first) and the unit's doors (``unit.unit_doors``).
    """
    if reservation.cancelled_at is not None:
        return None
    codes = walking_order((c for c in reservation.access_codes.all() if c.is_current), reservation.unit)
    if not codes:
        return None
    site = reservation.site
    emails = sorted((e for c in codes for e in c.emails.all()), key=lambda e: (e.requested_at, e.pk), reverse=True)
    sent = next((e for e in emails if e.status == EmailStatus.SENT), None)
    if sent is not None and sent.sent_at is not None:
        if sent.is_automatic:
            return EmailPlan("sent", f"sent automatically {_site_time(sent.sent_at, site)}", sent.sent_at)
        by = f" by {sent.requested_by.get_username()}" if sent.requested_by else ""
        return EmailPlan("sent", f"sent{by} {_site_time(sent.sent_at, site)}", sent.sent_at)
    if any(e.status in (EmailStatus.QUEUED, EmailStatus.SENDING) for e in emails):
        return EmailPlan("in_flight", "on its way to the guest")
    if site.guest_email_policy == Policy.STAFF:
        return EmailPlan("staff", "staff send it (site policy)")
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    if reservation.departure < today:
        return EmailPlan("over", "not sent: the stay is over")
    policy = _policy_words(site)
    if not reservation.guest_email:
        alert_at = days_before_at(reservation)
        alerted = StaffAlert.objects.filter(key=alert_key(reservation)).order_by("created_at").first()
        if alerted is not None:
            return EmailPlan("no_address", "no guest address: staff alerted", alerted.created_at)
        return EmailPlan(
            "no_address", f"no guest address: staff will be alerted {_site_time(alert_at, site)}", alert_at
        )

    failed = [e for e in emails if e.is_automatic and e.status == EmailStatus.FAILED]
    if len(failed) >= AUTOMATIC_ATTEMPTS:
        return EmailPlan("gave_up", f"the automatic send failed {len(failed)} times: staff must send it ({policy})")
    retry_at = failed[0].requested_at + RETRY_AFTER if failed else None

    first_codes: dict[int, AccessCode] = {}
    for code in codes:
        first_codes.setdefault(code.lock_id, code)
    all_set = all(c.status == AccessCode.Status.SET and c.code for c in first_codes.values())
    due = days_before_at(reservation) if site.guest_email_policy == Policy.BEFORE_ARRIVAL else None

    if not all_set:
        if due is None or due <= now:
            return EmailPlan("waiting", f"will be sent when Seam sets the codes ({OFFLINE_NOTE}; {policy})")
        return EmailPlan(
            "due_later",
            f"due {_site_time(due, site)}, or when Seam sets the codes if later ({OFFLINE_NOTE}; {policy})",
            due,
        )
    if due is not None and due > now:
        return EmailPlan("due_later", f"due {_site_time(due, site)} ({policy})", due)
    if retry_at is not None and retry_at > now:
        return EmailPlan(
            "retry_later", f"the automatic send failed; it is tried again {_site_time(retry_at, site)}", retry_at
        )
    return EmailPlan("due_now", f"due now: it goes out within minutes ({policy})", now)


def _candidates(now: datetime) -> "list[Reservation]":
    """Stays that may need an automatic email or a no-address alert: standing, of a site that
    sends on its own, arriving within ``HORIZON``, not over, with a current code and no email of
    a current code sent or on its way. One query (plus prefetches), bounded by dates."""
    current = AccessCode.objects.current()
    done = CodeEmail.objects.filter(
        access_code__reservation=OuterRef("pk"),
        access_code__superseded_at__isnull=True,
        status__in=[EmailStatus.SENT, EmailStatus.QUEUED, EmailStatus.SENDING],
    ).exclude(access_code__status__in=[AccessCode.Status.CANCELLED, AccessCode.Status.FAILED])
    return list(
        Reservation.objects.filter(
            cancelled_at__isnull=True,
            arrival__lte=(now + HORIZON).date(),
            departure__gte=(now - timedelta(days=1)).date(),
        )
        .exclude(site__guest_email_policy=Policy.STAFF)
        .filter(Exists(current.filter(reservation=OuterRef("pk"))))
        # Nothing to send before a code is set, and nothing to alert before that moment, unless
        # the guest has no address.
        .filter(Q(guest_email="") | Exists(current.filter(reservation=OuterRef("pk"), status=AccessCode.Status.SET)))
        .exclude(Exists(done))
        .select_related("site", "unit")
        .prefetch_related(
            Prefetch("access_codes", queryset=current.prefetch_related("emails")),
            Prefetch("unit__unit_doors", queryset=UnitDoor.objects.order_by("position", "pk")),
        )
        .order_by("arrival", "pk")
    )


def guest_emails_send_due(*, now: datetime) -> list[int]:
    """Request the code email of every stay due now (see the module), alert staff about due
    stays without a guest address, and resolve those alerts once settled; returns the ids of
    the ``CodeEmail`` rows requested.

    Safe to run twice, or in two workers at once: a stay whose email is sent or on its way is
    no candidate, and ``code_email_request`` queues one email per code however many ask.
    """
    requested = []
    candidates = _candidates(now)
    keys = [alert_key(r) for r in candidates if not r.guest_email]
    alerted = set(StaffAlert.objects.filter(key__in=keys).values_list("key", flat=True)) if keys else set()
    for reservation in candidates:
        plan = email_plan(reservation=reservation, now=now)
        if plan is None:
            continue
        if plan.state == "no_address":
            if alert_key(reservation) not in alerted and days_before_at(reservation) <= now:
                _alert_no_address(reservation)
            continue
        if plan.state != "due_now":
            continue
        lead = walking_order((c for c in reservation.access_codes.all() if c.is_current), reservation.unit)[0]
        try:
            email = code_email_request(access_code=lead, automatic=True)
        except Refused as exc:
            logger.info("Stay %s is due its code email but it cannot be sent: %s", reservation.pk, exc)
            continue
        requested.append(email.pk)
    _resolve_settled_alerts()
    return requested


def _alert_no_address(reservation: Reservation) -> StaffAlert:
    lead = walking_order((c for c in reservation.access_codes.all() if c.is_current), reservation.unit)[0]
    check_in = _site_time(check_in_at(reservation), reservation.site)
    return staff_alert_raise(
        site=reservation.site,
        kind=StaffAlert.Kind.GUEST_NO_EMAIL,
        key=alert_key(reservation),
        message=(
            f"{reservation.guest_name} ({reservation.unit.name}, check-in {check_in}) has no email address, so "
            "the code email cannot go out on its own. Add the guest's address to the reservation, or get the "
            "code to the guest another way."
        ),
        lock=lead.lock,
        access_code=lead,
    )


def _resolve_settled_alerts() -> int:
    """Resolve the open no-address alerts whose stay was cancelled or whose email went out."""
    open_keys = StaffAlert.objects.filter(kind=StaffAlert.Kind.GUEST_NO_EMAIL, resolved_at__isnull=True).values_list(
        "key", flat=True
    )
    ids = {int(key.rpartition(":")[2]): key for key in open_keys}
    if not ids:
        return 0
    sent = CodeEmail.objects.filter(
        access_code__reservation=OuterRef("pk"), access_code__superseded_at__isnull=True, status=EmailStatus.SENT
    )
    settled = Reservation.objects.filter(pk__in=ids).filter(Q(cancelled_at__isnull=False) | Exists(sent))
    keys = [ids[pk] for pk in settled.values_list("pk", flat=True)]
    return staff_alerts_resolve(keys=Q(key__in=keys)) if keys else 0
