"""Slot maths for Oracode code windows: pure unit tests, no database."""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codes.errors import Refused
from codes.window_reasons import explain_no_windows
from codes.windows import Window, local_instant, offer_windows

LA = "America/Los_Angeles"
BERLIN = "Europe/Berlin"
SYDNEY = "Australia/Sydney"
ST_JOHNS = "America/St_Johns"
LORD_HOWE = "Australia/Lord_Howe"
SANTIAGO = "America/Santiago"
HAVANA = "America/Havana"

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def make_slot(
    name: str = "Guest",
    check_in: str | None = "07:00",
    check_out: str | None = "19:00",
    zone: str = LA,
    **extra: Any,
) -> dict[str, Any]:
    """A slot shaped like Seam's, with times given as HH:MM in ``zone``."""
    slot: dict[str, Any] = {
        "name": name,
        "prefix": 0,
        "is_master": False,
        "is_24_hour": False,
        "is_one_shot": False,
        "is_biweekly_mode": False,
        "dormakaba_oracode_user_level_id": f"level-{name}",
        "dormakaba_oracode_user_level_prefix": 0,
    }
    if check_in is not None:
        slot["check_in_time"] = f"{check_in}:00[{zone}]"
    if check_out is not None:
        slot["check_out_time"] = f"{check_out}:00[{zone}]"
    slot.update(extra)
    return slot


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone), fold=fold)


def offer(slots: list[Any], arrival: date, departure: date, now: datetime = LONG_AGO) -> list[Window]:
    return offer_windows(slots, arrival=arrival, departure=departure, now=now)


def explain(slots: list[Any], arrival: date, departure: date, now: datetime = LONG_AGO, **kwargs: Any) -> str:
    return "\n".join(explain_no_windows(slots, arrival=arrival, departure=departure, now=now, **kwargs))


def only(windows: list[Window]) -> Window:
    assert len(windows) == 1, windows
    return windows[0]


# --- the seed's example ------------------------------------------------------------------------


def test_it_offers_the_seed_example_with_the_offsets_seam_wants():
    window = only(offer([make_slot("Guest RCI")], date(2024, 9, 10), date(2024, 9, 15)))

    assert window.starts_at.isoformat() == "2024-09-10T07:00:00-07:00"
    assert window.ends_at.isoformat() == "2024-09-15T19:00:00-07:00"
    # What Seam answers, in UTC, for the same code.
    assert window.starts_at.astimezone(UTC) == datetime(2024, 9, 10, 14, tzinfo=UTC)
    assert window.ends_at.astimezone(UTC) == datetime(2024, 9, 16, 2, tzinfo=UTC)
    assert window.starts_at.tzinfo == ZoneInfo(LA)
    assert window.max_time_rounding == "1h"
    assert not window.is_daily_bound
    assert window.timezone == LA
    assert window.user_level_id == "level-Guest RCI"
    assert window.prefix == 0
    assert window.slot_name == "Guest RCI"


def test_its_label_reads_like_the_booking():
    window = only(offer([make_slot("Guest RCI")], date(2024, 9, 10), date(2024, 9, 15)))

    assert window.label == ("Guest RCI 07:00–19:00 · Tue 10 Sep 07:00 → Sun 15 Sep 19:00 (America/Los_Angeles, PDT)")


def test_its_label_names_the_year_when_the_stay_crosses_new_year():
    window = only(offer([make_slot("Guest")], date(2024, 12, 30), date(2025, 1, 2)))

    assert window.label == (
        "Guest 07:00–19:00 · Mon 30 Dec 2024 07:00 → Thu 2 Jan 2025 19:00 (America/Los_Angeles, PST)"
    )


def test_window_is_frozen():
    window = only(offer([make_slot()], date(2024, 9, 10), date(2024, 9, 15)))

    with pytest.raises(AttributeError):
        window.slot_name = "other"  # type: ignore[misc]


# --- daylight saving: America/Los_Angeles ------------------------------------------------------


def test_a_stay_across_spring_forward_starts_in_pst_and_ends_in_pdt():
    window = only(offer([make_slot("Guest")], date(2024, 3, 8), date(2024, 3, 12)))

    assert window.starts_at.isoformat() == "2024-03-08T07:00:00-08:00"
    assert window.ends_at.isoformat() == "2024-03-12T19:00:00-07:00"
    assert window.duration == timedelta(days=4, hours=11)
    assert window.label.endswith("(America/Los_Angeles, PST → PDT)")


def test_a_stay_across_fall_back_starts_in_pdt_and_ends_in_pst():
    window = only(offer([make_slot("Guest")], date(2024, 11, 1), date(2024, 11, 5)))

    assert window.starts_at.isoformat() == "2024-11-01T07:00:00-07:00"
    assert window.ends_at.isoformat() == "2024-11-05T19:00:00-08:00"
    assert window.duration == timedelta(days=4, hours=13)
    assert window.label.endswith("(America/Los_Angeles, PDT → PST)")


def test_a_check_in_time_in_the_spring_gap_is_not_offered():
    slots = [make_slot("Night", "02:30", "11:00")]

    assert offer(slots, date(2024, 3, 10), date(2024, 3, 12)) == []
    reasons = explain(slots, date(2024, 3, 10), date(2024, 3, 12))
    assert "check-in time 02:30 does not exist on Sun 10 Mar 2024 in America/Los_Angeles" in reasons


