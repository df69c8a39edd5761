"""Following a created code until Seam sets it: when to check, what is stored, what the sweeper queues."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from codes import creating, tasks
from codes.creating import access_code_create
from codes.following import (
    MAX_CHECK_INTERVAL,
    NEAR_START_CHECK_INTERVAL,
    SEAM_SETS_BEFORE_START,
    access_code_refresh,
    next_check_time,
)
from codes.models import AccessCode, AccessCodeEvent, CodeEmail, SeamCreateCall, StaffAlert
from codes.rate_limit import CLAIM_LEASE, create_slot_reserve
from codes.sweeping import access_codes_due
from locks.models import Lock
from locks.seam import SeamAccessCode, SeamClient
from locks.services import locks_sync
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import book, run_due
from tests.fixtures.simulator import SIMULATOR_API_KEY

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101
FAR = START + timedelta(days=30)


# When to check


def test_the_first_check_comes_soon_after_the_create(settings):
    settings.CODES_FIRST_CHECK_SECONDS = 10
    assert next_check_time(starts_at=FAR, checks=0, now=START) == START + timedelta(seconds=10)


def test_checks_back_off_while_the_start_is_far():
    gaps = [next_check_time(starts_at=FAR, checks=n, now=START) - START for n in range(1, 14)]

    assert gaps[:4] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert gaps == sorted(gaps)
    assert gaps[-1] == MAX_CHECK_INTERVAL


@pytest.mark.parametrize("checks", [40, 50, 1000])
def test_a_code_checked_for_weeks_still_gets_its_next_check(checks):
    # Six-hourly checks of a code booked months ahead add up to hundreds.
    assert next_check_time(starts_at=FAR, checks=checks, now=START) == START + MAX_CHECK_INTERVAL


def test_the_backoff_never_jumps_past_the_hour_before_the_start():
    starts_at = START + timedelta(hours=3)
    assert next_check_time(starts_at=starts_at, checks=8, now=START) == starts_at - SEAM_SETS_BEFORE_START


@pytest.mark.parametrize("before_start", [timedelta(minutes=65), timedelta(minutes=30), timedelta(0)])
def test_close_to_the_start_it_checks_every_two_minutes(before_start):
    now = FAR - before_start
    assert next_check_time(starts_at=FAR, checks=7, now=now) == now + NEAR_START_CHECK_INTERVAL


@given(
    checks=st.integers(min_value=1, max_value=10_000),
    until_start=st.timedeltas(min_value=timedelta(hours=-48), max_value=timedelta(days=400)),
)
def test_the_next_check_is_always_soon_and_never_misses_the_programming_hour(checks, until_start):
    starts_at = START + until_start
    next_check = next_check_time(starts_at=starts_at, checks=checks, now=START)

    assert START < next_check <= START + MAX_CHECK_INTERVAL
    if starts_at - SEAM_SETS_BEFORE_START > START:
        assert next_check <= starts_at - SEAM_SETS_BEFORE_START


# Following a code at the simulator


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def client_for(sim: SimulatorServer) -> SeamClient:
    return SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=1.0, sleep=lambda _: None)


def created_code(sim: SimulatorServer, *, arrival: date = date(2030, 7, 1), nights: int = 3) -> AccessCode:
    """A code for Room 101, created at the simulator and now waiting for Seam to set it."""
    client = client_for(sim)
    locks_sync(client=client)
    lock = Lock.objects.get(seam_device_id=ROOM_101)
    code = book(lock, arrival=arrival, nights=nights)
    code = access_code_create(access_code_id=code.pk, client=client)
    assert code.status == Status.WAITING
    return code


@pytest.mark.django_db
def test_a_code_made_weeks_ahead_is_followed_until_seam_sets_it(clock, start_seam_simulator):
    sim = start_seam_simulator(mode="realistic")
    client = client_for(sim)
    code = created_code(sim, arrival=date(2030, 6, 13))

    assert code.seam_status == "unset"
    assert [m["mutation_code"] for m in code.pending_mutations] == ["deferring_creation"]
    assert code.code == ""

    checked_at: list[datetime] = []
    while code.status == Status.WAITING and len(checked_at) < 200:
        clock.move_to(code.next_check_at)
        checked_at.append(timezone.now())
        assert run_due(client) == [(code.pk, "refresh")]
        code.refresh_from_db()

    assert code.status == Status.SET
    assert code.seam_status == "set"
    [at_seam] = sim.access_codes(ROOM_101)
    assert code.code == at_seam["code"]
    assert len(code.code) == 6
    assert code.next_check_at is None
    assert code.set_at == checked_at[-1]
    assert code.pending_mutations == []
    assert code.checks == len(checked_at)
    assert [k for k in code.events.values_list("kind", flat=True) if k in {Kind.STATUS, Kind.SET}] == [
        Kind.STATUS,
        Kind.SET,
    ]
    # Backing off to six-hourly checks for twelve days (more checks than 2**checks seconds can
    # take as a timedelta), never skipping the programming hour.
    gaps = [b - a for a, b in pairwise(checked_at)]
    assert max(gaps) == MAX_CHECK_INTERVAL
    assert code.starts_at - SEAM_SETS_BEFORE_START in checked_at
    assert 50 < len(checked_at) < 70
    assert run_due(client) == []


@pytest.mark.django_db
def test_a_code_quickly_set_is_stored_with_its_pin(clock, seam_simulator):
    code = created_code(seam_simulator)
    assert [m["mutation_code"] for m in code.pending_mutations] == ["creating"]

    clock.move_to(code.next_check_at)
    run_due(client_for(seam_simulator))

    code.refresh_from_db()
    assert code.status == Status.SET
    assert code.code == seam_simulator.access_codes(ROOM_101)[0]["code"]
    assert code.next_check_at is None


class AnsweringClient(SeamClient):
    """A client whose reads of one code answer what the test says."""

    def __init__(self, answer: SeamAccessCode) -> None:
        super().__init__(api_key="seam_stub_key", endpoint="http://127.0.0.1:9")
        self.answer = answer

    def get_access_code(self, access_code_id: str) -> SeamAccessCode:
        assert access_code_id == self.answer.access_code_id
        return self.answer


@pytest.mark.django_db
def test_seams_warnings_and_pending_mutations_are_stored_and_the_code_keeps_waiting(clock, seam_simulator):
    code = created_code(seam_simulator)
    warning = {"warning_code": "delay_in_setting_on_device", "message": "Code programming is delayed."}
    mutation = {"mutation_code": "creating", "created_at": "2030-06-01T12:00:00.000Z"}
    real = client_for(seam_simulator).get_access_code(code.seam_access_code_id)
    answer = replace(real, status="unset", warnings=[warning], errors=[], pending_mutations=[mutation])

    refreshed = access_code_refresh(access_code_id=code.pk, client=AnsweringClient(answer))

    assert refreshed.status == Status.WAITING
    assert refreshed.warnings == [warning]
    assert refreshed.pending_mutations == [mutation]
    assert refreshed.last_error_type == ""
    assert refreshed.next_check_at is not None
    assert not StaffAlert.objects.exists()
    stored = AccessCode.objects.get(pk=code.pk)
    assert (stored.warnings, stored.errors, stored.pending_mutations) == ([warning], [], [mutation])


@pytest.mark.django_db
def test_an_error_on_the_code_fails_it_at_once_and_alerts_staff(clock, seam_simulator):
    code = created_code(seam_simulator)
    error = {"error_code": "failed_to_set_on_device", "message": "The lock system refused the code."}
    warning = {"warning_code": "delay_in_setting_on_device", "message": "Code programming is delayed."}
    real = client_for(seam_simulator).get_access_code(code.seam_access_code_id)
    answer = replace(real, status="unset", warnings=[warning], errors=[error])

    refreshed = access_code_refresh(access_code_id=code.pk, client=AnsweringClient(answer))

    assert refreshed.status == Status.FAILED
    assert refreshed.errors == [error]
    assert refreshed.last_error_type == "failed_to_set_on_device"
    assert refreshed.last_error_message == "The lock system refused the code."
    assert refreshed.next_check_at is None
    assert list(refreshed.events.values_list("kind", flat=True))[-1] == Kind.FAILED
    alert = StaffAlert.objects.get()
    assert (alert.kind, alert.access_code_id, alert.lock_id) == ("code_failed", code.pk, code.lock_id)
    assert run_due(client_for(seam_simulator)) == []  # no more checks


@pytest.mark.django_db
def test_a_code_still_unset_when_its_window_ends_fails(clock, start_seam_simulator):
    # A lock system that never programs the code.
    never = timedelta(days=400)
    sim = start_seam_simulator(mode="quick", setting_after=never, set_after=never)
    code = created_code(sim)

    clock.move_to(code.ends_at)
    run_due(client_for(sim))

    code.refresh_from_db()
    assert code.status == Status.FAILED
    assert code.last_error_type == "not_set_in_time"
    assert code.next_check_at is None
    assert list(code.events.values_list("kind", flat=True))[-1] == Kind.FAILED
    assert run_due(client_for(sim)) == []


@pytest.mark.django_db
def test_a_transient_error_moves_the_check_back_and_is_forgotten_once_seam_answers(clock, seam_simulator):
    code = created_code(seam_simulator)
    client = client_for(seam_simulator)
    seam_simulator.inject_fault("/access_codes/get", "error_500", count=4)

    clock.move_to(code.next_check_at)
    run_due(client)

    code.refresh_from_db()
    assert code.status == Status.WAITING
    assert code.last_error_type == "internal_server_error"
    assert code.next_check_at is not None
    assert code.next_check_at > timezone.now()

    clock.move_to(code.next_check_at)
    run_due(client)

    code.refresh_from_db()
    assert code.status == Status.SET
    assert code.last_error_type == ""
    assert code.last_error_message == ""


@pytest.mark.django_db
def test_a_code_seam_no_longer_knows_fails(clock, seam_simulator):
    code = created_code(seam_simulator)
    AccessCode.objects.filter(pk=code.pk).update(seam_access_code_id="5e4a0000-0000-4000-8000-00000000f00d")

    failed = access_code_refresh(access_code_id=code.pk, client=client_for(seam_simulator))

    assert failed.status == Status.FAILED
    assert failed.last_error_type == "not_found"


# The sweeper


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, int]]:
    """What the sweep task sends to the broker."""
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks.access_code_create_task, "delay", lambda pk: sent.append(("create", pk)))
    monkeypatch.setattr(tasks.access_code_refresh_task, "delay", lambda pk: sent.append(("refresh", pk)))
    return sent


@pytest.mark.django_db
def test_two_sweeps_in_a_row_queue_a_due_refresh_once(clock, seam_simulator, queued):
    code = created_code(seam_simulator)
    clock.move_to(code.next_check_at)

    assert tasks.access_codes_sweep_task() == 1
    assert tasks.access_codes_sweep_task() == 0

    assert queued == [("refresh", code.pk)]


@pytest.mark.django_db
def test_two_sweeps_in_a_row_queue_a_due_retry_once(clock, seam_simulator, queued):
    code = _retrying_code(seam_simulator)
    clock.move_to(code.next_check_at)

    assert tasks.access_codes_sweep_task() == 1
    assert tasks.access_codes_sweep_task() == 0

    assert queued == [("create", code.pk)]
    access_code_create(access_code_id=code.pk, client=client_for(seam_simulator))
    assert AccessCode.objects.get(pk=code.pk).status == Status.WAITING


@pytest.mark.django_db
def test_a_queued_code_whose_task_was_lost_is_queued_again_after_the_lease(clock, seam_simulator):
    code = _retrying_code(seam_simulator)
    clock.move_to(code.next_check_at)
    assert access_codes_due(now=timezone.now()) == [(code.pk, "create")]

    clock.shift(CLAIM_LEASE - timedelta(seconds=1))
    assert access_codes_due(now=timezone.now()) == []
    clock.shift(timedelta(seconds=2))
    assert access_codes_due(now=timezone.now()) == [(code.pk, "create")]


@pytest.mark.django_db
def test_a_refresh_whose_task_was_lost_is_queued_again_after_the_lease(clock, seam_simulator):
    code = created_code(seam_simulator)
    clock.move_to(code.next_check_at)
    assert access_codes_due(now=timezone.now()) == [(code.pk, "refresh")]

    clock.shift(CLAIM_LEASE)
    assert access_codes_due(now=timezone.now()) == [(code.pk, "refresh")]


@pytest.mark.django_db
def test_a_new_code_is_left_to_its_own_task_until_the_lease_runs_out(clock, seam_simulator):
    code = created_code(seam_simulator)
    new = _book_another(code)

    assert access_codes_due(now=timezone.now()) == []
    clock.shift(CLAIM_LEASE + timedelta(seconds=1))
    due = access_codes_due(now=timezone.now())
    assert (new.pk, "create") in due
    assert (new.pk, "create") not in access_codes_due(now=timezone.now())


@pytest.mark.django_db
def test_a_claim_abandoned_mid_call_is_queued_once_and_adopted(clock, seam_simulator):
    client = client_for(seam_simulator)
    code = _book_another(created_code(seam_simulator))
    # A worker claims the code, books the create, gets it made at Seam and dies before recording it.
    now = timezone.now()
    assert creating._claim(code.pk, now)
    code = AccessCode.objects.select_related("lock").get(pk=code.pk)
    assert create_slot_reserve(code, now) is None
    client.create_offline_access_code(
        device_id=ROOM_101,
        name=code.name,
        starts_at=code.starts_at.astimezone(ZoneInfo(code.timezone)),
        ends_at=code.ends_at.astimezone(ZoneInfo(code.timezone)),
        max_time_rounding=code.max_time_rounding,
    )

    assert _due_creates() == []
    clock.shift(CLAIM_LEASE + timedelta(seconds=1))
    assert _due_creates() == [code.pk]
    assert _due_creates() == []

    adopted = access_code_create(access_code_id=code.pk, client=client)

    assert adopted.status in {Status.WAITING, Status.SET}
    assert Kind.ADOPTED in adopted.events.values_list("kind", flat=True)
    assert len([c for c in seam_simulator.access_codes(ROOM_101) if c["name"] == code.name]) == 1
    assert seam_simulator.create_calls[ROOM_101] == 2  # the first code and this one


def _due_creates() -> list[int]:
    return [pk for pk, kind in access_codes_due(now=timezone.now()) if kind == "create"]


def _book_another(code: AccessCode) -> AccessCode:
    """A second reservation on the same door, its code still pending."""
    reservation = code.reservation
    return book(
        code.lock,
        arrival=reservation.arrival,
        nights=reservation.nights,
        slot_name=None,
        guest_name="Ben Okafor",
        guest_email="ben@example.com",
    )


def _retrying_code(sim: SimulatorServer) -> AccessCode:
    """A code whose first create met a 500: pending, due again after its backoff."""
    code = _book_another(created_code(sim))
    sim.inject_fault("/access_codes/create", "error_500")
    code = access_code_create(access_code_id=code.pk, client=client_for(sim))
    assert code.status == Status.PENDING
    assert code.next_check_at is not None
    assert code.next_check_at > timezone.now()
    # The first code's refresh is out of the way for the rest of the test.
    AccessCode.objects.exclude(pk=code.pk).update(status=Status.SET, next_check_at=None)
    return code


@pytest.mark.django_db
def test_the_sweep_trims_the_create_ledger_but_keeps_the_last_month(clock, seam_simulator, queued):
    code = created_code(seam_simulator)
    ledger = SeamCreateCall.objects.filter(access_code=code)
    assert ledger.count() == 1

    clock.move_to(timezone.now() + timedelta(days=29))
    tasks.access_codes_sweep_task()
    kept = ledger.count()
    clock.move_to(timezone.now() + timedelta(days=2))
    tasks.access_codes_sweep_task()

    assert kept == 1
    assert ledger.count() == 0


@pytest.mark.django_db
def test_the_sweep_shows_an_email_whose_worker_died_as_failed(clock, seam_simulator, queued):
    code = created_code(seam_simulator)
    email = CodeEmail.objects.create(
        access_code=code, to_address="ana@example.com", status=CodeEmail.Status.SENDING, claimed_at=timezone.now()
    )

    clock.move_to(timezone.now() + timedelta(minutes=16))
    tasks.access_codes_sweep_task()

    email.refresh_from_db()
    assert email.status == CodeEmail.Status.FAILED
    assert "may not have received" in email.error
