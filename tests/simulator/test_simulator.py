"""The Seam simulator, tested over HTTP with ``requests`` as any client would see it."""

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from standardwebhooks import Webhook

from locks.seam import SeamClient, SeamTransientError
from locks.timeslots import parse_slot_time, slot_prefix
from simulator import demo
from simulator.__main__ import main as simulator_main
from simulator.server import SimulatorServer, _Handler, _HTTPServer
from tests.fixtures.simulator import SIMULATOR_API_KEY, FakeClock

# Fixed "now" for rule tests: windows below are weeks after it.
NOW = datetime(2027, 9, 1, 12, 0, tzinfo=UTC)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101
ROOM_102 = demo.OCEAN_BEACH_ROOM_102
MAIN_DIR = Path(__file__).resolve().parents[2]
# What the simulator must refuse to bind.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104


def call(sim: SimulatorServer, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", {"Authorization": f"Bearer {SIMULATOR_API_KEY}"})
    return requests.post(sim.url + path, json=body or {}, headers=headers, timeout=kwargs.pop("timeout", 5), **kwargs)


def create(
    sim: SimulatorServer, device_id: str, starts_at: str, ends_at: str, *, timeout: float = 5, **extra: Any
) -> requests.Response:
    body = {
        "device_id": device_id,
        "name": "Test guest",
        "starts_at": starts_at,
        "ends_at": ends_at,
        "is_offline_access_code": True,
        **extra,
    }
    return call(sim, "/access_codes/create", body, timeout=timeout)


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert body["ok"] is False
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def sim(start_seam_simulator: Callable[..., SimulatorServer], clock: FakeClock) -> SimulatorServer:
    return start_seam_simulator(mode="realistic", clock=clock)


# Auth and wire format


def test_it_refuses_a_missing_or_wrong_key(seam_simulator):
    for headers in ({}, {"Authorization": "Bearer seam_wrong_key"}, {"Authorization": SIMULATOR_API_KEY}):
        response = call(seam_simulator, "/devices/list", headers=headers)
        assert response.status_code == 401
        assert error_of(response)["type"] == "unauthorized"
        assert response.headers["seam-request-id"]


def test_every_answer_carries_a_request_id(seam_simulator):
    ids = {call(seam_simulator, path).headers["seam-request-id"] for path in ("/devices/list", "/nowhere")}
    assert len(ids) == 2


def test_an_unknown_path_is_not_found_and_bad_json_is_invalid_input(seam_simulator):
    response = call(seam_simulator, "/locks/teleport")
    assert response.status_code == 404
    assert error_of(response)["type"] == "not_found"

    response = requests.post(
        seam_simulator.url + "/devices/list",
        data=b"{not json",
        headers={"Authorization": f"Bearer {SIMULATOR_API_KEY}", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_input"


def test_it_only_binds_loopback_addresses():
    for host in (ALL_INTERFACES, "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="refusing to bind"):
            SimulatorServer(host=host, port=0)


# Devices


def test_it_lists_the_oracode_doors_and_one_other_lock(seam_simulator):
    devices = call(seam_simulator, "/devices/list").json()["devices"]
    oracode = call(seam_simulator, "/devices/list", {"manufacturer": "dormakaba_oracode"}).json()["devices"]

    assert {d["device_type"] for d in devices} == {"dormakaba_oracode_door", "august_lock"}
    assert [d["device_id"] for d in oracode] == [d["device_id"] for d in devices if d["device_type"] != "august_lock"]
    sites = {d["properties"]["dormakaba_oracode_metadata"]["site_name"] for d in oracode}
    assert {"Ocean Beach Vacations", "Harbour View Apartments", "Signal Hill Inn"} <= sites


def test_it_filters_by_device_ids_and_type_and_answers_get_too(seam_simulator):
    body = {"device_ids": [ROOM_101, demo.AUGUST_OFFICE_DOOR], "device_type": "dormakaba_oracode_door"}
    devices = call(seam_simulator, "/devices/list", body).json()["devices"]
    assert [d["device_id"] for d in devices] == [ROOM_101]

    response = requests.get(
        seam_simulator.url + "/devices/get",
        params={"device_id": ROOM_101},
        headers={"Authorization": f"Bearer {SIMULATOR_API_KEY}"},
        timeout=5,
    )
    assert response.json()["device"]["display_name"] == "Room 101"


def test_an_oracode_door_is_shaped_like_seams():
    door = next(d for d in demo.demo_devices() if d["device_id"] == ROOM_101)

    assert door["device_type"] == "dormakaba_oracode_door"
    assert door["can_program_offline_access_codes"] is True
    assert door["properties"]["manufacturer"] == "dormakaba_oracode"
    metadata = door["properties"]["dormakaba_oracode_metadata"]
    assert {"door_id", "door_name", "site_id", "site_name", "iana_timezone", "predefined_time_slots"} <= set(metadata)
    for key in ("workspace_id", "created_at", "display_name", "errors", "warnings"):
        assert key in door


def test_the_demo_slots_vary_like_real_payloads():
    slots = [
        slot
        for device in demo.demo_devices()
        if device["device_type"] == "dormakaba_oracode_door"
        for slot in device["properties"]["dormakaba_oracode_metadata"]["predefined_time_slots"]
    ]
    assert all(parse_slot_time(s["check_in_time"]) and parse_slot_time(s["check_out_time"]) for s in slots)
    assert all(slot_prefix(s) is not None for s in slots)
    assert any("dormakaba_oracode_user_level_prefix" in s for s in slots)
    assert any("ext_dormakaba_oracode_user_level_prefix" in s for s in slots)
    assert any(s["check_in_time"].startswith("15:00:00[") for s in slots)
    assert any(s["check_in_time"].startswith("15:00:00-08:00[") for s in slots)
    for flag in ("is_master", "is_one_shot", "is_24_hour", "is_biweekly_mode"):
        assert any(s[flag] for s in slots), flag


def test_no_two_levels_on_a_door_share_their_times():
    # Otherwise which level a window lands on would be a guess.
    for device in demo.demo_devices():
        metadata = device["properties"].get("dormakaba_oracode_metadata", {})
        times = [
            (parse_slot_time(s["check_in_time"]), parse_slot_time(s["check_out_time"]))
            for s in metadata.get("predefined_time_slots", [])
        ]
        assert len(times) == len(set(times)), device["display_name"]


def test_the_mismatched_door_warns_of_its_time_zone(seam_simulator):
    door = call(seam_simulator, "/devices/get", {"device_id": demo.LAKESIDE_CABIN_7}).json()["device"]
    assert [w["warning_code"] for w in door["warnings"]] == ["time_zone_mismatch"]
    metadata = door["properties"]["dormakaba_oracode_metadata"]
    slot_times = [parse_slot_time(s["check_in_time"]) for s in metadata["predefined_time_slots"]]
    zones = {slot_time.zone for slot_time in slot_times if slot_time is not None}
    assert metadata["iana_timezone"] not in zones


def test_an_unknown_device_is_not_found(seam_simulator):
    response = call(seam_simulator, "/devices/get", {"device_id": "00000000-0000-4000-8000-000000000000"})
    assert response.status_code == 404
    assert error_of(response)["type"] == "device_not_found"


# Creating codes: the Oracode rules


def test_it_creates_an_hourly_code_across_the_fall_dst_change(sim):
    # Los Angeles leaves PDT (-07:00) for PST (-08:00) on 7 November 2027.
    response = create(sim, ROOM_101, "2027-11-03T15:00:00-07:00", "2027-11-09T11:00:00-08:00")

    assert response.status_code == 200, response.text
    body = response.json()
    code = body["access_code"]
    assert body["ok"] is True
    assert code["starts_at"] == "2027-11-03T22:00:00.000Z"
    assert code["ends_at"] == "2027-11-09T19:00:00.000Z"
    assert code["type"] == "time_bound"
    assert code["is_offline_access_code"] is True
    assert code["is_managed"] is True
    assert code["status"] == "unset"
    assert code["code"] is None
    assert code["errors"] == []
    assert code["warnings"] == []
    assert body["action_attempt"]["action_type"] == "CREATE_ACCESS_CODE"
    assert body["action_attempt"]["status"] == "pending"


def test_a_winter_offset_on_a_summer_date_is_refused(sim):
    response = create(sim, ROOM_101, "2027-10-04T15:00:00-08:00", "2027-10-08T11:00:00-08:00")

    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "dormakaba_oracode_invalid_time_range"
    assert error["message"].startswith("no time slots found")
    assert "-07:00" in error["message"]


def test_the_offset_printed_in_a_slot_does_not_decide(sim):
    # Room 102 writes its slots as "15:00:00-08:00[America/Los_Angeles]"; in October the zone says -07:00.
    assert create(sim, ROOM_102, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00").status_code == 200
    assert create(sim, ROOM_102, "2027-10-04T15:00:00-08:00", "2027-10-08T11:00:00-08:00").status_code == 400


def test_the_southern_hemisphere_and_a_half_hour_zone_use_their_own_offsets(sim):
    # January is summer (AEDT, +11:00) in Sydney; Apartment 2B's slots print +10:00.
    flat = demo.HARBOUR_VIEW_APARTMENT_2B
    assert create(sim, flat, "2028-01-10T14:00:00+11:00", "2028-01-14T10:00:00+11:00").status_code == 200
    assert create(sim, flat, "2028-01-10T14:00:00+10:00", "2028-01-14T10:00:00+10:00").status_code == 400
    # St John's is -02:30 in September (NDT) and -03:30 in winter.
    room = demo.SIGNAL_HILL_ROOM_1
    assert create(sim, room, "2027-09-20T14:30:00-02:30", "2027-09-22T10:30:00-02:30").status_code == 200
    assert create(sim, room, "2027-12-20T14:30:00-03:30", "2027-12-22T10:30:00-03:30").status_code == 200
    assert create(sim, room, "2027-09-20T14:30:00-03:30", "2027-09-22T10:30:00-03:30").status_code == 400


def test_a_window_off_every_slot_is_refused(sim):
    response = create(sim, ROOM_101, "2027-10-04T14:00:00-07:00", "2027-10-08T11:00:00-07:00")
    assert response.status_code == 400
    assert error_of(response)["type"] == "dormakaba_oracode_invalid_time_range"


def test_a_time_without_offset_is_refused(sim):
    response = create(sim, ROOM_101, "2027-10-04T15:00:00", "2027-10-08T11:00:00")
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_input"


def test_a_daily_bound_level_needs_1d_rounding(sim):
    window = ("2027-10-04T14:00:00-07:00", "2027-10-07T14:00:00-07:00")

    for rounding in (None, "1h", "1hour"):
        extra: dict[str, Any] = {} if rounding is None else {"max_time_rounding": rounding}
        response = create(sim, ROOM_101, *window, **extra)
        assert response.status_code == 400
        error = error_of(response)
        assert error["type"] == "invalid_input"
        assert '"1d"' in error["message"]
    for rounding in ("1d", "1day"):
        assert create(sim, ROOM_101, *window, max_time_rounding=rounding).status_code == 200


def test_an_unknown_rounding_is_invalid(sim):
    response = create(sim, ROOM_101, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00", max_time_rounding="2h")
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_input"


def test_master_and_one_shot_levels_are_refused(sim):
    master = create(sim, ROOM_101, "2027-10-04T00:00:00-07:00", "2027-10-08T00:00:00-07:00")
    one_shot = create(sim, ROOM_101, "2027-10-04T09:00:00-07:00", "2027-10-04T17:00:00-07:00")

    assert master.status_code == 400
    assert error_of(master)["type"] == "invalid_input"
    assert "master user levels are not supported" in error_of(master)["message"]
    assert one_shot.status_code == 400
    assert "one-shot user levels are not supported" in error_of(one_shot)["message"]


def test_a_biweekly_level_takes_exactly_fourteen_days(sim):
    assert create(sim, ROOM_101, "2027-10-04T16:00:00-07:00", "2027-10-18T11:00:00-07:00").status_code == 200
    for end_day in (17, 19):
        response = create(sim, ROOM_101, "2027-10-04T16:00:00-07:00", f"2027-10-{end_day}T11:00:00-07:00")
        assert response.status_code == 400
        assert "biweekly" in error_of(response)["message"]


def test_a_code_lasts_at_most_31_days_on_the_wall_clock(sim):
    # Across the DST change 31 wall-clock days are 31 days and an hour: still allowed.
    daily: dict[str, Any] = {"max_time_rounding": "1d"}
    assert create(sim, ROOM_101, "2027-10-20T14:00:00-07:00", "2027-11-20T14:00:00-08:00", **daily).status_code == 200
    assert create(sim, ROOM_101, "2027-10-01T15:00:00-07:00", "2027-11-01T11:00:00-07:00").status_code == 200

    too_long = create(sim, ROOM_101, "2027-10-20T14:00:00-07:00", "2027-11-21T14:00:00-08:00", **daily)
    assert too_long.status_code == 400
    assert "31 days" in error_of(too_long)["message"]


def test_a_start_in_the_past_is_refused(sim):
    response = create(sim, ROOM_101, "2027-08-30T15:00:00-07:00", "2027-09-03T11:00:00-07:00")
    assert response.status_code == 400
    assert error_of(response)["message"] == "start time must be greater than current time"


def test_the_pin_cannot_be_chosen(sim):
    response = create(sim, ROOM_101, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00", code="123456")
    assert response.status_code == 400
    assert error_of(response)["message"] == "dormakaba Oracode generates the PIN; code cannot be set"


def test_only_offline_codes_are_accepted(sim):
    window = ("2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00")
    response = create(sim, ROOM_101, *window, is_offline_access_code=False)
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_input"


def test_creating_on_an_unknown_device_is_not_found(sim):
    response = create(
        sim, "00000000-0000-4000-8000-000000000000", "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00"
    )
    assert response.status_code == 404
    assert error_of(response)["type"] == "device_not_found"


def test_codes_cannot_be_deleted_or_updated(sim):
    code_id = create(sim, ROOM_101, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00").json()["access_code"][
        "access_code_id"
    ]
    for path, verb in (("/access_codes/delete", "deleted"), ("/access_codes/update", "updated")):
        response = call(sim, path, {"access_code_id": code_id})
        assert response.status_code == 400
        assert error_of(response)["message"] == f"dormakaba Oracode codes cannot be {verb}"
    assert len(sim.access_codes(ROOM_101)) == 1


# Rate limit


def test_the_eleventh_create_in_a_minute_on_one_door_is_rate_limited(sim, clock):
    for day in range(1, 11):
        response = create(sim, ROOM_101, f"2027-10-{day:02d}T15:00:00-07:00", f"2027-10-{day + 2:02d}T11:00:00-07:00")
        assert response.status_code == 200, response.text
        clock.advance(seconds=1)

    limited = create(sim, ROOM_101, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00")
    other_door = create(sim, ROOM_102, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00")

    assert limited.status_code == 429
    assert error_of(limited)["type"] == "rate_limited"
    # The first create was 10 s ago: its slot frees in 50 s.
    assert limited.headers["Retry-After"] == "50"
    assert other_door.status_code == 200
    clock.advance(seconds=50)
    assert create(sim, ROOM_101, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00").status_code == 200


# Lifecycle


def test_a_code_made_ahead_turns_set_an_hour_before_it_starts(sim, clock):
    created = create(sim, ROOM_101, "2027-09-10T15:00:00-07:00", "2027-09-12T11:00:00-07:00").json()["access_code"]
    starts_at = datetime(2027, 9, 10, 22, 0, tzinfo=UTC)

    def current() -> dict[str, Any]:
        response = call(sim, "/access_codes/get", {"access_code_id": created["access_code_id"]})
        code: dict[str, Any] = response.json()["access_code"]
        return code

    code = current()
    assert (code["status"], code["code"]) == ("unset", None)
    assert code["pending_mutations"][0]["mutation_code"] == "deferring_creation"
    assert code["pending_mutations"][0]["scheduled_at"] == "2027-09-10T21:00:00.000Z"

    clock.current = starts_at - timedelta(minutes=61)
    assert current()["status"] == "unset"
    clock.current = starts_at - timedelta(minutes=59)
    code = current()
    assert (code["status"], code["code"]) == ("setting", None)
    assert code["pending_mutations"][0]["mutation_code"] == "creating"

    clock.current = starts_at - timedelta(minutes=57)
    code = current()
    assert code["status"] == "set"
    assert code["pending_mutations"] == []
    # "Guest 15:00-11:00" on Room 101 has prefix 1.
    assert re.fullmatch(r"1\d{5}", code["code"])


def test_a_code_made_in_the_last_hour_starts_setting_at_once(sim, clock):
    clock.current = datetime(2027, 9, 10, 21, 30, tzinfo=UTC)
    code = create(sim, ROOM_101, "2027-09-10T15:00:00-07:00", "2027-09-12T11:00:00-07:00").json()["access_code"]
    assert code["status"] == "setting"
    clock.advance(minutes=2)
    assert sim.access_codes()[0]["status"] == "set"


def test_quick_mode_sets_codes_within_seconds(start_seam_simulator, clock):
    sim = start_seam_simulator(mode="quick", clock=clock)
    # Apartment 2B's "Guest 14:00-10:00" has the two-digit prefix 21.
    flat = demo.HARBOUR_VIEW_APARTMENT_2B
    code = create(sim, flat, "2028-01-10T14:00:00+11:00", "2028-01-14T10:00:00+11:00").json()["access_code"]

    assert code["status"] == "unset"
    clock.advance(seconds=2)
    assert sim.access_codes()[0]["status"] == "setting"
    clock.advance(seconds=3)
    (code,) = call(sim, "/access_codes/list", {"device_id": flat}).json()["access_codes"]
    assert code["status"] == "set"
    assert re.fullmatch(r"21\d{4}", code["code"])


def test_codes_are_listed_by_device_or_ids_and_events_follow_them(sim, clock):
    first = create(sim, ROOM_101, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00").json()["access_code"]
    create(sim, ROOM_102, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00")

    listed = call(sim, "/access_codes/list", {"device_id": ROOM_101}).json()["access_codes"]
    by_ids = call(sim, "/access_codes/list", {"access_code_ids": [first["access_code_id"]]}).json()["access_codes"]
    assert [c["access_code_id"] for c in listed] == [first["access_code_id"]]
    assert by_ids == listed
    assert call(sim, "/access_codes/list").status_code == 400
    missing = call(sim, "/access_codes/get", {"access_code_id": "00000000-0000-4000-8000-000000000000"})
    assert missing.status_code == 404
    assert error_of(missing)["type"] == "not_found"

    clock.current = datetime(2027, 10, 4, 22, 0, tzinfo=UTC)
    events = call(sim, "/events/list", {"access_code_id": first["access_code_id"]}).json()["events"]
    assert [e["event_type"] for e in events] == ["access_code.set_on_device", "access_code.created"]


# Faults


def test_a_timeout_after_store_keeps_the_code_but_never_answers(seam_simulator):
    seam_simulator.inject_fault("/access_codes/create", "timeout_after_store")
    started = time.monotonic()

    with pytest.raises(requests.ReadTimeout):
        create(seam_simulator, ROOM_101, *_window_next_month(), timeout=1)

    # The simulator let go when the client hung up, not after its 30 s hold.
    assert time.monotonic() - started < 5
    assert len(seam_simulator.access_codes(ROOM_101)) == 1
    assert seam_simulator.create_calls == {ROOM_101: 1}
    assert create(seam_simulator, ROOM_101, *_window_next_month()).status_code == 200


def test_a_timeout_fault_drops_the_connection_when_its_hold_ends(seam_simulator):
    seam_simulator.inject_fault("/access_codes/create", "timeout_after_store", hold_seconds=0.5)
    with pytest.raises(requests.ConnectionError):
        create(seam_simulator, ROOM_101, *_window_next_month(), timeout=10)
    assert len(seam_simulator.access_codes(ROOM_101)) == 1


def test_server_errors_and_429s_answer_without_doing_the_work(seam_simulator):
    seam_simulator.inject_fault("/access_codes/create", "error_500")
    seam_simulator.inject_fault("access_codes/create", "rate_limit_429")

    error = create(seam_simulator, ROOM_101, *_window_next_month())
    limited = create(seam_simulator, ROOM_101, *_window_next_month())

    assert error.status_code == 500
    assert error.headers["seam-request-id"]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert seam_simulator.access_codes() == []
    assert seam_simulator.create_calls == {ROOM_101: 2}
    assert create(seam_simulator, ROOM_101, *_window_next_month()).status_code == 200


def test_a_connection_reset_comes_before_any_work(seam_simulator):
    seam_simulator.inject_fault("/access_codes/create", "connection_reset")
    with pytest.raises(requests.ConnectionError):
        create(seam_simulator, ROOM_101, *_window_next_month())
    assert seam_simulator.access_codes() == []


def test_a_fault_hits_its_endpoint_count_times(seam_simulator):
    seam_simulator.inject_fault("/devices/get", "error_500", count=2)
    assert call(seam_simulator, "/devices/list").status_code == 200
    statuses = [call(seam_simulator, "/devices/get", {"device_id": ROOM_101}).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


def test_another_process_can_steer_it_over_http(seam_simulator):
    response = call(seam_simulator, "/_simulator/faults", {"endpoint": "/devices/list", "kind": "error_500"})
    assert response.status_code == 200
    assert call(seam_simulator, "/devices/list").status_code == 500
    assert call(seam_simulator, "/_simulator/faults", {"endpoint": "/x", "kind": "melt"}).status_code == 400
    assert call(seam_simulator, "/_simulator/state", headers={}).status_code == 401

    code_id = create(seam_simulator, ROOM_101, *_window_next_month()).json()["access_code"]["access_code_id"]
    state = call(seam_simulator, "/_simulator/state").json()["state"]
    assert [c["access_code_id"] for c in state["access_codes"]] == [code_id]
    assert state["create_calls"] == {ROOM_101: 1}

    before = datetime.fromisoformat(state["now"])
    moved = call(seam_simulator, "/_simulator/clock", {"advance_seconds": 3600}).json()["now"]
    assert datetime.fromisoformat(moved) - before >= timedelta(hours=1)
    assert seam_simulator.access_codes()[0]["status"] == "set"

    assert call(seam_simulator, "/_simulator/reset").status_code == 200
    assert seam_simulator.access_codes() == []
    assert seam_simulator.create_calls == {}


# Persistence, the command line and webhooks


def test_codes_survive_a_restart(start_seam_simulator, clock, tmp_path):
    state = tmp_path / "var" / "seam-simulator.json"
    first = start_seam_simulator(mode="realistic", clock=clock, state_path=state)
    code_id = create(first, ROOM_101, "2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00").json()["access_code"][
        "access_code_id"
    ]
    first.stop()

    second = start_seam_simulator(mode="realistic", clock=clock, state_path=state)
    clock.current = datetime(2027, 10, 4, 22, 0, tzinfo=UTC)
    code = call(second, "/access_codes/get", {"access_code_id": code_id}).json()["access_code"]

    assert code["status"] == "set"
    assert second.create_calls == {ROOM_101: 1}
    assert json.loads(state.read_text())["version"] == 1
    assert [p.name for p in state.parent.iterdir()] == ["seam-simulator.json"]


def test_an_unreadable_state_file_is_refused_not_overwritten(tmp_path):
    state = tmp_path / "seam-simulator.json"
    state.write_text("{broken")
    with pytest.raises(ValueError, match="not a usable simulator state"):
        SimulatorServer(state_path=state)
    assert state.read_text() == "{broken"


def test_it_runs_as_its_own_process():
    command = [sys.executable, "-m", "simulator", "--port", "0", "--api-key", SIMULATOR_API_KEY]
    process = subprocess.Popen(command, cwd=MAIN_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("Seam simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        response = requests.post(
            url + "/devices/list", json={}, headers={"Authorization": f"Bearer {SIMULATOR_API_KEY}"}, timeout=5
        )
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_the_command_line_refuses_a_public_address():
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--host", ALL_INTERFACES, "--port", "0"],
        cwd=MAIN_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "loopback" in result.stderr


def test_it_sends_signed_webhooks_as_codes_are_created_and_set(start_seam_simulator):
    secret = "whsec_" + "c2ltdWxhdG9yLXdlYmhvb2stc2VjcmV0"
    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        sim = start_seam_simulator(
            mode="quick",
            set_after=timedelta(seconds=0.2),
            setting_after=timedelta(seconds=0.1),
            webhook_url=f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/seam",
            webhook_secret=secret,
        )
        code_id = create(sim, ROOM_101, *_window_next_month()).json()["access_code"]["access_code_id"]
        deadline = time.monotonic() + 10
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        receiver.shutdown()
        receiver.server_close()

    events = []
    for headers, body in received:
        headers = {k.lower(): v for k, v in headers.items()}
        standard = {
            "webhook-id": headers["svix-id"],
            "webhook-timestamp": headers["svix-timestamp"],
            "webhook-signature": headers["svix-signature"],
        }
        events.append(Webhook(secret).verify(body, standard))
    assert [e["event_type"] for e in events] == ["access_code.created", "access_code.set_on_device"]
    assert {e["access_code_id"] for e in events} == {code_id}


def _window_next_month() -> tuple[str, str]:
    """A valid Room 101 "Guest 15:00-11:00" window about a month from the real today."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/Los_Angeles")
    arrival = datetime.now(zone).date() + timedelta(days=30)
    starts_at = datetime(arrival.year, arrival.month, arrival.day, 15, tzinfo=zone)
    departure = arrival + timedelta(days=3)
    ends_at = datetime(departure.year, departure.month, departure.day, 11, tzinfo=zone)
    return starts_at.isoformat(), ends_at.isoformat()


# Benchmark controls: a scaled rate-limit window, request counts, extra doors


def test_the_rate_limit_window_can_be_scaled_down(start_seam_simulator):
    clock = FakeClock(datetime(2030, 6, 1, 12, tzinfo=UTC))
    sim = start_seam_simulator(rate_limit=2, rate_limit_window=timedelta(seconds=5), bench_doors=3, clock=clock)
    client = SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=2.0, read_retries=0)
    door = demo.bench_device_id(3)
    assert door in {lock.device_id for lock in client.list_locks()}

    def create(day: int) -> None:
        zone = ZoneInfo("Europe/Lisbon")
        client.create_offline_access_code(
            device_id=door,
            name=f"guest {day}",
            starts_at=datetime(2030, 7, day, 15, tzinfo=zone),
            ends_at=datetime(2030, 7, day + 2, 11, tzinfo=zone),
            max_time_rounding="1h",
        )

    create(1)
    create(2)
    with pytest.raises(SeamTransientError) as refused:
        create(3)
    assert refused.value.status_code == 429
    clock.advance(seconds=5)
    create(3)

    assert sim.rate_limited == {door: 1}
    assert sim.requests == {"/devices/list": 1, "/access_codes/create": 4}
    sim.reset()
    assert sim.requests == {}
    assert sim.rate_limited == {}


def test_the_command_line_refuses_a_rate_limit_window_of_zero():
    with pytest.raises(SystemExit):
        simulator_main(["--rate-limit-window", "0", "--port", "0"])


# How a door refuses a code, rounds it and runs out of room (see simulator.doors)

OFF_EVERY_SLOT = ("2027-10-04T14:00:00-07:00", "2027-10-08T11:00:00-07:00")
GUEST_WINDOW = ("2027-10-04T15:00:00-07:00", "2027-10-08T11:00:00-07:00")


def get_code(sim: SimulatorServer, access_code_id: str) -> dict[str, Any]:
    response = call(sim, "/access_codes/get", {"access_code_id": access_code_id})
    code: dict[str, Any] = response.json()["access_code"]
    return code


def test_a_code_carries_the_user_level_it_was_made_on(sim):
    code = create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]

    metadata = code["dormakaba_oracode_metadata"]
    slot = next(
        s
        for s in demo.demo_devices()[0]["properties"]["dormakaba_oracode_metadata"]["predefined_time_slots"]
        if s["name"] == "Guest 15:00-11:00"
    )
    assert metadata["user_level_id"] == slot["dormakaba_oracode_user_level_id"]
    assert metadata["user_level_name"] == "Guest 15:00-11:00"


def test_an_on_code_door_takes_a_window_no_level_matches_then_fails_it(sim, clock):
    assert sim.configure_door(ROOM_101, refusals="on_code")["refusals"] == "on_code"

    response = create(sim, ROOM_101, *OFF_EVERY_SLOT)

    assert response.status_code == 200, response.text
    code = response.json()["access_code"]
    assert (code["status"], code["errors"], code["code"]) == ("unset", [], None)
    clock.advance(seconds=2)  # dormakaba's answer reaches Seam
    code = get_code(sim, code["access_code_id"])
    [error] = code["errors"]
    assert error["error_code"] == "provider_issue"
    assert error["is_access_code_error"] is True
    assert error["message"].startswith("no time slots found")
    assert code["status"] == "unset"
    assert code["code"] is None
    assert code["pending_mutations"] == []
    clock.advance(days=60)
    assert get_code(sim, code["access_code_id"])["code"] is None, "a refused code never gets a PIN"
    events = call(sim, "/events/list", {"access_code_id": code["access_code_id"]}).json()["events"]
    assert [e["event_type"] for e in events] == ["access_code.failed_to_set_on_device", "access_code.created"]
    failed = events[0]
    assert failed["access_code_errors"] == [
        {"created_at": error["created_at"], "message": error["message"], "error_code": "provider_issue"}
    ]
    assert failed["device_errors"] == failed["connected_account_errors"] == failed["access_code_warnings"] == []


def test_an_http_400_door_refuses_at_once_and_stores_nothing(sim):
    sim.configure_door(ROOM_101, refusals="http_400")

    response = create(sim, ROOM_101, *OFF_EVERY_SLOT)

    assert response.status_code == 400
    assert error_of(response)["type"] == "dormakaba_oracode_invalid_time_range"
    assert sim.access_codes() == []


def test_input_errors_are_400_whatever_the_door_refuses_with(sim):
    sim.configure_door(ROOM_101, refusals="on_code")

    response = create(sim, ROOM_101, "2027-10-04T15:00:00", "2027-10-08T11:00:00")

    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_input"


def test_a_full_door_warns_with_its_counts_and_refuses_more_both_ways(sim, clock):
    sim.configure_door(ROOM_101, max_active_codes_supported=2)
    first = create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]
    door = call(sim, "/devices/get", {"device_id": ROOM_101}).json()["device"]
    assert door["properties"]["max_active_codes_supported"] == 2
    assert door["warnings"] == []

    create(sim, ROOM_101, "2027-10-10T15:00:00-07:00", "2027-10-12T11:00:00-07:00")
    door = call(sim, "/devices/get", {"device_id": ROOM_101}).json()["device"]
    [warning] = door["warnings"]
    assert warning["warning_code"] == "max_access_codes_reached"
    assert (warning["active_access_code_count"], warning["max_active_access_code_count"]) == (2, 2)
    assert warning["message"]
    assert warning["created_at"]
    listed = call(sim, "/devices/list", {"device_ids": [ROOM_101]}).json()["devices"]
    assert listed[0]["warnings"] == [warning]

    refused = create(sim, ROOM_101, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00")
    assert refused.status_code == 400
    assert error_of(refused)["type"] == "no_space_for_access_code_on_device"

    sim.configure_door(ROOM_101, refusals="on_code")
    taken = create(sim, ROOM_101, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00")
    assert taken.status_code == 200
    clock.advance(seconds=2)
    [error] = get_code(sim, taken.json()["access_code"]["access_code_id"])["errors"]
    assert error["error_code"] == "no_space_for_access_code_on_device"

    clock.current = datetime.fromisoformat(first["ends_at"])  # the first code has ended: room again
    door = call(sim, "/devices/get", {"device_id": ROOM_101}).json()["device"]
    assert door["warnings"] == []


def test_some_demo_doors_say_how_many_codes_they_hold(seam_simulator):
    doors = {d["device_id"]: d for d in call(seam_simulator, "/devices/list").json()["devices"]}

    assert doors[ROOM_102]["properties"]["max_active_codes_supported"] == 100
    assert doors[demo.HARBOUR_VIEW_APARTMENT_2B]["properties"]["max_active_codes_supported"] == 60
    assert "max_active_codes_supported" not in doors[ROOM_101]["properties"]


def test_a_door_can_round_every_code_to_another_level(sim):
    sim.configure_door(ROOM_101, round_to_level="Guest 16:00-10:00")

    code = create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]

    # Asked 15:00 → 11:00 (PDT, UTC-7); made on the 16:00-10:00 level.
    assert (code["starts_at"], code["ends_at"]) == ("2027-10-04T23:00:00.000Z", "2027-10-08T17:00:00.000Z")
    assert code["dormakaba_oracode_metadata"]["user_level_name"] == "Guest 16:00-10:00"
    sim.configure_door(ROOM_101, round_to_level=None)
    assert create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]["starts_at"] == "2027-10-04T22:00:00.000Z"


def test_door_settings_and_events_are_controlled_over_http_and_reset(sim, clock):
    controls = {"Authorization": f"Bearer {SIMULATOR_API_KEY}"}

    def control(path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{sim.url}/_simulator/{path}", json=body, headers=controls, timeout=5)

    door = control("doors", {"device_id": ROOM_101, "refusals": "on_code", "max_active_codes_supported": 5})
    assert door.json()["door"]["refusals"] == "on_code"
    for bad in (
        {"device_id": ROOM_101, "refusals": "sometimes"},
        {"device_id": ROOM_101, "round_to_level": "No such level"},
        {"device_id": ROOM_101, "max_active_codes_supported": -1},
        {"device_id": ROOM_101, "colour": "red"},
        {"device_id": "d0000000-0000-4000-8000-000000000000", "refusals": "on_code"},
    ):
        assert control("doors", bad).status_code == 400, bad

    code = create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]
    emitted = control("events", {"event_type": "device.disconnected", "device_id": ROOM_101}).json()["event"]
    assert emitted["error_code"] == "device_disconnected"
    removed = control(
        "events", {"event_type": "access_code.removed_from_device", "access_code_id": code["access_code_id"]}
    ).json()["event"]
    assert (removed["device_id"], removed["access_code_id"]) == (ROOM_101, code["access_code_id"])
    assert control("events", {"event_type": "device.exploded", "device_id": ROOM_101}).status_code == 400
    assert control("events", {"event_type": "access_code.deleted", "access_code_id": "nope"}).status_code == 400
    account = control("events", {"event_type": "connected_account.disconnected"}).json()["event"]
    assert account["connected_account_id"] == demo.CONNECTED_ACCOUNT_ID
    listed = call(sim, "/events/list", {"device_id": ROOM_101}).json()["events"]
    assert {e["event_type"] for e in listed} == {
        "access_code.created",
        "device.disconnected",
        "access_code.removed_from_device",
    }
    by_code = call(sim, "/events/list", {"access_code_id": code["access_code_id"]}).json()["events"]
    assert [e["event_type"] for e in by_code] == ["access_code.removed_from_device", "access_code.created"]
    door = call(sim, "/devices/get", {"device_id": ROOM_101}).json()["device"]
    assert door["properties"]["online"] is False

    assert control("reset", {}).status_code == 200
    door = call(sim, "/devices/get", {"device_id": ROOM_101}).json()["device"]
    assert door["properties"]["online"] is True
    assert "max_active_codes_supported" not in door["properties"]
    assert create(sim, ROOM_101, *OFF_EVERY_SLOT).status_code == 400
    assert call(sim, "/events/list", {}).json()["events"] == []


def test_a_deleted_code_event_carries_its_pin_like_seams(sim, clock):
    code = create(sim, ROOM_101, *GUEST_WINDOW).json()["access_code"]
    clock.current = datetime(2027, 10, 4, 22, 0, tzinfo=UTC)

    event = sim.emit_event("access_code.deleted", access_code_id=code["access_code_id"])

    assert event["code"] == get_code(sim, code["access_code_id"])["code"]


def test_the_command_line_takes_a_refusal_mode():
    with pytest.raises(SystemExit):
        simulator_main(["--refusals", "sometimes", "--port", "0"])


# Latency (see SimulatorServer.set_latency)


def timed(request: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


def test_an_api_call_waits_at_least_the_latency(start_seam_simulator):
    sim = start_seam_simulator(latency=timedelta(milliseconds=100))

    response, elapsed = timed(lambda: call(sim, "/devices/list"))

    assert response.status_code == 200
    assert elapsed >= 0.1


def test_the_jitter_stays_within_its_bounds_and_a_seed_repeats_it():
    sim = SimulatorServer(latency=timedelta(milliseconds=300), latency_jitter=timedelta(milliseconds=100), seed=7)
    same_seed = SimulatorServer(
        latency=timedelta(milliseconds=300), latency_jitter=timedelta(milliseconds=100), seed=7
    )

    delays = [sim.latency_delay() for _ in range(200)]

    assert all(0.2 <= delay <= 0.4 for delay in delays)
    assert max(delays) - min(delays) > 0.1
    assert delays == [same_seed.latency_delay() for _ in range(200)]
    # More jitter than latency: a draw below zero waits nothing rather than failing.
    sim.set_latency(timedelta(milliseconds=10), timedelta(milliseconds=100))
    assert min(sim.latency_delay() for _ in range(200)) == 0.0


def test_calls_with_jitter_each_wait_at_least_the_low_bound(start_seam_simulator):
    sim = start_seam_simulator(latency=timedelta(milliseconds=60), latency_jitter=timedelta(milliseconds=40))
    for _ in range(5):
        response, elapsed = timed(lambda: call(sim, "/devices/list"))
        assert response.status_code == 200
        assert elapsed >= 0.02


def test_concurrent_calls_wait_side_by_side_not_in_turn(start_seam_simulator):
    calls, delay = 6, 0.1
    sim = start_seam_simulator(latency=timedelta(seconds=delay))
    start = threading.Barrier(calls + 1)
    statuses: list[int] = []

    def one_call() -> None:
        start.wait()
        statuses.append(call(sim, "/devices/list").status_code)

    threads = [threading.Thread(target=one_call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - started

    assert statuses == [200] * calls
    assert delay <= elapsed < (calls - 1) * delay


def test_the_controls_are_never_delayed(start_seam_simulator):
    # A latency no test waits for: any delayed control would time out.
    sim = start_seam_simulator(latency=timedelta(seconds=30))
    headers = {"Authorization": f"Bearer {SIMULATOR_API_KEY}"}
    for path in ("/_simulator/state", "/_simulator/clock", "/_simulator/faults", "/_simulator/latency"):
        assert requests.get(sim.url + path, headers=headers, timeout=2).status_code == 200
    assert call(sim, "/_simulator/clock", {"advance_seconds": 1}, timeout=2).status_code == 200
    assert call(sim, "/_simulator/latency", {"ms": 0}, timeout=2).status_code == 200
    assert call(sim, "/devices/list", timeout=2).status_code == 200


def test_latency_can_be_changed_over_http_and_reset(start_seam_simulator):
    sim = start_seam_simulator(latency=timedelta(milliseconds=5))

    response = call(sim, "/_simulator/latency", {"ms": 80, "jitter_ms": 0})

    assert response.json()["latency"] == {"ms": 80.0, "jitter_ms": 0.0}
    assert timed(lambda: call(sim, "/devices/list"))[1] >= 0.08
    assert call(sim, "/_simulator/state").json()["state"]["latency"] == {"ms": 80.0, "jitter_ms": 0.0}
    for bad in ({"ms": -1}, {"ms": "fast"}, {"ms": 10, "jitter_ms": True}, {"ms": 1e300}):
        assert call(sim, "/_simulator/latency", bad).status_code == 400
    sim.reset()
    assert sim.latency_json() == {"ms": 5.0, "jitter_ms": 0.0}


def test_faults_still_fire_after_the_latency(start_seam_simulator):
    sim = start_seam_simulator(latency=timedelta(milliseconds=50))
    sim.inject_fault("/access_codes/create", "error_500")
    sim.inject_fault("/access_codes/create", "connection_reset")

    error, elapsed = timed(lambda: create(sim, ROOM_101, *_window_next_month()))
    with pytest.raises(requests.ConnectionError):
        create(sim, ROOM_101, *_window_next_month())

    assert error.status_code == 500
    assert elapsed >= 0.05
    assert sim.access_codes() == []
    assert create(sim, ROOM_101, *_window_next_month()).status_code == 200


def test_a_slow_create_is_stored_and_rate_limited_at_the_time_it_arrives(sim, clock):
    for day in range(1, 11):
        assert create(sim, ROOM_101, f"2027-10-{day:02d}T15:00:00-07:00", f"2027-10-{day + 2:02d}T11:00:00-07:00").ok
    sim.set_latency(timedelta(milliseconds=300))
    answers: list[requests.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(create(sim, ROOM_101, "2027-10-20T15:00:00-07:00", "2027-10-22T11:00:00-07:00"))
    )

    slow.start()
    # While the eleventh create is on its way in, the minute of the first ten ends.
    time.sleep(0.05)
    clock.advance(seconds=61)
    slow.join(timeout=10)

    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["access_code"]["created_at"] == "2027-09-01T12:01:01.000Z"
    assert sim.rate_limited == {}


def test_a_burst_of_connections_waits_for_the_accept_loop_instead_of_being_dropped():
    """Dozens of worker threads on a busy machine connect faster than the accept loop runs:
    the listening queue holds them. With socketserver's queue of 5 the kernel dropped the rest
    (a connect a second late) or reset them (a create failing with connection_error)."""
    server = _HTTPServer(("127.0.0.1", 0), _Handler)  # listening, and nothing accepting yet
    connections: list[socket.socket] = []
    try:
        for _ in range(64):
            connections.append(socket.create_connection(("127.0.0.1", server.server_port), timeout=0.5))
    finally:
        for connection in connections:
            connection.close()
        server.server_close()

    assert len(connections) == 64


def test_the_command_line_refuses_a_negative_latency():
    with pytest.raises(SystemExit) as exited:
        simulator_main(["--latency-ms", "100", "--latency-jitter-ms", "-5", "--port", "0"])
    assert exited.value.code == 1
