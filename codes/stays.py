"""Every write to a reservation: booking a stay, moving it to new dates, cancelling it.

A reservation's dates decide its codes, so these writes live beside the codes they make. An
Oracode code opens its door until it ends, whatever happens to the stay: a change never edits
or removes a code. It adds the codes the new dates need (see :mod:`codes.plans`), marks those it
replaces as superseded, and lists every code that opens the door on days nobody has booked in
the door's **ledger**, where it stays until staff acknowledge it and it expires.

A code never sent to Seam is the one exception: it is withdrawn (status ``cancelled``) by a
conditional UPDATE, so a worker that claims it first simply creates it, and it then appears in
the ledger like any other.

Each service takes the choice a person made (a plan's key) and looks it up again in a fresh
offer (:mod:`codes.offers`) under row locks, so a stale, forged or repeated choice is refused,
never applied twice. Refusals are ``Refused``, with the words staff read.
"""

from datetime import date, datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from codes.capacity import capacity_refusal
from codes.creating import access_code_request
from codes.errors import Refused
from codes.history import record
from codes.models import AccessCode, AccessCodeEvent
from codes.offers import change_offer, stay_offer
from codes.plans import ChangePlan, opens_outside_stay
from locks.models import Lock
from properties.models import Reservation, Site

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
Reason = AccessCode.LedgerReason


@transaction.atomic
def reservation_create(
    *,
    site: Site,
    lock: Lock,
    guest_name: str,
    guest_email: str,
    arrival: date,
    departure: date,
    plan_key: str,
    now: datetime | None = None,
) -> tuple[Reservation, list[AccessCode]]:
    """Save a stay and request its offline codes (created at Seam after commit); returns the
    stay and its codes, first first.

    ``plan_key`` names one of the plans the door offers for these dates (one code per level, a
    chain for a long stay). Raises ``Refused`` when the plan is not (or no longer) offered, the
    door refuses codes, or it has no room for them.
    """
    now = now or timezone.now()
    if lock.site_id != site.pk:
        raise Refused("This door belongs to another site.", field="lock")
    # The door's row lock serialises the capacity decision: bookings at once on a door with one
    # place left would otherwise each count the same live codes and all go through.
    lock = Lock.objects.select_for_update().select_related("site").get(pk=lock.pk)
    offer = stay_offer(lock=lock, arrival=arrival, departure=departure, now=now)
    if lock.code_refusal:
        raise Refused(lock.code_refusal, field="lock")
    plan = offer.plan(plan_key)
    if plan is None:
        raise Refused(
            "That window is not offered for this door and these dates (any more). Pick one of the windows listed.",
            field="window",
        )
    refusal = capacity_refusal(lock, needed=len(plan.windows), now=now)
    if refusal:
        raise Refused(refusal)
    reservation = Reservation(
        site=site, lock=lock, guest_name=guest_name, guest_email=guest_email, arrival=arrival, departure=departure
    )
    reservation.full_clean()
    reservation.save()
    codes = [access_code_request(reservation=reservation, window=window) for window in plan.windows]
    return reservation, codes


