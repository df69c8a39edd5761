"""Date changes, cancellations, chains, capacity and the time-zone guard, against the simulator.

The services run over real HTTP against the built-in simulator, which applies Oracode's rules
(a window must match a level exactly, at most 31 days, starts in the future): a code it accepts
is a code Seam would accept. Time is frozen with time-machine and moved by hand.
"""

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from codes.capacity import capacity, capacity_refusal
from codes.creating import access_code_create
from codes.emails import code_email_request, code_email_send
from codes.errors import Refused
from codes.models import AccessCode, AccessCodeEvent
from codes.offers import change_offer
from codes.selectors import ledger_codes
from codes.stays import ledger_acknowledge, reservation_cancel, reservation_change_dates, reservation_create
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Reservation
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import book, make_staff, run_due, unit_of
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ARRIVAL = date(2030, 7, 1)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101
GUEST_LEVEL = "Guest 15:00-11:00"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def client(seam_simulator: SimulatorServer) -> SeamClient:
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=seam_simulator.url, timeout=1.0, sleep=lambda _: None)


@pytest.fixture
def room(client: SeamClient, clock: Any) -> Lock:
    locks_sync(client=client)
    return Lock.objects.select_related("site").get(seam_device_id=ROOM_101)


def settle(client: SeamClient, clock: time_machine.Coordinates, rounds: int = 6) -> None:
    """Let the sweeper and the simulator run until nothing is due (quick mode sets in seconds)."""
    for _ in range(rounds):
        run_due(client)
        clock.shift(timedelta(seconds=30))
    run_due(client)


def at_seam(sim: SimulatorServer, reservation: Reservation) -> list[dict[str, Any]]:
    return [c for c in sim.access_codes(ROOM_101) if c["name"].startswith(f"R{reservation.pk} ")]


def change(reservation: Reservation, arrival: date, departure: date, kind: str, **kw: Any) -> Any:
    reservation.refresh_from_db()
    [door] = change_offer(reservation=reservation, arrival=arrival, departure=departure).doors
    plan = next(p for p in door.plans if p.kind == kind and (p.slot_name in ("", GUEST_LEVEL)))
    return reservation_change_dates(
        reservation=reservation, arrival=arrival, departure=departure, plan_keys={door.lock.pk: plan.key}, **kw
    )


def test_an_extension_keeps_the_guests_code_and_adds_a_continuation_seam_accepts(room, client, clock, seam_simulator):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)
    [original] = AccessCode.objects.filter(reservation=stay)
    assert original.status == Status.SET

    _, _plan = change(stay, ARRIVAL, ARRIVAL + timedelta(days=8), "extend")
    settle(client, clock)

    codes = list(AccessCode.objects.filter(reservation=stay).order_by("starts_at"))
    assert len(codes) == 2
    kept, continuation = codes
    assert kept.pk == original.pk
    assert kept.superseded_at is None
    assert kept.seam_access_code_id == original.seam_access_code_id
    assert continuation.status == Status.SET
    assert continuation.starts_at < kept.ends_at, "the continuation starts before the old code ends: no gap"
    assert continuation.ends_at == datetime(2030, 7, 9, 18, tzinfo=UTC)  # 11:00 PDT on the new departure
    assert len(at_seam(seam_simulator, stay)) == 2, "one new code at Seam, the old one untouched"
    assert not kept.ledger_reason
    assert not continuation.ledger_reason

    # One email says which code works when.
    email = code_email_send(code_email_id=code_email_request(access_code=continuation).pk)
    assert email.status == "sent"
    body = mail.outbox[-1].body
    assert mail.outbox[-1].subject == f"Your door codes for {room.site.name}, {room.name}"
    assert "Your stay needs 2 codes" in body
    assert f"Code 1: {kept.code}" in body
    assert f"Code 2: {continuation.code}" in body
    assert "Mon 1 Jul 15:00 → Sat 6 Jul 11:00" in body
    assert "Fri 5 Jul 15:00 → Tue 9 Jul 11:00" in body