def test_a_check_out_time_in_the_spring_gap_is_not_offered():
    slots = [make_slot("Night", "15:00", "02:30")]

    assert offer(slots, date(2024, 3, 8), date(2024, 3, 10)) == []
    assert "check-out time 02:30 does not exist on Sun 10 Mar 2024" in explain(
        slots, date(2024, 3, 8), date(2024, 3, 10)
    )
    # The same level on other dates is fine.
    assert len(offer(slots, date(2024, 3, 9), date(2024, 3, 11))) == 1


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (time(1, 59), "2024-03-10T01:59:00-08:00"),
        (time(2, 0), None),
        (time(2, 59), None),
        (time(3, 0), "2024-03-10T03:00:00-07:00"),
    ],
)
def test_local_instant_at_the_edges_of_the_spring_gap(wall, expected):
    instant = local_instant(date(2024, 3, 10), wall, ZoneInfo(LA))

    assert (instant.isoformat() if instant else None) == expected


def test_a_check_in_time_that_happens_twice_is_read_as_its_first_occurrence():
    window = only(offer([make_slot("Night", "01:30", "11:00")], date(2024, 11, 3), date(2024, 11, 5)))

    assert window.starts_at.isoformat() == "2024-11-03T01:30:00-07:00"
    assert window.starts_at.astimezone(UTC) == datetime(2024, 11, 3, 8, 30, tzinfo=UTC)
    assert window.starts_at.fold == 0
    # What Seam parses from the ISO string is the slot's wall time again.
    parsed = datetime.fromisoformat(window.starts_at.isoformat()).astimezone(ZoneInfo(LA))
    assert parsed.replace(tzinfo=None) == datetime(2024, 11, 3, 1, 30)


def test_a_check_out_time_that_happens_twice_is_read_as_its_first_occurrence():
    window = only(offer([make_slot("Late", "15:00", "01:30")], date(2024, 11, 1), date(2024, 11, 3)))

    assert window.ends_at.isoformat() == "2024-11-03T01:30:00-07:00"


# --- daylight saving: Europe/Berlin ------------------------------------------------------------


def test_berlin_spring_forward():
    slots = [make_slot("Guest", "15:00", "10:00", zone=BERLIN), make_slot("Night", "02:30", "10:00", zone=BERLIN)]

    window = only(offer(slots[:1], date(2024, 3, 30), date(2024, 4, 2)))
    assert window.starts_at.isoformat() == "2024-03-30T15:00:00+01:00"
    assert window.ends_at.isoformat() == "2024-04-02T10:00:00+02:00"
    assert window.label.endswith("(Europe/Berlin, CET → CEST)")
    assert offer(slots[1:], date(2024, 3, 31), date(2024, 4, 2)) == []


def test_berlin_fall_back():
    slots = [make_slot("Guest", "15:00", "10:00", zone=BERLIN), make_slot("Night", "02:30", "10:00", zone=BERLIN)]

    guest = only(offer(slots[:1], date(2024, 10, 25), date(2024, 10, 29)))
    assert guest.starts_at.isoformat() == "2024-10-25T15:00:00+02:00"
    assert guest.ends_at.isoformat() == "2024-10-29T10:00:00+01:00"
    assert guest.label.endswith("(Europe/Berlin, CEST → CET)")
    night = only(offer(slots[1:], date(2024, 10, 27), date(2024, 10, 29)))
    assert night.starts_at.isoformat() == "2024-10-27T02:30:00+02:00"


# --- southern hemisphere: Australia/Sydney -----------------------------------------------------


def test_sydney_daylight_saving_ends_in_april():
    window = only(offer([make_slot("Guest", "15:00", "10:00", zone=SYDNEY)], date(2024, 4, 5), date(2024, 4, 9)))

    assert window.starts_at.isoformat() == "2024-04-05T15:00:00+11:00"
    assert window.ends_at.isoformat() == "2024-04-09T10:00:00+10:00"
    assert window.label.endswith("(Australia/Sydney, AEDT → AEST)")
    night = only(offer([make_slot("Night", "02:30", "10:00", zone=SYDNEY)], date(2024, 4, 7), date(2024, 4, 9)))
    assert night.starts_at.isoformat() == "2024-04-07T02:30:00+11:00"


def test_sydney_daylight_saving_starts_in_october():
    window = only(offer([make_slot("Guest", "15:00", "10:00", zone=SYDNEY)], date(2024, 10, 4), date(2024, 10, 8)))

    assert window.starts_at.isoformat() == "2024-10-04T15:00:00+10:00"
    assert window.ends_at.isoformat() == "2024-10-08T10:00:00+11:00"
    assert offer([make_slot("Night", "02:30", "10:00", zone=SYDNEY)], date(2024, 10, 6), date(2024, 10, 8)) == []


# --- half-hour zones ---------------------------------------------------------------------------


def test_st_johns_half_hour_offsets_across_spring_forward():
    window = only(offer([make_slot("Guest", "15:00", "11:00", zone=ST_JOHNS)], date(2024, 3, 8), date(2024, 3, 12)))

    assert window.starts_at.isoformat() == "2024-03-08T15:00:00-03:30"
    assert window.ends_at.isoformat() == "2024-03-12T11:00:00-02:30"
    assert window.label.endswith("(America/St_Johns, NST → NDT)")
    assert offer([make_slot("Night", "02:30", "11:00", zone=ST_JOHNS)], date(2024, 3, 10), date(2024, 3, 12)) == []


