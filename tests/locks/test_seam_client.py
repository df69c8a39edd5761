"""The Seam client against recorded Seam JSON (tests/locks/data) replayed with `responses`.

The bodies follow Seam's docs and SEAM.md. Seam does not document the error types it uses
for 429 and 5xx, so those recorded types are placeholders: the client classifies by HTTP
status, and these tests check that it does.
"""

import json
import logging
import pickle
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
import time_machine
from responses import matchers

from locks.seam import (
    MAX_RETRY_WAIT_SECONDS,
    SeamAccessCode,
    SeamClient,
    SeamError,
    SeamLock,
    SeamPermanentError,
    SeamTransientError,
    parse_retry_after,
    seam_client_from_settings,
)

DATA = Path(__file__).parent / "data"
API_KEY = "seam_testkey_4fQz8WmVxY2kPq"
ENDPOINT = "https://connect.getseam.com"
DOOR_ID = "5d6f4d2b-3c1e-4e55-9b0f-1a2b3c4d5e01"
GATE_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c02"
CODE_ID = "11111111-1111-1111-1111-777777777777"
PIN = "038517"
LA = ZoneInfo("America/Los_Angeles")


def recorded(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def url(path: str) -> str:
    return f"{ENDPOINT}{path}"


@pytest.fixture
def seam_api() -> Iterator[responses.RequestsMock]:
    # Fails the test if a registered answer was never asked for.
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> SeamClient:
    return SeamClient(api_key=API_KEY, endpoint=ENDPOINT + "/", sleep=sleeps.append)


def create_code(client: SeamClient, **overrides: Any) -> SeamAccessCode:
    arguments: dict[str, Any] = {
        "device_id": DOOR_ID,
        "name": "Reservation 4411 - Room 101",
        "starts_at": datetime(2024, 9, 10, 7, 0, tzinfo=LA),
        "ends_at": datetime(2024, 9, 15, 19, 0, tzinfo=LA),
        "max_time_rounding": "1h",
    }
    arguments.update(overrides)
    return client.create_offline_access_code(**arguments)


def sent_json(mock: responses.RequestsMock, index: int = 0) -> Any:
    body = mock.calls[index].request.body
    assert body is not None
    return json.loads(body)


# Reading doors


def test_list_locks_keeps_only_oracode_doors(client, seam_api):
    seam_api.post(url("/devices/list"), json=recorded("devices_list.json"))

    locks = client.list_locks()

    assert [lock.device_id for lock in locks] == [DOOR_ID, "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e03"]
    assert sent_json(seam_api) == {"manufacturer": "dormakaba_oracode"}


def test_list_locks_reads_a_door_with_every_field(client, seam_api):
    seam_api.post(url("/devices/list"), json=recorded("devices_list.json"))

    door = client.list_locks()[0]

    assert door.name == "Room 101"
    assert door.timezone == "America/Los_Angeles"
    assert door.site_name == "Ocean Beach Vacations"
    assert door.can_program_offline_access_codes is True
    assert door.errors == []
    assert [w["warning_code"] for w in door.warnings] == ["time_zone_mismatch"]
    sent_slots = recorded("devices_list.json")["devices"][0]["properties"]["dormakaba_oracode_metadata"][
        "predefined_time_slots"
    ]
    assert door.time_slots == sent_slots


def test_list_locks_keeps_both_slot_prefix_field_names_as_sent(client, seam_api):
    seam_api.post(url("/devices/list"), json=recorded("devices_list.json"))

    old_style, new_style = client.list_locks()[0].time_slots

    assert old_style["ext_dormakaba_oracode_user_level_prefix"] == 0
    assert "dormakaba_oracode_user_level_prefix" not in old_style
    assert new_style["dormakaba_oracode_user_level_prefix"] == 3
    assert new_style["check_in_time"] == "15:00:00-07:00[America/Los_Angeles]"


def test_a_door_without_display_name_or_zone_uses_door_name_and_none(client, seam_api):
    seam_api.post(url("/devices/list"), json=recorded("devices_list.json"))

    sparse = client.list_locks()[1]

    assert sparse.name == "Room 103"
    assert sparse.timezone is None
    assert sparse.site_name is None
    assert sparse.time_slots == []
    assert sparse.warnings == []
    assert [e["error_code"] for e in sparse.errors] == ["dormakaba_sites_disconnected"]


def test_lock_name_falls_back_to_properties_name_before_door_name():
    lock = SeamLock.from_json(
        {
            "device_id": "d1",
            "properties": {"name": "From properties", "dormakaba_oracode_metadata": {"door_name": "X"}},
        }
    )

    assert lock.name == "From properties"
    assert lock.can_program_offline_access_codes is False


def test_get_lock_asks_for_one_device(client, seam_api):
    seam_api.post(
        url("/devices/get"),
        json=recorded("devices_get.json"),
        match=[matchers.json_params_matcher({"device_id": DOOR_ID})],
    )

    lock = client.get_lock(DOOR_ID)

    assert lock.device_id == DOOR_ID
    assert lock.time_slots[0]["dormakaba_oracode_user_level_prefix"] == 0


def test_list_locks_follows_page_cursors(client, seam_api):
    first = recorded("devices_list.json")
    first["devices"] = first["devices"][:1]
    first["pagination"] = {"has_next_page": True, "next_page_cursor": "cursor-2"}
    second = recorded("devices_list.json")
    second["devices"] = second["devices"][2:]
    second["pagination"] = {"has_next_page": False, "next_page_cursor": None}
    seam_api.post(
        url("/devices/list"), json=first, match=[matchers.json_params_matcher({"manufacturer": "dormakaba_oracode"})]
    )
    seam_api.post(
        url("/devices/list"),
        json=second,
        match=[matchers.json_params_matcher({"manufacturer": "dormakaba_oracode", "page_cursor": "cursor-2"})],
    )

    assert len(client.list_locks()) == 2


def test_a_repeated_page_cursor_is_an_error_not_a_loop(client, seam_api):
    looping = recorded("devices_list.json")
    looping["pagination"] = {"has_next_page": True, "next_page_cursor": "same"}
    seam_api.post(url("/devices/list"), json=looping)

    with pytest.raises(SeamTransientError) as caught:
        client.list_locks()

    assert caught.value.error_type == "invalid_response"
    assert len(seam_api.calls) == 2


# Reading access codes


def test_get_access_code_parses_utc_times_and_the_pin(client, seam_api):
    seam_api.post(
        url("/access_codes/get"),
        json=recorded("access_codes_get_set.json"),
        match=[matchers.json_params_matcher({"access_code_id": CODE_ID})],
    )

    code = client.get_access_code(CODE_ID)

    assert code.status == "set"
    assert code.code == PIN
    assert code.starts_at == datetime(2024, 9, 10, 14, 0, tzinfo=UTC)
    assert code.ends_at == datetime(2024, 9, 16, 2, 0, tzinfo=UTC)
    # The same instant as the lock-local window that was asked for.
    assert code.starts_at == datetime(2024, 9, 10, 7, 0, tzinfo=LA)
    assert code.is_offline_access_code is True
    assert code.pending_mutations == []
    assert [w["warning_code"] for w in code.warnings] == ["delay_in_setting_on_device"]


def test_an_access_code_with_missing_fields_gets_empty_defaults():
    code = SeamAccessCode.from_json({"access_code_id": "a1", "device_id": "d1"})

    assert code.code is None
    assert code.name is None
    assert code.starts_at is None
    assert code.ends_at is None
    assert code.status == "unknown"
    assert code.errors == code.warnings == code.pending_mutations == []
    assert code.is_offline_access_code is False


def test_an_oracode_codes_user_level_is_read_from_its_metadata():
    data = recorded("access_codes_get_set.json")["access_code"]
    data["dormakaba_oracode_metadata"] = {
        "user_level_id": "f23721ec-1111-4c1e-9a57-1a2b3c4d5e01",
        "user_level_name": "Guest 15:00-11:00",
        "site_name": "Ocean Beach Vacations",
        "is_cancellable": False,
    }

    code = SeamAccessCode.from_json(data)

    assert code.user_level_id == "f23721ec-1111-4c1e-9a57-1a2b3c4d5e01"
    assert code.user_level_name == "Guest 15:00-11:00"
    # Metadata is optional and nullable: absent, null, or without a level, nothing is assumed.
    for metadata in (None, {}, {"user_level_name": None}):
        data["dormakaba_oracode_metadata"] = metadata
        code = SeamAccessCode.from_json(data)
        assert (code.user_level_id, code.user_level_name) == (None, None)


def test_a_doors_room_and_connected_account_are_read():
    device = recorded("devices_get.json")["device"]
    device["connected_account_id"] = "ca000000-0000-4000-8000-000000000001"
    device["properties"]["max_active_codes_supported"] = 50
    device["warnings"] = [
        {
            "warning_code": "max_access_codes_reached",
            "message": "Too many codes",
            "created_at": "2024-09-01T10:00:00.000Z",
            "active_access_code_count": 50,
            "max_active_access_code_count": 50,
        }
    ]

    lock = SeamLock.from_json(device)

    assert lock.connected_account_id == "ca000000-0000-4000-8000-000000000001"
    assert lock.max_active_codes_supported == 50
    assert lock.max_codes_reached is not None
    assert (lock.max_codes_reached.active, lock.max_codes_reached.maximum) == (50, 50)


@pytest.mark.parametrize("value", [None, "50", -1, 2.5, True, float("nan")])
def test_a_doors_room_that_is_not_a_count_is_unknown(value):
    device = recorded("devices_get.json")["device"]
    device["properties"]["max_active_codes_supported"] = value
    device["warnings"] = [{"warning_code": "max_access_codes_reached", "active_access_code_count": value}]

    lock = SeamLock.from_json(device)

    assert lock.max_active_codes_supported is None
    assert lock.max_codes_reached is not None
    assert (lock.max_codes_reached.active, lock.max_codes_reached.maximum) == (None, None)


def test_a_door_without_room_or_warning_says_so():
    lock = SeamLock.from_json(recorded("devices_get.json")["device"])

    assert lock.max_active_codes_supported is None
    assert lock.max_codes_reached is None


def test_an_unreadable_time_is_an_invalid_response(client, seam_api):
    body = recorded("access_codes_get_set.json")
    body["access_code"]["starts_at"] = "next tuesday"
    seam_api.post(url("/access_codes/get"), json=body)

    with pytest.raises(SeamTransientError) as caught:
        client.get_access_code(CODE_ID)

    assert caught.value.error_type == "invalid_response"


def test_list_access_codes_drops_codes_of_other_devices(client, seam_api):
    # Seam's fake server ignores the device_id filter and answers with every code.
    seam_api.post(
        url("/access_codes/list"),
        json=recorded("access_codes_list.json"),
        match=[matchers.json_params_matcher({"device_id": DOOR_ID})],
    )

    codes = client.list_access_codes(DOOR_ID)

    assert [c.access_code_id for c in codes] == [CODE_ID, "22222222-2222-2222-2222-888888888888"]
    assert codes[1].code is None
    assert codes[1].starts_at == datetime(2024, 10, 1, 22, 0, tzinfo=UTC)


def test_access_code_repr_does_not_show_the_pin():
    code = SeamAccessCode.from_json(recorded("access_codes_get_set.json")["access_code"])

    assert code.code == PIN
    assert PIN not in repr(code)
    assert PIN not in str(code)
    assert CODE_ID in repr(code)


# Creating access codes


def test_create_sends_the_lock_local_offset_and_the_offline_flag(client, seam_api):
    seam_api.post(url("/access_codes/create"), json=recorded("access_codes_create.json"))

    code = create_code(client)

    assert sent_json(seam_api) == {
        "device_id": DOOR_ID,
        "name": "Reservation 4411 - Room 101",
        "starts_at": "2024-09-10T07:00:00-07:00",
        "ends_at": "2024-09-15T19:00:00-07:00",
        "is_offline_access_code": True,
        "max_time_rounding": "1h",
    }
    assert code.access_code_id == CODE_ID
    assert code.status == "unset"
    assert code.starts_at == datetime(2024, 9, 10, 14, 0, tzinfo=UTC)
    assert [m["mutation_code"] for m in code.pending_mutations] == ["deferring_creation"]


def test_create_sends_daily_rounding_and_the_winter_offset(client, seam_api):
    seam_api.post(url("/access_codes/create"), json=recorded("access_codes_create.json"))

    create_code(
        client,
        starts_at=datetime(2024, 11, 30, 16, 0, tzinfo=LA),
        ends_at=datetime(2024, 12, 2, 16, 0, tzinfo=LA),
        max_time_rounding="1d",
    )

    sent = sent_json(seam_api)
    assert sent["starts_at"] == "2024-11-30T16:00:00-08:00"
    assert sent["ends_at"] == "2024-12-02T16:00:00-08:00"
    assert sent["max_time_rounding"] == "1d"


def test_create_sends_auth_and_json_headers(client, seam_api):
    seam_api.post(url("/access_codes/create"), json=recorded("access_codes_create.json"))

    create_code(client)

    headers = seam_api.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith("oracode-codes/")
    assert seam_api.calls[0].request.url == url("/access_codes/create")


@pytest.mark.parametrize(
    ("field", "value"),
    [("starts_at", datetime(2024, 9, 10, 7, 0)), ("ends_at", datetime(2024, 9, 15, 19, 0))],
)
def test_create_refuses_naive_times_before_calling_seam(client, seam_api, field, value):
    with pytest.raises(ValueError, match=field):
        create_code(client, **{field: value})

    assert len(seam_api.calls) == 0


@pytest.mark.parametrize("rounding", ["1hour", "2h", "", "1D"])
def test_create_refuses_unknown_rounding(client, seam_api, rounding):
    with pytest.raises(ValueError, match="max_time_rounding"):
        create_code(client, max_time_rounding=rounding)


def test_create_refuses_an_end_before_the_start(client, seam_api):
    with pytest.raises(ValueError, match="after"):
        create_code(client, ends_at=datetime(2024, 9, 9, 19, 0, tzinfo=LA))


def test_create_is_not_retried_after_a_500(client, seam_api, sleeps):
    seam_api.post(url("/access_codes/create"), status=500, json=recorded("error_internal.json"))

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert len(seam_api.calls) == 1
    assert sleeps == []
    assert caught.value.ambiguous is True


def test_create_is_not_retried_after_a_read_timeout(client, seam_api, sleeps):
    seam_api.post(url("/access_codes/create"), body=requests.ReadTimeout("read timed out"))

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert len(seam_api.calls) == 1
    assert sleeps == []
    assert caught.value.error_type == "timeout"
    assert caught.value.ambiguous is True


def test_a_2xx_create_without_the_code_is_ambiguous(client, seam_api):
    body = recorded("access_codes_create.json")
    del body["access_code"]
    seam_api.post(url("/access_codes/create"), json=body)

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.error_type == "invalid_response"
    assert caught.value.ambiguous is True


def test_a_2xx_with_ok_false_is_an_error(client, seam_api):
    seam_api.post(url("/access_codes/create"), json={"ok": False, "error": {"type": "weird", "message": "m"}})

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.error_type == "weird"
    assert caught.value.ambiguous is True


# Error mapping


@pytest.mark.parametrize(
    ("recording", "status", "error_type"),
    [
        ("error_invalid_input.json", 400, "invalid_input"),
        ("error_invalid_time_range.json", 400, "dormakaba_oracode_invalid_time_range"),
        ("error_unauthorized.json", 401, "unauthorized"),
        ("error_device_not_found.json", 404, "device_not_found"),
    ],
)
def test_4xx_answers_are_permanent_errors(client, seam_api, recording, status, error_type):
    seam_api.post(
        url("/access_codes/create"),
        status=status,
        json=recorded(recording),
        headers={"seam-request-id": "req-4xx-1"},
    )

    with pytest.raises(SeamPermanentError) as caught:
        create_code(client)

    error = caught.value
    assert error.permanent is True
    assert error.error_type == error_type
    assert error.status_code == status
    assert error.request_id == "req-4xx-1"
    assert error.message == recorded(recording)["error"]["message"]
    assert error.ambiguous is False


@pytest.mark.parametrize(
    ("recording", "status"),
    [("error_rate_limited.json", 429), ("error_internal.json", 500), ("error_service_unavailable.json", 503)],
)
def test_429_and_5xx_answers_are_transient_errors(client, seam_api, recording, status):
    seam_api.post(url("/access_codes/create"), status=status, json=recorded(recording))

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.permanent is False
    assert caught.value.status_code == status
    assert caught.value.error_type == recorded(recording)["error"]["type"]


def test_invalid_input_keeps_validation_errors_and_reads_well(client, seam_api):
    seam_api.post(
        url("/access_codes/create"),
        status=400,
        json=recorded("error_invalid_input.json"),
        headers={"seam-request-id": "abc"},
    )

    with pytest.raises(SeamPermanentError) as caught:
        create_code(client)

    assert caught.value.validation_errors == {"_errors": [], "starts_at": {"_errors": ["Invalid datetime"]}}
    assert str(caught.value) == "Seam invalid_input (HTTP 400, request abc): Invalid input"


def test_a_device_not_found_on_read_is_not_retried(client, seam_api, sleeps):
    seam_api.post(url("/devices/get"), status=404, json=recorded("error_device_not_found.json"))

    with pytest.raises(SeamPermanentError):
        client.get_lock("missing")

    assert len(seam_api.calls) == 1
    assert sleeps == []


def test_a_429_carries_retry_after_and_is_not_ambiguous(client, seam_api):
    seam_api.post(
        url("/access_codes/create"),
        status=429,
        json=recorded("error_rate_limited.json"),
        headers={"Retry-After": "12"},
    )

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.retry_after == 12.0
    assert caught.value.ambiguous is False


def test_retry_after_as_an_http_date_is_seconds_from_now():
    now = datetime(2024, 9, 10, 12, 0, 0, tzinfo=UTC)

    assert parse_retry_after("Tue, 10 Sep 2024 12:00:45 GMT", now=now) == 45.0
    assert parse_retry_after("Tue, 10 Sep 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_a_429_with_an_http_date_uses_the_current_time(client, seam_api):
    seam_api.post(
        url("/access_codes/create"),
        status=429,
        json=recorded("error_rate_limited.json"),
        headers={"Retry-After": "Tue, 10 Sep 2024 12:00:20 GMT"},
    )

    with (
        time_machine.travel(datetime(2024, 9, 10, 12, 0, 0, tzinfo=UTC), tick=False),
        pytest.raises(SeamTransientError) as caught,
    ):
        create_code(client)

    assert caught.value.retry_after == 20.0


def test_a_5xx_without_json_is_transient_and_ambiguous(client, seam_api):
    seam_api.post(url("/access_codes/create"), status=502, body="<html>Bad Gateway</html>")

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.error_type == "http_502"
    assert caught.value.ambiguous is True


def test_a_connect_timeout_is_transient_and_not_ambiguous(client, seam_api):
    seam_api.post(url("/access_codes/create"), body=requests.ConnectTimeout("connect timed out"))

    with pytest.raises(SeamTransientError) as caught:
        create_code(client)

    assert caught.value.error_type == "connect_timeout"
    assert caught.value.ambiguous is False
    assert isinstance(caught.value.__cause__, requests.ConnectTimeout)


def test_a_refused_connection_is_not_ambiguous():
    # A real socket: the port is bound but nobody listens, so the kernel refuses.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        client = SeamClient(api_key=API_KEY, endpoint=f"http://127.0.0.1:{port}", timeout=2.0)

        with pytest.raises(SeamTransientError) as caught:
            create_code(client)

    assert caught.value.error_type == "connection_error"
    assert caught.value.ambiguous is False
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_a_connection_dropped_after_sending_is_ambiguous():
    # A real server that reads the request and hangs up without answering.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def hang_up() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        client = SeamClient(api_key=API_KEY, endpoint=f"http://127.0.0.1:{port}", timeout=5.0)

        with pytest.raises(SeamTransientError) as caught:
            create_code(client)
        thread.join(timeout=5)

    assert caught.value.error_type == "connection_error"
    assert caught.value.ambiguous is True


def test_errors_survive_pickling_for_celery(client, seam_api):
    seam_api.post(
        url("/devices/get"),
        status=404,
        json=recorded("error_device_not_found.json"),
        headers={"seam-request-id": "r9"},
    )
    with pytest.raises(SeamPermanentError) as caught:
        client.get_lock("missing")

    restored = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 (our own bytes)

    assert type(restored) is SeamPermanentError
    assert str(restored) == str(caught.value)
    assert restored.request_id == "r9"


def test_seam_error_str_without_http_context():
    error = SeamTransientError("read timed out", error_type="timeout", ambiguous=True)

    assert str(error) == "Seam timeout: read timed out"
    assert isinstance(error, SeamError)


# Read retries


def test_a_read_retries_a_503_then_succeeds(client, seam_api, sleeps):
    seam_api.post(url("/devices/get"), status=503, json=recorded("error_service_unavailable.json"))
    seam_api.post(url("/devices/get"), json=recorded("devices_get.json"))

    assert client.get_lock(DOOR_ID).device_id == DOOR_ID
    assert len(seam_api.calls) == 2
    assert len(sleeps) == 1
    assert 0 < sleeps[0] <= MAX_RETRY_WAIT_SECONDS


def test_a_read_waits_as_long_as_retry_after_says(client, seam_api, sleeps):
    seam_api.post(
        url("/access_codes/get"),
        status=429,
        json=recorded("error_rate_limited.json"),
        headers={"Retry-After": "7"},
    )
    seam_api.post(url("/access_codes/get"), json=recorded("access_codes_get_set.json"))

    client.get_access_code(CODE_ID)

    assert sleeps == [7.0]


def test_a_read_gives_up_after_read_retries_with_growing_waits(seam_api, sleeps):
    client = SeamClient(api_key=API_KEY, endpoint=ENDPOINT, read_retries=3, sleep=sleeps.append)
    seam_api.post(url("/access_codes/list"), body=requests.ReadTimeout("read timed out"))

    with pytest.raises(SeamTransientError) as caught:
        client.list_access_codes(DOOR_ID)

    assert caught.value.error_type == "timeout"
    assert len(seam_api.calls) == 4
    assert len(sleeps) == 3
    # Exponential backoff with jitter: each wait lies in [ceiling/2, ceiling], ceiling doubling.
    for attempt, wait in enumerate(sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= wait <= ceiling


def test_a_read_does_not_sleep_longer_than_the_cap(client, seam_api, sleeps):
    seam_api.post(
        url("/devices/list"),
        status=429,
        json=recorded("error_rate_limited.json"),
        headers={"Retry-After": "120"},
    )

    with pytest.raises(SeamTransientError) as caught:
        client.list_locks()

    # Seam asked for longer than a worker should sleep: fail now and let the caller reschedule.
    assert sleeps == []
    assert len(seam_api.calls) == 1
    assert caught.value.retry_after == 120.0


def test_no_read_retries_when_read_retries_is_zero(seam_api, sleeps):
    client = SeamClient(api_key=API_KEY, endpoint=ENDPOINT, read_retries=0, sleep=sleeps.append)
    seam_api.post(url("/devices/get"), status=500, json=recorded("error_internal.json"))

    with pytest.raises(SeamTransientError):
        client.get_lock(DOOR_ID)

    assert len(seam_api.calls) == 1
    assert sleeps == []


# Secrets


def test_the_api_key_and_pin_never_reach_the_logs(client, seam_api, caplog):
    caplog.set_level(logging.DEBUG)
    seam_api.post(url("/access_codes/get"), status=503, json=recorded("error_service_unavailable.json"))
    seam_api.post(url("/access_codes/get"), json=recorded("access_codes_get_set.json"))
    seam_api.post(url("/access_codes/list"), json=recorded("access_codes_list.json"))
    seam_api.post(url("/access_codes/create"), status=401, json=recorded("error_unauthorized.json"))

    code = client.get_access_code(CODE_ID)
    client.list_access_codes(DOOR_ID)
    with pytest.raises(SeamPermanentError):
        create_code(client)

    assert code.code == PIN
    seam_logs = "\n".join(r.getMessage() for r in caplog.records if r.name == "locks.seam")
    # The client does log each call; it just leaves the secrets out.
    assert "/access_codes/get" in seam_logs
    assert "/access_codes/create -> 401" in seam_logs
    assert API_KEY not in caplog.text
    assert PIN not in caplog.text
    assert "4321" not in caplog.text


def test_the_client_repr_hides_the_api_key(client):
    assert API_KEY not in repr(client)
    assert "connect.getseam.com" in repr(client)


@pytest.mark.parametrize("bad_key", ["", "seam_abc\n", "seam abc"])
def test_an_unusable_api_key_is_refused_up_front(bad_key):
    with pytest.raises(ValueError, match="API key"):
        SeamClient(api_key=bad_key)


# Settings


def test_seam_client_from_settings_uses_the_configured_seam(settings, seam_api):
    settings.SEAM_API_KEY = "seam_settingskey_1"
    settings.SEAM_ENDPOINT = "http://127.0.0.1:8765/"
    settings.SEAM_TIMEOUT_SECONDS = 4.5
    seam_api.post("http://127.0.0.1:8765/devices/get", json=recorded("devices_get.json"))

    client = seam_client_from_settings()
    client.get_lock(DOOR_ID)

    assert client.endpoint == "http://127.0.0.1:8765"
    assert client.timeout == 4.5
    assert seam_api.calls[0].request.headers["Authorization"] == "Bearer seam_settingskey_1"
