"""Bodies nobody should send, sent anyway: a 400 that names the field, never a 500, and
nothing booked."""

import json
from datetime import timedelta

import pytest
from django.test import override_settings

from properties.models import Reservation
from tests.api.helpers import ARRIVAL, stay

pytestmark = pytest.mark.django_db


def post(api, body, **kwargs):
    return api.post("/api/v1/reservations/", body, format=kwargs.pop("format", "json"), **kwargs)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"arrival": "9999-12-20", "departure": "9999-12-30"}, "arrival"),
        ({"arrival": "10000-01-01"}, "arrival"),
        ({"arrival": "next tuesday"}, "arrival"),
        ({"arrival": "2030-02-30"}, "arrival"),
        ({"arrival": "2030-09-10T15:00:00Z"}, "arrival"),
        ({"arrival": 20300910}, "arrival"),
        ({"departure": (ARRIVAL - timedelta(days=1)).isoformat()}, "departure"),
        ({"departure": ARRIVAL.isoformat()}, "departure"),
        ({"departure": (ARRIVAL + timedelta(days=400)).isoformat()}, "departure"),
        ({"arrival": "2020-01-01", "departure": "2020-01-05"}, "arrival"),
        ({"unit": 10**30}, "unit"),
        ({"unit": "Apartment 1A"}, "unit"),
        ({"unit": None}, "unit"),
        ({"unit": [1]}, "unit"),
        ({"unit": 1.5}, "unit"),
        ({"unit": True}, "unit"),
        ({"guest_name": ""}, "guest_name"),
        ({"guest_name": "x" * 10_000}, "guest_name"),
        ({"guest_name": {"first": "Ana"}}, "guest_name"),
        ({"guest_name": "Ana\x00Souza"}, "guest_name"),
        ({"guest_email": "not an address"}, "guest_email"),
        ({"guest_email": "a" * 300 + "@example.com"}, "guest_email"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"external_id": ["PMS-1"]}, "external_id"),
        ({"windows": "automatic"}, "windows"),
        ({"windows": {"street": "x"}}, "windows"),
        ({"windows": {"1": 5}}, "windows"),
        ({"windows": {"1": "k" * 5000}}, "windows"),
        ({"windows": {"9" * 40: "x"}}, "windows"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(api, apartment, fields, field):
    response = post(api, {**stay(apartment), **fields})

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Reservation.objects.exists()


def test_a_lone_surrogate_in_a_name_is_a_400(api, apartment):
    # As a JSON escape: Python decodes it to a str PostgreSQL cannot store.
    body = json.dumps(stay(apartment, guest_name="Ana SURROGATE")).replace("SURROGATE", "\\ud800")

    response = api.generic("POST", "/api/v1/reservations/", body, content_type="application/json")

    assert response.status_code == 400
    assert "guest_name" in response.json()


def test_another_sites_unit_in_the_body_is_a_400_on_unit_not_a_404(api, elsewhere):
    response = post(api, stay(elsewhere["unit"]))

    assert response.status_code == 400
    assert response.json() == {"unit": [f'Invalid pk "{elsewhere["unit"].pk}" - object does not exist.']}


def test_missing_fields_are_each_named(api, apartment):
    response = post(api, {})

    assert response.status_code == 400
    assert set(response.json()) == {"unit", "guest_name", "arrival", "departure"}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"a string"', "application/json"),
        (b"unit=1&guest_name=Ana", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "application/json"),
        (b"[" * 200_000 + b"]" * 200_000, "application/json"),
        (b'{"unit": 1}', "application/json; charset=bz2_codec"),
        (b'{"unit": NaN}', "application/json"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, apartment, body, content_type):
    response = api.generic("POST", "/api/v1/reservations/", body, content_type=content_type)

    assert response.status_code in {400, 415}
    assert response.json()
    assert not Reservation.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_body_over_the_upload_limit_is_refused_unread(api, apartment):
    response = post(api, stay(apartment, guest_name="x" * 20_000))

    assert response.status_code == 413
    assert "larger than the server accepts" in response.json()["detail"]