def test_st_johns_fold_is_read_as_daylight_time():
    window = only(offer([make_slot("Night", "01:30", "11:00", zone=ST_JOHNS)], date(2024, 11, 3), date(2024, 11, 5)))

    assert window.starts_at.isoformat() == "2024-11-03T01:30:00-02:30"


def test_lord_howe_shifts_by_thirty_minutes():
    window = only(offer([make_slot("Guest", "15:00", "15:00", zone=LORD_HOWE)], date(2024, 10, 4), date(2024, 10, 8)))

    assert window.starts_at.isoformat() == "2024-10-04T15:00:00+10:30"
    assert window.ends_at.isoformat() == "2024-10-08T15:00:00+11:00"
    assert window.duration == timedelta(days=4) - timedelta(minutes=30)


def test_lord_howe_gap_is_thirty_minutes_long():
    def starts(wall: str) -> list[Window]:
        return offer([make_slot("Night", wall, "11:00", zone=LORD_HOWE)], date(2024, 10, 6), date(2024, 10, 8))

    assert starts("01:59")[0].starts_at.isoformat() == "2024-10-06T01:59:00+10:30"
    assert starts("02:00") == []
    assert starts("02:15") == []
    assert starts("02:30")[0].starts_at.isoformat() == "2024-10-06T02:30:00+11:00"


def test_lord_howe_fold_is_read_as_its_first_occurrence():
    window = only(offer([make_slot("Night", "01:45", "11:00", zone=LORD_HOWE)], date(2024, 4, 7), date(2024, 4, 9)))

    assert window.starts_at.isoformat() == "2024-04-07T01:45:00+11:00"


# --- zones whose daylight saving starts at midnight --------------------------------------------


def test_santiago_midnight_check_in_does_not_exist_on_the_day_clocks_go_forward():
    midnight = [make_slot("Day", "00:00", "23:00", zone=SANTIAGO, is_24_hour=True)]

    assert offer(midnight, date(2024, 9, 8), date(2024, 9, 10)) == []
    assert "check-in time 00:00 does not exist on Sun 8 Sep 2024 in America/Santiago" in explain(
        midnight, date(2024, 9, 8), date(2024, 9, 10)
    )
    day_before = only(offer(midnight, date(2024, 9, 7), date(2024, 9, 10)))
    assert day_before.starts_at.isoformat() == "2024-09-07T00:00:00-04:00"
    assert day_before.ends_at.isoformat() == "2024-09-10T23:00:00-03:00"
    one_am = only(offer([make_slot("Late", "01:00", "23:00", zone=SANTIAGO)], date(2024, 9, 8), date(2024, 9, 10)))
    assert one_am.starts_at.isoformat() == "2024-09-08T01:00:00-03:00"


def test_santiago_fold_before_midnight_is_read_as_summer_time():
    window = only(offer([make_slot("Late", "23:30", "11:00", zone=SANTIAGO)], date(2024, 4, 6), date(2024, 4, 8)))

    assert window.starts_at.isoformat() == "2024-04-06T23:30:00-03:00"


def test_havana_midnight():
    daily = [make_slot("Day", "00:00", "23:59", zone=HAVANA, is_24_hour=True)]

    assert offer(daily, date(2024, 3, 10), date(2024, 3, 12)) == []
    across = only(offer(daily, date(2024, 3, 9), date(2024, 3, 11)))
    assert across.starts_at.isoformat() == "2024-03-09T00:00:00-05:00"
    assert across.ends_at.isoformat() == "2024-03-11T23:59:00-04:00"
    fold = only(offer(daily, date(2024, 11, 3), date(2024, 11, 5)))
    assert fold.starts_at.isoformat() == "2024-11-03T00:00:00-04:00"
    # The departure date may fall on the gap day when check-out is later that day.
    assert len(offer(daily, date(2024, 3, 8), date(2024, 3, 10))) == 1


# --- leap days ---------------------------------------------------------------------------------


def test_leap_day_arrival_and_departure():
    arriving = only(offer([make_slot()], date(2024, 2, 29), date(2024, 3, 2)))
    assert arriving.starts_at.isoformat() == "2024-02-29T07:00:00-08:00"
    leaving = only(offer([make_slot()], date(2024, 2, 27), date(2024, 2, 29)))
    assert leaving.ends_at.isoformat() == "2024-02-29T19:00:00-08:00"
    across = only(offer([make_slot()], date(2024, 2, 28), date(2024, 3, 1)))
    assert across.duration == timedelta(days=2, hours=12)


def test_thirty_one_days_across_a_leap_day():
    slots = [make_slot("Same time", "15:00", "15:00")]

    assert only(offer(slots, date(2024, 2, 1), date(2024, 3, 3))).duration == timedelta(days=31)
    assert offer(slots, date(2024, 2, 1), date(2024, 3, 4)) == []
    assert only(offer(slots, date(2023, 2, 1), date(2023, 3, 4))).duration == timedelta(days=31)


# --- the 31-day limit --------------------------------------------------------------------------


def test_exactly_thirty_one_days_is_offered():
    window = only(offer([make_slot("Same time", "15:00", "15:00")], date(2024, 1, 1), date(2024, 2, 1)))

    assert window.duration == timedelta(days=31)


def test_a_minute_over_thirty_one_days_is_not_offered():
    assert offer([make_slot("Later", "15:00", "15:01")], date(2024, 1, 1), date(2024, 2, 1)) == []


