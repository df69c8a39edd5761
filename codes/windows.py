"""Which code windows an Oracode door can offer for a stay: the slot maths.

An offline Oracode code must match one of the door's user levels (``predefined_time_slots``)
exactly: it starts at the level's check-in time on the arrival date and ends at its check-out
time on the departure date, as wall-clock times in the lock's zone. This module turns those
wall-clock times into instants and drops what Seam would refuse; each level it drops is a
``SlotRefusal`` that :mod:`codes.window_reasons` puts into words.

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
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from codes.errors import Refused
from codes.localtime import describe_window, format_date, format_time
from locks.timeslots import SlotTime, parse_slot_time, slot_prefix

if TYPE_CHECKING:
    from properties.models import Reservation

MAX_CODE_DURATION = timedelta(days=31)
BIWEEKLY_NIGHTS = 14
# Far inside what date and datetime arithmetic can take in any zone, so that no date a form
# accepts can overflow the window maths (year 9999 plus an offset does).
_EARLIEST_DATE = date(1900, 1, 1)
_LATEST_DATE = date(9000, 12, 31)


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
        check_in, check_out = format_time(self.check_in_time), format_time(self.check_out_time)
        # Many levels are named after their times already ("Guest 15:00-11:00"): say them once.
        name = self.slot_name
        if check_in not in name or check_out not in name:
            name = f"{name} {check_in}–{check_out}"
        return f"{name} · {describe_window(self.starts_at, self.ends_at, self.timezone)}"


def site_clock_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """``local_instant``, but never None: a wall time inside a daylight-saving gap takes the
    offset from before the jump (the clocks read an hour later then), rather than no moment."""
    return local_instant(day, wall, zone) or datetime.combine(day, wall, tzinfo=zone)


def check_in_at(reservation: "Reservation", *, days_before: int = 0) -> datetime:
    """The unit's check-in time on the arrival date (``days_before`` days earlier), as the
    site's clocks show it: the moment a policy counts from ("3 days before check-in")."""
    day = reservation.arrival - timedelta(days=days_before)
    return site_clock_instant(day, reservation.unit.check_in_time, ZoneInfo(reservation.site.timezone))


def check_out_at(reservation: "Reservation") -> datetime:
    """The unit's check-out time on the departure date, as the site's clocks show it."""
    zone = ZoneInfo(reservation.site.timezone)
    return site_clock_instant(reservation.departure, reservation.unit.check_out_time, zone)


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
    Raises ``Refused`` for a stay ``check_stay`` refuses, ValueError for a naive ``now``.
    """
    check_stay(arrival, departure)
    verdicts = judge_slots(time_slots, arrival=arrival, departure=departure, now_utc=now_utc(now))
    return _unique_sorted([v for v in verdicts if isinstance(v, Window)])


def window_for_slot(slot: object, *, arrival: date, departure: date, now: datetime | None = None) -> Window | None:
    """The window one level gives on these dates, or None when it gives none (any reason)."""
    verdict = _judge(slot, arrival=arrival, departure=departure, now_utc=now_utc(now))
    return verdict if isinstance(verdict, Window) else None


# --- judging one slot -------------------------------------------------------------------------

RefusalReason = Literal[
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
UNSUPPORTED_REASONS: frozenset[str] = frozenset({"not_a_slot", "master", "one_shot", "missing_time"})


@dataclass(frozen=True)
class SlotRefusal:
    """Why one slot gives no window; the optional fields carry what the message needs."""

    reason: RefusalReason
    slot_name: str = ""
    zone: str = ""
    check_in: SlotTime | None = None
    check_out: SlotTime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    day: date | None = None  # the date on which a gap swallows the slot time


def judge_slots(
    time_slots: Iterable[object] | None, *, arrival: date, departure: date, now_utc: datetime
) -> list[Window | SlotRefusal]:
    slots = list(time_slots) if isinstance(time_slots, list | tuple) else []
    return [_judge(slot, arrival=arrival, departure=departure, now_utc=now_utc) for slot in slots]


def _judge(slot: object, *, arrival: date, departure: date, now_utc: datetime) -> Window | SlotRefusal:
    if not isinstance(slot, dict):
        return SlotRefusal("not_a_slot")
    name = _slot_name(slot)
    # A master level makes codes that never expire: any hint of one (even a malformed
    # flag) keeps the level out. The other flags count only when they are a real ``true``.
    if slot.get("is_master"):
        return SlotRefusal("master", name)
    if slot.get("is_one_shot"):
        return SlotRefusal("one_shot", name)
    check_in = parse_slot_time(slot.get("check_in_time"))
    check_out = parse_slot_time(slot.get("check_out_time"))
    if check_in is None or check_out is None:
        return SlotRefusal("missing_time", name)
    if check_in.zone != check_out.zone:
        return SlotRefusal("mixed_zones", name, check_in=check_in, check_out=check_out)
    is_biweekly = slot.get("is_biweekly_mode") is True
    if is_biweekly and (departure - arrival).days != BIWEEKLY_NIGHTS:
        return SlotRefusal("biweekly_length", name)

    zone = ZoneInfo(check_in.zone)
    starts_at = local_instant(arrival, check_in.wall_time, zone)
    ends_at = local_instant(departure, check_out.wall_time, zone)

    def refuse(reason: RefusalReason, day: date | None = None) -> SlotRefusal:
        return SlotRefusal(reason, name, check_in.zone, check_in, check_out, starts_at, ends_at, day)

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
    """Raise ``Refused`` unless codes can be planned for a stay from ``arrival`` to ``departure``.

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
        raise Refused(
            f"The departure date ({departure.isoformat()}) must be after the arrival date ({arrival.isoformat()}).",
            field="departure",
        )
    max_nights = settings.RESERVATION_MAX_NIGHTS
    nights = (departure - arrival).days
    if nights > max_nights:
        raise Refused(
            f"This stay is {nights} nights; codes are made for stays of at most {max_nights} nights. "
            "Check the dates, or book a longer stay as consecutive reservations.",
            field="departure",
        )
    if arrival < _EARLIEST_DATE or departure > _LATEST_DATE:
        raise Refused("These dates are out of range: check the year.", field="arrival")
    if today is None:
        return
    latest = today + timedelta(days=settings.RESERVATION_MAX_DAYS_AHEAD)
    if arrival > latest:
        raise Refused(
            f"The arrival date ({format_date(arrival)}) is too far ahead: codes are made for arrivals until "
            f"{format_date(latest)}. Check the year, or book this stay closer to the date.",
            field="arrival",
        )
    if arrival < today - timedelta(days=max_nights):
        raise Refused(
            f"The arrival date ({format_date(arrival)}) is more than {max_nights} days ago: check the year.",
            field="arrival",
        )


def now_utc(now: datetime | None) -> datetime:
    if now is None:
        now = timezone.now()
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)