@transaction.atomic
def reservation_change_dates(
    *,
    reservation: Reservation,
    arrival: date,
    departure: date,
    plan_key: str,
    user: User | None = None,
    now: datetime | None = None,
) -> tuple[Reservation, ChangePlan]:
    """Move a stay to new dates by the plan whose key is ``plan_key``; returns the stay and the plan.

    The plan is recomputed under a row lock on the reservation, so a stale or forged choice,
    a double submit, or two staff changing the same stay at once is refused, never applied
    twice. New codes are queued for creation after commit. Raises ``Refused``.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().select_related("lock__site", "site").get(pk=reservation.pk)
    offer = change_offer(reservation=reservation, arrival=arrival, departure=departure, now=now)
    if reservation.lock.code_refusal:
        raise Refused(reservation.lock.code_refusal)
    plan = offer.plan(plan_key)
    if plan is None:
        raise Refused(
            "That choice is no longer offered for these dates (the stay or the clock has moved on). Pick again."
        )
    # The door's row lock (taken after the stay's, as bookings take it alone) serialises the
    # capacity decision with every other booking and change on the door.
    Lock.objects.select_for_update().filter(pk=reservation.lock_id).first()
    refusal = capacity_refusal(reservation.lock, needed=len(plan.new_windows), now=now)
    if refusal:
        raise Refused(refusal)

    before = f"{reservation.arrival:%a %d %b %Y} → {reservation.departure:%a %d %b %Y}"
    reservation.arrival, reservation.departure = arrival, departure
    reservation.full_clean()
    reservation.save(update_fields=["arrival", "departure"])
    change = f"{before} to {arrival:%a %d %b %Y} → {departure:%a %d %b %Y}" + (
        f" by {user.get_username()}" if user else ""
    )
    _apply_change(reservation, plan, change=change, user=user, now=now)
    return reservation, plan


def _apply_change(
    reservation: Reservation, plan: ChangePlan, *, change: str, user: User | None, now: datetime
) -> None:
    """Supersede (or withdraw) what the plan replaces, request what it adds, note what it keeps."""
    for code in AccessCode.objects.filter(pk__in=plan.supersede, reservation=reservation):
        if _withdraw(code, f"Dates changed from {change}: never sent to Seam, withdrawn.", user):
            continue
        AccessCode.objects.filter(pk=code.pk).update(superseded_at=now)
        record(code, Kind.SUPERSEDED, f"Dates changed from {change}. It stays live until it ends.", user=user)
    for window in plan.new_windows:
        access_code_request(reservation=reservation, window=window)
    for code in AccessCode.objects.filter(pk__in=plan.keep, reservation=reservation):
        record(code, Kind.DATES_CHANGED, f"From {change}; this code is kept for the stay.", user=user)
    reason = Reason.SHORTENED if plan.kind == "shorten" else Reason.MOVED
    _ledger_update(reservation, reason=reason, now=now, user=user)


@transaction.atomic
def reservation_cancel(*, reservation: Reservation, user: User | None = None, now: datetime | None = None) -> int:
    """Cancel a stay; returns how many of its codes stay live and go into the ledger.

    Codes never sent to Seam are withdrawn. Every other code keeps working until it ends, so
    it is listed in the door's ledger. Cancelling twice changes nothing the second time.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().get(pk=reservation.pk)
    if reservation.is_cancelled:
        return 0
    reservation.cancelled_at, reservation.cancelled_by = now, user
    reservation.save(update_fields=["cancelled_at", "cancelled_by"])
    by = f" by {user.get_username()}" if user else ""
    for code in AccessCode.objects.filter(reservation=reservation).exclude(status=Status.CANCELLED):
        _withdraw(code, f"Stay cancelled{by}: never sent to Seam, withdrawn.", user)
    return _ledger_update(reservation, reason=Reason.CANCELLED, now=now, user=user)


def _withdraw(code: AccessCode, message: str, user: User | None) -> bool:
    """Withdraw a code no create call was ever sent for; False when Seam may hold it."""
    # Races the create task's claim (also conditional on ``pending``): exactly one of them wins.
    withdrawn = AccessCode.objects.filter(
        pk=code.pk, status=Status.PENDING, create_sent=False, seam_access_code_id=""
    ).update(status=Status.CANCELLED, next_check_at=None, claim_expires_at=None, superseded_at=timezone.now())
    if withdrawn:
        record(code, Kind.CANCELLED, message, user=user)
    return bool(withdrawn)


def _ledger_update(reservation: Reservation, *, reason: str, now: datetime, user: User | None) -> int:
    """List the stay's live codes that open the door on unbooked days; returns how many are listed.

    A code whose days are all booked again (a stay shortened, then extended back) leaves the
    ledger. A listed code stays listed with its first reason, unless the stay is cancelled.
    """
    listed = 0
    for code in AccessCode.objects.live(now).filter(reservation=reservation):
        outside = reservation.is_cancelled or opens_outside_stay(
            code, arrival=reservation.arrival, departure=reservation.departure
        )
        if outside:
            listed += 1
            new_reason = Reason.CANCELLED if reservation.is_cancelled else (code.ledger_reason or reason)
            if code.ledger_reason != new_reason:
                AccessCode.objects.filter(pk=code.pk).update(
                    ledger_reason=new_reason, ledger_at=now, acknowledged_at=None, acknowledged_by=None
                )
                label = AccessCode.LedgerReason(new_reason).label
                message = f"{label}: this code opens the door until it ends on days nobody has booked."
                record(code, Kind.LEDGER, message, user=user)
        elif code.ledger_reason:
            AccessCode.objects.filter(pk=code.pk).update(ledger_reason="", ledger_at=None)
            record(code, Kind.LEDGER, "Every day this code opens the door is booked again: off the ledger.", user=user)
    return listed


def ledger_acknowledge(*, access_code: AccessCode, user: User) -> AccessCode:
    """Record that staff know this live code is out there; it stays listed until it expires.

    Raises ``Refused`` for a code not in the ledger.
    """
    if not access_code.ledger_reason:
        raise Refused("This code is not in the ledger.")
    if AccessCode.objects.filter(pk=access_code.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    ):
        record(access_code, Kind.ACKNOWLEDGED, f"Acknowledged by {user.get_username()}.", user=user)
    return AccessCode.objects.get(pk=access_code.pk)
