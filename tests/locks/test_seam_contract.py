"""The real Seam client against Seam's own fake server, over HTTP.

The fake (``@seamapi/fake-seam-connect``, see tests/fakeseam/server.mjs) checks the plumbing:
auth, request and response shapes, and how HTTP errors map onto our error types. It knows
nothing of Oracode: it accepts any window, ignores ``is_offline_access_code`` (answers false)
and ``max_time_rounding``, invents a four-digit code at once and never changes a status. So
only what it keeps is asserted here; Oracode rules are tested against our simulator.
"""

import socket
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from locks.seam import SeamAccessCode, SeamClient, SeamPermanentError, SeamTransientError
from locks.timeslots import parse_slot_time, slot_prefix

pytestmark = pytest.mark.services

LOS_ANGELES = ZoneInfo("America/Los_Angeles")
SYDNEY = ZoneInfo("Australia/Sydney")

ROOM_101 = "oracode_door_room_101"
ROOM_102 = "oracode_door_room_102"
BONDI_4 = "oracode_door_bondi_4"


def next_year() -> int:
    return datetime.now(tz=UTC).year + 1


def make_client(endpoint: str, api_key: str, sleeps: list[float] | None = None) -> SeamClient:
    recorded = sleeps if sleeps is not None else []
    return SeamClient(api_key=api_key, endpoint=endpoint, timeout=15.0, read_retries=3, sleep=recorded.append)


@pytest.fixture
def client(fake_seam):
    return make_client(fake_seam.url, fake_seam.api_key)


@pytest.fixture
def closed_port() -> int:
    # Bind, note the port, close: nothing listens there, so connecting is refused at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_fake_was_seeded_with_our_doors(fake_seam):
    assert set(fake_seam.oracode_device_ids) == {ROOM_101, ROOM_102, BONDI_4}
    assert fake_seam.url.startswith("http://127.0.0.1:")


def test_it_lists_only_oracode_doors(client, fake_seam):
    locks = client.list_locks()

    ids = [lock.device_id for lock in locks]
    assert sorted(ids) == sorted(fake_seam.oracode_device_ids)
    assert not set(ids) & set(fake_seam.other_device_ids)


def test_it_reads_a_door_with_the_older_slot_shape(client):
    room = {lock.device_id: lock for lock in client.list_locks()}[ROOM_101]

    assert room.name == "Room 101"
    assert room.timezone == "America/Los_Angeles"
    assert room.site_name == "Ocean Beach Vacations"
    assert room.can_program_offline_access_codes is True
    assert room.warnings == []
    assert room.errors == []
    assert [slot["name"] for slot in room.time_slots] == [
        "Guest RCI D 7am-7pm",
        "Guest 4pm-11am",
        "Guest 24h daily",
        "Master",
    ]
    first = room.time_slots[0]
    assert first["check_in_time"] == "07:00:00[America/Los_Angeles]"
    assert first["check_out_time"] == "19:00:00[America/Los_Angeles]"
    assert slot_prefix(first) == 0


def test_it_reads_a_door_with_the_newer_slot_shape(client):
    unit = {lock.device_id: lock for lock in client.list_locks()}[BONDI_4]

    assert unit.name == "Unit 4"
    assert unit.timezone == "Australia/Sydney"
    assert unit.site_name == "Bondi Beach Stays"
    guest = unit.time_slots[0]
    assert guest["check_in_time"] == "15:00:00+10:00[Australia/Sydney]"
    assert "ext_dormakaba_oracode_user_level_prefix" not in guest
    assert slot_prefix(guest) == 3
    check_in = parse_slot_time(guest["check_in_time"])
    assert check_in is not None
    assert check_in.zone == "Australia/Sydney"


def test_it_keeps_door_warnings(client):
    room = client.get_lock(ROOM_102)

    assert [w["warning_code"] for w in room.warnings] == ["max_access_codes_reached"]


def test_it_gets_one_door(client):
    unit = client.get_lock(BONDI_4)

    assert unit.device_id == BONDI_4
    assert unit.name == "Unit 4"
    assert unit.timezone == "Australia/Sydney"
    assert unit.site_name == "Bondi Beach Stays"
    assert len(unit.time_slots) == 2
    assert unit.can_program_offline_access_codes is True


def assert_same_code(code: SeamAccessCode, *, device_id: str, name: str, starts_at: datetime, ends_at: datetime):
    assert code.access_code_id
    assert code.device_id == device_id
    assert code.name == name
    # Aware datetimes compare as instants: whatever zone the client hands back, these are
    # the moments we asked for, which the fake stored in UTC.
    assert code.starts_at == starts_at
    assert code.ends_at == ends_at
    assert code.starts_at is not None
    assert code.starts_at.utcoffset() is not None
    assert code.starts_at.astimezone(UTC) == starts_at.astimezone(UTC)


def test_it_creates_an_offline_code_in_the_locks_local_time(client):
    # Summer in California: -07:00.
    starts_at = datetime(next_year(), 9, 10, 7, 0, tzinfo=LOS_ANGELES)
    ends_at = datetime(next_year(), 9, 12, 19, 0, tzinfo=LOS_ANGELES)

    created = client.create_offline_access_code(
        device_id=ROOM_101, name="Stay 1001", starts_at=starts_at, ends_at=ends_at, max_time_rounding="1h"
    )

    assert_same_code(created, device_id=ROOM_101, name="Stay 1001", starts_at=starts_at, ends_at=ends_at)
    assert created.starts_at.astimezone(UTC) == datetime(next_year(), 9, 10, 14, 0, tzinfo=UTC)
    assert created.ends_at.astimezone(UTC) == datetime(next_year(), 9, 13, 2, 0, tzinfo=UTC)


