"""Each offline code is created at Seam exactly once, whatever the network and the workers do.

The services run against the simulator over real HTTP. Every drill ends with exactly one code
per reservation at the simulator and in the database, and every row ``waiting``/``set`` or
clearly ``failed``. Time is frozen with time-machine (the simulator follows the same clock) and
moved on by hand to when the code says it is next due.
"""

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.db import connection, connections

from codes import rate_limit, tasks
from codes.creating import access_code_create
from codes.models import AccessCode, AccessCodeEvent, SeamCreateCall
from codes.rate_limit import CLAIM_LEASE
from codes.windows import offer_windows
from locks.models import Lock
from locks.seam import SeamAccessCode, SeamClient
from locks.services import locks_sync
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import book, make_lock, make_site, run_due
from tests.conftest import skip_or_fail
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind

START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ARRIVAL = date(2030, 7, 1)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101
ROOM_102 = demo.OCEAN_BEACH_ROOM_102
BEACH_HOUSE = demo.OCEAN_BEACH_BEACH_HOUSE
CREATE = "/access_codes/create"


class RecordingClient(SeamClient):
    """The real client, noting which Seam calls it made, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def list_access_codes(self, device_id: str) -> list[SeamAccessCode]:
        self.calls.append("list")
        return super().list_access_codes(device_id)

    def create_offline_access_code(self, **kwargs: Any) -> SeamAccessCode:
        self.calls.append("create")
        return super().create_offline_access_code(**kwargs)


@pytest.fixture
def postgresql() -> None:
    # SQLite serialises every write, so a race there proves nothing; CI runs these on PostgreSQL.
    if connection.vendor != "postgresql":
        skip_or_fail("racing workers need PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def client(seam_simulator: SimulatorServer) -> RecordingClient:
    return RecordingClient(api_key=SIMULATOR_API_KEY, endpoint=seam_simulator.url, timeout=1.0, sleep=lambda _: None)


@pytest.fixture
def doors(client: SeamClient) -> dict[str, Lock]:
    locks_sync(client=client)
    return {lock.seam_device_id: lock for lock in Lock.objects.all()}


def create(code: AccessCode, client: SeamClient) -> AccessCode:
    return access_code_create(access_code_id=code.pk, client=client)


def due_at(code: AccessCode) -> datetime:
    assert code.next_check_at is not None, f"{code.name} is not due at all"
    return code.next_check_at


def at_seam(sim: SimulatorServer, code: AccessCode) -> list[dict[str, Any]]:
    return [c for c in sim.access_codes(code.lock.seam_device_id) if c["name"] == code.name]


def kinds(code: AccessCode) -> list[str]:
    return list(code.events.values_list("kind", flat=True))


def assert_exactly_one_code(sim: SimulatorServer, code: AccessCode) -> AccessCode:
    code.refresh_from_db()
    seam_codes = at_seam(sim, code)
    assert len(seam_codes) == 1, f"{code.name}: {len(seam_codes)} codes at Seam"
    assert code.status in {Status.WAITING, Status.SET}
    assert code.seam_access_code_id == seam_codes[0]["access_code_id"]
    assert AccessCode.objects.filter(seam_access_code_id=code.seam_access_code_id).count() == 1
    assert not code.create_sent
    assert code.claim_expires_at is None
    return code


# The happy path, for reference


def test_it_creates_the_code_once_and_waits_for_seam_to_set_it(clock, seam_simulator, client, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    assert code.status == Status.PENDING

    created = create(code, client)

    assert created.status == Status.WAITING
    assert created.attempts == 1
    assert created.next_check_at == START + timedelta(seconds=10)
    assert client.calls == ["create"]
    assert kinds(created) == [Kind.REQUESTED, Kind.CREATE_SENT, Kind.CREATED]
    assert SeamCreateCall.objects.filter(access_code=code).count() == 1
    assert_exactly_one_code(seam_simulator, code)


# Faults at Seam


def test_a_timeout_after_seam_stored_the_code_is_adopted_not_created_again(clock, seam_simulator, client, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    seam_simulator.inject_fault(CREATE, "timeout_after_store", hold_seconds=5)

    first = create(code, client)

    assert first.status == Status.PENDING
    assert first.create_sent, "the code may exist at Seam: look before creating again"
    assert first.last_error_type == "timeout"
    assert START + timedelta(seconds=7) <= due_at(first) <= START + timedelta(seconds=15)
    assert Kind.RETRY in kinds(first)
    assert len(at_seam(seam_simulator, code)) == 1, "Seam stored it although we never heard back"

    # Not due yet: a redelivered task leaves it alone.
    assert create(code, client).status == Status.PENDING
    clock.move_to(first.next_check_at)
    second = create(code, client)

    assert second.status in {Status.WAITING, Status.SET}
    assert kinds(second)[-2:] in ([Kind.ADOPTED, Kind.SET], [Kind.ADOPTED])
    assert Kind.ADOPTED in kinds(second)
    assert client.calls == ["create", "list"]
    assert seam_simulator.create_calls[ROOM_101] == 1
    assert SeamCreateCall.objects.filter(access_code=code).count() == 1
    assert_exactly_one_code(seam_simulator, code)


def test_a_500_is_retried_after_a_lookup_and_then_created(clock, seam_simulator, client, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    seam_simulator.inject_fault(CREATE, "error_500")

    first = create(code, client)

    assert first.status == Status.PENDING
    assert first.last_error_type == "internal_server_error"
    assert first.create_sent, "a 500 may come after the work was done"
    assert at_seam(seam_simulator, code) == []

    clock.move_to(first.next_check_at)
    run_due(client)

    assert client.calls == ["create", "list", "create"]
    code = assert_exactly_one_code(seam_simulator, code)
    assert code.status == Status.WAITING
    assert code.attempts == 2
    assert Kind.ADOPTED not in kinds(code)
    assert seam_simulator.create_calls[ROOM_101] == 2


def test_a_connection_reset_is_looked_up_before_creating_again(clock, seam_simulator, client, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    seam_simulator.inject_fault(CREATE, "connection_reset")

    first = create(code, client)

    assert first.status == Status.PENDING
    assert first.last_error_type == "connection_error"
    assert first.create_sent

    clock.move_to(first.next_check_at)
    run_due(client)

    assert client.calls == ["create", "list", "create"]
    assert_exactly_one_code(seam_simulator, code)


def test_a_429_pauses_the_door_and_a_later_retry_succeeds(clock, seam_simulator, client, doors):
    lock = doors[ROOM_101]
    code = book(lock, arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    other = book(lock, arrival=ARRIVAL, guest_name="Ben Okafor", guest_email="guest@example.com")
    seam_simulator.inject_fault(CREATE, "rate_limit_429")

    first = create(code, client)

    lock.refresh_from_db()
    assert lock.creates_paused_until == START + timedelta(seconds=1), "paused for Seam's Retry-After"
    assert first.status == Status.PENDING
    assert first.last_error_type == "rate_limited"
    assert not first.create_sent, "a 429 is answered before anything is created"
    assert due_at(first) >= START + timedelta(seconds=1)

    # While the door is paused nothing is sent to it, and the other code is handed back.
    held = create(other, client)
    assert held.status == Status.PENDING
    assert held.next_check_at == START + timedelta(seconds=1)
    assert held.attempts == 0
    assert seam_simulator.create_calls[ROOM_101] == 1

    clock.move_to(max(due_at(first), due_at(held)))
    # The 429's retry is the sweep's to queue; the held code's, the task it queued for its turn.
    assert run_due(client) == [(first.pk, "create")]
    create(held, client)

    assert client.calls == ["create", "create", "create"], "no lookup after a 429: nothing can exist"
    assert_exactly_one_code(seam_simulator, code)
    assert_exactly_one_code(seam_simulator, other)


def test_a_failed_lookup_keeps_the_code_pending_and_still_never_creates_twice(clock, seam_simulator, client, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    seam_simulator.inject_fault(CREATE, "timeout_after_store", hold_seconds=5)
    first = create(code, client)
    # The lookup fails on every retry the client makes.
    seam_simulator.inject_fault("/access_codes/list", "error_500", count=4)

    clock.move_to(first.next_check_at)
    second = create(code, client)

    assert second.status == Status.PENDING
    assert second.create_sent
    assert due_at(second) > due_at(first)
    assert client.calls == ["create", "list"]

    clock.move_to(second.next_check_at)
    run_due(client)

    assert client.calls == ["create", "list", "list"]
    assert seam_simulator.create_calls[ROOM_101] == 1
    assert Kind.ADOPTED in kinds(code)
    assert_exactly_one_code(seam_simulator, code)


# Delivered twice, raced, permanent errors


def test_the_same_task_delivered_twice_creates_once(clock, seam_simulator, doors, settings):
    settings.SEAM_API_KEY = SIMULATOR_API_KEY
    settings.SEAM_ENDPOINT = seam_simulator.url
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")

    assert tasks.access_code_create_task(code.pk) == Status.WAITING
    assert tasks.access_code_create_task(code.pk) == Status.WAITING

    assert seam_simulator.create_calls[ROOM_101] == 1
    assert_exactly_one_code(seam_simulator, code)


def test_a_window_that_matches_no_slot_fails_with_seams_error(clock, seam_simulator, client, doors):
    lock = doors[ROOM_101]
    code = book(lock, arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    # The door's levels changed in dormakaba after the window was offered: it matches none now.
    AccessCode.objects.filter(pk=code.pk).update(starts_at=code.starts_at + timedelta(minutes=30))

    failed = create(code, client)

    assert failed.status == Status.FAILED
    assert failed.last_error_type == "dormakaba_oracode_invalid_time_range"
    assert failed.last_error_message.startswith("no time slots found")
    assert not failed.create_sent
    assert failed.next_check_at is None
    assert failed.claim_expires_at is None
    assert kinds(failed)[-1] == Kind.FAILED
    # Nothing to retry on its own: a failed code is never sent again.
    assert create(code, client).status == Status.FAILED
    assert run_due(client) == []
    assert seam_simulator.create_calls[ROOM_101] == 1
    assert at_seam(seam_simulator, code) == []


def test_an_unknown_device_fails_with_seams_error(clock, seam_simulator, client):
    lock = make_lock(make_site(), seam_device_id="d0000000-0000-4000-8000-00000000dead")
    code = book(lock, arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")

    failed = create(code, client)

    assert failed.status == Status.FAILED
    assert failed.last_error_type == "device_not_found"
    assert failed.last_error_message == "Device not found"
    assert client.calls == ["create"]
    assert run_due(client) == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_one_code_create_it_once(postgresql, clock, seam_simulator, doors, monkeypatch):
    code = _book_without_queueing(doors[ROOM_101], "Ana Souza", monkeypatch)

    calls = _race(seam_simulator, [code.pk] * 2)

    assert sorted(calls) == [[], ["create"]], "the loser of the claim never called Seam"
    assert seam_simulator.create_calls[ROOM_101] == 1
    assert SeamCreateCall.objects.count() == 1
    assert_exactly_one_code(seam_simulator, code)


@pytest.mark.django_db(transaction=True)
def test_twelve_workers_creating_on_one_door_at_once_send_at_most_ten(
    postgresql, clock, seam_simulator, doors, monkeypatch
):
    codes = [_book_without_queueing(doors[ROOM_101], f"Guest {i}", monkeypatch) for i in range(12)]

    _race(seam_simulator, [code.pk for code in codes])

    statuses = sorted(AccessCode.objects.values_list("status", flat=True))
    assert statuses == [Status.PENDING] * 2 + [Status.WAITING] * 10
    assert seam_simulator.create_calls[ROOM_101] == 10, "Seam never saw an eleventh create"
    assert SeamCreateCall.objects.count() == 10
    held = AccessCode.objects.filter(status=Status.PENDING)
    assert all(c.next_check_at == START + rate_limit.create_window() for c in held)

    clock.move_to(START + rate_limit.create_window())
    client = SeamClient(api_key=SIMULATOR_API_KEY, endpoint=seam_simulator.url, timeout=1.0, sleep=lambda _: None)
    for code in held:  # as the tasks they queued for their turn
        access_code_create(access_code_id=code.pk, client=client)
    for code in codes:
        assert_exactly_one_code(seam_simulator, code)


def _book_without_queueing(lock: Lock, guest: str, monkeypatch: pytest.MonkeyPatch) -> AccessCode:
    # These tests commit, so on_commit would queue a real task: the threads below are the workers.
    monkeypatch.setattr(tasks.access_code_create_task, "delay", lambda *args: None)
    # A code held back for the door's budget queues itself again; here the test runs it.
    monkeypatch.setattr(tasks.access_code_create_task, "apply_async", lambda *args, **kwargs: None)
    return book(lock, arrival=ARRIVAL, guest_name=guest, guest_email="guest@example.com")


def _race(sim: SimulatorServer, code_ids: list[int]) -> list[list[str]]:
    """Run ``access_code_create`` for each id in its own thread and DB connection, all at once.

    Returns the Seam calls each worker made.
    """
    barrier = threading.Barrier(len(code_ids))
    clients = [
        RecordingClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=5.0, sleep=lambda _: None)
        for _ in code_ids
    ]
    errors: list[BaseException] = []

    def work(client: RecordingClient, code_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            access_code_create(access_code_id=code_id, client=client)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=args) for args in zip(clients, code_ids, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return [client.calls for client in clients]


# The per-door rate limit


def _assert_never_more_than_ten_a_window(lock: Lock) -> list[datetime]:
    sent = sorted(SeamCreateCall.objects.filter(lock=lock).values_list("sent_at", flat=True))
    for first, eleventh in zip(sent, sent[settings.SEAM_CREATES_PER_WINDOW :], strict=False):
        assert eleventh - first >= rate_limit.create_window(), f"11 creates within {eleventh - first} on {lock}"
    return sent


def test_a_backfill_on_three_doors_never_sends_more_than_ten_creates_a_minute_per_door(
    clock, seam_simulator, client, doors
):
    plan = {ROOM_101: 12, ROOM_102: 8, BEACH_HOUSE: 5}
    codes: list[AccessCode] = []
    for device_id, count in plan.items():
        lock = doors[device_id]
        for i in range(count):
            arrival = ARRIVAL + timedelta(days=i)
            windows = offer_windows(lock.time_slots, arrival=arrival, departure=arrival + timedelta(days=2))
            codes.append(
                book(
                    lock,
                    guest_name=f"Guest {device_id[-3:]}-{i}",
                    guest_email="guest@example.com",
                    arrival=arrival,
                    nights=2,
                    plan_key=windows[0].key,
                )
            )

    # Every create task arrives at once, then the beat sweeps every 5 seconds.
    for code in codes:
        create(code, client)
    for _ in range(40):
        if all(c.status == Status.SET for c in AccessCode.objects.all()):
            break
        clock.shift(timedelta(seconds=5))
        run_due(client)

    for device_id, count in plan.items():
        sent = _assert_never_more_than_ten_a_window(doors[device_id])
        assert len(sent) == count
        assert seam_simulator.create_calls[device_id] == count, "no create was refused with a 429"
    busy = sorted(SeamCreateCall.objects.filter(lock=doors[ROOM_101]).values_list("sent_at", flat=True))
    assert busy[-1] - busy[0] >= rate_limit.create_window(), "the eleventh create on the busy door waited"
    assert not AccessCodeEvent.objects.filter(kind=Kind.RETRY).exists()
    for code in codes:
        assert assert_exactly_one_code(seam_simulator, code).status == Status.SET


def test_a_slow_lookup_before_a_create_does_not_let_an_eleventh_create_through_early(seam_simulator, doors):
    """The ledger must record when the create went out, not when the task started."""
    lock = doors[ROOM_101]
    with time_machine.travel(START, tick=False) as clock:
        # Read retries sleep on the fake clock: a lookup that fails three times takes 1.75-3.5 s.
        client = SeamClient(
            api_key=SIMULATOR_API_KEY,
            endpoint=seam_simulator.url,
            timeout=1.0,
            sleep=lambda seconds: clock.shift(timedelta(seconds=seconds)),
        )
        first = book(lock, arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
        seam_simulator.inject_fault(CREATE, "connection_reset")
        create(first, client)
        assert AccessCode.objects.get(pk=first.pk).create_sent

        clock.move_to(START + timedelta(minutes=5))
        seam_simulator.inject_fault("/access_codes/list", "error_500", count=3)
        assert create(first, client).status == Status.WAITING
        others = [
            book(lock, arrival=ARRIVAL, guest_name=f"Guest {i}", guest_email="guest@example.com") for i in range(10)
        ]
        for code in others:
            create(code, client)

        # Ten creates in the last minute: the eleventh waits a full window after the first of them.
        eleventh = AccessCode.objects.get(pk=others[-1].pk)
        assert eleventh.status == Status.PENDING
        clock.move_to(due_at(eleventh))
        create(eleventh, client)  # as the task it queued for its turn

        _assert_never_more_than_ten_a_window(lock)
        assert not AccessCode.objects.filter(last_error_type="rate_limited").exists()
        for code in [first, *others]:
            assert_exactly_one_code(seam_simulator, code)


class SlowLookupClient(RecordingClient):
    """A worker so slow in its lookup that its lease runs out and the sweeper hands the code on."""

    def __init__(self, *args: Any, clock: time_machine.Coordinates, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def list_access_codes(self, device_id: str) -> list[SeamAccessCode]:
        found = super().list_access_codes(device_id)
        self.clock.shift(CLAIM_LEASE + timedelta(seconds=1))
        return found


def test_a_worker_whose_lease_ran_out_does_not_create_beside_its_successor(clock, seam_simulator, doors):
    code = book(doors[ROOM_101], arrival=ARRIVAL, guest_name="Ana Souza", guest_email="guest@example.com")
    # An earlier attempt may have reached Seam, so this one starts with a lookup.
    AccessCode.objects.filter(pk=code.pk).update(create_sent=True)
    slow = SlowLookupClient(
        api_key=SIMULATOR_API_KEY, endpoint=seam_simulator.url, timeout=1.0, sleep=lambda _: None, clock=clock
    )

    after = create(code, slow)

    assert slow.calls == ["list"], "the slow worker must not call create once its lease is gone"
    assert after.status == Status.CREATING
    assert seam_simulator.create_calls.get(ROOM_101, 0) == 0
    # The sweeper hands the code to a healthy worker, which creates it once.
    healthy = RecordingClient(
        api_key=SIMULATOR_API_KEY, endpoint=seam_simulator.url, timeout=1.0, sleep=lambda _: None
    )
    run_due(healthy)
    clock.shift(timedelta(seconds=1))
    run_due(healthy)
    # The slow worker's lookup proved Seam had no code and it never sent one: no second lookup.
    assert healthy.calls == ["create"]
    assert seam_simulator.create_calls[ROOM_101] == 1
    assert_exactly_one_code(seam_simulator, code)