def test_a_move_supersedes_the_old_code_which_stays_live_and_goes_into_the_ledger(room, client, clock, seam_simulator):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)
    [old] = AccessCode.objects.filter(reservation=stay)

    change(stay, ARRIVAL + timedelta(days=10), ARRIVAL + timedelta(days=14), "replace")
    settle(client, clock)

    old.refresh_from_db()
    new = AccessCode.objects.get(reservation=stay, superseded_at__isnull=True)
    assert old.superseded_at is not None
    assert old.status == Status.SET, "superseded, still live at Seam"
    assert old.ledger_reason == AccessCode.LedgerReason.MOVED
    assert new.status == Status.SET
    assert new.starts_at.date() == date(2030, 7, 11)
    assert len(at_seam(seam_simulator, stay)) == 2
    assert list(ledger_codes()) == [old]
    assert [e.kind for e in old.events.all()][-2:] == [Kind.SUPERSEDED, Kind.LEDGER]

    # The guest's email names the new code and warns that the old one still works.
    code_email_send(code_email_id=code_email_request(access_code=new).pk)
    body = mail.outbox[-1].body
    assert f"Door code: {new.code}" in body
    assert "The code we sent you before your dates changed still opens the door" in body
    with pytest.raises(Refused, match="replaced this code"):
        code_email_request(access_code=old)


def test_a_shortening_makes_no_code_and_lists_the_longer_one(room, client, clock, seam_simulator):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)

    _, [(_, plan)] = change(stay, ARRIVAL, ARRIVAL + timedelta(days=2), "shorten")

    [code] = AccessCode.objects.filter(reservation=stay)
    assert plan.new_windows == ()
    assert code.superseded_at is None, "it still serves the guest"
    assert code.ledger_reason == AccessCode.LedgerReason.SHORTENED
    assert len(at_seam(seam_simulator, stay)) == 1

    # Extended back: every day it opens is booked again, so it leaves the ledger.
    change(stay, ARRIVAL, ARRIVAL + timedelta(days=5), "extend")
    code.refresh_from_db()
    assert not code.ledger_reason
    assert AccessCode.objects.filter(reservation=stay).count() == 1, "the code already covers the dates"


def test_a_cancelled_stay_leaves_its_live_code_in_the_ledger_until_acknowledged_and_expired(room, client, clock):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)
    staff = make_staff("demo", room.site)

    assert reservation_cancel(reservation=stay, user=staff) == 1
    assert reservation_cancel(reservation=stay, user=staff) == 0, "cancelling twice changes nothing"
    [code] = ledger_codes()
    assert code.ledger_reason == AccessCode.LedgerReason.CANCELLED
    assert code.status == Status.SET

    ledger_acknowledge(access_code=code, user=staff)
    assert list(ledger_codes()) == [code], "acknowledged but still live: still listed"

    clock.move_to(code.ends_at + timedelta(minutes=1))
    assert list(ledger_codes()) == [], "acknowledged and expired: off the ledger"
    with pytest.raises(Refused, match="cancelled"):
        reservation_change_dates(reservation=stay, arrival=ARRIVAL, departure=date(2030, 7, 9))


def test_an_expired_code_nobody_acknowledged_stays_on_the_ledger(room, client, clock):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)
    reservation_cancel(reservation=stay)
    [code] = ledger_codes()

    clock.move_to(code.ends_at + timedelta(days=2))

    assert list(ledger_codes()) == [code]


def test_a_code_not_yet_sent_is_withdrawn_on_cancellation_and_never_created(room, client, clock, seam_simulator):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation  # its create task never ran (no worker in this test)
    [code] = AccessCode.objects.filter(reservation=stay)

    assert reservation_cancel(reservation=stay) == 0
    code = access_code_create(access_code_id=code.pk, client=client)

    assert code.status == Status.CANCELLED
    assert at_seam(seam_simulator, stay) == []
    assert list(ledger_codes()) == []
    assert AccessCode.objects.live(timezone.now()).filter(lock=room).count() == 0, "it holds no place on the lock"


def test_a_code_whose_earlier_call_may_have_reached_seam_is_looked_up_not_created_after_cancel(
    room, client, clock, seam_simulator
):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    [code] = AccessCode.objects.filter(reservation=stay)
    AccessCode.objects.filter(pk=code.pk).update(create_sent=True)  # a timeout after sending

    assert reservation_cancel(reservation=stay) == 1, "Seam may hold it: it goes into the ledger"
    code = access_code_create(access_code_id=code.pk, client=client)

    assert code.status == Status.CANCELLED, "nothing found at Seam, and nothing created"
    assert at_seam(seam_simulator, stay) == []


