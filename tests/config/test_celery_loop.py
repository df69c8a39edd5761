"""The worker's event loop (config.celery.EventLoopPace): countdown tasks due together all run
at their time, not ten a second."""

from time import monotonic
from types import SimpleNamespace

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadsPool
from kombu.asynchronous import Hub
from kombu.asynchronous.timer import Timer

from config.celery import THREADS_POOL_TICK_SECONDS, TIMERS_PER_TURN, EventLoopPace


def _due_timers(hub: Hub, count: int) -> list[int]:
    fired: list[int] = []
    for n in range(count):
        hub.timer.call_at(monotonic() - 1, fired.append, (n,))
    return fired


def _started(pool_cls: type) -> tuple[Hub, EventLoopPace]:
    worker = SimpleNamespace(hub=Hub(timer=Timer()), pool_cls=pool_cls)
    step = EventLoopPace(worker)
    step.start(worker)
    return worker.hub, step


def test_kombu_alone_fires_ten_due_timers_a_turn_then_waits_a_second():
    """What the step mends (should kombu change this, the step may go): countdown tasks due at
    once wait a second for every ten."""
    hub = Hub(timer=Timer())
    fired = _due_timers(hub, 150)

    wait = hub.fire_timers()

    assert len(fired) == 10
    assert wait == 1


def test_a_turn_of_the_loop_fires_many_due_timers_and_comes_back_at_once_for_the_rest():
    hub, step = _started(ThreadsPool)
    fired = _due_timers(hub, TIMERS_PER_TURN + 50)

    wait = hub.fire_timers()
    assert len(fired) == TIMERS_PER_TURN
    assert wait <= THREADS_POOL_TICK_SECONDS

    hub.fire_timers()
    assert len(fired) == TIMERS_PER_TURN + 50
    step.stop(SimpleNamespace(hub=hub))


def test_a_prefork_worker_fires_due_timers_without_a_pause_too_but_needs_no_tick():
    hub, step = _started(PreforkPool)
    fired = _due_timers(hub, 50)

    hub.fire_timers()

    assert len(fired) == 50
    assert step.tick is None
