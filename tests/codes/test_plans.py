"""Chains of codes for long stays, and what a date change does to the codes a guest holds.

Pure functions: no database. The invariants of a chain are checked on fixed cases (one across
each daylight-saving change) and on generated stays in zones with and without such changes.
"""

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from codes.plans import Plan, chain_for_slot, offer_plans, opens_outside_stay, plan_change
from codes.windows import MAX_CODE_DURATION, local_instant, offer_windows
from tests.codes.test_windows import LA, LORD_HOWE, SANTIAGO, SYDNEY, make_slot

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
GUEST = make_slot("Guest", "15:00", "11:00")


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def assert_sound_chain(plan: Plan, slot: dict[str, Any], arrival: date, departure: date) -> None:
    """Every promise a chain makes: exact level times, within the limit, no gap, no needless overlap."""
    zone = ZoneInfo(slot["check_in_time"].split("[")[1].rstrip("]"))
    check_in = time.fromisoformat(slot["check_in_time"].split("[")[0])
    check_out = time.fromisoformat(slot["check_out_time"].split("[")[0])
    links = plan.windows
    assert links[0].starts_at.date() == arrival
    assert links[-1].ends_at.date() == departure
    for link in links:
        assert link.starts_at.timetz().replace(tzinfo=None) == check_in, "starts at the level's check-in"
        assert link.ends_at.timetz().replace(tzinfo=None) == check_out, "ends at the level's check-out"
        assert link.duration <= MAX_CODE_DURATION, "each link within Oracode's 31-day limit"
        assert utc(link.ends_at) > utc(link.starts_at)
    for before, after in itertools.pairwise(links):
        assert utc(after.starts_at) <= utc(before.ends_at), "no gap between two codes"
        assert utc(after.starts_at) > utc(before.starts_at)
        # No needless overlap: the next check-in after this one would leave a gap.
        later = local_instant(after.starts_at.date() + timedelta(days=1), check_in, zone)
        assert later is None or utc(later) > utc(before.ends_at) or later.date() > before.ends_at.date()
    # As few codes as the limit allows: each link but the last could not have been a night longer.
    for link in links[:-1]:
        longer = offer_windows(
            [slot],
            arrival=link.starts_at.date(),
            departure=link.ends_at.date() + timedelta(days=1),
            now=LONG_AGO,
        )
        assert longer == [], "a link stops short only where one more night breaks the limit"


def test_a_sixty_night_stay_becomes_a_chain_of_two_codes_overlapping_at_the_handover():
    plan = chain_for_slot(GUEST, arrival=date(2030, 1, 5), departure=date(2030, 3, 6), now=LONG_AGO)

    assert plan is not None
    assert plan.is_chain
    assert len(plan.windows) == 2
    first, second = plan.windows
    assert first.starts_at == datetime(2030, 1, 5, 15, tzinfo=ZoneInfo(LA))
    assert first.ends_at == datetime(2030, 2, 5, 11, tzinfo=ZoneInfo(LA)), "31 nights, the most one code allows"
    assert second.starts_at == datetime(2030, 2, 4, 15, tzinfo=ZoneInfo(LA)), "the last check-in before the handover"
    assert second.ends_at == datetime(2030, 3, 6, 11, tzinfo=ZoneInfo(LA))
    assert utc(first.ends_at) - utc(second.starts_at) == timedelta(hours=20), "the overlap the level forces"
    assert_sound_chain(plan, GUEST, date(2030, 1, 5), date(2030, 3, 6))


def test_a_chain_across_the_autumn_change_shortens_the_link_by_a_night_and_hands_over_at_the_same_instant():
    # 15:00 to 15:00 daily-bound: 31 nights while the clocks go back last 31 days and 1 hour.
    slot = make_slot("Same time", "15:00", "15:00", is_24_hour=True)
    plan = chain_for_slot(slot, arrival=date(2030, 10, 20), departure=date(2030, 11, 25), now=LONG_AGO)

    assert plan is not None
    assert len(plan.windows) == 2
    first, second = plan.windows
    assert first.ends_at == datetime(2030, 11, 19, 15, tzinfo=ZoneInfo(LA)), "30 nights: 31 would be 31 d 1 h"
    assert first.starts_at.utcoffset() == timedelta(hours=-7)
    assert first.ends_at.utcoffset() == timedelta(hours=-8)
    assert first.duration == timedelta(days=30, hours=1)
    assert second.starts_at == first.ends_at, "handed over at one instant: no gap and no overlap"
    assert second.max_time_rounding == "1d"
    assert_sound_chain(plan, slot, date(2030, 10, 20), date(2030, 11, 25))