def test_thirty_two_nights_are_not_offered_as_one_code_and_the_reason_says_so():
    slots = [make_slot("Guest", "15:00", "11:00")]

    assert offer(slots, date(2024, 1, 1), date(2024, 2, 2)) == []
    reasons = explain(slots, date(2024, 1, 1), date(2024, 2, 2))
    assert "This stay is 32 nights" in reasons
    assert "needs a chain of codes" in reasons


def test_thirty_one_nights_whose_times_run_past_thirty_one_days_say_so():
    slots = [make_slot("Long", "11:00", "15:00")]

    assert offer(slots, date(2024, 1, 1), date(2024, 2, 1)) == []
    reasons = explain(slots, date(2024, 1, 1), date(2024, 2, 1))
    assert 'With level "Long" this stay would last 31 days 4 hours' in reasons
    assert "over the 31-day limit of one Oracode code" in reasons


def test_thirty_one_days_of_wall_time_while_clocks_go_back_is_one_hour_too_long():
    slots = [make_slot("Same time", "15:00", "15:00")]

    assert offer(slots, date(2024, 10, 20), date(2024, 11, 20)) == []
    reasons = explain(slots, date(2024, 10, 20), date(2024, 11, 20))
    assert "31 days 1 hour because the clocks go back 1 hour during the stay" in reasons


def test_thirty_one_days_and_one_wall_hour_while_clocks_go_forward_is_offered():
    window = only(offer([make_slot("Later", "15:00", "16:00")], date(2024, 2, 20), date(2024, 3, 22)))

    assert window.duration == timedelta(days=31)


def test_lord_howe_thirty_minutes_over_is_not_offered():
    slots = [make_slot("Same time", "15:00", "15:00", zone=LORD_HOWE)]

    assert offer(slots, date(2024, 3, 20), date(2024, 4, 20)) == []
    assert "31 days 30 minutes because the clocks go back 30 minutes" in explain(
        slots, date(2024, 3, 20), date(2024, 4, 20)
    )


# --- now ---------------------------------------------------------------------------------------


def test_booking_on_the_arrival_day_after_check_in_is_not_offered():
    slots = [make_slot("Guest")]
    now = local(LA, 2024, 9, 10, 8, 0)

    assert offer(slots, date(2024, 9, 10), date(2024, 9, 15), now=now) == []
    reasons = explain(slots, date(2024, 9, 10), date(2024, 9, 15), now=now)
    assert "already past today's check-in time (07:00 in America/Los_Angeles)" in reasons
    assert "choose an arrival date from tomorrow on" in reasons


def test_booking_on_the_arrival_day_before_check_in_is_offered():
    now = local(LA, 2024, 9, 10, 6, 59)

    assert len(offer([make_slot("Guest")], date(2024, 9, 10), date(2024, 9, 15), now=now)) == 1


def test_a_window_starting_exactly_now_is_not_offered():
    now = local(LA, 2024, 9, 10, 7, 0)

    assert offer([make_slot("Guest")], date(2024, 9, 10), date(2024, 9, 15), now=now) == []


def test_now_is_compared_as_an_instant_not_as_a_wall_time():
    # 01:15 PST (second occurrence) is 09:15Z, after the check-in at 01:30 PDT (08:30Z),
    # although 01:15 < 01:30 on the wall.
    now = local(LA, 2024, 11, 3, 1, 15, fold=1)

    assert offer([make_slot("Night", "01:30", "11:00")], date(2024, 11, 3), date(2024, 11, 5), now=now) == []
    assert (
        len(
            offer(
                [make_slot("Night", "01:30", "11:00")], date(2024, 11, 3), date(2024, 11, 5), now=now.replace(fold=0)
            )
        )
        == 1
    )


def test_only_the_levels_still_to_start_today_are_offered():
    slots = [make_slot("Early", "07:00", "19:00"), make_slot("Late", "15:00", "11:00")]
    now = local(LA, 2024, 9, 10, 12, 0)

    assert [w.slot_name for w in offer(slots, date(2024, 9, 10), date(2024, 9, 12), now=now)] == ["Late"]


def test_an_arrival_date_in_the_past_is_explained():
    reasons = explain([make_slot()], date(2024, 9, 1), date(2024, 9, 3), now=local(LA, 2024, 9, 10, 12))

    assert "The arrival date, Sun 1 Sep 2024, has already passed" in reasons


def test_now_defaults_to_the_current_time():
    slots = [make_slot("Guest")]

    with time_machine.travel(datetime(2024, 9, 10, 15, 0, tzinfo=UTC), tick=False):  # 08:00 in LA
        assert offer_windows(slots, arrival=date(2024, 9, 10), departure=date(2024, 9, 15)) == []
    with time_machine.travel(datetime(2024, 9, 10, 13, 0, tzinfo=UTC), tick=False):  # 06:00 in LA
        assert len(offer_windows(slots, arrival=date(2024, 9, 10), departure=date(2024, 9, 15))) == 1


def test_a_naive_now_is_refused():
    naive = datetime(2024, 9, 1, 12, 0)
    stay: dict[str, Any] = {"arrival": date(2024, 9, 10), "departure": date(2024, 9, 15), "now": naive}

    with pytest.raises(ValueError, match="aware"):
        offer_windows([make_slot()], **stay)
    with pytest.raises(ValueError, match="aware"):
        explain_no_windows([make_slot()], **stay)


# --- levels that are never offered -------------------------------------------------------------


