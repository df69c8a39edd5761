"""Throughput against Seam's per-door limit, and status checks batched per door.

Against the simulator over real HTTP, with time frozen by time-machine (the simulator follows
the same clock). ``make bench`` measures the same things on real processes.
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from codes import following, rate_limit, tasks
from codes.creating import REQUEUE_SLACK_SECONDS, access_code_create, access_code_retry
from codes.models import AccessCode, SeamCreateCall
from codes.sweeping import access_codes_due
from config.queueing import AHEAD_PRIORITY
from locks.models import Lock
from locks.seam import SeamAccessCode, SeamClient, SeamTransientError
from locks.services import locks_sync
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import book
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = pytest.mark.django_db

Status = AccessCode.Status
START = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
ARRIVAL = date(2030, 7, 1)
ROOM_101 = demo.OCEAN_BEACH_ROOM_101


class CountingClient(SeamClient):
    """The real client, noting which Seam calls it made; ``drop`` hides codes from list answers."""

    def __init__(self, sim: SimulatorServer, *, drop: set[str] | None = None, list_fails: bool = False) -> None:
        super().__init__(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=1.0, sleep=lambda _: None)
        self.calls: list[str] = []
        self.drop = drop or set()
        self.list_fails = list_fails

    def create_offline_access_code(self, **kwargs: Any) -> SeamAccessCode:
        self.calls.append("create")
        return super().create_offline_access_code(**kwargs)

    def get_access_code(self, access_code_id: str) -> SeamAccessCode:
        self.calls.append("get")
        return super().get_access_code(access_code_id)

    def list_access_codes(self, device_id: str) -> list[SeamAccessCode]:
        self.calls.append("list")
        if self.list_fails:
            raise SeamTransientError("Seam is down", error_type="internal_server_error", status_code=500)
        return [c for c in super().list_access_codes(device_id) if c.access_code_id not in self.drop]


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def room(seam_simulator: SimulatorServer) -> Lock:
    locks_sync(client=CountingClient(seam_simulator))
    return Lock.objects.get(seam_device_id=ROOM_101)


@pytest.fixture
def self_queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float, datetime]]:
    """The create tasks codes queue for themselves: (code id, countdown, when it runs), each
    sent ahead of the queue's backlog."""
    sent: list[tuple[int, float, datetime]] = []

    def apply_async(args: tuple[int], countdown: float, priority: int) -> None:
        assert priority == AHEAD_PRIORITY
        sent.append((args[0], countdown, timezone.now() + timedelta(seconds=countdown)))

    monkeypatch.setattr(tasks.access_code_create_task, "apply_async", apply_async)
    return sent


def book_many(lock: Lock, count: int) -> list[AccessCode]:
    """``count`` two-night stays on ``lock`` from ARRIVAL, a day apart; their codes."""
    return [
        book(lock, arrival=ARRIVAL + timedelta(days=i), nights=2, slot_name=None, guest_name=f"Guest {i}")
        for i in range(count)
    ]


def due_times(codes: list[AccessCode]) -> list[timedelta]:
    rows = AccessCode.objects.filter(pk__in=[c.pk for c in codes], status=Status.PENDING)
    return sorted(t - START for t in rows.values_list("next_check_at", flat=True) if t is not None)


def due_creates() -> list[int]:
    return [pk for pk, kind in access_codes_due(now=timezone.now()) if kind == "create"]


# The per-door create budget


def test_the_create_window_and_its_margin_come_from_settings(clock, seam_simulator, room, settings, self_queued):
    settings.SEAM_CREATES_PER_WINDOW = 2
    settings.SEAM_CREATE_WINDOW_SECONDS = 6
    settings.SEAM_CREATE_MARGIN_SECONDS = 0.5
    client = CountingClient(seam_simulator)

    codes = [access_code_create(access_code_id=c.pk, client=client) for c in book_many(room, 3)]

    assert [c.status for c in codes] == [Status.WAITING, Status.WAITING, Status.PENDING]
    assert due_times(codes) == [timedelta(seconds=6.5)]
    assert client.calls == ["create", "create"]


def test_codes_held_back_on_a_busy_door_take_turns_a_window_apart(clock, seam_simulator, room, self_queued):
    client = CountingClient(seam_simulator)
    window = rate_limit.create_window()

    for code in book_many(room, 25):
        access_code_create(access_code_id=code.pk, client=client)

    assert client.calls == ["create"] * 10
    # Fifteen in line: the first ten take the slots freed a window on, the last five a window later.
    assert due_times(list(AccessCode.objects.all())) == [window] * 10 + [2 * window] * 5


