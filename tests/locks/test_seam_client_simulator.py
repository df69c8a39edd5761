"""The real SeamClient against the built-in simulator over HTTP on loopback."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamClient, SeamPermanentError, SeamTransientError
from locks.services import locks_sync
from properties.models import Site
from simulator import demo
from tests.fixtures.simulator import SIMULATOR_API_KEY


def client_for(simulator, **kw) -> SeamClient:
    kw.setdefault("timeout", 2.0)
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=simulator.url, sleep=lambda _: None, **kw)


def future_stay(days_ahead: int = 20, nights: int = 3) -> tuple[date, date]:
    arrival = timezone.localdate() + timedelta(days=days_ahead)
    return arrival, arrival + timedelta(days=nights)


def test_list_locks_returns_the_oracode_doors_only(seam_simulator):
    locks = client_for(seam_simulator).list_locks()

    ids = {lock.device_id for lock in locks}
    assert demo.OCEAN_BEACH_ROOM_101 in ids
    assert demo.AUGUST_OFFICE_DOOR not in ids
    sydney = next(lock for lock in locks if lock.device_id == demo.HARBOUR_VIEW_APARTMENT_1A)
    assert sydney.timezone == "Australia/Sydney"
    assert sydney.site_name == "Harbour View Apartments"
    assert sydney.can_program_offline_access_codes
    assert sydney.time_slots


def test_create_and_get_a_code_through_the_client(seam_simulator):
    client = client_for(seam_simulator)
    door = client.get_lock(demo.OCEAN_BEACH_ROOM_101)
    arrival, departure = future_stay()
    window = offer_windows(door.time_slots, arrival=arrival, departure=departure)[0]

    created = client.create_offline_access_code(
        device_id=door.device_id,
        name="R1 Ana",
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        max_time_rounding=window.max_time_rounding,
    )
    fetched = client.get_access_code(created.access_code_id)

    assert created.status == "unset"
    assert created.code is None
    assert (fetched.starts_at, fetched.ends_at) == (window.starts_at, window.ends_at)
    assert [c.access_code_id for c in client.list_access_codes(door.device_id)] == [created.access_code_id]


@pytest.mark.parametrize(
    "device_id",
    [
        demo.OCEAN_BEACH_ROOM_101,
        demo.OCEAN_BEACH_ROOM_102,
        demo.OCEAN_BEACH_BEACH_HOUSE,
        demo.HARBOUR_VIEW_STREET_DOOR,
        demo.HARBOUR_VIEW_APARTMENT_1A,
        demo.HARBOUR_VIEW_APARTMENT_2B,
        demo.SIGNAL_HILL_ROOM_1,
        demo.SIGNAL_HILL_ROOM_2,
        demo.ALFAMA_ROOM_3,
    ],
)
def test_every_window_the_app_offers_is_accepted_by_the_simulator(start_seam_simulator, device_id):
    """Two independent readings of the Oracode rules agree: the offer and the simulator's check."""
    simulator = start_seam_simulator(rate_limit=1000)
    client = client_for(simulator)
    door = client.get_lock(device_id)
    zone = ZoneInfo(door.timezone or "UTC")
    today = timezone.now().astimezone(zone).date()
    stays = [(today + timedelta(days=d), n) for d in (3, 100, 130, 250) for n in (1, 5, 14)]
    offered = 0
    for arrival, nights in stays:
        for window in offer_windows(door.time_slots, arrival=arrival, departure=arrival + timedelta(days=nights)):
            client.create_offline_access_code(
                device_id=device_id,
                name=f"{window.slot_name} {arrival}",
                starts_at=window.starts_at,
                ends_at=window.ends_at,
                max_time_rounding=window.max_time_rounding,
            )
            offered += 1
    assert offered > 0


def test_a_window_off_the_slots_is_refused_with_seams_error_type(seam_simulator):
    client = client_for(seam_simulator)
    door = client.get_lock(demo.OCEAN_BEACH_ROOM_101)
    window = offer_windows(door.time_slots, arrival=future_stay()[0], departure=future_stay()[1])[0]

    with pytest.raises(SeamPermanentError) as excinfo:
        client.create_offline_access_code(
            device_id=door.device_id,
            name="off by one hour",
            starts_at=window.starts_at + timedelta(hours=1, minutes=30),
            ends_at=window.ends_at,
            max_time_rounding="1h",
        )

    assert excinfo.value.error_type == "dormakaba_oracode_invalid_time_range"
    assert excinfo.value.status_code == 400
    assert excinfo.value.request_id


