"""Why a door offers no code window for a stay (or not some of its levels), in words staff can
act on: the refusals of :func:`codes.windows.judge_slots`, the door's time zones and levels,
a stay that has begun, and what to do about each."""

from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from codes.localtime import format_date, format_duration, format_time, nights_text
from codes.windows import (
    BIWEEKLY_NIGHTS,
    MAX_CODE_DURATION,
    UNSUPPORTED_REASONS,
    SlotRefusal,
    Window,
    check_stay,
    judge_slots,
    now_utc,
)
from locks.timeslots import parse_slot_time


def explain_no_windows(
    time_slots: Iterable[object] | None,
    *,
    arrival: date,
    departure: date,
    now: datetime | None = None,
    lock_timezone: str | None = None,
) -> list[str]:
    """Why levels of the door are not offered for this stay, in words a person can act on.

    Meant for an empty offer; with a non-empty one it lists why the other levels are missing
    (and an empty list means there is nothing to say). ``lock_timezone`` is the door's
    ``iana_timezone``: when given, a disagreement with the slots' zone is reported. The
    reasons that decide come first, asides last. Raises like :func:`codes.windows.offer_windows`.
    """
    check_stay(arrival, departure)
    at = now_utc(now)
    verdicts = judge_slots(time_slots, arrival=arrival, departure=departure, now_utc=at)
    refusals = [v for v in verdicts if isinstance(v, SlotRefusal)]
    nights = (departure - arrival).days
    messages = [
        *_timezone_messages(time_slots, lock_timezone),
        *_door_messages(verdicts, nights),
        *_past_messages([r for r in refusals if r.reason == "starts_before_now"], arrival, at),
        *(message for refusal in refusals if (message := _refusal_message(refusal, nights)) is not None),
        *_asides(verdicts, nights),
    ]
    if not messages and not any(isinstance(v, Window) for v in verdicts):
        messages.append("No time slot of this door fits these dates: try other dates.")
    return list(dict.fromkeys(messages))


def _usable(verdicts: list[Window | SlotRefusal]) -> list[Window | SlotRefusal]:
    """The levels offline codes could use at all (not master, one-shot or without times)."""
    return [v for v in verdicts if not (isinstance(v, SlotRefusal) and v.reason in UNSUPPORTED_REASONS)]


def _biweekly(verdicts: list[Window | SlotRefusal]) -> list[SlotRefusal]:
    return [v for v in verdicts if isinstance(v, SlotRefusal) and v.reason == "biweekly_length"]


def _door_messages(verdicts: list[Window | SlotRefusal], nights: int) -> list[str]:
    """What is wrong with the door's levels as a whole: none, none usable, only biweekly ones."""
    usable = _usable(verdicts)
    if not verdicts:
        return [
            "This door has no time slots (user levels). Add a guest user level to the door in "
            "dormakaba, then refresh the door."
        ]
    if not usable:
        return [
            "This door has no user level that can be used for offline codes: its levels are master "
            "or one-shot levels, or lack a check-in or check-out time. Add a guest user level to "
            "the door in dormakaba, then refresh the door."
        ]
    if len(_biweekly(verdicts)) == len(usable):
        return [
            f"This door only has two-week (biweekly) levels, which fit only a stay of exactly "
            f"{BIWEEKLY_NIGHTS} nights; this stay is {nights_text(nights)}. Change the dates to a "
            f"{BIWEEKLY_NIGHTS}-night stay, or add a guest user level to the door in dormakaba."
        ]
    return []


def _asides(verdicts: list[Window | SlotRefusal], nights: int) -> list[str]:
    """Said after the reasons that decide: a long stay needs a chain; some levels are biweekly."""
    asides = []
    if nights > MAX_CODE_DURATION.days:
        asides.append(
            f"This stay is {nights} nights, longer than one Oracode code can last (31 days), so it needs a "
            "chain of codes, and no level of this door can make one for these dates."
        )
    biweekly = _biweekly(verdicts)
    if biweekly and len(biweekly) < len(_usable(verdicts)):
        names = ", ".join(f'"{r.slot_name}"' for r in biweekly)
        asides.append(
            f"Two-week (biweekly) levels ({names}) fit only a stay of exactly {BIWEEKLY_NIGHTS} "
            f"nights; this stay is {nights_text(nights)}."
        )
    return asides


