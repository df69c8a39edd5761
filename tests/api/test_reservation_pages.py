"""The reservation list a page at a time: as many queries with years of stays behind it as
without, and a count that stops where the pages asked for do."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from codes.models import AccessCode
from tests.api.helpers import ARRIVAL
from tests.builders import make_code, make_history, make_reservation

pytestmark = pytest.mark.django_db

RESERVATIONS = "/api/v1/reservations/"


def queries(api, params=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(RESERVATIONS, params or {}).status_code == 200
    return len(captured)


def test_the_list_takes_as_many_queries_with_years_of_stays_behind_it(api, apartment):
    for n in range(3):
        make_code(make_reservation(apartment, arrival=ARRIVAL + timedelta(days=3 * n), guest_name=f"G{n}"))
    one = queries(api)
    filtered = queries(api, {"state": AccessCode.Status.SET, "sort": "guest"})

    make_history(apartment, 1200, before=ARRIVAL)

    assert queries(api) == one
    assert queries(api, {"state": AccessCode.Status.SET, "sort": "guest"}) == filtered
    assert [r["guest_name"] for r in api.get(RESERVATIONS).json()["results"][:3]] == ["G2", "G1", "G0"]


def test_past_a_thousand_stays_the_count_is_null_and_next_goes_on(api, apartment, elsewhere):
    make_history(apartment, 1030, before=ARRIVAL)

    first = api.get(RESERVATIONS).json()
    twenty_first = api.get(RESERVATIONS, {"page": 21}).json()
    last = api.get(RESERVATIONS, {"page": "last"}).json()

    assert first["count"] is None
    assert len(first["results"]) == 50
    assert first["next"].endswith(f"{RESERVATIONS}?page=2")
    # A page past the first thousand counts on to the next thousand: here, to the end.
    assert twenty_first["count"] == 1030
    assert len(twenty_first["results"]) == 30
    assert twenty_first["next"] is None
    assert last["count"] == 1030
    assert last["results"] == twenty_first["results"]
    assert api.get(RESERVATIONS, {"page": 22}).status_code == 404
    assert api.get(RESERVATIONS, {"page": "nine"}).status_code == 404


def test_a_filter_that_keeps_few_stays_counts_them_exactly(api, apartment):
    make_history(apartment, 1030, before=ARRIVAL)
    make_reservation(apartment, arrival=ARRIVAL, external_id="PMS-42")

    body = api.get(RESERVATIONS, {"external_id": "PMS-42"}).json()

    assert body["count"] == 1
    assert body["next"] is None