def test_it_reads_a_created_code_back(client):
    # Summer in Sydney: +11:00, not the +10:00 the slot strings carry.
    starts_at = datetime(next_year(), 12, 15, 15, 0, tzinfo=SYDNEY)
    ends_at = datetime(next_year(), 12, 18, 10, 0, tzinfo=SYDNEY)
    created = client.create_offline_access_code(
        device_id=BONDI_4, name="Stay 2002", starts_at=starts_at, ends_at=ends_at, max_time_rounding="1h"
    )

    fetched = client.get_access_code(created.access_code_id)

    assert fetched.access_code_id == created.access_code_id
    assert_same_code(fetched, device_id=BONDI_4, name="Stay 2002", starts_at=starts_at, ends_at=ends_at)
    assert fetched.starts_at.astimezone(UTC) == datetime(next_year(), 12, 15, 4, 0, tzinfo=UTC)
    assert fetched.status
    assert fetched.errors == []


def test_it_creates_a_daily_bound_code(client):
    starts_at = datetime(next_year(), 3, 2, 0, 0, tzinfo=LOS_ANGELES)
    ends_at = starts_at + timedelta(days=3)

    created = client.create_offline_access_code(
        device_id=ROOM_101, name="Stay 3003", starts_at=starts_at, ends_at=ends_at, max_time_rounding="1d"
    )

    assert_same_code(created, device_id=ROOM_101, name="Stay 3003", starts_at=starts_at, ends_at=ends_at)


def test_it_lists_the_codes_on_a_door(client):
    starts_at = datetime(next_year(), 10, 1, 16, 0, tzinfo=LOS_ANGELES)
    ends_at = datetime(next_year(), 10, 4, 11, 0, tzinfo=LOS_ANGELES)
    created = client.create_offline_access_code(
        device_id=ROOM_102, name="Stay 4004", starts_at=starts_at, ends_at=ends_at, max_time_rounding="1h"
    )

    codes = client.list_access_codes(ROOM_102)

    # The fake ignores device_id and lists every code it holds, so only look for ours.
    ours = [code for code in codes if code.access_code_id == created.access_code_id]
    assert len(ours) == 1
    assert_same_code(ours[0], device_id=ROOM_102, name="Stay 4004", starts_at=starts_at, ends_at=ends_at)


def test_invalid_input_is_a_permanent_error_with_seams_details(client):
    # Seam validates its input; an empty device id is one the fake refuses too.
    with pytest.raises(SeamPermanentError) as excinfo:
        client.get_lock("")

    error = excinfo.value
    assert error.status_code == 400
    assert error.error_type == "invalid_input"
    assert error.request_id
    assert error.message


def test_an_unknown_device_is_device_not_found(client):
    with pytest.raises(SeamPermanentError) as excinfo:
        client.get_lock("no_such_device")

    assert excinfo.value.status_code == 404
    assert excinfo.value.error_type == "device_not_found"
    assert excinfo.value.request_id


def test_creating_on_an_unknown_device_is_device_not_found(client):
    starts_at = datetime(next_year(), 9, 10, 7, 0, tzinfo=LOS_ANGELES)
    with pytest.raises(SeamPermanentError) as excinfo:
        client.create_offline_access_code(
            device_id="no_such_device",
            name="Stay 5005",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(days=2, hours=12),
            max_time_rounding="1h",
        )

    assert excinfo.value.status_code == 404
    assert excinfo.value.error_type == "device_not_found"


def test_an_unknown_code_is_a_permanent_not_found(client):
    with pytest.raises(SeamPermanentError) as excinfo:
        client.get_access_code("no_such_access_code")

    assert excinfo.value.status_code == 404
    assert excinfo.value.error_type == "not_found"


def test_a_bad_api_key_is_unauthorized(fake_seam):
    sleeps: list[float] = []
    client = make_client(fake_seam.url, "seam_not_a_real_key", sleeps)

    with pytest.raises(SeamPermanentError) as excinfo:
        client.list_locks()

    assert excinfo.value.status_code == 401
    assert excinfo.value.error_type == "unauthorized"
    assert excinfo.value.request_id
    assert sleeps == []


def test_another_workspaces_key_sees_none_of_our_doors(fake_seam):
    client = make_client(fake_seam.url, fake_seam.other_workspace_api_key)

    assert client.list_locks() == []


def test_a_refused_connection_is_transient(closed_port):
    sleeps: list[float] = []
    client = make_client(f"http://127.0.0.1:{closed_port}", "seam_apikey1_token", sleeps)

    with pytest.raises(SeamTransientError) as excinfo:
        client.list_locks()

    assert excinfo.value.status_code is None
    assert excinfo.value.error_type == "connection_error"
    assert excinfo.value.ambiguous is False
    assert len(sleeps) == 3


def test_a_create_that_cannot_connect_is_transient_and_not_retried(closed_port):
    sleeps: list[float] = []
    client = make_client(f"http://127.0.0.1:{closed_port}", "seam_apikey1_token", sleeps)
    starts_at = datetime(next_year(), 9, 10, 7, 0, tzinfo=LOS_ANGELES)

    with pytest.raises(SeamTransientError) as excinfo:
        client.create_offline_access_code(
            device_id=ROOM_101,
            name="Stay 6006",
            starts_at=starts_at,
            ends_at=starts_at + timedelta(days=2, hours=12),
            max_time_rounding="1h",
        )

    # Refused means Seam never saw it: not ambiguous, safe to create again later.
    assert excinfo.value.ambiguous is False
    assert sleeps == []
