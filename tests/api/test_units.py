"""Units and the code windows their doors offer, as the booking form shows them."""

from datetime import timedelta

import pytest

from tests.api.helpers import ARRIVAL
from tests.builders import make_lock, make_unit

pytestmark = pytest.mark.django_db

DEPARTURE = ARRIVAL + timedelta(days=3)
STAY = (ARRIVAL.isoformat(), DEPARTURE.isoformat())


def windows(api, unit, arrival=STAY[0], departure=STAY[1]):
    return api.get(f"/api/v1/units/{unit.pk}/windows/", {"arrival": arrival, "departure": departure})


def test_units_come_with_their_site_their_doors_in_walking_order_and_standard_times(
    api, apartment, street_door, apartment_door, elsewhere
):
    body = api.get("/api/v1/units/").json()

    assert body["count"] == 1, "another site's units are not listed"
    [unit] = body["results"]
    assert unit["name"] == "Apartment 1A"
    assert unit["site"] == {
        "id": apartment.site_id,
        "name": "Harbour View Apartments",
        "timezone": "America/Los_Angeles",
    }
    assert unit["doors"] == [
        {"id": street_door.pk, "name": "Street Door", "position": 0, "optional": False},
        {"id": apartment_door.pk, "name": "Apartment 1A", "position": 1, "optional": False},
    ]
    assert (unit["check_in_time"], unit["check_out_time"]) == ("15:00:00", "11:00:00")


def test_each_door_offers_its_windows_in_its_own_zone_with_one_preselected(api, apartment, apartment_door):
    response = windows(api, apartment)

    assert response.status_code == 200
    body = response.json()
    assert body["refusals"] == []
    street, own = body["doors"]
    assert street["door"]["name"] == "Street Door"
    assert [w["slot_name"] for w in street["windows"]] == ["Guest 15:00-11:00"]
    assert [(w["slot_name"], w["preselected"]) for w in own["windows"]] == [
        ("Guest 15:00-11:00", True),
        ("Late 16:00-12:00", False),
    ]
    guest = own["windows"][0]
    # Los Angeles keeps daylight time in September: the lock's own offset, not UTC.
    assert guest["starts_at"] == "2030-09-10T15:00:00-07:00"
    assert guest["ends_at"] == "2030-09-13T11:00:00-07:00"
    assert guest["timezone"] == "America/Los_Angeles"
    assert guest["label"] == "Guest 15:00-11:00 · Tue 10 Sep 15:00 → Fri 13 Sep 11:00 (America/Los_Angeles, PDT)"
    assert guest["key"].startswith("0c7e9a52-3f1a-4c1e-9a57-1a2b3c4d5e01|2030-09-10T15:00:00-07:00")
    assert [(c["starts_at"], c["ends_at"]) for c in guest["codes"]] == [(guest["starts_at"], guest["ends_at"])]


def test_a_stay_over_31_days_is_offered_as_a_chain_of_codes(api, apartment):
    body = windows(api, apartment, departure=(ARRIVAL + timedelta(days=40)).isoformat()).json()

    guest = body["doors"][1]["windows"][0]
    assert guest["key"].startswith("chain:")
    assert len(guest["codes"]) == 2
    assert guest["codes"][0]["starts_at"] == guest["starts_at"]
    assert guest["codes"][-1]["ends_at"] == guest["ends_at"]


def test_a_door_that_offers_nothing_says_why(api, site):
    gate = make_lock(site, "Garden Gate", can_program_offline_access_codes=False)
    unit = make_unit(site, "Garden Room", gate)

    body = windows(api, unit).json()

    [door] = body["doors"]
    assert door["windows"] == []
    assert door["reasons"] == ["Seam says Garden Gate cannot take offline codes. Choose another door."]
    assert body["refusals"] == ["Garden Gate: Seam says Garden Gate cannot take offline codes. Choose another door."]


def test_another_sites_unit_is_not_found(api, elsewhere):
    assert windows(api, elsewhere["unit"]).status_code == 404
    assert api.get("/api/v1/units/99999999999999999999/windows/").status_code == 404


@pytest.mark.parametrize(
    ("arrival", "departure", "field", "words"),
    [
        ("tomorrow", "2030-09-13", "arrival", "wrong format"),
        ("2030-09-13", "2030-02-30", "departure", "wrong format"),
        ("2030-09-13", "2030-09-10", "departure", "must be after the arrival"),
        ("9999-12-20", "9999-12-30", "arrival", "out of range"),
        ("2030-01-01", "2032-01-01", "departure", "at most 365 nights"),
        ("", "", "arrival", "wrong format"),
    ],
)
def test_dates_no_stay_can_have_are_a_400_naming_the_field(api, apartment, arrival, departure, field, words):
    response = windows(api, apartment, arrival, departure)

    assert response.status_code == 400
    assert words in " ".join(response.json()[field])


def test_missing_dates_are_a_400(api, apartment):
    response = api.get(f"/api/v1/units/{apartment.pk}/windows/")

    assert response.status_code == 400
    assert set(response.json()) == {"arrival", "departure"}
