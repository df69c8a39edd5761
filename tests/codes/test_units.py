"""A stay in a unit of two doors (a shared front door, then the room's own door), against the
simulator over HTTP: a code on every door in a window that door accepts, or no stay at all;
date changes, cancellations, capacity and overlaps door by door; one email for the stay."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail

from codes.emails import code_email_request, code_email_send
from codes.errors import Refused
from codes.models import AccessCode
from codes.offers import change_offer, stay_offer
from codes.stays import reservation_cancel, reservation_change_dates, reservation_codes_create, reservation_create
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Reservation, Unit
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import make_reservation, make_unit, run_due
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ARRIVAL = date(2030, 7, 1)
FRONT_DOOR = demo.OCEAN_BEACH_BEACH_HOUSE  # the shared front door: 16:00-10:00 and daily 15:00
ROOM_101 = demo.OCEAN_BEACH_ROOM_101  # 15:00-11:00, 16:00-10:00, day use, daily 14:00, ...
ROOM_102 = demo.OCEAN_BEACH_ROOM_102


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def seam_client_of(sim: SimulatorServer) -> SeamClient:
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=1.0, sleep=lambda _: None)


def sync_doors(client: SeamClient) -> dict[str, Lock]:
    """The simulator's doors, imported, by device id."""
    locks_sync(client=client)
    return {lock.seam_device_id: lock for lock in Lock.objects.select_related("site")}


@pytest.fixture
def client(seam_simulator: SimulatorServer) -> SeamClient:
    return seam_client_of(seam_simulator)


@pytest.fixture
def doors(client: SeamClient, clock: Any) -> dict[str, Lock]:
    return sync_doors(client)


@pytest.fixture
def suite(doors: dict[str, Lock]) -> Unit:
    """Room 101, reached through the shared front door; Room 102 shares that door."""
    front = doors[FRONT_DOOR]
    make_unit(front.site, "Room 102 suite", front, doors[ROOM_102])
    return make_unit(front.site, "Room 101 suite", front, doors[ROOM_101])


def settle(client: SeamClient, clock: time_machine.Coordinates, rounds: int = 6) -> None:
    for _ in range(rounds):
        run_due(client)
        clock.shift(timedelta(seconds=30))
    run_due(client)


def book(unit: Unit, *, arrival: date = ARRIVAL, nights: int = 3, **kw: Any) -> Reservation:
    reservation, _ = reservation_create(
        unit=unit,
        guest_name=kw.pop("guest_name", "Ana Souza"),
        guest_email="ana@example.com",
        arrival=arrival,
        departure=arrival + timedelta(days=nights),
        **kw,
    )
    return reservation


def preselected(door: Any) -> Any:
    plan = door.plan(door.preselected)
    assert plan is not None
    return plan


def codes_by_door(reservation: Reservation) -> dict[str, list[AccessCode]]:
    codes: dict[str, list[AccessCode]] = {}
    for code in AccessCode.objects.filter(reservation=reservation).select_related("lock").order_by("starts_at", "pk"):
        codes.setdefault(code.lock.seam_device_id, []).append(code)
    return codes


def at_seam(sim: SimulatorServer, device_id: str, reservation: Reservation) -> list[dict[str, Any]]:
    return [c for c in sim.access_codes(device_id) if c["name"].startswith(f"R{reservation.pk} ")]


def test_each_door_preselects_the_window_closest_to_the_units_standard_times(suite):
    offer = stay_offer(unit=suite, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=3), now=START)

    front, room = offer.doors
    assert front.lock.seam_device_id == FRONT_DOOR, "walking order: the front door first"
    # 15:00/11:00: the front door's 16:00-10:00 is two hours off, its daily 15:00-15:00 four.
    assert preselected(front).slot_name == "Guest 16:00-10:00"
    assert preselected(room).slot_name == "Guest 15:00-11:00"


def test_a_stay_gets_a_code_on_every_door_and_seam_accepts_each(suite, client, clock, seam_simulator):
    stay = book(suite)
    settle(client, clock)

    codes = codes_by_door(stay)
    assert set(codes) == {FRONT_DOOR, ROOM_101}
    front, room = codes[FRONT_DOOR][0], codes[ROOM_101][0]
    assert (front.status, room.status) == (Status.SET, Status.SET)
    assert front.slot_name == "Guest 16:00-10:00"
    assert room.slot_name == "Guest 15:00-11:00"
    assert front.name != room.name, "each is found again by its own name after an ambiguous failure"
    assert [c["name"] for c in at_seam(seam_simulator, FRONT_DOOR, stay)] == [front.name]
    assert [c["name"] for c in at_seam(seam_simulator, ROOM_101, stay)] == [room.name]


def test_staff_may_choose_another_window_for_a_door(suite):
    offer = stay_offer(unit=suite, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=3), now=START)
    front = offer.doors[0]
    daily = next(p for p in front.plans if p.slot_name == "Daily 15:00-15:00")

    stay = book(suite, plan_keys={front.lock.pk: daily.key})

    assert codes_by_door(stay)[FRONT_DOOR][0].slot_name == "Daily 15:00-15:00"


