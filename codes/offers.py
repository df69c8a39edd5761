"""What a stay can get on a door: the one question the booking form, the date-change page and
the services that book and change stays all ask, answered in one place.

An offer is recomputed from the door's time slots and the clock every time it is needed (a
choice a person made on a page is looked up again in a fresh offer, never trusted), and it
says why when it has nothing (or not some levels) to give.
"""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from codes.capacity import Capacity, door_capacity
from codes.errors import Refused
from codes.localtime import format_local, zone_abbreviation
from codes.models import AccessCode
from codes.plans import ChangePlan, Plan, offer_plans, plan_change
from codes.window_reasons import explain_no_windows
from codes.windows import check_stay
from locks.models import Lock
from properties.models import Reservation


@dataclass(frozen=True)
class StayOffer:
    """What a new stay can get on one door: a plan per level that fits (a chain of codes for a
    stay over 31 days), why nothing (or not some levels) is offered, and the door's room."""

    plans: list[Plan]
    reasons: list[str]
    capacity: Capacity

    def plan(self, key: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.key == key), None)


@dataclass(frozen=True)
class ChangeOffer:
    """The ways a stay can move to new dates, each saying what happens to its codes, or why none."""

    plans: list[ChangePlan]
    reasons: list[str]

    def plan(self, key: str) -> ChangePlan | None:
        return next((plan for plan in self.plans if plan.key == key), None)


def stay_offer(*, lock: Lock, arrival: date, departure: date, now: datetime | None = None) -> StayOffer:
    """What a stay from ``arrival`` to ``departure`` can get on ``lock`` now.

    Raises ``Refused`` when no stay can be planned on these dates at all (see ``check_stay``):
    that is about the dates, not the door, and belongs next to them.
    """
    now = now or timezone.now()
    check_stay(arrival, departure, today=now.date())
    room = door_capacity(lock, now=now)
    if lock.code_refusal:
        return StayOffer([], [lock.code_refusal], room)
    plans = offer_plans(lock.time_slots, arrival=arrival, departure=departure, now=now)
    if plans:
        return StayOffer(plans, [], room)
    reasons = explain_no_windows(
        lock.time_slots, arrival=arrival, departure=departure, now=now, lock_timezone=lock.timezone or None
    )
    return StayOffer([], reasons, room)


def current_codes(reservation: Reservation) -> list[AccessCode]:
    """The codes the guest holds now, first first."""
    return list(AccessCode.objects.current().filter(reservation=reservation).order_by("starts_at", "pk"))


def change_offer(
    *, reservation: Reservation, arrival: date, departure: date, now: datetime | None = None
) -> ChangeOffer:
    """The ways ``reservation`` can move to these dates (see :func:`codes.plans.plan_change`).

    Raises ``Refused`` when the stay cannot change at all: it is cancelled, the dates are its
    own, or no stay can be planned on them.
    """
    now = now or timezone.now()
    if reservation.is_cancelled:
        raise Refused("This reservation is cancelled; its dates cannot change.")
    if (arrival, departure) == (reservation.arrival, reservation.departure):
        raise Refused("These are the stay's dates already: nothing to change. Change the arrival or the departure.")
    check_stay(arrival, departure, today=now.date())
    lock = reservation.lock
    if lock.code_refusal:
        return ChangeOffer([], [lock.code_refusal])
    codes = current_codes(reservation)
    plans = plan_change(
        lock.time_slots,
        current=codes,
        old_arrival=reservation.arrival,
        old_departure=reservation.departure,
        arrival=arrival,
        departure=departure,
        now=now,
    )
    if plans:
        return ChangeOffer(plans, [])
    reasons = (
        _too_late_to_extend(reservation, codes, arrival, departure, now)
        or explain_no_windows(
            lock.time_slots, arrival=arrival, departure=departure, now=now, lock_timezone=lock.timezone
        )
        or ["No code of this door fits these dates: try other dates."]
    )
    return ChangeOffer([], reasons)


def _too_late_to_extend(
    reservation: Reservation, codes: list[AccessCode], arrival: date, departure: date, now: datetime
) -> list[str]:
    """Why a stay under way cannot be extended without a gap, when that is the reason."""
    if not codes or arrival > reservation.arrival or departure < reservation.departure:
        return []
    last = max(codes, key=lambda code: code.ends_at)
    zone = ZoneInfo(last.timezone)
    if arrival < reservation.arrival and arrival <= now.astimezone(zone).date():
        # The new arrival has passed: that is the reason, and explain_no_windows says it.
        return []
    ends = last.ends_at.astimezone(zone)
    return [
        f"The guest's code works until {format_local(ends)} ({last.timezone}, {zone_abbreviation(ends)}). "
        "A continuation code must start before then and in the future, and no level of this door has a "
        "check-in in between. Book the extra nights as a new reservation from the next check-in (the "
        "guest will be without a working code in between: arrange a key), or choose other dates."
    ]