def test_master_and_one_shot_levels_are_not_offered():
    slots = [make_slot("Master", is_master=True), make_slot("Once", is_one_shot=True)]

    assert offer(slots, date(2024, 9, 10), date(2024, 9, 15)) == []
    assert "no user level that can be used for offline codes" in explain(slots, date(2024, 9, 10), date(2024, 9, 15))


def test_a_malformed_master_flag_still_keeps_the_level_out():
    assert offer([make_slot("Master", is_master="true")], date(2024, 9, 10), date(2024, 9, 15)) == []


@pytest.mark.parametrize(
    "change",
    [
        {"check_in_time": None},
        {"check_out_time": None},
        {"check_in_time": "07:00:00"},
        {"check_in_time": "7am[America/Los_Angeles]"},
        {"check_in_time": "25:00:00[America/Los_Angeles]"},
        {"check_out_time": "19:00:00[Mars/Olympus_Mons]"},
        {"check_in_time": 700},
    ],
)
def test_a_level_without_usable_times_is_not_offered(change):
    slot = make_slot("Broken")
    slot.update(change)
    slot = {k: v for k, v in slot.items() if v is not None}

    assert offer([slot], date(2024, 9, 10), date(2024, 9, 15)) == []
    assert "lack a check-in or check-out time" in explain([slot], date(2024, 9, 10), date(2024, 9, 15))


def test_junk_entries_are_ignored():
    slots: list[Any] = [None, "Guest", 3, [], {}, make_slot("Guest")]

    assert [w.slot_name for w in offer(slots, date(2024, 9, 10), date(2024, 9, 15))] == ["Guest"]


@pytest.mark.parametrize("time_slots", [[], None, {"name": "not a list"}, "junk"])
def test_a_door_without_slots_offers_nothing_and_says_so(time_slots):
    assert offer_windows(time_slots, arrival=date(2024, 9, 10), departure=date(2024, 9, 15), now=LONG_AGO) == []
    reasons = explain_no_windows(time_slots, arrival=date(2024, 9, 10), departure=date(2024, 9, 15), now=LONG_AGO)
    assert any("no time slots" in r for r in reasons)


def test_a_level_with_check_in_and_check_out_in_different_zones_is_not_offered():
    slot = make_slot("Mixed", check_out_time="19:00:00[America/Denver]")

    assert offer([slot], date(2024, 9, 10), date(2024, 9, 15)) == []
    assert "check-in time in America/Los_Angeles but its check-out time in America/Denver" in explain(
        [slot], date(2024, 9, 10), date(2024, 9, 15)
    )


def test_a_slot_with_only_the_minimum_fields_is_offered():
    slot = {"check_in_time": "07:00:00[America/Los_Angeles]", "check_out_time": "19:00:00[America/Los_Angeles]"}

    window = only(offer([slot], date(2024, 9, 10), date(2024, 9, 15)))
    assert window.slot_name == "Unnamed level"
    assert window.user_level_id is None
    assert window.prefix is None
    assert window.max_time_rounding == "1h"


# --- slot fields -------------------------------------------------------------------------------


def test_both_prefix_field_names_are_read():
    new = make_slot("New", dormakaba_oracode_user_level_prefix=7, prefix=None)
    old = make_slot("Old", prefix=None)
    del old["dormakaba_oracode_user_level_prefix"]
    old["ext_dormakaba_oracode_user_level_prefix"] = 5

    windows = {w.slot_name: w for w in offer([new, old], date(2024, 9, 10), date(2024, 9, 15))}
    assert windows["New"].prefix == 7
    assert windows["Old"].prefix == 5


def test_the_offset_in_a_slot_time_is_ignored_for_the_zone():
    slot = make_slot(
        "Offset",
        check_in_time="15:30:00-08:00[America/Los_Angeles]",
        check_out_time="11:00:00-08:00[America/Los_Angeles]",
    )

    summer = only(offer([slot], date(2024, 7, 1), date(2024, 7, 3)))
    assert summer.starts_at.isoformat() == "2024-07-01T15:30:00-07:00"
    assert summer.ends_at.isoformat() == "2024-07-03T11:00:00-07:00"
    winter = only(offer([slot], date(2024, 12, 1), date(2024, 12, 3)))
    assert winter.starts_at.isoformat() == "2024-12-01T15:30:00-08:00"


def test_daily_bound_levels_round_to_the_day():
    window = only(offer([make_slot("Day", "00:00", "23:59", is_24_hour=True)], date(2024, 9, 16), date(2024, 9, 18)))

    assert window.max_time_rounding == "1d"
    assert window.is_daily_bound
    assert window.starts_at.isoformat() == "2024-09-16T00:00:00-07:00"
    assert window.ends_at.isoformat() == "2024-09-18T23:59:00-07:00"


def test_biweekly_levels_fit_only_fourteen_nights():
    slots = [make_slot("Fortnight", "15:00", "11:00", is_biweekly_mode=True)]

    window = only(offer(slots, date(2024, 9, 1), date(2024, 9, 15)))
    assert window.is_biweekly
    assert offer(slots, date(2024, 9, 1), date(2024, 9, 14)) == []
    assert offer(slots, date(2024, 9, 1), date(2024, 9, 16)) == []
    reasons = explain(slots, date(2024, 9, 1), date(2024, 9, 14))
    assert "only has two-week (biweekly) levels" in reasons
    assert "this stay is 13 nights" in reasons


