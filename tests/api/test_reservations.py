"""Booking, reading, moving and cancelling stays through the API, and retries that are safe."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from codes.models import AccessCode
from codes.offers import stay_offer
from properties.models import Reservation
from tests.api.helpers import ARRIVAL, PIN, set_with_pin, stay, token_client
from tests.builders import make_code, make_lock, make_reservation, make_staff, make_unit

pytestmark = pytest.mark.django_db

RESERVATIONS = "/api/v1/reservations/"
LATER = ARRIVAL + timedelta(days=5)


def book(api, unit, **fields):
    response = api.post(RESERVATIONS, stay(unit, **fields), format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- booking ---------------------------------------------------------------------------------------


def test_a_stay_gets_a_code_on_every_door_in_walking_order(api, apartment, street_door, apartment_door):
    response = api.post(RESERVATIONS, stay(apartment), format="json")

    assert response.status_code == 201
    body = response.json()
    assert response["Location"] == f"/api/v1/reservations/{body['id']}/"
    reservation = Reservation.objects.get(pk=body["id"])
    assert (reservation.source, reservation.external_id) == (Reservation.Source.API, "PMS-4711")
    assert body["needs_attention"] is False
    assert [(c["door"]["name"], c["slot_name"], c["status"]) for c in body["codes"]] == [
        ("Street Door", "Guest 15:00-11:00", "pending"),
        ("Apartment 1A", "Guest 15:00-11:00", "pending"),
    ]
    assert body["codes"][1]["starts_at"] == "2030-09-10T15:00:00-07:00"
    assert body["codes"][1]["pin_available"] is False


def test_the_guests_language_goes_in_and_comes_back_and_an_unknown_one_is_a_400(api, apartment):
    german = book(api, apartment, language="de")
    plain = book(api, apartment, external_id="PMS-4712", guest_name="Bo Li")
    response = api.post(RESERVATIONS, stay(apartment, external_id="PMS-4713", language="klingon"), format="json")

    assert (german["language"], plain["language"]) == ("de", "")
    assert Reservation.objects.get(pk=german["id"]).guest_language == "de"
    assert response.status_code == 400
    assert "language" in response.json()


def test_a_window_can_be_chosen_per_door(api, apartment, apartment_door):
    door = stay_offer(unit=apartment, arrival=ARRIVAL, departure=ARRIVAL + timedelta(days=3)).doors[1]
    late = next(plan.key for plan in door.plans if plan.slot_name == "Late 16:00-12:00")

    body = book(api, apartment, windows={str(apartment_door.pk): late})

    assert [c["slot_name"] for c in body["codes"]] == ["Guest 15:00-11:00", "Late 16:00-12:00"]


def test_a_window_the_door_does_not_offer_is_a_400_on_windows(api, apartment, apartment_door):
    response = api.post(RESERVATIONS, stay(apartment, windows={str(apartment_door.pk): "x|y|z"}), format="json")

    assert response.status_code == 400
    assert "no longer offered" in response.json()["windows"][0]
    assert not Reservation.objects.exists()


def test_a_window_for_a_door_the_unit_has_not_is_a_400(api, apartment, elsewhere):
    other_door = elsewhere["code"].lock_id

    response = api.post(RESERVATIONS, stay(apartment, windows={str(other_door): "x"}), format="json")

    assert response.status_code == 400
    assert "is not a door of this unit" in response.json()["windows"][0]


def test_a_stay_no_door_can_take_is_saved_and_says_why(api, site):
    gate = make_lock(site, "Garden Gate", can_program_offline_access_codes=False)
    unit = make_unit(site, "Garden Room", gate)

    body = book(api, unit, guest_email="")

    assert body["needs_attention"] is True
    assert "Garden Gate: Seam says Garden Gate cannot take offline codes" in body["attention"]
    assert body["codes"] == []
    assert api.get(f"{RESERVATIONS}{body['id']}/").json()["attention"] == body["attention"]


# --- retries -------------------------------------------------------------------------------------------


def test_the_same_stay_sent_again_is_the_one_booked_before(api, apartment):
    first = book(api, apartment)

    again = api.post(RESERVATIONS, stay(apartment), format="json")

    assert again.status_code == 200
    assert again.json() == first
    assert Reservation.objects.count() == 1
    assert AccessCode.objects.count() == 2


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"departure": (ARRIVAL + timedelta(days=4)).isoformat()}, "departure"),
        ({"guest_name": "Ana Souza-Lima"}, "guest_name"),
        ({"guest_email": "ana@example.org"}, "guest_email"),
    ],
)
def test_other_data_under_a_known_external_id_is_a_409_pointing_to_change_dates(api, apartment, change, named):
    first = book(api, apartment)

    response = api.post(RESERVATIONS, stay(apartment, **change), format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["reservation"] == first["id"]
    assert named in body["detail"]
    assert f"/api/v1/reservations/{first['id']}/change-dates/" in body["detail"]
    assert Reservation.objects.count() == 1


def test_a_known_external_id_sent_for_another_unit_is_a_409(api, apartment, site):
    first = book(api, apartment)
    studio = make_unit(site, "Studio", make_lock(site, "Studio"))

    response = api.post(RESERVATIONS, stay(studio), format="json")

    assert response.status_code == 409
    assert response.json()["reservation"] == first["id"]


def test_another_sites_external_id_is_not_a_retry(api, apartment, elsewhere):
    # PMS-1 is a stay on a site the caller cannot see: nothing of it shows, and this is a new stay.
    body = book(api, apartment, external_id=elsewhere["reservation"].external_id)

    assert body["id"] != elsewhere["reservation"].pk


# --- reading ------------------------------------------------------------------------------------------


def test_a_stay_reads_with_its_codes_and_whether_a_pin_can_be_revealed(api, apartment):
    booked = book(api, apartment)
    set_with_pin(Reservation.objects.get(pk=booked["id"]))

    response = api.get(f"{RESERVATIONS}{booked['id']}/")

    assert response.status_code == 200
    body = response.json()
    assert [c["pin_available"] for c in body["codes"]] == [True, True]
    assert [c["status"] for c in body["codes"]] == ["set", "set"]
    assert PIN not in response.content.decode()


def test_a_failed_code_says_what_went_wrong_in_plain_words(api, apartment):
    booked = book(api, apartment)
    set_with_pin(
        Reservation.objects.get(pk=booked["id"]),
        status=AccessCode.Status.FAILED,
        code="",
        last_error_type="provider_issue",
        last_error_message=f"Seam's own words, which may say anything: {PIN}",
    )

    [code, _] = api.get(f"{RESERVATIONS}{booked['id']}/").json()["codes"]

    assert code["current"] is False
    assert code["error"]["type"] == "provider_issue"
    assert "dormakaba refused it" in code["error"]["summary"]
    assert PIN not in str(code)


def test_another_sites_stay_is_not_found(api, elsewhere):
    assert api.get(f"{RESERVATIONS}{elsewhere['reservation'].pk}/").status_code == 404


def test_the_list_filters_by_unit_dates_state_and_external_id(api, apartment, site, elsewhere):
    first = book(api, apartment)
    later = book(
        api,
        apartment,
        external_id="PMS-4712",
        arrival=(ARRIVAL + timedelta(days=10)).isoformat(),
        departure=(ARRIVAL + timedelta(days=12)).isoformat(),
    )
    set_with_pin(Reservation.objects.get(pk=later["id"]))
    studio = make_unit(site, "Studio", make_lock(site, "Studio"))
    third = book(api, studio, external_id="PMS-9")

    def ids(**query):
        response = api.get(RESERVATIONS, query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    # Newest arrival first, as the staff list; ties (same arrival and guest) newest booking first.
    assert ids() == [later["id"], third["id"], first["id"]]
    assert ids(unit=studio.pk) == [third["id"]]
    assert ids(unit=elsewhere["unit"].pk) == []
    assert ids(arrival_from=(ARRIVAL + timedelta(days=1)).isoformat()) == [later["id"]]
    assert set(ids(arrival_to=ARRIVAL.isoformat())) == {first["id"], third["id"]}
    assert ids(state="set") == [later["id"]]
    assert set(ids(state="pending")) == {first["id"], third["id"]}
    assert ids(external_id="PMS-4711") == [first["id"]]
    assert ids(external_id=elsewhere["reservation"].external_id) == []
    assert ids(sort="arrival") == [first["id"], third["id"], later["id"]]


def test_the_list_answers_in_pages(api, apartment):
    Reservation.objects.bulk_create(
        Reservation(
            site=apartment.site,
            unit=apartment,
            guest_name=f"Guest {i}",
            arrival=ARRIVAL + timedelta(days=i),
            departure=ARRIVAL + timedelta(days=i + 1),
        )
        for i in range(55)
    )

    first = api.get(RESERVATIONS).json()
    second = api.get(RESERVATIONS, {"page": 2}).json()

    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert len(second["results"]) == 5
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in second["results"]})
    assert api.get(RESERVATIONS, {"page": 9}).status_code == 404


def test_a_page_of_stays_takes_as_many_queries_as_one_stay(api, apartment, site):
    book(api, apartment)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(RESERVATIONS).status_code == 200
        return len(captured)

    one = queries()
    for i in range(5):
        unit = make_unit(site, f"Room {i}", make_lock(site, f"Room {i}"))
        reservation = make_reservation(unit, arrival=ARRIVAL + timedelta(days=i))
        make_code(reservation)
        make_code(reservation, name=f"second {i}", seam_access_code_id=f"s-{i}", superseded_at=reservation.created_at)

    assert queries() == one


@pytest.mark.parametrize(
    "query",
    [
        {"state": "bogus"},
        {"stay": "yesterday"},
        {"arrival_from": "soon"},
        {"arrival_to": "2030-13-01"},
        {"unit": "abc"},
        {"unit": str(10**30)},
        {"external_id": "nul\x00byte"},
        {"external_id": "x" * 300},
        {"sort": "guest_email; drop table"},
    ],
)
def test_a_filter_nobody_should_send_is_a_400(api, apartment, query):
    response = api.get(RESERVATIONS, query)

    assert response.status_code == 400
    assert set(response.json()) == set(query)


# --- changing dates -----------------------------------------------------------------------------


def change(api, reservation_id, **body):
    return api.post(f"{RESERVATIONS}{reservation_id}/change-dates/", body, format="json")


def test_a_date_change_preview_says_what_happens_on_each_door_and_changes_nothing(api, apartment, apartment_door):
    booked = book(api, apartment)
    codes = {c["door"]["id"]: c["id"] for c in booked["codes"]}

    response = change(api, booked["id"], arrival=ARRIVAL.isoformat(), departure=LATER.isoformat())

    assert response.status_code == 200
    body = response.json()
    assert body["applied"] is False
    assert body["refusals"] == []
    own = body["doors"][1]
    assert own["door"]["id"] == apartment_door.pk
    assert own["plan"]["kind"] == "extend"
    assert own["plan"]["preselected"] is True
    assert own["plan"]["keeps"] == [codes[apartment_door.pk]]
    assert own["plan"]["new_codes"][0]["ends_at"] == "2030-09-15T11:00:00-07:00"
    assert any(p["key"] == own["plan"]["key"] for p in own["plans"])
    reservation = Reservation.objects.get(pk=booked["id"])
    assert reservation.departure == ARRIVAL + timedelta(days=3)
    assert AccessCode.objects.count() == 2


def test_a_date_change_applied_moves_the_stay_and_adds_the_codes(api, maria, apartment):
    booked = book(api, apartment)
    new_departure = ARRIVAL + timedelta(days=5)

    response = change(api, booked["id"], arrival=ARRIVAL.isoformat(), departure=new_departure.isoformat(), apply=True)

    assert response.status_code == 200
    body = response.json()
    assert body["applied"] is True
    assert [d["plan"]["kind"] for d in body["doors"]] == ["extend", "extend"]
    assert body["reservation"]["departure"] == new_departure.isoformat()
    assert len(body["reservation"]["codes"]) == 4
    event = AccessCode.objects.get(pk=booked["codes"][0]["id"]).events.get(kind="dates_changed")
    assert event.user == maria


def test_a_cancelled_stay_cannot_change_dates(api, apartment):
    booked = book(api, apartment)
    api.post(f"{RESERVATIONS}{booked['id']}/cancel/")

    response = change(api, booked["id"], arrival=ARRIVAL.isoformat(), departure=LATER.isoformat())

    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"arrival": "2030-09-10", "departure": "2030-09-13"}, "non_field_errors", "dates already"),
        ({"arrival": "2030-09-10", "departure": "2030-09-09"}, "departure", "must be after"),
        ({"arrival": "9999-01-01", "departure": "9999-01-05"}, "arrival", "out of range"),
        ({"arrival": "2030-09-10", "departure": "2030-09-15", "apply": "perhaps"}, "apply", "valid boolean"),
        ({"arrival": "2030-09-10", "departure": "2030-09-15", "windows": {"1": "x"}}, "windows", "not a door"),
        ({"arrival": "2030-09-10", "departure": "2030-09-15", "windows": ["x"]}, "windows", "dictionary"),
    ],
)
def test_a_change_nobody_can_make_is_a_400_naming_the_field(api, apartment, body, field, words):
    booked = book(api, apartment)

    response = change(api, booked["id"], **body)

    assert response.status_code == 400
    assert words in " ".join(response.json()[field])


def test_a_chosen_change_plan_not_offered_is_a_400_in_the_preview_and_when_applied(api, apartment, apartment_door):
    booked = book(api, apartment)
    dates = {"arrival": ARRIVAL.isoformat(), "departure": (ARRIVAL + timedelta(days=5)).isoformat()}

    for apply in (False, True):
        response = change(api, booked["id"], **dates, apply=apply, windows={str(apartment_door.pk): "stale"})
        assert response.status_code == 400
        assert "windows" in response.json()


def test_another_sites_stay_cannot_change_dates(api, elsewhere):
    response = change(api, elsewhere["reservation"].pk, arrival="2030-09-10", departure="2030-09-20", apply=True)

    assert response.status_code == 404
    assert Reservation.objects.get(pk=elsewhere["reservation"].pk).departure == ARRIVAL + timedelta(days=3)


# --- cancelling ----------------------------------------------------------------------------------------


def test_cancelling_answers_with_the_codes_that_go_to_the_ledger(api, maria, apartment):
    booked = book(api, apartment)
    street_code, own_code = AccessCode.objects.filter(reservation_id=booked["id"]).order_by("pk")
    # Seam holds the street door's code (it stays live until it ends); the other was never sent.
    AccessCode.objects.filter(pk=street_code.pk).update(
        status=AccessCode.Status.SET, code=PIN, seam_access_code_id="s1"
    )

    response = api.post(f"{RESERVATIONS}{booked['id']}/cancel/")

    assert response.status_code == 200
    body = response.json()
    assert body["reservation"]["cancelled_at"] is not None
    assert [(c["id"], c["ledger_reason"]) for c in body["ledger_codes"]] == [(street_code.pk, "cancelled")]
    assert AccessCode.objects.get(pk=own_code.pk).status == AccessCode.Status.CANCELLED
    assert Reservation.objects.get(pk=booked["id"]).cancelled_by == maria
    assert PIN not in response.content.decode()

    again = api.post(f"{RESERVATIONS}{booked['id']}/cancel/")
    assert again.status_code == 200
    assert again.json()["ledger_codes"] == body["ledger_codes"]


def test_another_sites_stay_cannot_be_cancelled(api, elsewhere):
    assert api.post(f"{RESERVATIONS}{elsewhere['reservation'].pk}/cancel/").status_code == 404
    assert Reservation.objects.get(pk=elsewhere["reservation"].pk).cancelled_at is None


def test_a_superuser_sees_every_site(elsewhere, apartment):
    boss = token_client(make_staff("boss", superuser=True))

    assert boss.get(f"{RESERVATIONS}{elsewhere['reservation'].pk}/").status_code == 200
