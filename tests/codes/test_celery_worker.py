"""End to end on a real Celery worker process, Redis and PostgreSQL, against the simulator over HTTP.

The beat is played by the test: it runs the sweep task in this process, which queues the due
work on Redis for the worker.
"""

import signal
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from codes.models import AccessCode, AccessCodeEvent
from codes.tasks import access_codes_sweep_task
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from simulator import demo
from simulator.server import SimulatorServer
from tests.builders import book
from tests.fixtures.celery_worker import wait_for
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

Status = AccessCode.Status
Kind = AccessCodeEvent.Kind
ROOM_101 = demo.OCEAN_BEACH_ROOM_101


def book_on_simulator(sim: SimulatorServer) -> AccessCode:
    """A stay a month from today on Room 101; its create task is queued when this commits."""
    locks_sync(client=SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=5.0))
    lock = Lock.objects.get(seam_device_id=ROOM_101)
    arrival = timezone.localdate() + timedelta(days=30)
    return book(lock, arrival=arrival, nights=3)


def at_seam(sim: SimulatorServer, code: AccessCode) -> list[dict[str, object]]:
    return [c for c in sim.access_codes(ROOM_101) if c["name"] == code.name]


def status_of(code: AccessCode) -> str:
    return str(AccessCode.objects.values_list("status", flat=True).get(pk=code.pk))


def test_a_reservation_gets_its_code_from_a_worker_and_followed_until_set(start_celery_worker, start_seam_simulator):
    sim = start_seam_simulator(mode="quick", setting_after=timedelta(seconds=0.5), set_after=timedelta(seconds=1))
    start_celery_worker(
        seam_endpoint=sim.url,
        seam_api_key=SIMULATOR_API_KEY,
        SEAM_TIMEOUT_SECONDS="5",
        CODES_FIRST_CHECK_SECONDS="1.5",
    )

    code = book_on_simulator(sim)

    wait_for(lambda: status_of(code) == Status.WAITING)
    code.refresh_from_db()
    assert code.next_check_at is not None
    assert code.next_check_at - code.updated_at <= timedelta(seconds=2), "first check soon after the create"

    def swept_until_set() -> bool:
        access_codes_sweep_task()
        return status_of(code) == Status.SET

    wait_for(swept_until_set, every=0.5)

    code.refresh_from_db()
    [seam_code] = at_seam(sim, code)
    assert code.seam_access_code_id == seam_code["access_code_id"]
    assert code.code == seam_code["code"]
    assert code.next_check_at is None
    assert code.set_at is not None
    assert sim.create_calls[ROOM_101] == 1
    kinds = list(code.events.values_list("kind", flat=True))
    assert kinds[:3] == [Kind.REQUESTED, Kind.CREATE_SENT, Kind.CREATED]
    assert kinds[-1] == Kind.SET


def test_a_threads_pool_worker_creates_codes_side_by_side_each_once(start_celery_worker, start_seam_simulator):
    """Production's pool: many Seam calls in flight in one process. With one thread per two
    doors and each call taking 200 ms, the worker must keep fetching tasks as its threads
    finish (config.celery.EventLoopPace): without the tick it fetched the next two tasks only
    when its event loop next woke, up to 10 s later, and twelve codes took a minute."""
    sim = start_seam_simulator(mode="quick", bench_doors=12, latency=timedelta(milliseconds=200))
    locks_sync(client=SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=5.0))
    worker = start_celery_worker(
        seam_endpoint=sim.url, seam_api_key=SIMULATOR_API_KEY, pool="threads", concurrency=2, SEAM_TIMEOUT_SECONDS="5"
    )
    doors = [Lock.objects.get(seam_device_id=demo.bench_device_id(n)) for n in range(1, 13)]
    arrival = timezone.localdate() + timedelta(days=30)
    codes = [book(door, arrival=arrival, guest_name=f"Guest {n}") for n, door in enumerate(doors)]

    def all_created() -> bool:
        rows = AccessCode.objects.filter(pk__in=[code.pk for code in codes])
        return rows.filter(status__in=[Status.WAITING, Status.SET]).count() == len(codes)

    wait_for(all_created, timeout=20)

    assert worker.poll() is None
    for door, code in zip(doors, codes, strict=True):
        assert sim.create_calls[door.seam_device_id] == 1
        assert len([c for c in sim.access_codes(door.seam_device_id) if c["name"] == code.name]) == 1


def test_a_worker_killed_mid_create_is_replaced_and_the_code_adopted(start_celery_worker, seam_simulator):
    sim = seam_simulator
    # Seam stores the code and never answers: the worker hangs inside the create call.
    response = requests.post(
        f"{sim.url}/_simulator/faults",
        json={"endpoint": "/access_codes/create", "kind": "timeout_after_store", "hold_seconds": 60},
        headers={"Authorization": f"Bearer {SIMULATOR_API_KEY}"},
        timeout=5,
    )
    assert response.status_code == 200
    worker = start_celery_worker(seam_endpoint=sim.url, seam_api_key=SIMULATOR_API_KEY, SEAM_TIMEOUT_SECONDS="60")

    code = book_on_simulator(sim)

    wait_for(lambda: len(at_seam(sim, code)) == 1)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=10) == -signal.SIGKILL

    code.refresh_from_db()
    assert code.status == Status.CREATING
    assert code.create_sent, "the intent was committed before the call"
    assert code.seam_access_code_id == ""
    # Nothing happens while its lease runs; then the sweeper hands the code to a new worker.
    assert access_codes_sweep_task() == 0
    AccessCode.objects.filter(pk=code.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    start_celery_worker(seam_endpoint=sim.url, seam_api_key=SIMULATOR_API_KEY, SEAM_TIMEOUT_SECONDS="5")
    assert access_codes_sweep_task() == 1
    assert access_codes_sweep_task() == 0, "queued once"

    wait_for(lambda: status_of(code) in {Status.WAITING, Status.SET})

    code.refresh_from_db()
    [seam_code] = at_seam(sim, code)
    assert code.seam_access_code_id == seam_code["access_code_id"]
    assert sim.create_calls[ROOM_101] == 1, "adopted, not created again"
    assert Kind.ADOPTED in code.events.values_list("kind", flat=True)
    assert not code.create_sent
    assert code.claim_expires_at is None