def test_a_chain_across_the_spring_change_keeps_thirty_one_nights():
    slot = make_slot("Same time", "15:00", "15:00", is_24_hour=True)
    plan = chain_for_slot(slot, arrival=date(2030, 3, 1), departure=date(2030, 4, 20), now=LONG_AGO)

    assert plan is not None
    first = plan.windows[0]
    assert first.ends_at.date() == date(2030, 4, 1), "31 nights: the clocks going forward make them 30 d 23 h"
    assert first.duration == timedelta(days=30, hours=23)
    assert_sound_chain(plan, slot, date(2030, 3, 1), date(2030, 4, 20))


def test_a_handover_on_a_check_in_the_clocks_skip_moves_a_day_earlier():
    # Santiago skips 00:00-01:00 on 6 Sep 2031 (clocks forward at midnight): 00:30 does not exist.
    slot = make_slot("Night", "00:30", "00:30", zone=SANTIAGO, is_24_hour=True)
    plan = chain_for_slot(slot, arrival=date(2031, 8, 5), departure=date(2031, 10, 1), now=LONG_AGO)

    assert plan is not None
    for link in plan.windows:
        assert local_instant(link.starts_at.date(), time(0, 30), ZoneInfo(SANTIAGO)) is not None
    assert_sound_chain(plan, slot, date(2031, 8, 5), date(2031, 10, 1))


def test_biweekly_levels_do_not_chain_and_stays_up_to_thirty_one_days_take_one_code():
    biweekly = make_slot("Two weeks", "15:00", "11:00", is_biweekly_mode=True)
    assert chain_for_slot(biweekly, arrival=date(2030, 1, 1), departure=date(2030, 2, 15), now=LONG_AGO) is None

    plans = offer_plans([GUEST], arrival=date(2030, 1, 1), departure=date(2030, 2, 1), now=LONG_AGO)
    assert [len(p.windows) for p in plans] == [1]
    assert plans[0].key == plans[0].windows[0].key, "a single code keeps its window's key"


def test_offer_plans_gives_a_chain_per_level_and_lists_every_link():
    daily = make_slot("Daily", "14:00", "14:00", is_24_hour=True)
    plans = offer_plans([GUEST, daily], arrival=date(2030, 1, 5), departure=date(2030, 4, 1), now=LONG_AGO)

    assert sorted(p.slot_name for p in plans) == ["Daily", "Guest"]
    guest = next(p for p in plans if p.slot_name == "Guest")
    assert len(guest.windows) == 3
    assert guest.links[0].startswith("Code 1: Sat 5 Jan 15:00 → ")
    assert "a chain of 3 codes" in guest.label
    assert guest.key.startswith("chain:")


def test_a_chain_whose_first_check_in_has_passed_is_not_offered():
    now = datetime(2030, 1, 5, 23, 30, tzinfo=UTC)  # 15:30 in Los Angeles
    assert offer_plans([GUEST], arrival=date(2030, 1, 5), departure=date(2030, 3, 1), now=now) == []


@st.composite
def long_stays(draw: st.DrawFn) -> tuple[dict[str, Any], date, date]:
    zone = draw(st.sampled_from([LA, SYDNEY, LORD_HOWE, SANTIAGO, "Europe/Berlin", "Asia/Kolkata"]))
    check_in = draw(st.sampled_from(["00:00", "02:30", "11:00", "15:00", "23:30"]))
    check_out = draw(st.sampled_from(["00:00", "02:30", "10:00", "11:00", "15:00", "23:59"]))
    daily = draw(st.booleans())
    slot = make_slot("Level", check_in, check_out, zone=zone, is_24_hour=daily)
    arrival = draw(st.dates(min_value=date(2030, 1, 1), max_value=date(2032, 12, 31)))
    nights = draw(st.integers(min_value=32, max_value=150))
    return slot, arrival, arrival + timedelta(days=nights)


@settings(max_examples=150, deadline=None)
@given(long_stays())
def test_every_chain_is_sound(stay: tuple[dict[str, Any], date, date]) -> None:
    slot, arrival, departure = stay
    plan = chain_for_slot(slot, arrival=arrival, departure=departure, now=LONG_AGO)
    first_ok = offer_windows([slot], arrival=arrival, departure=arrival + timedelta(days=1), now=LONG_AGO)
    if plan is None:
        # Only when the level cannot start on the arrival day or end on the departure day
        # (a daylight-saving gap swallows the time).
        zone = ZoneInfo(slot["check_in_time"].split("[")[1].rstrip("]"))
        check_in = time.fromisoformat(slot["check_in_time"].split("[")[0])
        check_out = time.fromisoformat(slot["check_out_time"].split("[")[0])
        assert (
            local_instant(arrival, check_in, zone) is None
            or local_instant(departure, check_out, zone) is None
            or not first_ok
        )
        return
    assert_sound_chain(plan, slot, arrival, departure)