def test_a_held_code_queues_itself_for_its_turn_and_the_sweep_queues_it_only_once_that_task_is_overdue(
    clock, seam_simulator, room, self_queued, django_capture_on_commit_callbacks
):
    client = CountingClient(seam_simulator)
    codes = book_many(room, 11)
    with django_capture_on_commit_callbacks(execute=True):
        for code in codes:
            access_code_create(access_code_id=code.pk, client=client)
    held = AccessCode.objects.get(status=Status.PENDING)
    assert held.next_check_at == START + rate_limit.create_window()

    countdown = rate_limit.create_window().total_seconds() + REQUEUE_SLACK_SECONDS
    assert [(pk, seconds) for pk, seconds, _ in self_queued] == [(held.pk, countdown)]
    clock.move_to(held.next_check_at + timedelta(seconds=countdown - rate_limit.create_window().total_seconds()))
    # Its own task is on its way: the sweep does not queue a second one as it falls due...
    assert due_creates() == []
    clock.move_to(held.next_check_at + rate_limit.REQUEUED_GRACE - timedelta(seconds=1))
    assert due_creates() == []
    # ...and queues it too once that task is overdue (lost, or early on a clock behind): one claim wins.
    clock.move_to(held.next_check_at + rate_limit.REQUEUED_GRACE + timedelta(seconds=1))
    assert due_creates() == [held.pk]

    created = access_code_create(access_code_id=held.pk, client=client)
    again = access_code_create(access_code_id=held.pk, client=client)

    assert created.status == again.status == Status.WAITING
    assert seam_simulator.create_calls[ROOM_101] == 11
    assert seam_simulator.rate_limited == {}, "Seam never answered 429"


def test_a_backfill_woken_at_its_turns_never_meets_a_429_and_wakes_each_code_once(
    clock, seam_simulator, room, self_queued, django_capture_on_commit_callbacks
):
    client = CountingClient(seam_simulator)

    def run(pk: int) -> None:
        # As a worker would: the self-queued task is sent once the hand-back commits.
        with django_capture_on_commit_callbacks(execute=True):
            access_code_create(access_code_id=pk, client=client)

    for code in book_many(room, 40):
        run(code.pk)
    wakes = 0
    while self_queued and wakes < 200:
        self_queued.sort(key=lambda item: item[2])
        pk, _, runs_at = self_queued.pop(0)
        clock.move_to(runs_at)
        run(pk)
        wakes += 1

    assert AccessCode.objects.filter(status=Status.WAITING).count() == 40
    assert seam_simulator.rate_limited == {}
    assert wakes == 30, "each held code woke once, at its turn"
    assert timezone.now() - START <= 3 * rate_limit.create_window() + timedelta(seconds=1)


class LateClient(CountingClient):
    """A worker that waits for a core between booking its first create and sending it."""

    def __init__(self, sim: SimulatorServer, clock: time_machine.Coordinates, late: timedelta) -> None:
        super().__init__(sim)
        self.clock, self.late = clock, late

    def create_offline_access_code(self, **kwargs: Any) -> SeamAccessCode:
        if self.late:
            self.clock.shift(self.late)
            self.late = timedelta(0)
        return super().create_offline_access_code(**kwargs)


def test_a_create_that_reaches_seam_late_holds_its_slot_a_window_from_its_answer(
    clock, seam_simulator, room, self_queued
):
    """Seam counts a call when it arrives: the eleventh create waits a window from that, not
    from the booking, or Seam would see it within the minute and answer 429."""
    client = LateClient(seam_simulator, clock, late=timedelta(seconds=3))
    codes = [access_code_create(access_code_id=c.pk, client=client) for c in book_many(room, 11)]

    held = AccessCode.objects.get(pk=codes[-1].pk)
    assert held.status == Status.PENDING
    assert held.next_check_at == START + timedelta(seconds=3) + rate_limit.create_window()

    clock.move_to(held.next_check_at)
    created = access_code_create(access_code_id=held.pk, client=client)

    assert created.status == Status.WAITING
    assert seam_simulator.rate_limited == {}, "Seam never answered 429"


