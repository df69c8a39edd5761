"""Which code windows an Oracode door can offer for a stay: the slot maths.

An offline Oracode code must match one of the door's user levels (``predefined_time_slots``)
exactly: it starts at the level's check-in time on the arrival date and ends at its check-out
time on the departure date, as wall-clock times in the lock's zone. This module turns those
wall-clock times into instants, drops what Seam would refuse, and says in plain words why
nothing is left when nothing is.

Decisions (each one is tested in ``tests/codes/test_windows.py``):

* Wall time → instant happens in :func:`local_instant` only, with ``zoneinfo``. Durations and
  comparisons are made in UTC: Python subtracts and compares two datetimes that share a tzinfo
  by their wall times, which is wrong by an hour across a daylight-saving change.
* A check-in or check-out time that does not exist on its date (the clocks jump over it) makes
  the window unusable: Seam matches a code to a level by its wall times, and no instant shows
  that wall time on that date. Shifting it would offer a window that matches no level.
* A time that exists twice on its date (the clocks go back) is read as its first occurrence
  (``fold=0``, still daylight time): an offline lock keeps wall-clock time, so it reaches that
  time first at the first occurrence, and either offset gives Seam the same wall time.
* "At most 31 days" is elapsed time. A 31-night stay from 15:00 to 15:00 during which the
  clocks go back lasts 31 days and 1 hour and is not offered; one during which they go forward
  lasts 30 days 23 hours and is. This may refuse a few stays Seam would accept, never the
  reverse: a code that fails after the guest was told about it is worse than no offer.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from locks.timeslots import SlotTime, parse_slot_time, slot_prefix

MAX_CODE_DURATION = timedelta(days=31)
BIWEEKLY_NIGHTS = 14
# Far inside what date and datetime arithmetic can take in any zone, so that no date a form
# accepts can overflow the window maths (year 9999 plus an offset does).
_EARLIEST_DATE = date(1900, 1, 1)
_LATEST_DATE = date(9000, 12, 31)

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Window:
    """One code window a door can take for a stay: one user level on the stay's dates."""

    slot_name: str
    user_level_id: str | None
    prefix: int | None
    starts_at: datetime  # aware, tzinfo is ZoneInfo(timezone): isoformat() gives the lock's offset
    ends_at: datetime
    max_time_rounding: Literal["1h", "1d"]
    is_daily_bound: bool
    timezone: str
    check_in_time: time
    check_out_time: time
    is_biweekly: bool = False

    @property
    def duration(self) -> timedelta:
        """Elapsed time, not wall-clock time (they differ across a daylight-saving change)."""
        return self.ends_at.astimezone(UTC) - self.starts_at.astimezone(UTC)

    @property
    def key(self) -> str:
        """A stable choice value: the level and both instants, so a stale choice cannot match."""
        level = self.user_level_id or f"name:{self.slot_name}"
        return f"{level}|{self.starts_at.isoformat()}|{self.ends_at.isoformat()}"

    @property
    def label(self) -> str:
        """E.g. ``Guest 07:00–19:00 · Tue 10 Sep 07:00 → Sun 15 Sep 19:00 (America/Los_Angeles, PDT)``."""
        check_in, check_out = _format_time(self.check_in_time), _format_time(self.check_out_time)
        # Many levels are named after their times already ("Guest 15:00-11:00"): say them once.
        name = self.slot_name
        if check_in not in name or check_out not in name:
            name = f"{name} {check_in}–{check_out}"
        return f"{name} · {describe_window(self.starts_at, self.ends_at, self.timezone)}"


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The instant at which the lock's clock shows ``wall`` on ``day``, in ``zone``.

    Returns None when that wall time does not exist on that date (a daylight-saving gap).
    When it exists twice (the clocks go back), returns the first occurrence (``fold=0``).
    The result's tzinfo is ``zone``, so ``isoformat()`` gives the offset in force then.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)
    # In a gap, fold=0 quietly applies the offset from before the jump; the round trip
    # through UTC then lands on another wall time, which is how the gap is detected.
    if instant.replace(tzinfo=None, fold=0) != naive:
        return None
    return instant


def offer_windows(
    time_slots: Iterable[object] | None,
    *,
    arrival: date,
    departure: date,
    now: datetime | None = None,
) -> list[Window]:
    """The windows the door can take for a stay from ``arrival`` to ``departure``.

    Returns at most one window per user level, ordered by start, end and name; empty when
    none fits (see :func:`explain_no_windows` for why).
    Raises ValidationError when departure is not after arrival, ValueError for a naive ``now``.
    """
    check_stay(arrival, departure)
    verdicts = _judge_all(time_slots, arrival=arrival, departure=departure, now_utc=_now_utc(now))
    return _unique_sorted([v for v in verdicts if isinstance(v, Window)])


