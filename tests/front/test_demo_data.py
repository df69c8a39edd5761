from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from codes.creating import access_code_create
from codes.following import access_code_refresh
from codes.models import AccessCode, walking_order
from codes.selectors import ledger_codes
from locks.models import Lock
from locks.services import locks_sync
from properties.models import Reservation, Site, Unit, UnitDoor
from properties.selectors import sites_for_user
from simulator import demo
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status

HARBOUR = demo.HARBOUR_VIEW.name
DEMO_UNITS = {
    (HARBOUR, "Apartment 1A"): ["Street Door", "Apartment 1A"],
    (HARBOUR, "Apartment 2B"): ["Street Door", "Apartment 2B"],
    ("Ocean Beach Vacations", "Beach House Front Door"): ["Beach House Front Door"],
    ("Ocean Beach Vacations", "Room 101"): ["Room 101"],
    ("Ocean Beach Vacations", "Room 102"): ["Room 102"],
    ("Signal Hill Inn", "Room 1"): ["Room 1"],
    ("Signal Hill Inn", "Room 2"): ["Room 2"],
    ("Casa Alfama Guesthouse", "Quarto 3"): ["Quarto 3"],
    ("Lakeside Cabins", "Cabin 7"): ["Cabin 7"],
}


@pytest.fixture
def use_simulator(settings):
    settings.DEBUG = True
    settings.SEAM_API_KEY = SIMULATOR_API_KEY

    def use(simulator):
        settings.SEAM_ENDPOINT = simulator.url
        return simulator

    return use


def units_and_doors() -> dict[tuple[str, str], list[str]]:
    return {
        (unit.site.name, unit.name): [unit_door.lock.name for unit_door in unit.unit_doors.order_by("position", "pk")]
        for unit in Unit.objects.select_related("site")
    }


def work_the_queue(simulator) -> None:
    """What the worker and beat do with the queued codes: create each at Seam, then, once Seam
    has had time to program them, ask where each stands."""
    for code in AccessCode.objects.filter(status=Status.PENDING):
        access_code_create(access_code_id=code.pk)
    simulator.advance_clock(timedelta(minutes=1))
    for code in AccessCode.objects.filter(status=Status.WAITING):
        access_code_refresh(access_code_id=code.pk)


def test_demo_data_loads_doors_users_units_and_stays_once(use_simulator, seam_simulator, capsys):
    use_simulator(seam_simulator)

    call_command("demo_data", "--url", "http://127.0.0.1:8000/")
    printed = capsys.readouterr().out
    first = (Reservation.objects.count(), AccessCode.objects.count(), UnitDoor.objects.count())
    call_command("demo_data")

    users = get_user_model().objects
    assert users.get(username="admin").is_superuser
    harbour = users.get(username="harbour")
    assert [site.name for site in sites_for_user(user=harbour)] == [HARBOUR]
    assert HARBOUR not in [s.name for s in sites_for_user(user=users.get(username="demo"))]
    assert Site.objects.count() == 5
    assert users.get(username="demo").check_password("oracode-demo")
    assert "ready at http://127.0.0.1:8000/" in printed
    assert "demo / oracode-demo" in printed
    assert "Not booked" not in printed
    # The street door is no unit of its own; the office's August lock is no door of ours.
    assert units_and_doors() == DEMO_UNITS
    assert {(u.check_in_time.hour, u.check_out_time.hour) for u in Unit.objects.all()} == {(15, 11)}
    # Three guests on each site that takes codes, a cancelled stay and the stay on Cabin 7; a
    # code on each door of the unit (two in an apartment); nothing twice.
    assert first == (14, 17, 11)
    assert (Reservation.objects.count(), AccessCode.objects.count(), UnitDoor.objects.count()) == first


def test_an_apartment_made_a_unit_of_one_door_before_gets_the_street_door_in_front(use_simulator, seam_simulator):
    use_simulator(seam_simulator)
    locks_sync()
    flat = Lock.objects.get(seam_device_id=demo.HARBOUR_VIEW_APARTMENT_1A)
    unit = Unit.objects.create(site=flat.site, name=flat.name)
    UnitDoor.objects.create(unit=unit, lock=flat, position=0)

    call_command("demo_data")

    assert units_and_doors()[(HARBOUR, "Apartment 1A")] == ["Street Door", "Apartment 1A"]
    assert Unit.objects.filter(name="Apartment 1A").count() == 1