def test_a_door_with_biweekly_and_other_levels_offers_the_others():
    slots = [make_slot("Fortnight", "15:00", "11:00", is_biweekly_mode=True), make_slot("Guest", "15:00", "11:00")]

    assert [w.slot_name for w in offer(slots, date(2024, 9, 1), date(2024, 9, 6))] == ["Guest"]
    assert [w.slot_name for w in offer(slots, date(2024, 9, 1), date(2024, 9, 15))] == ["Fortnight", "Guest"]


# --- order and duplicates ----------------------------------------------------------------------


def test_windows_are_ordered_by_start_then_end_then_name():
    slots = [
        make_slot("Zeta", "15:00", "11:00"),
        make_slot("Late", "16:00", "11:00"),
        make_slot("Early", "07:00", "19:00"),
        make_slot("Alpha", "15:00", "11:00"),
        make_slot("Short", "15:00", "10:00"),
    ]

    names = [w.slot_name for w in offer(slots, date(2024, 9, 10), date(2024, 9, 12))]
    assert names == ["Early", "Short", "Alpha", "Zeta", "Late"]


def test_a_level_listed_twice_is_offered_once_as_first_listed():
    first = make_slot("Guest", "15:00", "11:00")
    again = dict(first, name="Guest (copy)")

    window = only(offer([first, again], date(2024, 9, 10), date(2024, 9, 12)))
    assert window.slot_name == "Guest"


def test_levels_without_ids_are_told_apart_by_name():
    one = make_slot("One", "15:00", "11:00", dormakaba_oracode_user_level_id=None)
    two = make_slot("Two", "15:00", "11:00", dormakaba_oracode_user_level_id=None)

    windows = offer([one, two], date(2024, 9, 10), date(2024, 9, 12))
    assert [w.slot_name for w in windows] == ["One", "Two"]
    assert windows[0].key != windows[1].key


# --- stay validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("departure", [date(2024, 9, 10), date(2024, 9, 9)])
def test_departure_must_be_after_arrival(departure):
    for call in (offer_windows, explain_no_windows):
        with pytest.raises(Refused, match="must be after the arrival date") as excinfo:
            call([make_slot()], arrival=date(2024, 9, 10), departure=departure, now=LONG_AGO)
        assert excinfo.value.field == "departure"


def test_datetimes_are_not_taken_for_dates():
    with pytest.raises(TypeError):
        offer_windows([make_slot()], arrival=datetime(2024, 9, 10, tzinfo=UTC), departure=date(2024, 9, 12))


# --- keys ----------------------------------------------------------------------------------------


def offered_keys(slots: list[dict[str, Any]], arrival: date, departure: date, now: datetime = LONG_AGO) -> set[str]:
    return {w.key for w in offer_windows(slots, arrival=arrival, departure=departure, now=now)}


def test_each_offered_window_has_its_own_key():
    slots = [make_slot("Early", "07:00", "19:00"), make_slot("Late", "15:00", "11:00")]

    assert len(offered_keys(slots, date(2024, 9, 10), date(2024, 9, 12))) == 2


def test_a_key_matches_only_its_dates_and_only_before_check_in():
    slots = [make_slot("Guest")]
    window = only(offer(slots, date(2024, 9, 10), date(2024, 9, 15)))

    assert window.key in offered_keys(slots, date(2024, 9, 10), date(2024, 9, 15))
    # The same key for other dates does not match.
    assert window.key not in offered_keys(slots, date(2024, 9, 10), date(2024, 9, 16))
    # Once check-in has passed, the choice is gone.
    assert window.key not in offered_keys(
        slots, date(2024, 9, 10), date(2024, 9, 15), now=local(LA, 2024, 9, 10, 7, 30)
    )


def test_the_key_names_the_level_and_both_instants():
    window = only(offer([make_slot("Guest")], date(2024, 9, 10), date(2024, 9, 15)))

    assert window.key == "level-Guest|2024-09-10T07:00:00-07:00|2024-09-15T19:00:00-07:00"


# --- explanations ------------------------------------------------------------------------------


def test_a_lock_zone_that_disagrees_with_its_slots_is_reported():
    reasons = explain([make_slot(is_master=True)], date(2024, 9, 10), date(2024, 9, 15), lock_timezone=BERLIN)

    assert "The door's time zone (Europe/Berlin) does not match the time zone of its time slots" in reasons
    assert "America/Los_Angeles" in reasons


def test_a_matching_lock_zone_is_not_reported():
    reasons = explain([make_slot(is_master=True)], date(2024, 9, 10), date(2024, 9, 15), lock_timezone=LA)

    assert "time zone" not in reasons


def test_nothing_to_explain_when_every_level_is_offered():
    assert (
        explain_no_windows([make_slot()], arrival=date(2024, 9, 10), departure=date(2024, 9, 15), now=LONG_AGO) == []
    )


# --- properties --------------------------------------------------------------------------------