def test_a_door_that_offers_nothing_refuses_the_whole_stay_with_its_reasons(suite, doors):
    room = doors[ROOM_101]
    room.can_program_offline_access_codes = False
    room.save()

    with pytest.raises(Refused, match="Room 101: Seam says Room 101 cannot take offline codes"):
        book(suite)

    assert not Reservation.objects.exists(), "never half a stay"
    assert not AccessCode.objects.exists()


def test_an_optional_shared_door_that_offers_nothing_is_left_out(doors):
    front, room = doors[FRONT_DOOR], doors[ROOM_101]
    unit = make_unit(room.site, "Room with a gym", room, front, optional=(front,))
    front.can_program_offline_access_codes = False
    front.save()

    stay = book(unit)

    assert set(codes_by_door(stay)) == {ROOM_101}


def test_a_date_change_extends_the_codes_on_every_door_and_seam_accepts_them(suite, client, clock, seam_simulator):
    stay = book(suite)
    settle(client, clock)
    new_departure = ARRIVAL + timedelta(days=6)
    offer = change_offer(reservation=stay, arrival=ARRIVAL, departure=new_departure)
    assert [preselected(door).kind for door in offer.doors] == ["extend", "extend"]

    _, applied = reservation_change_dates(reservation=stay, arrival=ARRIVAL, departure=new_departure)
    settle(client, clock)

    codes = codes_by_door(stay)
    for device_id in (FRONT_DOOR, ROOM_101):
        first, continuation = codes[device_id]
        assert first.superseded_at is None, "the guest keeps the code of each door"
        assert continuation.status == Status.SET
        assert continuation.starts_at < first.ends_at, "no gap on any door"
        assert continuation.slot_name == first.slot_name, "each door keeps its level"
        assert len(at_seam(seam_simulator, device_id, stay)) == 2
    assert [lock.seam_device_id for lock, _ in applied] == [FRONT_DOOR, ROOM_101]


def test_a_cancellation_lists_the_live_code_of_every_door_in_the_ledger(suite, client, clock):
    stay = book(suite)
    settle(client, clock)

    listed = reservation_cancel(reservation=stay)

    assert listed == 2
    reasons = {
        code.lock.seam_device_id: code.ledger_reason for codes in codes_by_door(stay).values() for code in codes
    }
    assert reasons == {FRONT_DOOR: "cancelled", ROOM_101: "cancelled"}


def test_a_full_shared_door_refuses_the_booking_of_any_unit_behind_it(suite, doors):
    front = doors[FRONT_DOOR]
    front.code_capacity = 1
    front.save()
    book(suite)  # its front-door code holds the door's only place
    other = Unit.objects.get(name="Room 102 suite")

    with pytest.raises(Refused, match="Beach House Front Door has no room for another code"):
        book(other, guest_name="Ben Okafor")

    assert Reservation.objects.count() == 1


def test_an_overlapping_stay_on_the_units_own_door_needs_a_confirmation(suite):
    book(suite)
    other_unit = Unit.objects.get(name="Room 102 suite")

    # The shared front door does not make stays in other units overlap.
    book(other_unit, guest_name="Ben Okafor")
    with pytest.raises(Refused, match="overlap a stay already booked: Ana Souza in Room 101 suite") as refused:
        book(suite, arrival=ARRIVAL + timedelta(days=1), guest_name="Cy Double")
    assert refused.value.field == "allow_overlap"

    book(suite, arrival=ARRIVAL + timedelta(days=1), guest_name="Cy Double", allow_overlap=True)
    assert Reservation.objects.filter(unit=suite).count() == 2


def test_the_same_form_submitted_twice_books_one_stay(suite):
    first = book(suite, request_key="form-1")
    again = book(suite, request_key="form-1")

    assert again.pk == first.pk
    assert Reservation.objects.count() == 1
    assert AccessCode.objects.count() == 2


def test_a_stay_without_codes_gets_them_on_every_door(suite):
    stay = make_reservation(suite, arrival=ARRIVAL)

    codes = reservation_codes_create(reservation=stay)

    assert [code.lock.seam_device_id for code in codes] == [FRONT_DOOR, ROOM_101]
    with pytest.raises(Refused, match="has its codes already"):
        reservation_codes_create(reservation=stay)


def test_one_email_lists_each_doors_pin_and_window_in_walking_order(suite, client, clock):
    stay = book(suite)
    settle(client, clock)
    front, room = (codes_by_door(stay)[device_id][0] for device_id in (FRONT_DOOR, ROOM_101))

    email = code_email_send(code_email_id=code_email_request(access_code=front).pk)

    assert email.status == "sent"
    message = mail.outbox[-1]
    assert message.subject == "Your door codes for Ocean Beach Vacations, Room 101 suite"
    body = message.body
    assert f"Beach House Front Door: {front.code}" in body
    assert f"Room 101: {room.code}" in body
    assert body.index("Beach House Front Door:") < body.index("Room 101:")
    assert "one for each door" in body