def test_the_demo_shows_codes_set_failed_and_in_the_ledger(use_simulator, seam_simulator):
    simulator = use_simulator(seam_simulator)

    call_command("demo_data")
    work_the_queue(simulator)

    # Cabin 7's zones disagree: its code failed with the reason, and nothing went to Seam.
    failed = AccessCode.objects.get(lock__seam_device_id=demo.LAKESIDE_CABIN_7)
    assert (failed.status, failed.last_error_type) == (Status.FAILED, "time_zone_mismatch")
    assert failed.last_error_message.startswith("Not sent to Seam.")
    assert simulator.create_calls.get(demo.LAKESIDE_CABIN_7, 0) == 0
    # The cancelled stay's code was made at Seam before the cancellation: it is in the ledger.
    listed = list(ledger_codes())
    assert [(code.reservation.guest_name, code.lock.name) for code in listed] == [("Dana Whitfield", "Room 101")]
    assert listed[0].reservation.is_cancelled
    assert listed[0].ledger_reason == AccessCode.LedgerReason.CANCELLED
    assert listed[0].seam_access_code_id in {c["access_code_id"] for c in simulator.access_codes()}
    # Every other code is set, with its PIN, once at Seam.
    others = AccessCode.objects.exclude(pk__in=[failed.pk, listed[0].pk])
    assert {code.status for code in others} == {Status.SET}
    assert all(code.code for code in others)
    assert len(simulator.access_codes()) == AccessCode.objects.count() - 1


def test_an_apartment_stay_has_a_code_on_the_street_door_then_on_its_own(use_simulator, seam_simulator):
    use_simulator(seam_simulator)

    call_command("demo_data")

    stay = Reservation.objects.select_related("unit").get(site__name=HARBOUR, guest_name="Ana Souza")
    codes = walking_order(stay.access_codes.select_related("lock"), stay.unit)
    assert [code.lock.name for code in codes] == ["Street Door", "Apartment 1A"]
    street = Lock.objects.get(seam_device_id=demo.HARBOUR_VIEW_STREET_DOOR)
    flat = Lock.objects.get(seam_device_id=demo.HARBOUR_VIEW_APARTMENT_1A)
    # Each door's own level, the one closest to the unit's standard times (not its 24-hour level).
    assert [code.user_level_id for code in codes] == [
        level_id(street, "Guest 15:00-11:00"),
        level_id(flat, "Guest 15:00-11:00"),
    ]
    assert [code.max_time_rounding for code in codes] == ["1h", "1h"]


def level_id(lock: Lock, name: str) -> str:
    return str(next(slot["dormakaba_oracode_user_level_id"] for slot in lock.time_slots if slot["name"] == name))


def test_with_seams_own_schedule_the_demo_codes_wait_for_the_lock_system(use_simulator, start_seam_simulator):
    # Seam programs an offline code about an hour before it starts: until then it is unset.
    simulator = use_simulator(start_seam_simulator(mode="realistic"))

    call_command("demo_data")
    work_the_queue(simulator)

    waiting = AccessCode.objects.exclude(status=Status.FAILED)
    assert {code.status for code in waiting} == {Status.WAITING}
    assert all(not code.code for code in waiting)
    assert all(
        [mutation["mutation_code"] for mutation in code.pending_mutations] == ["deferring_creation"]
        for code in waiting
    )


def test_demo_data_books_no_stay_on_the_real_seam(use_simulator, seam_simulator, settings, capsys):
    # An Oracode code can never be deleted: a demo guest's code would stay on a real door.
    use_simulator(seam_simulator)
    settings.SEAM_USES_SIMULATOR = False

    call_command("demo_data")

    assert units_and_doors() == DEMO_UNITS
    assert Reservation.objects.count() == 0
    assert AccessCode.objects.count() == 0
    assert "no demo stays are booked" in capsys.readouterr().out


def test_demo_data_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DJANGO_DEBUG=1"):
        call_command("demo_data")