# Days on which each zone changed its clocks in 2024 (Santiago's fall-back fold is on the 6th
# April, just before midnight), plus a leap day for every zone.
TRANSITIONS = {
    LA: [date(2024, 3, 10), date(2024, 11, 3)],
    BERLIN: [date(2024, 3, 31), date(2024, 10, 27)],
    "Europe/Dublin": [date(2024, 3, 31), date(2024, 10, 27)],
    SYDNEY: [date(2024, 4, 7), date(2024, 10, 6)],
    ST_JOHNS: [date(2024, 3, 10), date(2024, 11, 3)],
    LORD_HOWE: [date(2024, 4, 7), date(2024, 10, 6)],
    SANTIAGO: [date(2024, 4, 6), date(2024, 9, 8)],
    HAVANA: [date(2024, 3, 10), date(2024, 11, 3)],
    "Pacific/Chatham": [date(2024, 4, 7), date(2024, 9, 29)],
    "UTC": [],
}
ZONES = list(TRANSITIONS)
ANCHORS = sorted({day for days in TRANSITIONS.values() for day in days})
# Wall times inside the gaps and folds of the zones above.
TRICKY_TIMES = [
    time(0, 0),
    time(0, 30),
    time(1, 0),
    time(1, 30),
    time(1, 45),
    time(2, 0),
    time(2, 15),
    time(2, 30),
    time(2, 45),
    time(3, 0),
    time(3, 15),
    time(23, 30),
]


@dataclass(frozen=True)
class SlotSpec:
    """What a generated slot means, so the oracle need not parse the payload."""

    name: str
    level_id: str | None
    check_in: time | None
    check_out: time | None
    in_zone: str
    out_zone: str
    is_master: bool
    is_one_shot: bool
    is_24_hour: bool
    is_biweekly: bool
    with_offset: bool

    def payload(self) -> dict[str, Any]:
        slot: dict[str, Any] = {
            "name": self.name,
            "is_master": self.is_master,
            "is_one_shot": self.is_one_shot,
            "is_24_hour": self.is_24_hour,
            "is_biweekly_mode": self.is_biweekly,
        }
        if self.level_id is not None:
            slot["dormakaba_oracode_user_level_id"] = self.level_id
        offset = "-08:00" if self.with_offset else ""
        if self.check_in is not None:
            slot["check_in_time"] = f"{self.check_in:%H:%M:%S}{offset}[{self.in_zone}]"
        if self.check_out is not None:
            slot["check_out_time"] = f"{self.check_out:%H:%M:%S}{offset}[{self.out_zone}]"
        return slot


def wall_times() -> st.SearchStrategy[time]:
    any_time = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
    return st.one_of(st.sampled_from(TRICKY_TIMES), any_time)


def rarely() -> st.SearchStrategy[bool]:
    # Not st.integers(...) == 0: Hypothesis favours small integers, which would make "rare" common.
    return st.sampled_from([False] * 9 + [True])


@st.composite
def slot_specs(draw: st.DrawFn, zone: str) -> SlotSpec:
    check_in = None if draw(rarely()) else draw(wall_times())
    # Daily-bound levels often use the same time at both ends, which puts a 31-night stay
    # right on the 31-day limit: a clock change during the stay then decides.
    same_time = check_in is not None and draw(st.booleans())
    return SlotSpec(
        name=draw(st.sampled_from(["Guest", "Late", "Day", "Staff"])),
        level_id=draw(st.sampled_from(["a", "b", "c", None])),
        check_in=check_in,
        check_out=check_in if same_time else None if draw(rarely()) else draw(wall_times()),
        in_zone=zone,
        out_zone=draw(st.sampled_from(ZONES)) if draw(rarely()) else zone,
        is_master=draw(rarely()),
        is_one_shot=draw(rarely()),
        is_24_hour=draw(st.booleans()),
        is_biweekly=draw(rarely()),
        with_offset=draw(st.booleans()),
    )


@st.composite
def doors(draw: st.DrawFn) -> tuple[str, list[SlotSpec], date, date, datetime]:
    zone = draw(st.sampled_from(ZONES))
    specs = draw(st.lists(slot_specs(zone), max_size=6))
    listed_twice = draw(rarely())
    if specs and listed_twice:
        # The same level listed twice under another name: only the first listing may be offered.
        specs.append(replace(draw(st.sampled_from(specs)), name="Duplicate"))
    nights = draw(st.one_of(st.integers(1, 31), st.sampled_from([14, 30, 31, 31, 31, 32, 33])))
    anchor = draw(st.sampled_from([*TRANSITIONS[zone], date(2024, 2, 29)]))
    # Land the arrival or the departure on a clock change (or a leap day), or straddle one.
    arrival = draw(
        st.one_of(
            st.just(anchor),
            st.just(anchor - timedelta(days=nights)),
            st.integers(1, nights).map(lambda k: anchor - timedelta(days=k)),
            st.dates(date(2023, 1, 1), date(2026, 12, 31)),
        )
    )
    # Either booked well ahead, or around the arrival day (before or after check-in).
    minutes = draw(st.one_of(st.just(-90 * 24 * 60), st.integers(-3 * 24 * 60, 2 * 24 * 60)))
    now = datetime.combine(arrival, time(0), UTC) + timedelta(minutes=minutes)
    check_ins = [spec.check_in for spec in specs if spec.check_in is not None]
    at_check_in = draw(rarely())
    if check_ins and at_check_in:
        # Booked at the very instant a check-in begins: that window must not be offered.
        now = next(iter(instants_showing(arrival, draw(st.sampled_from(check_ins)), zone)), now)
    return zone, specs, arrival, arrival + timedelta(days=nights), now


