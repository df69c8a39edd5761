"""The same stay sent several times at once (a PMS retrying before its first call answered),
on PostgreSQL: one stay, one code per door, and every call answers with that stay."""

import threading

import pytest
from django.db import connection, connections

from codes.models import AccessCode
from properties.models import Reservation
from tests.api.helpers import stay, token_client
from tests.conftest import skip_or_fail

pytestmark = pytest.mark.django_db(transaction=True)

CALLS_AT_ONCE = 6


def test_identical_posts_at_once_book_one_stay(celery_queue, maria, apartment):
    # celery_queue: the codes' create tasks go to a queue of this test's own, which nobody works.
    if connection.vendor != "postgresql":
        skip_or_fail("this needs PostgreSQL's row locks and unique index: set DATABASE_URL")
    token_client(maria)  # the token exists before the threads look it up
    body = stay(apartment)
    barrier = threading.Barrier(CALLS_AT_ONCE)
    answers: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client = token_client(maria)
            barrier.wait(timeout=10)
            response = client.post("/api/v1/reservations/", body, format="json")
            answers.append((response.status_code, response.json()["id"]))
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(CALLS_AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert sorted(status for status, _ in answers) == [200] * (CALLS_AT_ONCE - 1) + [201]
    assert Reservation.objects.count() == 1
    assert {reservation_id for _, reservation_id in answers} == {Reservation.objects.get().pk}
    assert AccessCode.objects.count() == 2
    assert not Reservation.objects.get().needs_attention