# --- date changes -----------------------------------------------------------------------------


@dataclass
class Held:
    """A code the guest holds, as plan_change sees it."""

    pk: int
    name: str
    starts_at: datetime
    ends_at: datetime
    timezone: str = LA


def held(pk: int, arrival: date, departure: date) -> Held:
    window = offer_windows([GUEST], arrival=arrival, departure=departure, now=LONG_AGO)[0]
    return Held(pk, f"R1 #{pk}", window.starts_at, window.ends_at)


def change(current: list[Held], old: tuple[date, date], new: tuple[date, date], now: datetime = LONG_AGO) -> list[Any]:
    return plan_change(
        [GUEST],
        current=current,
        old_arrival=old[0],
        old_departure=old[1],
        arrival=new[0],
        departure=new[1],
        now=now,
    )


def test_an_extension_keeps_the_code_and_adds_a_continuation_that_overlaps_it():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))

    (plan,) = change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 10), date(2030, 9, 18)))

    assert plan.kind == "extend"
    assert plan.keep == (7,)
    assert plan.supersede == ()
    (continuation,) = plan.new_windows
    assert continuation.starts_at == datetime(2030, 9, 14, 15, tzinfo=ZoneInfo(LA)), "starts before the code ends"
    assert continuation.ends_at == datetime(2030, 9, 18, 11, tzinfo=ZoneInfo(LA))
    assert utc(continuation.starts_at) <= utc(code.ends_at), "access never has a gap"


def test_an_extension_by_two_months_adds_a_chain_of_continuations():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))

    (plan,) = change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 10), date(2030, 11, 20)))

    assert plan.kind == "extend"
    assert len(plan.new_windows) == 3
    links = [code.ends_at, *[w.ends_at for w in plan.new_windows]]
    starts = [w.starts_at for w in plan.new_windows]
    assert all(utc(s) <= utc(e) for s, e in zip(starts, links, strict=False))
    assert all(w.duration <= MAX_CODE_DURATION for w in plan.new_windows)


def test_an_earlier_arrival_adds_a_lead_in_code_that_reaches_the_old_one():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))

    (plan,) = change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 8), date(2030, 9, 15)))

    (lead,) = plan.new_windows
    assert lead.starts_at == datetime(2030, 9, 8, 15, tzinfo=ZoneInfo(LA))
    assert lead.ends_at == datetime(2030, 9, 11, 11, tzinfo=ZoneInfo(LA)), "the first check-out after the old start"
    assert utc(lead.ends_at) >= utc(code.starts_at)


def test_an_extension_during_the_stay_starts_its_continuation_in_the_future():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))
    now = datetime(2030, 9, 12, 18, tzinfo=UTC)

    (plan,) = change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 10), date(2030, 9, 17)), now)

    assert plan.kind == "extend"
    assert utc(plan.new_windows[0].starts_at) > now


def test_an_extension_asked_after_the_last_check_in_offers_nothing():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))
    # 16:00 in Los Angeles on the 14th: the last check-in before the code ends (15:00) has passed.
    now = datetime(2030, 9, 14, 23, tzinfo=UTC)

    assert change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 10), date(2030, 9, 17)), now) == []


def test_a_move_gets_a_new_code_and_supersedes_the_old_one():
    code = held(7, date(2030, 9, 10), date(2030, 9, 15))

    (plan,) = change([code], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 12), date(2030, 9, 17)))

    assert plan.kind == "replace"
    assert plan.keep == ()
    assert plan.supersede == (7,)
    assert plan.new_windows[0].starts_at.date() == date(2030, 9, 12)
    assert opens_outside_stay(code, arrival=date(2030, 9, 12), departure=date(2030, 9, 17))


def test_a_shortening_needs_no_code_and_keeps_the_one_that_still_serves():
    first = held(7, date(2030, 9, 10), date(2030, 10, 11))
    second = held(8, date(2030, 10, 10), date(2030, 11, 1))

    (plan,) = change([first, second], (date(2030, 9, 10), date(2030, 11, 1)), (date(2030, 9, 10), date(2030, 9, 20)))

    assert plan.kind == "shorten"
    assert plan.new_windows == ()
    assert plan.keep == (7,)
    assert plan.supersede == (8,)
    assert opens_outside_stay(first, arrival=date(2030, 9, 10), departure=date(2030, 9, 20))


def test_unchanged_dates_plan_nothing_and_a_stay_without_codes_gets_new_ones():
    assert change([], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 10), date(2030, 9, 15))) == []
    (plan,) = change([], (date(2030, 9, 10), date(2030, 9, 15)), (date(2030, 9, 11), date(2030, 9, 15)))
    assert plan.kind == "replace"
    assert plan.supersede == ()
