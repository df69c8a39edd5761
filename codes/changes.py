"""Date changes, cancellations and the ledger of live codes that can no longer be revoked.

An Oracode code opens its door until it ends, whatever happens to the stay. So a change never
edits or removes a code: it adds the codes the new dates need (see :mod:`codes.plans`), marks
the ones it replaces as superseded, and lists every code that opens the door on days nobody
has booked in the door's **ledger**, where it stays until staff acknowledge it and it expires.

A code that was never sent to Seam is the one exception: it is withdrawn (status
``cancelled``) by a conditional UPDATE, so a worker that claims it first simply creates it,
and it then appears in the ledger like any other.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from codes.models import MAY_EXIST_AT_SEAM, AccessCode, AccessCodeEvent
from codes.plans import ChangePlan, opens_outside_stay, plan_change
from codes.services import access_code_request
from codes.windows import check_stay
from locks.models import Lock
from properties.models import Reservation

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
Reason = AccessCode.LedgerReason

# Warn when this share of a door's capacity (or two codes, if more) is all that is left.
CAPACITY_WARN_SHARE = 0.1
CAPACITY_WARN_MIN = 2


class ChangeRefused(ValueError):
    """The change cannot be made; the message says why, in words staff can act on."""


def _event(code: AccessCode, kind: str, message: str, user: User | None = None) -> None:
    AccessCodeEvent.objects.create(access_code=code, kind=kind, message=message, user=user)


def current_codes(reservation: Reservation) -> list[AccessCode]:
    """The codes the guest holds now, first first: not superseded, withdrawn or failed."""
    return list(
        AccessCode.objects.filter(reservation=reservation, superseded_at__isnull=True)
        .exclude(status__in=[Status.CANCELLED, Status.FAILED])
        .order_by("starts_at", "pk")
    )


def change_plans(
    reservation: Reservation, *, arrival: date, departure: date, now: datetime | None = None
) -> list[ChangePlan]:
    """The ways this reservation can move to new dates (see :func:`codes.plans.plan_change`)."""
    return plan_change(
        reservation.lock.time_slots,
        current=current_codes(reservation),
        old_arrival=reservation.arrival,
        old_departure=reservation.departure,
        arrival=arrival,
        departure=departure,
        now=now,
    )


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
    twice. New codes are queued for creation after commit. Raises ``ChangeRefused``.
    """
    now = now or timezone.now()
    reservation = Reservation.objects.select_for_update().select_related("lock__site", "site").get(pk=reservation.pk)
    if reservation.is_cancelled:
        raise ChangeRefused("This reservation is cancelled; its dates cannot change.")
    if reservation.lock.timezone_problem:
        raise ChangeRefused(f"No codes can be made for {reservation.lock.name}: {reservation.lock.timezone_problem}")
    if (arrival, departure) == (reservation.arrival, reservation.departure):
        raise ChangeRefused("These are the stay's dates already: nothing to change.")
    try:
        check_stay(arrival, departure, today=now.date())
    except ValidationError as exc:
        raise ChangeRefused(" ".join(exc.messages)) from exc
    plan = next(
        (p for p in change_plans(reservation, arrival=arrival, departure=departure, now=now) if p.key == plan_key),
        None,
    )
    if plan is None:
        raise ChangeRefused(
            "That choice is no longer offered for these dates (the stay or the clock has moved on). Pick again."
        )
    # The door's row lock (taken after the stay's, as bookings take it alone) serialises the
    # capacity decision with every other booking and change on the door.
    Lock.objects.select_for_update().filter(pk=reservation.lock_id).first()
    refusal = capacity_refusal(reservation.lock, needed=len(plan.new_windows), now=now)
    if refusal:
        raise ChangeRefused(refusal)

    before = f"{reservation.arrival:%a %d %b %Y} → {reservation.departure:%a %d %b %Y}"
    reservation.arrival, reservation.departure = arrival, departure
    reservation.full_clean()
    reservation.save(update_fields=["arrival", "departure"])
    after = f"{arrival:%a %d %b %Y} → {departure:%a %d %b %Y}"
    by = f" by {user.get_username()}" if user else ""

    for code in AccessCode.objects.filter(pk__in=plan.supersede, reservation=reservation):
        if _withdraw(code, f"Dates changed from {before} to {after}{by}: never sent to Seam, withdrawn.", user):
            continue
        AccessCode.objects.filter(pk=code.pk).update(superseded_at=now)
        _event(
            code, Kind.SUPERSEDED, f"Dates changed from {before} to {after}{by}. It stays live until it ends.", user
        )
    for window in plan.new_windows:
        access_code_request(reservation=reservation, window=window)
    for code in AccessCode.objects.filter(pk__in=plan.keep, reservation=reservation):
        _event(code, Kind.DATES_CHANGED, f"From {before} to {after}{by}; this code is kept for the stay.", user)
    reason = Reason.SHORTENED if plan.kind == "shorten" else Reason.MOVED
    _ledger_update(reservation, reason=reason, now=now, user=user)
    return reservation, plan


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
        _event(code, Kind.CANCELLED, message, user)
    return bool(withdrawn)


