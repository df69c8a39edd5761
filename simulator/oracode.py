"""The dormakaba Oracode rules Seam applies to an offline access code, as the simulator enforces them.

A code's window must match one of the door's user levels (``predefined_time_slots``) exactly:
it starts at the level's check-in time and ends at its check-out time, both read as wall-clock
times in the zone named in brackets, and the UTC offsets sent must be that zone's real offsets
at those instants. Master and one-shot levels are refused, a biweekly level takes exactly two
weeks, a daily-bound (24-hour) level needs ``max_time_rounding`` "1d", and no code lasts longer
than 31 days.
"""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulator.slots import SlotTime, parse_slot_time, slot_prefix

MAX_DURATION = timedelta(days=31)
BIWEEKLY_DAYS = 14
PIN_LENGTH = 6
# Seam accepts both spellings; the value is what the rounding means.
ROUNDINGS = {"1h": "1h", "1hour": "1h", "1d": "1d", "1day": "1d"}


class Refused(Exception):
    """Seam would answer 400: ``error_type`` is Seam's error type, ``field`` the bad parameter."""

    def __init__(self, error_type: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.field = field


@dataclass(frozen=True)
class UserLevel:
    user_level_id: str | None
    name: str | None
    prefix: int | None
    zone: str
    is_master: bool
    is_one_shot: bool
    is_24_hour: bool
    is_biweekly: bool


def parse_instant(value: object, field: str) -> datetime:
    """An ISO 8601 timestamp that carries a UTC offset; a naive time is refused."""
    example = "e.g. 2024-09-10T15:00:00-07:00"
    if not isinstance(value, str) or not value:
        raise Refused("invalid_input", f"{field} is required: an ISO 8601 timestamp, {example}", field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Refused("invalid_input", f"{field} is not an ISO 8601 timestamp ({example})", field=field) from None
    if parsed.utcoffset() is None:
        raise Refused(
            "invalid_input",
            f"{field} must carry the lock's UTC offset ({example}); a time without an offset is ambiguous",
            field=field,
        )
    return parsed


def parse_rounding(value: object) -> str:
    """``max_time_rounding`` normalised to "1h" or "1d"; Seam's default is one hour."""
    if value is None:
        return "1h"
    if isinstance(value, str) and value in ROUNDINGS:
        return ROUNDINGS[value]
    raise Refused(
        "invalid_input",
        'max_time_rounding must be one of "1h", "1hour", "1d", "1day"',
        field="max_time_rounding",
    )


def user_level_for_window(
    slots: list[dict[str, Any]],
    *,
    starts_at: datetime,
    ends_at: datetime,
    rounding: str,
    now: datetime,
) -> UserLevel:
    """The user level an offline code for this window falls on; raises ``Refused`` otherwise."""
    if ends_at <= starts_at:
        raise Refused("invalid_input", "ends_at must be later than starts_at", field="ends_at")
    if starts_at <= now:
        raise Refused("invalid_input", "start time must be greater than current time", field="starts_at")
    # Measured on the wall clock, like the lock: a window spanning a DST change is still
    # "31 days" when it ends at the same local time 31 days later.
    if _wall(ends_at) - _wall(starts_at) > MAX_DURATION:
        raise Refused(
            "invalid_input",
            "dormakaba Oracode offline access codes can last at most 31 days",
            field="ends_at",
        )

    candidates: list[UserLevel] = []
    for slot, check_in, check_out in _timed_slots(slots):
        if _falls_on(starts_at, check_in) and _falls_on(ends_at, check_out):
            candidates.append(_user_level(slot, check_in.zone))
    if not candidates:
        raise Refused("dormakaba_oracode_invalid_time_range", _no_slot_message(slots, starts_at, ends_at))

    refusals: list[Refused] = []
    for level in candidates:
        refusal = _refusal(level, starts_at=starts_at, ends_at=ends_at, rounding=rounding)
        if refusal is None:
            return level
        refusals.append(refusal)
    raise refusals[0]


def window_on_level(
    slots: list[dict[str, Any]], name: str, *, starts_at: datetime, ends_at: datetime
) -> tuple[datetime, datetime, UserLevel]:
    """The window moved onto the user level called ``name``: its check-in on the arrival day and
    its check-out on the departure day (in its zone), as when Seam rounds to another level.

    Raises ``Refused`` when the door has no such level.
    """
    for slot in slots:
        if not isinstance(slot, dict) or slot.get("name") != name:
            continue
        check_in = parse_slot_time(slot.get("check_in_time"))
        check_out = parse_slot_time(slot.get("check_out_time"))
        if check_in is None or check_out is None:
            break
        zone = ZoneInfo(check_in.zone)
        arrival, departure = starts_at.astimezone(zone).date(), ends_at.astimezone(zone).date()
        return (
            datetime.combine(arrival, check_in.wall_time, tzinfo=zone),
            datetime.combine(departure, check_out.wall_time, tzinfo=ZoneInfo(check_out.zone)),
            _user_level(slot, check_in.zone),
        )
    raise Refused("invalid_input", f"no user level called {name!r} on this door")


def generate_pin(prefix: int | None, taken: set[str]) -> str:
    """Six digits; codes on one user level share the level's prefix as their leading digits."""
    lead = "" if prefix is None or prefix < 0 else str(prefix)
    if len(lead) >= PIN_LENGTH:
        lead = ""
    for _ in range(1000):
        pin = lead + "".join(secrets.choice("0123456789") for _ in range(PIN_LENGTH - len(lead)))
        if pin not in taken:
            return pin
    raise Refused("no_space_for_access_code_on_device", "no free PIN left on this user level")


@dataclass(frozen=True)
class Schedule:
    """When a new code turns ``setting`` and then ``set``.

    ``quick`` (the demo): a few seconds after creation. ``realistic``: like Seam, which programs
    an Oracode offline code about an hour before it starts, so a code made weeks ahead stays
    ``unset`` (and without a PIN) until then.
    """

    mode: str = "quick"
    setting_after: timedelta = timedelta(seconds=2)
    set_after: timedelta = timedelta(seconds=5)
    program_lead: timedelta = timedelta(minutes=60)
    setting_duration: timedelta = timedelta(seconds=90)

    def __post_init__(self) -> None:
        if self.mode not in {"quick", "realistic"}:
            raise ValueError(f"mode must be 'quick' or 'realistic', not {self.mode!r}")
        if self.set_after < self.setting_after:
            raise ValueError("set_after must not come before setting_after")

    def plan(self, *, created_at: datetime, starts_at: datetime) -> tuple[datetime, datetime, bool]:
        """(setting_at, set_at, deferred): deferred when programming waits for the start to near."""
        if self.mode == "quick":
            return created_at + self.setting_after, created_at + self.set_after, False
        program_at = starts_at - self.program_lead
        if program_at <= created_at:
            # Created inside the final hour: Seam starts programming straight away.
            return created_at, created_at + self.setting_duration, False
        return program_at, program_at + self.setting_duration, True


def _wall(instant: datetime) -> datetime:
    return instant.replace(tzinfo=None)


def _falls_on(instant: datetime, slot_time: SlotTime) -> bool:
    """True when the instant is the slot's wall time in its zone and was sent with that zone's offset."""
    local = instant.astimezone(ZoneInfo(slot_time.zone))
    return local.time() == slot_time.wall_time and local.utcoffset() == instant.utcoffset()


def _user_level(slot: dict[str, Any], zone: str) -> UserLevel:
    level_id = slot.get("dormakaba_oracode_user_level_id")
    name = slot.get("name")
    return UserLevel(
        user_level_id=level_id if isinstance(level_id, str) else None,
        name=name if isinstance(name, str) else None,
        prefix=slot_prefix(slot),
        zone=zone,
        is_master=slot.get("is_master") is True,
        is_one_shot=slot.get("is_one_shot") is True,
        is_24_hour=slot.get("is_24_hour") is True,
        is_biweekly=slot.get("is_biweekly_mode") is True,
    )


def _refusal(level: UserLevel, *, starts_at: datetime, ends_at: datetime, rounding: str) -> Refused | None:
    label = f"user level {level.name!r}" if level.name else "this user level"
    if level.is_master:
        return Refused("invalid_input", f"master user levels are not supported ({label})")
    if level.is_one_shot:
        return Refused("invalid_input", f"one-shot user levels are not supported ({label})")
    if level.is_biweekly:
        zone = ZoneInfo(level.zone)
        days = (ends_at.astimezone(zone).date() - starts_at.astimezone(zone).date()).days
        if days != BIWEEKLY_DAYS:
            return Refused(
                "invalid_input",
                f"{label} is biweekly: its codes last exactly {BIWEEKLY_DAYS} days, not {days}",
            )
    if level.is_24_hour and rounding != "1d":
        return Refused(
            "invalid_input",
            f'{label} is daily-bound (24-hour): create its codes with max_time_rounding "1d"',
            field="max_time_rounding",
        )
    return None


def _timed_slots(slots: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], SlotTime, SlotTime]]:
    """The slots that have both a check-in and a check-out time, with them."""
    for slot in slots:
        if not isinstance(slot, dict):
            continue
        check_in = parse_slot_time(slot.get("check_in_time"))
        check_out = parse_slot_time(slot.get("check_out_time"))
        if check_in is not None and check_out is not None:
            yield slot, check_in, check_out


