"""The PIN leaves the API through the audited reveal only: recorded in the code's history,
never cached, and in no other answer."""

import logging
from datetime import timedelta

import pytest

from codes.models import AccessCode, AccessCodeEvent
from properties.models import Reservation
from tests.api.helpers import ARRIVAL, PIN, set_with_pin, stay
from tests.builders import make_lock, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def set_code(api, apartment) -> AccessCode:
    booked = api.post("/api/v1/reservations/", stay(apartment), format="json").json()
    return set_with_pin(Reservation.objects.get(pk=booked["id"]))[0]


def reveal(api, code):
    return api.post(f"/api/v1/codes/{code.pk}/reveal/")


def test_the_reveal_gives_the_pin_records_who_saw_it_and_is_never_cached(api, maria, set_code):
    response = reveal(api, set_code)

    assert response.status_code == 200
    body = response.json()
    assert body["pin"] == PIN
    assert (body["id"], body["door"]["name"]) == (set_code.pk, "Street Door")
    assert body["starts_at"] == "2030-09-10T15:00:00-07:00"
    assert "no-store" in response["Cache-Control"]
    event = set_code.events.get(kind=AccessCodeEvent.Kind.REVEALED)
    assert event.user == maria
    assert event.message == "PIN revealed to maria."
    assert PIN not in event.message


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"status": AccessCode.Status.PENDING, "code": ""}, "“Pending”"),
        ({"status": AccessCode.Status.WAITING, "code": ""}, "“Waiting for the lock system”"),
        ({"status": AccessCode.Status.FAILED}, "“Failed”"),
        ({"code": ""}, "Seam has not given this code a PIN yet."),
    ],
)
def test_a_code_without_a_pin_to_reveal_is_a_409_and_records_nothing(api, set_code, fields, words):
    AccessCode.objects.filter(pk=set_code.pk).update(**fields)

    response = reveal(api, set_code)

    assert response.status_code == 409
    assert words in response.json()["detail"]
    assert PIN not in response.content.decode()
    assert not set_code.events.filter(kind=AccessCodeEvent.Kind.REVEALED).exists()


def test_another_sites_code_is_not_found_and_its_pin_not_revealed(api, elsewhere):
    response = reveal(api, elsewhere["code"])

    assert response.status_code == 404
    assert not elsewhere["code"].events.exists()


def test_no_answer_but_the_reveal_carries_a_pin(api, apartment, apartment_door, site, set_code):
    """Every call, its PIN searched for in the whole body."""
    stay_id = set_code.reservation_id
    unit = make_unit(site, "Studio", make_lock(site, "Studio"))
    later = (ARRIVAL + timedelta(days=5)).isoformat()
    answers = {
        "units": api.get("/api/v1/units/"),
        "windows": api.get(f"/api/v1/units/{apartment.pk}/windows/", {"arrival": ARRIVAL, "departure": later}),
        "list": api.get("/api/v1/reservations/"),
        "list set": api.get("/api/v1/reservations/", {"state": "set"}),
        "detail": api.get(f"/api/v1/reservations/{stay_id}/"),
        "retry": api.post("/api/v1/reservations/", stay(apartment), format="json"),
        "retry clash": api.post("/api/v1/reservations/", stay(apartment, guest_name="Other"), format="json"),
        "another": api.post("/api/v1/reservations/", stay(unit, external_id="PMS-2"), format="json"),
        "preview": api.post(
            f"/api/v1/reservations/{stay_id}/change-dates/", {"arrival": ARRIVAL, "departure": later}, format="json"
        ),
        "change": api.post(
            f"/api/v1/reservations/{stay_id}/change-dates/",
            {"arrival": ARRIVAL, "departure": later, "apply": True},
            format="json",
        ),
        "cancel": api.post(f"/api/v1/reservations/{stay_id}/cancel/"),
        "feeds": api.get("/api/v1/feeds/"),
        "schema": api.get("/api/schema/", HTTP_ACCEPT="application/json"),
    }

    assert {name: r.status_code for name, r in answers.items()} == {
        "units": 200,
        "windows": 200,
        "list": 200,
        "list set": 200,
        "detail": 200,
        "retry": 200,
        "retry clash": 409,
        "another": 201,
        "preview": 200,
        "change": 200,
        "cancel": 200,
        "feeds": 200,
        "schema": 200,
    }
    assert [name for name, r in answers.items() if PIN in r.content.decode()] == []
    assert set_code.code == PIN, "the PIN was there to be found"
    assert PIN in reveal(api, set_code).content.decode()


def test_no_log_line_carries_the_pin(api, set_code, caplog):
    caplog.set_level(logging.DEBUG)

    assert reveal(api, set_code).status_code == 200
    AccessCode.objects.filter(pk=set_code.pk).update(status=AccessCode.Status.WAITING)
    assert reveal(api, set_code).status_code == 409

    assert caplog.records, "something was logged: the search had something to search"
    assert PIN not in caplog.text