def _ledger_update(reservation: Reservation, *, reason: str, now: datetime, user: User | None) -> int:
    """List the stay's live codes that open the door on unbooked days; returns how many are listed.

    A code whose days are all booked again (a stay shortened, then extended back) leaves the
    ledger. A listed code stays listed with its first reason, unless the stay is cancelled.
    """
    listed = 0
    live = AccessCode.objects.filter(MAY_EXIST_AT_SEAM, reservation=reservation, ends_at__gt=now)
    for code in live:
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
                _event(
                    code,
                    Kind.LEDGER,
                    f"{label}: this code opens the door until it ends on days nobody has booked.",
                    user,
                )
        elif code.ledger_reason:
            AccessCode.objects.filter(pk=code.pk).update(ledger_reason="", ledger_at=None)
            _event(code, Kind.LEDGER, "Every day this code opens the door is booked again: off the ledger.", user)
    return listed


def ledger_acknowledge(*, access_code: AccessCode, user: User) -> AccessCode:
    """Record that staff know this live code is out there; it stays listed until it expires."""
    if not access_code.ledger_reason:
        raise ValueError("This code is not in the ledger.")
    if AccessCode.objects.filter(pk=access_code.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    ):
        _event(access_code, Kind.ACKNOWLEDGED, f"Acknowledged by {user.get_username()}.", user)
    return AccessCode.objects.get(pk=access_code.pk)


def ledger_codes(*, now: datetime | None = None) -> QuerySet[AccessCode]:
    """The ledger: live codes of cancelled, shortened or moved stays, until acknowledged and expired."""
    now = now or timezone.now()
    return (
        AccessCode.objects.filter(MAY_EXIST_AT_SEAM)
        .exclude(ledger_reason="")
        .filter(Q(ends_at__gt=now) | Q(acknowledged_at__isnull=True))
        .select_related("reservation", "lock__site", "acknowledged_by")
        .order_by("lock__site__name", "lock__name", "ends_at", "pk")
    )


# --- capacity ---------------------------------------------------------------------------------


def live_codes(*, now: datetime | None = None) -> QuerySet[AccessCode]:
    """Codes that hold a place on their lock now: made (or maybe made) and not ended yet."""
    now = now or timezone.now()
    return AccessCode.objects.filter(MAY_EXIST_AT_SEAM, ends_at__gt=now)


def with_live_code_counts(locks: QuerySet[Lock], *, now: datetime | None = None) -> QuerySet[Lock]:
    """``locks`` annotated with ``live_codes``: how many codes hold a place on each now."""
    per_lock = (
        live_codes(now=now).filter(lock=OuterRef("pk")).order_by().values("lock").annotate(n=Count("pk")).values("n")
    )
    return locks.annotate(live_codes=Coalesce(Subquery(per_lock), 0))


@dataclass(frozen=True)
class Capacity:
    """Where a door stands against its code capacity."""

    live: int
    limit: int | None
    level: str  # "ok", "low" or "full"
    message: str

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.live, 0)


def capacity(lock: Lock, *, live: int) -> Capacity:
    """The door's capacity state: Seam's ``max_access_codes_reached`` warning, or the smaller of
    the limit staff set and Seam's ``max_active_codes_supported`` (either may be missing)."""
    limits = [n for n in (lock.code_capacity, lock.seam_max_active_codes) if n is not None]
    limit = min(limits) if limits else None
    reached = lock.max_codes_reached
    if reached is not None:
        # Seam counts every code on the door, ours and any made elsewhere: its numbers, when
        # it sends them, say more than our count of live codes.
        counts = ""
        if reached.active is not None and reached.maximum is not None:
            counts = f" with {reached.active} active codes of {reached.maximum}"
        elif reached.maximum is not None:
            counts = f" at its maximum of {reached.maximum} active codes"
        return Capacity(
            live,
            limit,
            "full",
            f"Seam reports this door is full{counts} (max_access_codes_reached): no code can be added until "
            "one ends. Sync the doors to check again.",
        )
    if limit is None:
        return Capacity(live, None, "ok", "")
    source = " (Seam's maximum for this door)" if limit != lock.code_capacity else ""
    left = limit - live
    if left <= 0:
        return Capacity(
            live,
            limit,
            "full",
            f"{live} live codes of {limit}{source}: the door is full until one of its codes ends.",
        )
    if left <= max(CAPACITY_WARN_MIN, math.ceil(limit * CAPACITY_WARN_SHARE)):
        return Capacity(live, limit, "low", f"{live} live codes of {limit}{source}: room for only {left} more.")
    return Capacity(live, limit, "ok", "")


def capacity_refusal(lock: Lock, *, needed: int, now: datetime | None = None) -> str:
    """Why ``needed`` more codes cannot go on this door now; "" when they can."""
    if needed <= 0:
        return ""
    live = live_codes(now=now).filter(lock=lock).count()
    state = capacity(lock, live=live)
    if state.level == "full":
        return f"{lock.name} has no room for another code. {state.message}"
    if state.remaining is not None and needed > state.remaining:
        return (
            f"This needs {needed} codes but {lock.name} has room for only {state.remaining} more "
            f"({live} live of {state.limit}). Codes free up as they end."
        )
    return ""