def _timezone_messages(time_slots: Iterable[object] | None, lock_timezone: str | None) -> list[str]:
    slots = list(time_slots) if isinstance(time_slots, list | tuple) else []
    zones = sorted(
        {
            parsed.zone
            for slot in slots
            if isinstance(slot, dict)
            for key in ("check_in_time", "check_out_time")
            if (parsed := parse_slot_time(slot.get(key))) is not None
        }
    )
    if lock_timezone and zones and zones != [lock_timezone]:
        return [
            f"The door's time zone ({lock_timezone}) does not match the time zone of its time slots "
            f"({', '.join(zones)}). Have the dormakaba site's time zone corrected in Seam before making "
            "codes: until then every code could be off by hours."
        ]
    if len(zones) > 1:
        return [
            f"This door's time slots name several time zones ({', '.join(zones)}). Have the dormakaba "
            "site's time zone corrected in Seam before making codes."
        ]
    return []


def _past_messages(refusals: list[SlotRefusal], arrival: date, now_utc: datetime) -> list[str]:
    messages: list[str] = []
    by_zone: dict[str, list[SlotRefusal]] = {}
    for refusal in refusals:
        by_zone.setdefault(refusal.zone, []).append(refusal)
    for zone_name, group in by_zone.items():
        today = now_utc.astimezone(ZoneInfo(zone_name)).date()
        if arrival < today:
            messages.append(
                f"The arrival date, {format_date(arrival)}, has already passed in the lock's time zone "
                f"({zone_name}): codes must start in the future, so choose a later arrival date."
            )
        elif arrival == today:
            latest = max(r.check_in.wall_time for r in group if r.check_in is not None)
            messages.append(
                f"It is already past today's check-in time ({format_time(latest)} in {zone_name}): "
                "codes must start in the future, so choose an arrival date from tomorrow on."
            )
        else:
            messages.extend(
                f'Level "{r.slot_name}" would start at {r.starts_at.isoformat()}, which has already passed.'
                for r in group
                if r.starts_at is not None
            )
    return messages


def _refusal_message(refusal: SlotRefusal, nights: int) -> str | None:
    name = f'"{refusal.slot_name}"'
    if refusal.reason == "mixed_zones" and refusal.check_in and refusal.check_out:
        return (
            f"Level {name} has its check-in time in {refusal.check_in.zone} but its check-out time in "
            f"{refusal.check_out.zone}: fix the level in dormakaba, then refresh the door."
        )
    if refusal.reason in ("check_in_gap", "check_out_gap") and refusal.check_in and refusal.check_out and refusal.day:
        which, slot_time = (
            ("check-in", refusal.check_in) if refusal.reason == "check_in_gap" else ("check-out", refusal.check_out)
        )
        return (
            f"Level {name}: its {which} time {format_time(slot_time.wall_time)} does not exist on "
            f"{format_date(refusal.day)} in {refusal.zone} (the clocks jump forward over it), so the "
            "level cannot be used for these dates: choose other dates or another level."
        )
    if refusal.reason == "ends_before_start" and refusal.starts_at and refusal.ends_at:
        return (
            f"Level {name} would end ({refusal.ends_at.isoformat()}) before it starts "
            f"({refusal.starts_at.isoformat()}) on these dates."
        )
    if refusal.reason == "too_long" and refusal.starts_at and refusal.ends_at and nights <= MAX_CODE_DURATION.days:
        elapsed = refusal.ends_at.astimezone(UTC) - refusal.starts_at.astimezone(UTC)
        wall = refusal.ends_at.replace(tzinfo=None) - refusal.starts_at.replace(tzinfo=None)
        because = (
            f" because the clocks go back {format_duration(elapsed - wall)} during the stay" if elapsed > wall else ""
        )
        return (
            f"With level {name} this stay would last {format_duration(elapsed)}{because}, over the "
            "31-day limit of one Oracode code."
        )
    return None
