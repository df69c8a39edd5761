"""Which codes a stay needs: one window, a chain of windows for a long stay, and what a date
change does to the codes a guest already has.

Oracode codes can never be changed or deleted, so every plan here only adds codes:

* A stay of up to 31 days takes one code (see :mod:`codes.windows`).
* A longer stay takes a **chain**: consecutive codes of one level, each within the 31-day limit
  and each matching the level exactly. Each link is as long as the limit allows (so the chain
  has as few codes as possible, each of which uses the door's capacity until it ends), and the
  next link starts at the latest check-in that is not after the previous link's end: the guest
  is never without a working code, and two links overlap only as much as the level's times
  force (15:00 check-in and 11:00 check-out overlap 20 hours; nothing shorter matches a level).
* A **date change** keeps what still serves the guest. An extension keeps the current codes and
  adds continuation codes that overlap them, so access never has a gap; when the level cannot do
  that, the whole new stay gets new codes and the old ones are superseded (they stay live until
  they end). A move gets new codes and supersedes the old ones. A shortening needs no new code.

Every function is pure: it takes the door's slots, the current codes' windows and the time,
and the caller stores the result.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from codes.localtime import describe_window
from codes.windows import (
    MAX_CODE_DURATION,
    Window,
    check_stay,
    local_instant,
    offer_windows,
    window_for_slot,
)
from locks.timeslots import parse_slot_time

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    """The codes one stay needs with one level: a single window, or a chain of them."""

    windows: tuple[Window, ...]

    @property
    def is_chain(self) -> bool:
        return len(self.windows) > 1

    @property
    def starts_at(self) -> datetime:
        return self.windows[0].starts_at

    @property
    def ends_at(self) -> datetime:
        return self.windows[-1].ends_at

    @property
    def slot_name(self) -> str:
        return self.windows[0].slot_name

    @property
    def key(self) -> str:
        """A single code keeps its window's key; a chain names every link, so no stale chain matches."""
        if not self.is_chain:
            return self.windows[0].key
        return "chain:" + "+".join(w.key for w in self.windows)

    @property
    def label(self) -> str:
        if not self.is_chain:
            return self.windows[0].label
        whole = describe_window(self.starts_at, self.ends_at, self.windows[0].timezone)
        return f"{self.slot_name} · a chain of {len(self.windows)} codes · {whole}"

    @property
    def links(self) -> list[str]:
        """Each code of the plan in words, for the form and the email: ``Code 1: Tue 1 Sep 15:00 → …``."""
        return [
            f"Code {i}: {describe_window(w.starts_at, w.ends_at, w.timezone)}" for i, w in enumerate(self.windows, 1)
        ]


def chain_for_slot(slot: object, *, arrival: date, departure: date, now: datetime | None = None) -> Plan | None:
    """A chain of codes of one level covering ``arrival`` to ``departure``, or None if the level cannot.

    Each link ends at the latest check-out date within the 31-day limit (elapsed time, so a
    daylight-saving change can shorten a link by a night); the next starts at the latest
    check-in not after that end. Biweekly levels (exactly 14 nights) do not chain.
    """
    if not isinstance(slot, dict) or slot.get("is_biweekly_mode") is True:
        return None
    check_in = parse_slot_time(slot.get("check_in_time"))
    if check_in is None:
        return None
    zone = ZoneInfo(check_in.zone)
    links: list[Window] = []
    start_day = arrival
    while True:
        # One date more than the limit in days: a check-out earlier in the day than the check-in
        # fits 32 dates into 31 days when the clocks go forward (the window decides).
        end_day = min(departure, start_day + timedelta(days=MAX_CODE_DURATION.days + 1))
        link = None
        while end_day > start_day:
            link = window_for_slot(slot, arrival=start_day, departure=end_day, now=now)
            if link is not None:
                break
            end_day -= ONE_DAY
        if link is None:
            return None
        links.append(link)
        if end_day == departure:
            return Plan(tuple(links))
        next_day = _latest_check_in_by(check_in.wall_time, zone, by=link.ends_at, on_or_before=end_day)
        if next_day is None or next_day <= start_day:
            return None
        start_day = next_day


def offer_plans(
    time_slots: Iterable[object] | None, *, arrival: date, departure: date, now: datetime | None = None
) -> list[Plan]:
    """Every plan the door offers for a stay: one code per level where one code fits, else a chain.

    Ordered like :func:`codes.windows.offer_windows`. Raises like it.
    """
    plans = [Plan((w,)) for w in offer_windows(time_slots, arrival=arrival, departure=departure, now=now)]
    slots = time_slots if isinstance(time_slots, list | tuple) else []
    for slot in slots:
        # A level that fits the stay in one code gives a one-window plan here: offered above.
        chain = chain_for_slot(slot, arrival=arrival, departure=departure, now=now)
        if chain is not None and chain.is_chain:
            plans.append(chain)
    unique = list({p.key: p for p in reversed(plans)}.values())
    return sorted(unique, key=lambda p: (p.starts_at.astimezone(UTC), p.ends_at.astimezone(UTC), p.slot_name))


