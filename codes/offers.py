"""What a stay can get on the doors of a unit: the one question the booking form, the change
page and the services that book and change stays all ask, answered in one place.

A unit's guests open every door of the unit (its own door and shared ones, in the order they
walk through them), and each door keeps its own user levels, so the offer is per door: the
windows that door takes, why it takes none, its room, and the window **preselected** for it,
the one closest to the unit's standard check-in and check-out times (what staff get unless
they choose otherwise, and what a booking without choices gets).

An offer is recomputed from the doors' time slots and the clock every time it is needed (a
choice made on a page is looked up again in a fresh offer, never trusted).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Generic, TypeVar
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
from properties.models import Reservation, Unit, UnitDoor

P = TypeVar("P", Plan, ChangePlan)


@dataclass(frozen=True)
class DoorOffer(Generic[P]):
    """What one door of the unit offers: its plans (for a new stay, one per level, a chain of
    codes for a stay over 31 days; for a change, what happens to its codes), why it offers
    none (or not some levels), its room, and the plan preselected for it."""

    lock: Lock
    optional: bool
    plans: list[P]
    reasons: list[str]
    capacity: Capacity
    preselected: str

    def plan(self, key: str | None) -> P | None:
        """The plan of ``key``; the preselected one when no key is given."""
        key = key or self.preselected
        return next((plan for plan in self.plans if plan.key == key), None)


@dataclass(frozen=True)
class Offer(Generic[P]):
    """The offer of every door of a unit, in the order a guest walks through them."""

    unit: Unit
    doors: list[DoorOffer[P]]

    @property
    def refusals(self) -> list[str]:
        """Why the stay cannot have its codes: each door it needs that offers nothing, and why (or
        that the unit has no door at all: a stay there would get no code)."""
        if not self.doors:
            return [f"{self.unit.name} has no doors yet: add them to the unit in the admin, then create the codes."]
        return [
            f"{door.lock.name}: {' '.join(door.reasons) or 'no window fits these dates.'}"
            for door in self.doors
            if not door.plans and not door.optional
        ]

    def chosen(self, plan_keys: Mapping[int, str]) -> list[tuple[Lock, P]]:
        """The plan for each door that gets one: the key given for it (by lock id), else the
        preselected one; a door that offers nothing and may go without is left out.

        Raises ``Refused`` when a door the stay needs offers nothing, or a key given is not (or
        no longer) offered: a stay gets codes on every door it needs, or none.
        """
        if self.refusals:
            raise Refused("These dates cannot get working codes on every door: " + " ".join(self.refusals))
        chosen = []
        for door in self.doors:
            if not door.plans:
                continue
            plan = door.plan(plan_keys.get(door.lock.pk))
            if plan is None:
                raise Refused(
                    f"That choice for {door.lock.name} is no longer offered for these dates (the stay or the "
                    "clock has moved on). Pick again.",
                    field=f"plan_{door.lock.pk}",
                )
            chosen.append((door.lock, plan))
        return chosen


StayOffer = Offer[Plan]
ChangeOffer = Offer[ChangePlan]


def unit_doors(unit: Unit) -> list[UnitDoor]:
    """The unit's doors in the order a guest walks through them."""
    return list(unit.unit_doors.select_related("lock__site").order_by("position", "pk"))


def stay_offer(*, unit: Unit, arrival: date, departure: date, now: datetime | None = None) -> StayOffer:
    """What a new stay from ``arrival`` to ``departure`` can get on each door of ``unit``.

    Raises ``Refused`` when no stay can be planned on these dates at all (see ``check_stay``):
    that is about the dates, not the doors, and belongs next to them.
    """
    now = now or timezone.now()
    check_stay(arrival, departure, today=now.date())
    doors = []
    for unit_door in unit_doors(unit):
        lock = unit_door.lock
        room = door_capacity(lock, now=now)
        plans: list[Plan] = (
            [] if lock.code_refusal else offer_plans(lock.time_slots, arrival=arrival, departure=departure, now=now)
        )
        reasons = _reasons(lock, plans, arrival, departure, now)
        preselected = _closest(plans, unit, arrival, departure)
        doors.append(DoorOffer(lock, unit_door.optional, plans, reasons, room, preselected))
    return Offer(unit, doors)