def test_unknown_device_and_bad_key_are_permanent(seam_simulator):
    with pytest.raises(SeamPermanentError) as unknown:
        client_for(seam_simulator).get_lock("d0000000-0000-4000-8000-000000000000")
    with pytest.raises(SeamPermanentError) as bad_key:
        SeamClient(api_key="seam_wrong_key", endpoint=seam_simulator.url).list_locks()

    assert unknown.value.error_type == "device_not_found"
    assert bad_key.value.error_type == "unauthorized"
    assert bad_key.value.status_code == 401


def test_a_timeout_after_the_code_was_stored_is_ambiguous_and_never_retried(seam_simulator):
    client = client_for(seam_simulator, timeout=0.5)
    door = client.get_lock(demo.OCEAN_BEACH_ROOM_101)
    window = offer_windows(door.time_slots, arrival=future_stay()[0], departure=future_stay()[1])[0]
    seam_simulator.inject_fault("/access_codes/create", "timeout_after_store", hold_seconds=3)

    with pytest.raises(SeamTransientError) as excinfo:
        client.create_offline_access_code(
            device_id=door.device_id,
            name="R2 Ben",
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            max_time_rounding=window.max_time_rounding,
        )

    assert excinfo.value.ambiguous
    stored = [c for c in seam_simulator.access_codes(door.device_id) if c["name"] == "R2 Ben"]
    assert len(stored) == 1


def test_reads_survive_a_500_and_a_reset_but_a_429_on_create_is_reported(seam_simulator):
    client = client_for(seam_simulator)
    seam_simulator.inject_fault("/devices/get", "error_500")
    seam_simulator.inject_fault("/devices/list", "connection_reset")

    assert client.get_lock(demo.SIGNAL_HILL_ROOM_1).timezone == "America/St_Johns"
    assert client.list_locks()

    door = client.get_lock(demo.SIGNAL_HILL_ROOM_1)
    window = offer_windows(door.time_slots, arrival=future_stay()[0], departure=future_stay()[1])[0]
    seam_simulator.inject_fault("/access_codes/create", "rate_limit_429")
    with pytest.raises(SeamTransientError) as excinfo:
        client.create_offline_access_code(
            device_id=door.device_id,
            name="R3",
            starts_at=window.starts_at,
            ends_at=window.ends_at,
            max_time_rounding=window.max_time_rounding,
        )
    assert excinfo.value.status_code == 429
    assert excinfo.value.retry_after is not None
    assert not excinfo.value.ambiguous


@pytest.mark.django_db
def test_sync_locks_imports_the_simulators_doors_and_reports_the_zone_mismatch(seam_simulator):
    report = locks_sync(client=client_for(seam_simulator))

    assert Lock.objects.count() == 10
    assert Site.objects.count() == 5
    assert [lock.name for lock in report.timezone_mismatches] == ["Cabin 7"]
    assert Site.objects.get(dormakaba_site_name="Signal Hill Inn").timezone == "America/St_Johns"
    again = locks_sync(client=client_for(seam_simulator))
    assert (len(again.created), len(again.updated)) == (0, 10)


@pytest.mark.django_db
def test_sync_stores_seams_room_and_connected_account_on_each_door(seam_simulator):
    locks_sync(client=client_for(seam_simulator))

    room_102 = Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_102)
    room_101 = Lock.objects.get(seam_device_id=demo.OCEAN_BEACH_ROOM_101)
    assert room_102.seam_max_active_codes == 100
    assert room_101.seam_max_active_codes is None
    assert {lock.seam_connected_account_id for lock in Lock.objects.all()} == {demo.CONNECTED_ACCOUNT_ID}

    seam_simulator.configure_door(demo.OCEAN_BEACH_ROOM_101, max_active_codes_supported=1)
    client = client_for(seam_simulator)
    door = client.get_lock(demo.OCEAN_BEACH_ROOM_101)
    arrival, departure = future_stay()
    window = offer_windows(door.time_slots, arrival=arrival, departure=departure)[0]
    client.create_offline_access_code(
        device_id=door.device_id,
        name="R1 Ana",
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        max_time_rounding=window.max_time_rounding,
    )
    locks_sync(client=client)

    room_101.refresh_from_db()
    assert room_101.seam_max_active_codes == 1
    assert room_101.max_codes_reached is not None
    assert (room_101.max_codes_reached.active, room_101.max_codes_reached.maximum) == (1, 1)