# --- date changes -----------------------------------------------------------------------------


class CodeSpan(Protocol):
    """What a plan needs of a current code (an ``AccessCode`` fits)."""

    @property
    def pk(self) -> int | None: ...

    @property
    def name(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...

    @property
    def timezone(self) -> str: ...


ChangeKind = Literal["extend", "replace", "shorten"]


@dataclass(frozen=True)
class ChangePlan:
    """What a date change does to a reservation's codes: which stay, which are added."""

    kind: ChangeKind
    new_windows: tuple[Window, ...]
    keep: tuple[int, ...]
    supersede: tuple[int, ...]
    slot_name: str
    summary: str
    details: tuple[str, ...]

    @property
    def key(self) -> str:
        kept = ",".join(map(str, self.keep))
        gone = ",".join(map(str, self.supersede))
        return f"{self.kind}|{kept}|{gone}|" + "+".join(w.key for w in self.new_windows)


def code_local_dates(code: CodeSpan) -> tuple[date, date]:
    """The first and last date on which the code opens the door, in its own zone."""
    zone = ZoneInfo(code.timezone)
    return code.starts_at.astimezone(zone).date(), code.ends_at.astimezone(zone).date()


def opens_outside_stay(code: CodeSpan, *, arrival: date, departure: date) -> bool:
    """True when the code opens the door on a date the stay does not book."""
    first, last = code_local_dates(code)
    return first < arrival or last > departure


def plan_change(
    time_slots: Iterable[object] | None,
    *,
    current: Sequence[CodeSpan],
    old_arrival: date,
    old_departure: date,
    arrival: date,
    departure: date,
    now: datetime | None = None,
) -> list[ChangePlan]:
    """The ways to move a stay to new dates, given the guest's current codes.

    ``current`` are the codes the guest holds now (not superseded, failed or cancelled). A
    shorter stay keeps what serves it; a longer one keeps the codes and adds continuations
    where a level can (``_extend``); anything else, or an extension no level can make, gets
    new codes for the whole stay (``_replace``). Empty when the dates do not change or the
    door offers nothing for them; raises ``Refused`` for a stay ``check_stay`` refuses.
    """
    check_stay(arrival, departure)
    if (arrival, departure) == (old_arrival, old_departure):
        return []
    codes = sorted(current, key=lambda c: c.starts_at)
    if codes and arrival >= old_arrival and departure <= old_departure:
        return [_shorten(codes, arrival, departure)]
    plans: list[ChangePlan] = []
    if codes and arrival <= old_arrival and departure >= old_departure:
        plans = _extend(
            time_slots,
            codes,
            arrival=arrival if arrival < old_arrival else None,
            departure=departure if departure > old_departure else None,
            now=now,
        )
    if not plans:
        offered = offer_plans(time_slots, arrival=arrival, departure=departure, now=now)
        plans = [_replace(p, codes) for p in offered]
    return list({p.key: p for p in plans}.values())


def _ids(codes: Sequence[CodeSpan]) -> tuple[int, ...]:
    return tuple(c.pk for c in codes if c.pk is not None)


def _shorten(codes: Sequence[CodeSpan], arrival: date, departure: date) -> ChangePlan:
    """No new code: keep the codes that still serve a night of the stay, supersede the rest."""
    keep = [c for c in codes if not _entirely_outside(c, arrival, departure)]
    gone = [c for c in codes if c not in keep]
    details = [f"Keep {_code_words(c)}: it stays live until it ends." for c in keep]
    details += [f"Supersede {_code_words(c)}: it stays live until it ends." for c in gone]
    details.append("Codes that open the door on days no longer booked go into the door's ledger of live codes.")
    return ChangePlan(
        kind="shorten",
        new_windows=(),
        keep=_ids(keep),
        supersede=_ids(gone),
        slot_name="",
        summary="Shorten the stay: no new code is needed (a code cannot be shortened)",
        details=tuple(details),
    )


def _extend(
    time_slots: Iterable[object] | None,
    codes: Sequence[CodeSpan],
    *,
    arrival: date | None,
    departure: date | None,
    now: datetime | None,
) -> list[ChangePlan]:
    """Per level that can: keep every code and add lead-in or continuation codes that overlap
    them, so access never has a gap. ``arrival``/``departure``: the new dates where they moved
    out, else None."""
    covered_from = min(c.starts_at for c in codes)
    covered_until = max(c.ends_at for c in codes)
    plans: list[ChangePlan] = []
    for slot in time_slots if isinstance(time_slots, list | tuple) else []:
        added = _extension(slot, covered_from, covered_until, arrival=arrival, departure=departure, now=now)
        if added is None:
            continue
        name = added[0].slot_name if added else ""
        details = [f"Keep {_code_words(c)}." for c in codes]
        details += [
            f"Add a code: {describe_window(w.starts_at, w.ends_at, w.timezone)}, overlapping the "
            f"current {'code' if len(codes) == 1 else 'codes'} so access never has a gap."
            for w in added
        ]
        if not added:
            details.append("The current codes already cover the new dates: no new code is needed.")
        summary = (
            f"Keep the guest's code and add {len(added)} continuation code{'s' if len(added) > 1 else ''} ({name})"
            if added
            else "Keep the guest's code: it covers the new dates"
        )
        plans.append(
            ChangePlan(
                kind="extend",
                new_windows=tuple(added),
                keep=_ids(codes),
                supersede=(),
                slot_name=name,
                summary=summary,
                details=tuple(details),
            )
        )
    return plans


def _replace(plan: Plan, codes: Sequence[CodeSpan]) -> ChangePlan:
    """New codes for the whole stay by ``plan``; every current code is superseded."""
    count = len(plan.windows)
    summary = (
        f"New code for the whole stay ({plan.label})"
        if count == 1
        else f"New chain of {count} codes for the whole stay ({plan.slot_name})"
    )
    details = [f"Create {link}." for link in plan.links]
    details += [f"Supersede {_code_words(c)}: it stays live until it ends." for c in codes]
    return ChangePlan(
        kind="replace",
        new_windows=plan.windows,
        keep=(),
        supersede=_ids(codes),
        slot_name=plan.slot_name,
        summary=summary,
        details=tuple(details),
    )


def _extension(
    slot: object,
    covered_from: datetime,
    covered_until: datetime,
    *,
    arrival: date | None,
    departure: date | None,
    now: datetime | None,
) -> list[Window] | None:
    """The codes of one level that extend coverage without a gap, or None if it cannot.

    ``arrival`` is the new arrival date when the stay now starts earlier (else None), and
    ``departure`` the new departure date when it now ends later.
    """
    if not isinstance(slot, dict):
        return None
    check_in = parse_slot_time(slot.get("check_in_time"))
    check_out = parse_slot_time(slot.get("check_out_time"))
    if check_in is None or check_out is None:
        return None
    zone = ZoneInfo(check_in.zone)
    added: list[Window] = []

    arrival_at = None if arrival is None else local_instant(arrival, check_in.wall_time, zone)
    if arrival is not None and arrival_at is None:
        return None
    if arrival is not None and arrival_at is not None and arrival_at < covered_from:
        # A lead-in: from the new check-in to the first check-out at or after the old start.
        end_day = covered_from.astimezone(zone).date()
        while (end := local_instant(end_day, check_out.wall_time, zone)) is None or end < covered_from:
            end_day += ONE_DAY
        if end_day <= arrival:
            return None
        lead = chain_for_slot(slot, arrival=arrival, departure=end_day, now=now)
        if lead is None:
            return None
        added.extend(lead.windows)

    departure_at = None if departure is None else local_instant(departure, check_out.wall_time, zone)
    if departure is not None and departure_at is None:
        return None
    if departure is not None and departure_at is not None and departure_at > covered_until:
        # A continuation: from the latest check-in not after the old end, so the codes overlap.
        start_day = _latest_check_in_by(
            check_in.wall_time, zone, by=covered_until, on_or_before=covered_until.astimezone(zone).date()
        )
        if start_day is None or start_day >= departure:
            return None
        continuation = chain_for_slot(slot, arrival=start_day, departure=departure, now=now)
        if continuation is None:
            return None
        added.extend(continuation.windows)
    return added


def _latest_check_in_by(wall: time, zone: ZoneInfo, *, by: datetime, on_or_before: date) -> date | None:
    """The latest date, at most ``on_or_before``, whose check-in instant is not after ``by``."""
    day = on_or_before
    for _ in range(3):
        instant = local_instant(day, wall, zone)
        if instant is not None and instant <= by:
            return day
        day -= ONE_DAY
    return None


def _entirely_outside(code: CodeSpan, arrival: date, departure: date) -> bool:
    """True when the code serves no night of the stay: it ends by the arrival date or starts on
    the departure date or later."""
    first, last = code_local_dates(code)
    return last <= arrival or first >= departure


def _code_words(code: CodeSpan) -> str:
    return f"code “{code.name}” ({describe_window(code.starts_at, code.ends_at, code.timezone)})"