def current_codes(reservation: Reservation, lock: Lock | None = None) -> list[AccessCode]:
    """The codes the guest holds now (on one door, or all), first first."""
    codes = AccessCode.objects.current().filter(reservation=reservation)
    if lock is not None:
        codes = codes.filter(lock=lock)
    return list(codes.order_by("starts_at", "pk"))


def change_offer(
    *, reservation: Reservation, arrival: date, departure: date, now: datetime | None = None
) -> ChangeOffer:
    """The ways ``reservation`` can move to these dates on each door of its unit (see
    :func:`codes.plans.plan_change`); the plan that keeps each door's level is preselected.

    Raises ``Refused`` when the stay cannot change at all: it is cancelled, the dates are its
    own, or no stay can be planned on them.
    """
    now = now or timezone.now()
    if reservation.is_cancelled:
        raise Refused("This reservation is cancelled; its dates cannot change.")
    if (arrival, departure) == (reservation.arrival, reservation.departure):
        raise Refused("These are the stay's dates already: nothing to change. Change the arrival or the departure.")
    check_stay(arrival, departure, today=now.date())
    doors = []
    for unit_door in unit_doors(reservation.unit):
        lock = unit_door.lock
        codes = current_codes(reservation, lock)
        plans = [] if lock.code_refusal else _change_plans(lock, reservation, codes, arrival, departure, now)
        reasons = [] if plans else _change_reasons(lock, reservation, codes, arrival, departure, now)
        levels = {code.slot_name for code in codes}
        kept = [plan for plan in plans if plan.slot_name in levels or not plan.new_windows]
        preselected = kept[0].key if kept else _closest(plans, reservation.unit, arrival, departure)
        doors.append(DoorOffer(lock, unit_door.optional, plans, reasons, door_capacity(lock, now=now), preselected))
    return Offer(reservation.unit, doors)


def _change_plans(
    lock: Lock, reservation: Reservation, codes: list[AccessCode], arrival: date, departure: date, now: datetime
) -> list[ChangePlan]:
    return plan_change(
        lock.time_slots,
        current=codes,
        old_arrival=reservation.arrival,
        old_departure=reservation.departure,
        arrival=arrival,
        departure=departure,
        now=now,
    )


def _reasons(lock: Lock, plans: Sequence[object], arrival: date, departure: date, now: datetime) -> list[str]:
    """Why the door offers nothing for the stay; none when it offers something."""
    if lock.code_refusal:
        return [lock.code_refusal]
    if plans:
        return []
    return explain_no_windows(
        lock.time_slots, arrival=arrival, departure=departure, now=now, lock_timezone=lock.timezone or None
    )


def _change_reasons(
    lock: Lock, reservation: Reservation, codes: list[AccessCode], arrival: date, departure: date, now: datetime
) -> list[str]:
    return (
        _too_late_to_extend(reservation, codes, arrival, departure, now)
        or _reasons(lock, [], arrival, departure, now)
        or ["No code of this door fits these dates: try other dates."]
    )


def _closest(plans: Sequence[Plan | ChangePlan], unit: Unit, arrival: date, departure: date) -> str:
    """The key of the plan whose first start and last end lie closest to the unit's standard
    check-in on the arrival date and check-out on the departure date (in the door's zone);
    among equals, the first offered."""

    def distance(plan: Plan | ChangePlan) -> float:
        windows = plan.windows if isinstance(plan, Plan) else plan.new_windows
        if not windows:
            return 0.0
        zone = ZoneInfo(windows[0].timezone)
        start = _instant(arrival, unit.check_in_time, zone)
        end = _instant(departure, unit.check_out_time, zone)
        return abs((windows[0].starts_at - start).total_seconds()) + abs((windows[-1].ends_at - end).total_seconds())

    return min(plans, key=distance).key if plans else ""


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    # Only a yardstick for "closest": a wall time in a daylight-saving gap may land an hour off.
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _too_late_to_extend(
    reservation: Reservation, codes: list[AccessCode], arrival: date, departure: date, now: datetime
) -> list[str]:
    """Why a stay under way cannot be extended without a gap on a door, when that is the reason."""
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