def test_a_create_still_on_its_way_holds_its_slot_until_its_client_gives_up(clock, seam_simulator, room, settings):
    first, waiting = book_many(room, 2)
    # Ten calls that never came back: their worker died in them.
    SeamCreateCall.objects.bulk_create(SeamCreateCall(lock=room, access_code=first, sent_at=START) for _ in range(10))
    gave_up = timedelta(seconds=settings.SEAM_TIMEOUT_SECONDS) + rate_limit.CALL_MARGIN
    client = CountingClient(seam_simulator)

    clock.move_to(START + rate_limit.create_window() + timedelta(seconds=1))
    AccessCode.objects.filter(pk=waiting.pk).update(next_check_at=timezone.now())
    held = access_code_create(access_code_id=waiting.pk, client=client)
    assert held.status == Status.PENDING
    assert held.next_check_at == START + gave_up + rate_limit.create_window()

    clock.move_to(held.next_check_at)
    assert access_code_create(access_code_id=waiting.pk, client=client).status == Status.WAITING
    assert client.calls == ["create"]


def test_a_code_that_wakes_before_its_slot_keeps_its_place_in_line(clock, seam_simulator, room):
    window = rate_limit.create_window()
    early, later = book_many(room, 2)
    # The door's last ten creates went out and came back a tenth of a second apart from START.
    SeamCreateCall.objects.bulk_create(
        SeamCreateCall(lock=room, access_code=early, sent_at=at, answered_at=at)
        for at in (START + timedelta(seconds=k / 10) for k in range(10))
    )
    clock.move_to(START + window - timedelta(seconds=0.5))
    # ``early`` joined the line first but wakes before any slot is free (its estimate was off);
    # ``later`` joined after it and is due just before the first slot frees.
    AccessCode.objects.filter(pk=early.pk).update(
        in_line_since=START - timedelta(seconds=10), next_check_at=timezone.now()
    )
    AccessCode.objects.filter(pk=later.pk).update(
        in_line_since=START - timedelta(seconds=5), next_check_at=START + window - timedelta(seconds=0.1)
    )

    held = access_code_create(access_code_id=early.pk, client=CountingClient(seam_simulator))

    assert held.status == Status.PENDING
    assert held.next_check_at == START + window, "the first slot, not the one after the code behind it"
    assert held.in_line_since == START - timedelta(seconds=10)


def test_a_failed_code_retried_by_staff_joins_its_door_line_afresh(clock, seam_simulator, room, self_queued):
    # It failed while in line (its door's time zones disagreed when its turn came).
    [code] = book_many(room, 1)
    AccessCode.objects.filter(pk=code.pk).update(status=Status.FAILED, in_line_since=START - timedelta(hours=1))

    retried = access_code_retry(access_code=AccessCode.objects.get(pk=code.pk))

    assert retried.status == Status.PENDING
    assert retried.in_line_since is None


def test_the_ledger_notes_when_each_create_came_back(clock, seam_simulator, room):
    made, refused = book_many(room, 2)
    client = LateClient(seam_simulator, clock, late=timedelta(seconds=2))
    access_code_create(access_code_id=made.pk, client=client)
    seam_simulator.inject_fault("/access_codes/create", "error_500")
    access_code_create(access_code_id=refused.pk, client=client)

    ledger = SeamCreateCall.objects.order_by("pk").values_list("sent_at", "answered_at")
    two_seconds_on = START + timedelta(seconds=2)
    assert list(ledger) == [(START, two_seconds_on), (two_seconds_on, two_seconds_on)]
    assert AccessCode.objects.get(pk=made.pk).in_line_since is None


def test_a_sweep_takes_the_longest_due_first(clock, seam_simulator, room, settings):
    codes = book_many(room, 3)
    for age, code in zip([5, 30, 10], codes, strict=True):
        AccessCode.objects.filter(pk=code.pk).update(next_check_at=START - timedelta(seconds=age))

    assert access_codes_due(now=START, limit=2) == [(codes[1].pk, "create"), (codes[2].pk, "create")]


# Status checks batched per door


def ids(codes: list[AccessCode]) -> list[int]:
    return [code.pk for code in codes]


def waiting_codes(sim: SimulatorServer, lock: Lock, count: int) -> list[AccessCode]:
    client = CountingClient(sim)
    return [access_code_create(access_code_id=c.pk, client=client) for c in book_many(lock, count)]