def instants_showing(day: date, wall: time, zone_name: str) -> list[datetime]:
    """Every UTC instant at which ``zone_name`` shows ``wall`` on ``day``, found by brute force."""
    zone = ZoneInfo(zone_name)
    naive = datetime.combine(day, wall)
    noon = datetime.combine(day, time(12), UTC)
    offsets = {(noon + timedelta(hours=h)).astimezone(zone).utcoffset() for h in range(-48, 49)}
    candidates = {(naive - offset).replace(tzinfo=UTC) for offset in offsets if offset is not None}
    return sorted(c for c in candidates if c.astimezone(zone).replace(tzinfo=None) == naive)


def expected_offer(
    specs: list[SlotSpec], arrival: date, departure: date, now: datetime
) -> dict[tuple[str, datetime, datetime], SlotSpec]:
    """An independent reading of the rules: (level, start, end) → the slot that gives it."""
    expected: dict[tuple[str, datetime, datetime], SlotSpec] = {}
    for spec in specs:
        if spec.is_master or spec.is_one_shot or spec.check_in is None or spec.check_out is None:
            continue
        if spec.in_zone != spec.out_zone:
            continue
        if spec.is_biweekly and (departure - arrival).days != 14:
            continue
        starts = instants_showing(arrival, spec.check_in, spec.in_zone)
        ends = instants_showing(departure, spec.check_out, spec.out_zone)
        if not starts or not ends:
            continue
        start, end = starts[0], ends[0]  # the first occurrence of a repeated wall time
        if not (now < start < end and end - start <= timedelta(days=31)):
            continue
        level = spec.level_id or f"name:{spec.name}"
        expected.setdefault((level, start, end), spec)
    return expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doors())
def test_the_offer_is_exactly_the_windows_the_rules_allow(door):
    _zone, specs, arrival, departure, now = door
    payload: list[Any] = [spec.payload() for spec in specs]

    windows = offer_windows(payload, arrival=arrival, departure=departure, now=now)

    expected = expected_offer(specs, arrival, departure, now)
    got = {
        (w.user_level_id or f"name:{w.slot_name}", w.starts_at.astimezone(UTC), w.ends_at.astimezone(UTC)): w
        for w in windows
    }
    assert len(got) == len(windows)  # once per level and window
    assert got.keys() == expected.keys()
    for ident, window in got.items():
        spec = expected[ident]
        assert window.slot_name == spec.name
        assert not spec.is_master
        assert not spec.is_one_shot
        assert window.max_time_rounding == ("1d" if spec.is_24_hour else "1h")
        assert window.is_daily_bound == spec.is_24_hour
        assert window.timezone == spec.in_zone
        assert window.starts_at > now
        assert window.starts_at.astimezone(UTC) < window.ends_at.astimezone(UTC)
        assert window.duration <= timedelta(days=31)
        # What Seam reads from the ISO strings is the slot's wall time on the stay's dates.
        assert spec.check_in is not None
        assert spec.check_out is not None
        lock_zone = ZoneInfo(spec.in_zone)
        start_wall = datetime.fromisoformat(window.starts_at.isoformat()).astimezone(lock_zone)
        end_wall = datetime.fromisoformat(window.ends_at.isoformat()).astimezone(lock_zone)
        assert start_wall.replace(tzinfo=None) == datetime.combine(arrival, spec.check_in)
        assert end_wall.replace(tzinfo=None) == datetime.combine(departure, spec.check_out)
        assert window.key in offered_keys(payload, arrival, departure, now=now)
    order = [
        (w.starts_at.astimezone(UTC), w.ends_at.astimezone(UTC), w.slot_name, w.user_level_id or "") for w in windows
    ]
    assert order == sorted(order)
    if not windows:
        assert explain_no_windows(payload, arrival=arrival, departure=departure, now=now)


@st.composite
def zone_days(draw: st.DrawFn) -> tuple[str, date]:
    zone = draw(st.sampled_from(ZONES))
    near_a_change = st.sampled_from(TRANSITIONS[zone] or [date(2024, 2, 29)])
    day = draw(
        st.one_of(
            near_a_change,
            near_a_change.map(lambda d: d + timedelta(days=1)),
            st.dates(date(1990, 1, 1), date(2037, 12, 31)),
        )
    )
    return zone, day


@settings(max_examples=200, deadline=None)
@given(zone_days(), wall_times())
def test_local_instant_agrees_with_brute_force(zone_day, wall):
    zone_name, day = zone_day
    instant = local_instant(day, wall, ZoneInfo(zone_name))

    occurrences = instants_showing(day, wall, zone_name)
    if not occurrences:
        assert instant is None
    else:
        assert instant is not None
        assert instant.astimezone(UTC) == occurrences[0]
        assert instant.tzinfo == ZoneInfo(zone_name)
        assert instant.replace(tzinfo=None) == datetime.combine(day, wall)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([zone for zone in ZONES if TRANSITIONS[zone]]),
    st.data(),
    st.sampled_from([30, 31, 32]),
    st.integers(0, 32),
    wall_times(),
)
def test_the_31_day_limit_is_elapsed_time_across_clock_changes(zone, data, nights, days_before, wall):
    change = data.draw(st.sampled_from(TRANSITIONS[zone]))
    arrival = change - timedelta(days=days_before)
    departure = arrival + timedelta(days=nights)
    slots = [make_slot("Same time", f"{wall:%H:%M}", f"{wall:%H:%M}", zone=zone)]

    windows = offer(slots, arrival, departure)

    starts = instants_showing(arrival, wall, zone)
    ends = instants_showing(departure, wall, zone)
    allowed = bool(starts and ends) and ends[0] - starts[0] <= timedelta(days=31)
    assert bool(windows) == allowed
