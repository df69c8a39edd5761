"""Bookings at once on a door with one place left, on PostgreSQL: exactly one goes through.

Every code made holds a place on its Oracode lock until it ends, and a code can never be
revoked, so two bookings that each counted the same free place would overfill the door for good.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from codes.errors import Refused
from codes.models import AccessCode
from codes.offers import change_offer, stay_offer
from codes.stays import reservation_change_dates
from tests.builders import book, make_lock, make_site, unit_of
from tests.conftest import skip_or_fail

BOOKINGS_AT_ONCE = 6


@pytest.fixture
def nearly_full_door(celery_queue):
    """A door with room for 5 codes and 4 live ones. (celery_queue: the codes' create tasks go to a
    queue of this test's own, which nobody works; it needs PostgreSQL and Redis.)"""
    if connection.vendor != "postgresql":
        skip_or_fail("serialising bookings needs PostgreSQL's row locks: set DATABASE_URL")
    lock = make_lock(make_site(), "Room 101", code_capacity=5)
    first = timezone.now().date() + timedelta(days=30)
    for i in range(4):
        book(lock, arrival=first + timedelta(days=4 * i))
    return lock, first + timedelta(days=40)


def _all_at_once(work, count: int) -> tuple[int, list[str]]:
    """Run ``work(i)`` in ``count`` threads, each on its own connection, released together;
    returns how many went through and the refusals."""
    barrier = threading.Barrier(count)
    done: list[int] = []
    refused: list[str] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            work(i)
            done.append(i)
        except Refused as exc:
            refused.append(exc.message)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return len(done), refused


def test_bookings_at_once_on_the_last_place_let_exactly_one_through(nearly_full_door):
    lock, arrival = nearly_full_door
    key = stay_offer(unit=unit_of(lock), arrival=arrival, departure=arrival + timedelta(days=3)).doors[0].plans[0].key

    def book_one(i: int) -> None:
        book(lock, arrival=arrival, guest_name=f"Guest {i}", plan_key=key)

    went_through, refused = _all_at_once(book_one, BOOKINGS_AT_ONCE)

    assert went_through == 1
    assert len(refused) == BOOKINGS_AT_ONCE - 1
    assert all("has no room for another code" in message for message in refused)
    assert AccessCode.objects.filter(lock=lock).count() == 5


def test_date_changes_at_once_on_the_last_place_let_exactly_one_through(nearly_full_door):
    lock, arrival = nearly_full_door
    lock.code_capacity = 4 + BOOKINGS_AT_ONCE
    lock.save()
    stays = [book(lock, arrival=arrival + timedelta(days=4 * i)).reservation for i in range(BOOKINGS_AT_ONCE)]
    lock.code_capacity = 4 + BOOKINGS_AT_ONCE + 1
    lock.save()
    # Made at Seam: a move leaves them live (a code never sent would be withdrawn instead).
    for code in AccessCode.objects.filter(lock=lock):
        AccessCode.objects.filter(pk=code.pk).update(
            status=AccessCode.Status.SET, seam_access_code_id=f"seam-{code.pk}", code="123456"
        )
    # Each stay moves a week later: a new code each, with one place left for them all.
    moves = []
    for stay in stays:
        new = (stay.arrival + timedelta(days=60), stay.departure + timedelta(days=60))
        plan = change_offer(reservation=stay, arrival=new[0], departure=new[1]).doors[0].plans[0]
        moves.append((stay, new, {lock.pk: plan.key}))

    def move(i: int) -> None:
        stay, (new_arrival, new_departure), keys = moves[i]
        reservation_change_dates(reservation=stay, arrival=new_arrival, departure=new_departure, plan_keys=keys)

    went_through, refused = _all_at_once(move, BOOKINGS_AT_ONCE)

    assert went_through == 1
    assert all("has no room for another code" in message for message in refused)
    assert AccessCode.objects.filter(lock=lock).count() == 4 + BOOKINGS_AT_ONCE + 1