@pytest.fixture
def swept(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """What the sweep task sends to the broker."""
    sent: list[tuple[str, object]] = []
    monkeypatch.setattr(tasks.access_code_create_task, "delay", lambda pk: sent.append(("create", pk)))
    monkeypatch.setattr(tasks.access_code_refresh_task, "delay", lambda pk: sent.append(("refresh", pk)))
    monkeypatch.setattr(
        tasks.access_codes_refresh_door_task, "delay", lambda lock_id, ids: sent.append(("door", (lock_id, ids)))
    )
    return sent


def test_the_sweep_asks_once_per_door_for_its_due_checks(clock, seam_simulator, room, swept):
    codes = waiting_codes(seam_simulator, room, 3)
    clock.move_to(max(c.next_check_at for c in codes if c.next_check_at))

    assert tasks.access_codes_sweep_task() == 3

    assert swept == [("door", (room.pk, sorted(c.pk for c in codes)))]


def test_a_single_due_check_on_a_door_stays_a_get(clock, seam_simulator, room, swept):
    [code] = waiting_codes(seam_simulator, room, 1)
    clock.move_to(code.next_check_at)

    tasks.access_codes_sweep_task()

    assert swept == [("refresh", code.pk)]


def test_one_list_call_sets_every_due_code_of_the_door(clock, seam_simulator, room):
    codes = waiting_codes(seam_simulator, room, 3)
    clock.shift(timedelta(seconds=10))
    client = CountingClient(seam_simulator)

    refreshed = following.access_codes_refresh_door(
        lock_id=room.pk, access_code_ids=[c.pk for c in codes], client=client
    )

    assert client.calls == ["list"]
    assert [c.status for c in refreshed] == [Status.SET] * 3
    pins = {c["access_code_id"]: c["code"] for c in seam_simulator.access_codes(ROOM_101)}
    assert {c.seam_access_code_id: c.code for c in refreshed} == pins
    assert [c.checks for c in refreshed] == [1, 1, 1]


def test_a_code_missing_from_the_list_is_asked_for_alone_never_failed(clock, seam_simulator, room):
    codes = waiting_codes(seam_simulator, room, 3)
    clock.shift(timedelta(seconds=10))
    client = CountingClient(seam_simulator, drop={codes[1].seam_access_code_id})

    refreshed = following.access_codes_refresh_door(
        lock_id=room.pk, access_code_ids=[c.pk for c in codes], client=client
    )

    assert client.calls == ["list", "get"]
    assert [c.status for c in refreshed] == [Status.SET] * 3


def test_a_failed_list_falls_back_to_one_check_per_code(clock, seam_simulator, room):
    codes = waiting_codes(seam_simulator, room, 2)
    clock.shift(timedelta(seconds=10))
    client = CountingClient(seam_simulator, list_fails=True)

    refreshed = following.access_codes_refresh_door(
        lock_id=room.pk, access_code_ids=[c.pk for c in codes], client=client
    )

    assert client.calls == ["list", "get", "get"]
    assert [c.status for c in refreshed] == [Status.SET] * 2


def test_the_door_list_also_stores_other_codes_it_shows_set(clock, seam_simulator, room):
    codes = waiting_codes(seam_simulator, room, 3)
    clock.shift(timedelta(seconds=10))
    not_due = codes[2]
    planned = AccessCode.objects.get(pk=not_due.pk).next_check_at
    client = CountingClient(seam_simulator)

    following.access_codes_refresh_door(lock_id=room.pk, access_code_ids=[codes[0].pk, codes[1].pk], client=client)

    assert client.calls == ["list"]
    stored = AccessCode.objects.get(pk=not_due.pk)
    assert stored.status == Status.SET
    assert stored.code
    assert planned is not None
    assert stored.next_check_at is None


def test_a_door_list_leaves_codes_it_shows_unset_to_their_own_schedule(clock, seam_simulator, room):
    codes = waiting_codes(seam_simulator, room, 3)
    planned = AccessCode.objects.get(pk=codes[2].pk).next_check_at
    client = CountingClient(seam_simulator)

    following.access_codes_refresh_door(lock_id=room.pk, access_code_ids=[codes[0].pk, codes[1].pk], client=client)

    untouched = AccessCode.objects.get(pk=codes[2].pk)
    assert (untouched.status, untouched.next_check_at, untouched.checks) == (Status.WAITING, planned, 0)