def _no_slot_message(slots: list[dict[str, Any]], starts_at: datetime, ends_at: datetime) -> str:
    message = (
        f"no time slots found for starts_at {starts_at.isoformat()} and ends_at {ends_at.isoformat()}: "
        "the window must start at a user level's check-in time and end at its check-out time"
    )
    # The most likely mistake: right wall times, wrong offset (a winter offset on a summer date).
    for _slot, check_in, check_out in _timed_slots(slots):
        if starts_at.time() == check_in.wall_time and ends_at.time() == check_out.wall_time:
            hints = [
                _offset_hint(instant, slot_time, field)
                for instant, slot_time, field in ((starts_at, check_in, "starts_at"), (ends_at, check_out, "ends_at"))
            ]
            wrong = [hint for hint in hints if hint]
            if wrong:
                return f"{message}; " + "; ".join(wrong)
    return message


def _offset_hint(instant: datetime, slot_time: SlotTime, field: str) -> str | None:
    real = _wall(instant).replace(tzinfo=ZoneInfo(slot_time.zone)).utcoffset()
    if real is None or real == instant.utcoffset():
        return None
    return (
        f"{field} carries UTC offset {_format_offset(instant.utcoffset())} but {slot_time.zone} "
        f"is at {_format_offset(real)} on {instant.date().isoformat()}"
    )


def _format_offset(offset: timedelta | None) -> str:
    if offset is None:
        return "none"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