def window_for_slot(slot: object, *, arrival: date, departure: date, now: datetime | None = None) -> Window | None:
    """The window one level gives on these dates, or None when it gives none (any reason)."""
    verdict = _judge(slot, arrival=arrival, departure=departure, now_utc=_now_utc(now))
    return verdict if isinstance(verdict, Window) else None


def find_window(
    time_slots: Iterable[object] | None,
    *,
    arrival: date,
    departure: date,
    key: str,
    now: datetime | None = None,
) -> Window | None:
    """The offered window whose ``key`` is ``key``, or None if it is not (or no longer) offered.

    For re-checking a submitted choice on the server: the offer is recomputed, never trusted.
    Raises like :func:`offer_windows`.
    """
    for window in offer_windows(time_slots, arrival=arrival, departure=departure, now=now):
        if window.key == key:
            return window
    return None


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
    ``iana_timezone``: when given, a disagreement with the slots' zone is reported.
    Raises like :func:`offer_windows`.
    """
    check_stay(arrival, departure)
    now_utc = _now_utc(now)
    verdicts = _judge_all(time_slots, arrival=arrival, departure=departure, now_utc=now_utc)
    windows = [v for v in verdicts if isinstance(v, Window)]
    refusals = [v for v in verdicts if isinstance(v, _Refusal)]
    nights = (departure - arrival).days
    messages: list[str] = []

    messages.extend(_timezone_messages(time_slots, lock_timezone))

    usable = [v for v in verdicts if not (isinstance(v, _Refusal) and v.reason in _UNSUPPORTED)]
    if not verdicts:
        messages.append(
            "This door has no time slots (user levels). Add a guest user level to the door in "
            "dormakaba, then refresh the door."
        )
    elif not usable:
        messages.append(
            "This door has no user level that can be used for offline codes: its levels are master "
            "or one-shot levels, or lack a check-in or check-out time. Add a guest user level to "
            "the door in dormakaba, then refresh the door."
        )

    biweekly = [r for r in refusals if r.reason == "biweekly_length"]
    only_biweekly = bool(biweekly) and len(biweekly) == len(usable)
    if only_biweekly:
        messages.append(
            f"This door only has two-week (biweekly) levels, which fit only a stay of exactly "
            f"{BIWEEKLY_NIGHTS} nights; this stay is {_nights(nights)}. Change the dates to a "
            f"{BIWEEKLY_NIGHTS}-night stay, or add a guest user level to the door in dormakaba."
        )

    messages.extend(_past_messages([r for r in refusals if r.reason == "starts_before_now"], arrival, now_utc))

    for refusal in refusals:
        message = _refusal_message(refusal, nights)
        if message is not None:
            messages.append(message)

    if nights > MAX_CODE_DURATION.days:
        messages.append(
            f"This stay is {nights} nights, longer than one Oracode code can last (31 days), so it needs a "
            "chain of codes, and no level of this door can make one for these dates."
        )

    if biweekly and not only_biweekly:
        # An aside, after the reasons that decide: the door's other levels are what matter.
        names = ", ".join(f'"{r.slot_name}"' for r in biweekly)
        messages.append(
            f"Two-week (biweekly) levels ({names}) fit only a stay of exactly {BIWEEKLY_NIGHTS} "
            f"nights; this stay is {_nights(nights)}."
        )

    if not messages and not windows:
        messages.append("No time slot of this door fits these dates: try other dates.")
    return list(dict.fromkeys(messages))


# --- judging one slot -------------------------------------------------------------------------

_Reason = Literal[
    "not_a_slot",
    "master",
    "one_shot",
    "missing_time",
    "mixed_zones",
    "biweekly_length",
    "check_in_gap",
    "check_out_gap",
    "ends_before_start",
    "too_long",
    "starts_before_now",
]
_UNSUPPORTED: frozenset[str] = frozenset({"not_a_slot", "master", "one_shot", "missing_time"})


@dataclass(frozen=True)
class _Refusal:
    """Why one slot gives no window; the optional fields carry what the message needs."""

    reason: _Reason
    slot_name: str = ""
    zone: str = ""
    check_in: SlotTime | None = None
    check_out: SlotTime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    day: date | None = None  # the date on which a gap swallows the slot time


def _judge_all(
    time_slots: Iterable[object] | None, *, arrival: date, departure: date, now_utc: datetime
) -> list[Window | _Refusal]:
    slots = list(time_slots) if isinstance(time_slots, list | tuple) else []
    return [_judge(slot, arrival=arrival, departure=departure, now_utc=now_utc) for slot in slots]


def _judge(slot: object, *, arrival: date, departure: date, now_utc: datetime) -> Window | _Refusal:
    if not isinstance(slot, dict):
        return _Refusal("not_a_slot")
    name = _slot_name(slot)
    # A master level makes codes that never expire: any hint of one (even a malformed
    # flag) keeps the level out. The other flags count only when they are a real ``true``.
    if slot.get("is_master"):
        return _Refusal("master", name)
    if slot.get("is_one_shot"):
        return _Refusal("one_shot", name)
    check_in = parse_slot_time(slot.get("check_in_time"))
    check_out = parse_slot_time(slot.get("check_out_time"))
    if check_in is None or check_out is None:
        return _Refusal("missing_time", name)
    if check_in.zone != check_out.zone:
        return _Refusal("mixed_zones", name, check_in=check_in, check_out=check_out)
    is_biweekly = slot.get("is_biweekly_mode") is True
    if is_biweekly and (departure - arrival).days != BIWEEKLY_NIGHTS:
        return _Refusal("biweekly_length", name)

    zone = ZoneInfo(check_in.zone)
    starts_at = local_instant(arrival, check_in.wall_time, zone)
    ends_at = local_instant(departure, check_out.wall_time, zone)

    def refuse(reason: _Reason, day: date | None = None) -> _Refusal:
        return _Refusal(reason, name, check_in.zone, check_in, check_out, starts_at, ends_at, day)

    if starts_at is None:
        return refuse("check_in_gap", arrival)
    if ends_at is None:
        return refuse("check_out_gap", departure)
    starts_utc, ends_utc = starts_at.astimezone(UTC), ends_at.astimezone(UTC)
    if ends_utc <= starts_utc:
        return refuse("ends_before_start")
    if ends_utc - starts_utc > MAX_CODE_DURATION:
        return refuse("too_long")
    if starts_utc <= now_utc:
        return refuse("starts_before_now")

    is_daily_bound = slot.get("is_24_hour") is True
    user_level_id = slot.get("dormakaba_oracode_user_level_id")
    return Window(
        slot_name=name,
        user_level_id=user_level_id if isinstance(user_level_id, str) and user_level_id else None,
        prefix=slot_prefix(slot),
        starts_at=starts_at,
        ends_at=ends_at,
        max_time_rounding="1d" if is_daily_bound else "1h",
        is_daily_bound=is_daily_bound,
        timezone=check_in.zone,
        check_in_time=check_in.wall_time,
        check_out_time=check_out.wall_time,
        is_biweekly=is_biweekly,
    )


def _unique_sorted(windows: list[Window]) -> list[Window]:
    # A door may list the same level twice; the first listing wins, in the door's own order.
    unique = list({w.key: w for w in reversed(windows)}.values())
    return sorted(
        unique,
        key=lambda w: (
            w.starts_at.astimezone(UTC),
            w.ends_at.astimezone(UTC),
            w.slot_name,
            w.user_level_id or "",
        ),
    )


def _slot_name(slot: dict[str, Any]) -> str:
    name = slot.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    prefix = slot_prefix(slot)
    return f"Level {prefix}" if prefix is not None else "Unnamed level"


def check_stay(arrival: date, departure: date, *, today: date | None = None) -> None:
    """Raise ValidationError unless codes can be planned for a stay from ``arrival`` to ``departure``.

    Always: departure after arrival, at most ``RESERVATION_MAX_NIGHTS`` nights (a year by
    default: a stay of ten years would take over a hundred codes on one door), and dates the
    calendar maths can handle. With ``today`` (the booking forms and services), also an arrival
    at most ``RESERVATION_MAX_DAYS_AHEAD`` days ahead (a mistyped year is caught before a code
    that holds a place on the lock for years is made) and no longer ago than the longest stay.
    Checked before any other work, so a hostile date costs nothing. TypeError for datetimes.
    """
    # datetime is a date subclass; a time of day here would silently be dropped.
    if isinstance(arrival, datetime) or isinstance(departure, datetime):
        raise TypeError("arrival and departure must be dates, not datetimes")
    if departure <= arrival:
        raise ValidationError(
            "The departure date (%(departure)s) must be after the arrival date (%(arrival)s).",
            code="departure_not_after_arrival",
            params={"arrival": arrival.isoformat(), "departure": departure.isoformat()},
        )
    max_nights = settings.RESERVATION_MAX_NIGHTS
    nights = (departure - arrival).days
    if nights > max_nights:
        raise ValidationError(
            "This stay is %(nights)s nights; codes are made for stays of at most %(max)s nights. "
            "Check the dates, or book a longer stay as consecutive reservations.",
            code="stay_too_long",
            params={"nights": nights, "max": max_nights},
        )
    if arrival < _EARLIEST_DATE or departure > _LATEST_DATE:
        raise ValidationError("These dates are out of range: check the year.", code="date_out_of_range", params={})
    if today is None:
        return
    latest = today + timedelta(days=settings.RESERVATION_MAX_DAYS_AHEAD)
    if arrival > latest:
        raise ValidationError(
            "The arrival date (%(arrival)s) is too far ahead: codes are made for arrivals until "
            "%(latest)s. Check the year, or book this stay closer to the date.",
            code="arrival_too_far_ahead",
            params={"arrival": _format_date(arrival), "latest": _format_date(latest)},
        )
    earliest = today - timedelta(days=max_nights)
    if arrival < earliest:
        raise ValidationError(
            "The arrival date (%(arrival)s) is more than %(max)s days ago: check the year.",
            code="arrival_too_long_ago",
            params={"arrival": _format_date(arrival), "max": max_nights},
        )


def _now_utc(now: datetime | None) -> datetime:
    if now is None:
        now = timezone.now()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


# --- words ------------------------------------------------------------------------------------


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


def _past_messages(refusals: list[_Refusal], arrival: date, now_utc: datetime) -> list[str]:
    messages: list[str] = []
    by_zone: dict[str, list[_Refusal]] = {}
    for refusal in refusals:
        by_zone.setdefault(refusal.zone, []).append(refusal)
    for zone_name, group in by_zone.items():
        today = now_utc.astimezone(ZoneInfo(zone_name)).date()
        if arrival < today:
            messages.append(
                f"The arrival date, {_format_date(arrival)}, has already passed in the lock's time zone "
                f"({zone_name}): codes must start in the future, so choose a later arrival date."
            )
        elif arrival == today:
            latest = max(r.check_in.wall_time for r in group if r.check_in is not None)
            messages.append(
                f"It is already past today's check-in time ({_format_time(latest)} in {zone_name}): "
                "codes must start in the future, so choose an arrival date from tomorrow on."
            )
        else:
            messages.extend(
                f'Level "{r.slot_name}" would start at {r.starts_at.isoformat()}, which has already passed.'
                for r in group
                if r.starts_at is not None
            )
    return messages


def _refusal_message(refusal: _Refusal, nights: int) -> str | None:
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
            f"Level {name}: its {which} time {_format_time(slot_time.wall_time)} does not exist on "
            f"{_format_date(refusal.day)} in {refusal.zone} (the clocks jump forward over it), so the "
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
            f" because the clocks go back {_format_duration(elapsed - wall)} during the stay" if elapsed > wall else ""
        )
        return (
            f"With level {name} this stay would last {_format_duration(elapsed)}{because}, over the "
            "31-day limit of one Oracode code."
        )
    return None


def _nights(nights: int) -> str:
    return f"{nights} night" if nights == 1 else f"{nights} nights"


def _format_time(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _format_date(day: date, *, with_year: bool = True) -> str:
    text = f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def format_local(instant: datetime, *, with_year: bool = False) -> str:
    """``Tue 10 Sep 15:00`` as the instant's own clock shows it (fixed English names: the
    text must not depend on the process locale)."""
    return f"{_format_date(instant.date(), with_year=with_year)} {_format_time(instant.time())}"


def zone_abbreviation(instant: datetime) -> str:
    """``PDT``; ``UTC+05:45`` for zones whose abbreviation is only an offset (``+0545``)."""
    name = instant.tzname() or ""
    if name[:1] in "+-":
        offset = instant.utcoffset() or timedelta(0)
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return name


def describe_window(starts_at: datetime, ends_at: datetime, zone_name: str) -> str:
    """``Tue 10 Sep 15:00 → Sun 15 Sep 11:00 (America/Los_Angeles, PDT)`` in the lock's zone.

    Across a daylight-saving change both abbreviations show (``PDT → PST``): the clocks change
    during the stay. The year shows only when the stay crosses New Year.
    """
    zone = ZoneInfo(zone_name)
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    start_abbr, end_abbr = zone_abbreviation(start), zone_abbreviation(end)
    abbr = start_abbr if start_abbr == end_abbr else f"{start_abbr} → {end_abbr}"
    with_year = start.year != end.year
    start_text, end_text = format_local(start, with_year=with_year), format_local(end, with_year=with_year)
    return f"{start_text} → {end_text} ({zone_name}, {abbr})"


def _format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "day"), (hours, "hour"), (minutes, "minute")]
    words = [f"{n} {unit}" if n == 1 else f"{n} {unit}s" for n, unit in parts if n]
    return " ".join(words) or "0 minutes"
