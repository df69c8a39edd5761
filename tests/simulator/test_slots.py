"""The simulator's own reading of slot times and prefixes, and its agreement with the app's.

The two are written apart on purpose (``simulator/slots.py``, ``locks/timeslots.py``): the
simulator is what the app is tested against, so a bug they shared would pass every test.
"""

import subprocess
import sys
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locks import timeslots
from simulator import demo
from simulator.slots import SlotTime, parse_slot_time, slot_prefix

LOS_ANGELES = "America/Los_Angeles"
MAIN_DIR = Path(__file__).resolve().parents[2]


def test_it_reads_a_time_with_only_the_zone():
    assert parse_slot_time("07:00:00[America/Los_Angeles]") == SlotTime(time(7, 0), LOS_ANGELES)


def test_it_reads_a_time_with_an_offset_and_lets_the_zone_decide():
    assert parse_slot_time("15:30:00-08:00[America/Los_Angeles]") == SlotTime(time(15, 30), LOS_ANGELES)
    # -08:00 is never Sydney's offset: the bracketed zone still decides.
    assert parse_slot_time("15:00:00-08:00[Australia/Sydney]") == SlotTime(time(15, 0), "Australia/Sydney")
    for offset in ("Z", "+10", "+1000", "+10:00", "-03:30"):
        assert parse_slot_time(f"11:00:00{offset}[Australia/Sydney]") == SlotTime(time(11, 0), "Australia/Sydney")


def test_the_seconds_are_optional():
    assert parse_slot_time("07:00[Europe/Lisbon]") == SlotTime(time(7, 0), "Europe/Lisbon")
    assert parse_slot_time("7:00[Europe/Lisbon]") == SlotTime(time(7, 0), "Europe/Lisbon")
    assert parse_slot_time("14:30-02:30[America/St_Johns]") == SlotTime(time(14, 30), "America/St_Johns")


def test_fractions_of_a_second_and_surrounding_spaces_are_dropped():
    assert parse_slot_time(" 07:00:00.250 [UTC] ") == SlotTime(time(7, 0), "UTC")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "07:00:00",
        "[UTC]",
        "07[UTC]",
        "0700[UTC]",
        "07:0[UTC]",
        "007:00[UTC]",
        "07:00:00:00[UTC]",
        "07:00:00.[UTC]",
        "07:00:00,5[UTC]",
        "T07:00[UTC]",
        "07:00z[UTC]",
        "07:00 -08:00[UTC]",
        "07:00-8[UTC]",
        "07:00-08:[UTC]",
        "07:00-08:00:00[UTC]",
        "07:00:00[UTC",
        "07:00[UTC]]",
        "07:00[UTC] x",
        "٠٧:٠٠[UTC]",
    ],
)
def test_it_refuses_malformed_times(value):
    assert parse_slot_time(value) is None


@pytest.mark.parametrize("value", ["24:00[UTC]", "07:60[UTC]", "07:00:60[UTC]", "99:99:99[UTC]"])
def test_it_refuses_out_of_range_times(value):
    assert parse_slot_time(value) is None


@pytest.mark.parametrize(
    "zone", ["", "Mars/Olympus", "utc", " UTC", "America", "America/", "../etc/passwd", "UTC\x00"]
)
def test_it_refuses_unknown_zones(zone):
    assert parse_slot_time(f"07:00:00[{zone}]") is None


@pytest.mark.parametrize("value", [None, 700, time(7, 0), b"07:00[UTC]", ["07:00[UTC]"]])
def test_it_refuses_what_is_not_a_string(value):
    assert parse_slot_time(value) is None


def test_it_reads_the_prefix_under_either_name():
    assert slot_prefix({"dormakaba_oracode_user_level_prefix": 3}) == 3
    assert slot_prefix({"ext_dormakaba_oracode_user_level_prefix": 12}) == 12
    assert slot_prefix({"prefix": 0}) == 0
    assert slot_prefix({"dormakaba_oracode_user_level_prefix": 4, "ext_dormakaba_oracode_user_level_prefix": 5}) == 4
    assert slot_prefix({"dormakaba_oracode_user_level_prefix": None, "prefix": 6}) == 6


@pytest.mark.parametrize("slot", [{}, {"prefix": True}, {"prefix": "3"}, {"prefix": 3.0}])
def test_a_slot_without_a_whole_number_has_no_prefix(slot):
    assert slot_prefix(slot) is None