def test_a_stale_or_repeated_change_is_refused_and_applied_once(room, client, clock):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    settle(client, clock)
    new_departure = ARRIVAL + timedelta(days=7)
    offer = change_offer(reservation=stay, arrival=ARRIVAL, departure=new_departure)
    [door] = offer.doors
    plan = next(p for p in door.plans if p.kind == "extend")
    keys = {door.lock.pk: plan.key}

    reservation_change_dates(reservation=stay, arrival=ARRIVAL, departure=new_departure, plan_keys=keys)
    with pytest.raises(Refused, match="nothing to change"):
        reservation_change_dates(reservation=stay, arrival=ARRIVAL, departure=new_departure, plan_keys=keys)
    with pytest.raises(Refused, match="no longer offered"):
        reservation_change_dates(
            reservation=stay, arrival=ARRIVAL, departure=new_departure + timedelta(days=1), plan_keys=keys
        )
    assert AccessCode.objects.filter(reservation=stay).count() == 2


def test_a_long_stay_is_booked_as_a_chain_seam_accepts_link_by_link(room, client, clock, seam_simulator):
    # 75 nights from 20 Oct: the clocks go back on 3 Nov 2030 inside the first link.
    stay = book(room, arrival=date(2030, 10, 20), nights=75).reservation
    settle(client, clock)

    codes = list(AccessCode.objects.filter(reservation=stay).order_by("starts_at"))
    assert len(codes) == 3
    assert all(c.status in (Status.WAITING, Status.SET) and c.seam_access_code_id for c in codes)
    for before, after in itertools.pairwise(codes):
        assert after.starts_at <= before.ends_at, "no gap"
        assert before.ends_at - after.starts_at == timedelta(hours=20), "the overlap the 15:00/11:00 level forces"
        assert before.ends_at - before.starts_at <= timedelta(days=31)
    assert len(at_seam(seam_simulator, stay)) == 3
    assert codes[-1].ends_at == datetime(2031, 1, 3, 19, tzinfo=UTC)  # 11:00 PST on the departure day


def test_a_door_whose_time_zones_disagree_gets_no_code(room, client, clock, seam_simulator):
    stay = book(room, arrival=ARRIVAL, nights=5).reservation
    [code] = AccessCode.objects.filter(reservation=stay)
    room.site.timezone = "America/Denver"
    room.site.save()

    code = access_code_create(access_code_id=code.pk, client=client)

    assert code.status == Status.FAILED
    assert code.last_error_type == "time_zone_mismatch"
    assert "America/Denver" in code.last_error_message
    assert at_seam(seam_simulator, stay) == [], "nothing was sent to Seam"
    room.refresh_from_db()
    with pytest.raises(Refused, match="No codes can be made for Room 101 until its time zones agree"):
        reservation_create(
            unit=unit_of(room),
            guest_name="Ana Souza",
            guest_email="ana@example.com",
            arrival=ARRIVAL,
            departure=ARRIVAL + timedelta(days=5),
        )


def test_capacity_counts_every_code_until_it_ends_and_refuses_what_does_not_fit(room, client, clock):
    room.code_capacity = 4
    room.save()
    first = book(room, arrival=ARRIVAL, nights=5).reservation
    book(room, arrival=ARRIVAL + timedelta(days=10), guest_name="Ben", nights=5)
    settle(client, clock)
    reservation_cancel(reservation=first)  # its code still holds a place

    assert AccessCode.objects.live(timezone.now()).filter(lock=room).count() == 2
    state = capacity(room, live=2)
    assert state.level == "low"
    assert "room for only 2 more" in state.message
    assert capacity_refusal(room, needed=3, now=timezone.now()) == (
        "This needs 3 codes but Room 101 has room for only 2 more (2 live of 4). Codes free up as they end."
    )
    with pytest.raises(Refused, match="room for only 2 more"):
        book(room, arrival=date(2030, 9, 1), nights=70)  # a chain of 3

    clock.move_to(datetime(2030, 7, 7, tzinfo=UTC))  # the cancelled stay's code has ended
    assert AccessCode.objects.live(timezone.now()).filter(lock=room).count() == 1


def test_seams_max_codes_warning_marks_the_door_full(room):
    room.warnings = [{"warning_code": "max_access_codes_reached", "message": "Too many codes"}]
    room.save()

    assert capacity(room, live=0).level == "full"
    assert "max_access_codes_reached" in capacity_refusal(room, needed=1)