# The two implementations must agree on everything Seam may send, good or bad.
AGREEMENT_TABLE = [
    "07:00:00[America/Los_Angeles]",
    "15:30:00-08:00[America/Los_Angeles]",
    "15:30:00-07:00[America/Los_Angeles]",
    "11:00:00+10:00[Australia/Sydney]",
    "14:30:00-02:30[America/St_Johns]",
    "12:00:00Z[Europe/Lisbon]",
    "00:00:00[UTC]",
    "23:59:59[UTC]",
    "07:00[UTC]",
    "7:00[UTC]",
    "07:00-0800[UTC]",
    "07:00:00+05[Asia/Kolkata]",
    "07:00:00+99:99[UTC]",
    "07:00:00.123456[UTC]",
    " 07:00:00 [UTC] ",
    "07:00-08:00 [UTC]",
    "",
    "07:00:00",
    "[UTC]",
    "07[UTC]",
    "0700[UTC]",
    "07:0[UTC]",
    "007:00[UTC]",
    "07:00:00:00[UTC]",
    "07:00:00.[UTC]",
    "07:00:00,5[UTC]",
    "T07:00[UTC]",
    "07:00z[UTC]",
    "07:00 -08:00[UTC]",
    "07:00-8[UTC]",
    "07:00-08:[UTC]",
    "07:00-080[UTC]",
    "07:00-08:0[UTC]",
    "07:00-08:00:00[UTC]",
    "+07:00[UTC]",
    "07:00:00[UTC",
    "07:00[UTC]]",
    "07:00[[UTC]",
    "07:00[UTC] x",
    "24:00[UTC]",
    "07:60[UTC]",
    "07:00:60[UTC]",
    "07:00[]",
    "07:00[Mars/Olympus]",
    "07:00[utc]",
    "07:00[America/]",
    "07:00[../etc/passwd]",
    # Both found by this table: the app's parser used to crash on a zone that is a folder of the
    # zone database, and took any script's digits.
    "07:00[America]",
    "٠٧:٠٠[UTC]",
    None,
    700,
    b"07:00[UTC]",
]


def as_pair(slot_time: SlotTime | timeslots.SlotTime | None) -> tuple[time, str] | None:
    return None if slot_time is None else (slot_time.wall_time, slot_time.zone)


@pytest.mark.parametrize("value", AGREEMENT_TABLE)
def test_the_simulator_reads_slot_times_as_the_app_does(value):
    assert as_pair(parse_slot_time(value)) == as_pair(timeslots.parse_slot_time(value))


@pytest.mark.parametrize(
    "slot",
    [
        {"dormakaba_oracode_user_level_prefix": 3},
        {"ext_dormakaba_oracode_user_level_prefix": 12},
        {"prefix": 0},
        {"dormakaba_oracode_user_level_prefix": 4, "ext_dormakaba_oracode_user_level_prefix": 5, "prefix": 6},
        {"dormakaba_oracode_user_level_prefix": "4", "prefix": 6},
        {"prefix": True},
        {},
    ],
)
def test_the_simulator_reads_prefixes_as_the_app_does(slot: dict[str, Any]):
    assert slot_prefix(slot) == timeslots.slot_prefix(slot)


def demo_slots() -> list[dict[str, Any]]:
    return [
        slot
        for device in [*demo.demo_devices(), *demo.bench_devices(2)]
        for slot in device["properties"].get("dormakaba_oracode_metadata", {}).get("predefined_time_slots", [])
    ]


def test_every_demo_slot_reads_the_same_in_the_simulator_and_the_app():
    for slot in demo_slots():
        for key in ("check_in_time", "check_out_time"):
            assert parse_slot_time(slot[key]) is not None, slot[key]
            assert as_pair(parse_slot_time(slot[key])) == as_pair(timeslots.parse_slot_time(slot[key]))
        assert slot_prefix(slot) is not None
        assert slot_prefix(slot) == timeslots.slot_prefix(slot)


def digits(low: int, high: int, width: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:0{width}d}")


# Slot times built from Seam's grammar with every part sometimes wrong: either may drift.
slot_times = st.builds(
    lambda hours, minutes, seconds, offset, space, zone: f"{hours}:{minutes}{seconds}{offset}{space}[{zone}]",
    hours=st.one_of(digits(0, 29, 2), digits(0, 9, 1), digits(0, 999, 3)),
    minutes=st.one_of(digits(0, 69, 2), digits(0, 9, 1)),
    seconds=st.one_of(
        st.just(""),
        digits(0, 69, 2).map(lambda s: f":{s}"),
        st.tuples(digits(0, 59, 2), st.sampled_from(["", "0", "123", "123456"])).map(lambda p: f":{p[0]}.{p[1]}"),
    ),
    offset=st.one_of(
        st.sampled_from(["", "Z", "z"]),
        st.tuples(
            st.sampled_from("+-"),
            digits(0, 99, 2),
            st.sampled_from(["", ":", "::"]),
            st.one_of(digits(0, 99, 2), digits(0, 9, 1)),
        ).map("".join),
        st.tuples(st.sampled_from("+-"), digits(0, 99, 2)).map("".join),
    ),
    space=st.sampled_from(["", " "]),
    zone=st.sampled_from([LOS_ANGELES, "Australia/Sydney", "America/St_Johns", "UTC", "Mars/Olympus", ""]),
)


@settings(max_examples=300, deadline=None)
@given(slot_times)
def test_the_simulator_and_the_app_agree_on_any_slot_time(value):
    assert as_pair(parse_slot_time(value)) == as_pair(timeslots.parse_slot_time(value))


def test_the_simulator_imports_nothing_from_the_app_or_django():
    # In a fresh interpreter, so that what this test process imported does not count.
    script = (
        "import sys, simulator.__main__, simulator.server;"
        "print(sorted({name.split('.')[0] for name in sys.modules} & {'locks', 'codes', 'properties', 'config',"
        " 'front', 'django'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=MAIN_DIR, capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"
