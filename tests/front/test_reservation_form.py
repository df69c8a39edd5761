from datetime import UTC, date, datetime, time, timedelta

import pytest
from django import forms
from django.urls import reverse

from codes.errors import Refused
from codes.models import AccessCode
from codes.offers import stay_offer
from codes.stays import reservation_create
from codes.windows import offer_windows
from front.forms import ReservationForm
from properties.models import Reservation
from tests.builders import LA_SLOTS, book, make_lock, make_site, make_staff, unit_of

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 9, 1, 12, 0, tzinfo=UTC)
DAILY_SLOT = {
    "name": "Daily 14:00",
    "is_24_hour": True,
    "check_in_time": "14:00:00[America/Los_Angeles]",
    "check_out_time": "14:00:00[America/Los_Angeles]",
    "dormakaba_oracode_user_level_id": "daily-level",
}


def window_choices(form: ReservationForm) -> list[tuple[str, str]]:
    [name] = [name for name in form.fields if name.startswith("plan_")]
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    return list(field.choices)  # type: ignore[arg-type]


@pytest.fixture
def door():
    return make_lock(make_site(), time_slots=[*LA_SLOTS, DAILY_SLOT])


def form_data(door, window=None, **overrides):
    data = {
        "site": door.site_id,
        "unit": unit_of(door).pk,
        "guest_name": "Ana Souza",
        "guest_email": "ana@example.com",
        "arrival": "2030-11-01",
        "departure": "2030-11-05",
    }
    data.update(overrides)
    if window is not None:
        data[f"plan_{door.pk}"] = window
    return data


def form_with_offer(door, data, *, now=NOW, user=None):
    """The form as the view builds it: the unit's offer for the dates typed, as its choices."""
    form = ReservationForm(data, user=user or make_staff("demo", door.site))
    offer = stay_offer(
        unit=unit_of(door),
        arrival=date.fromisoformat(data["arrival"]),
        departure=date.fromisoformat(data["departure"]),
        now=now,
    )
    form.offer_plans(offer)
    return form, offer


def test_the_form_offers_exactly_the_windows_of_the_helper(door):
    form, _ = form_with_offer(door, form_data(door))

    expected = offer_windows(door.time_slots, arrival=date(2030, 11, 1), departure=date(2030, 11, 5), now=NOW)
    assert window_choices(form) == [(w.key, w.label) for w in expected]
    assert len(expected) == 2
    # The stay crosses the end of daylight saving time: the label shows both abbreviations.
    assert any("PDT → PST" in label for _, label in window_choices(form))


def test_a_valid_choice_is_the_offered_plan(door):
    window = offer_windows(door.time_slots, arrival=date(2030, 11, 1), departure=date(2030, 11, 5), now=NOW)[0]
    form, offer = form_with_offer(door, form_data(door, window=window.key))

    assert form.is_valid(), form.errors
    plan = offer.doors[0].plan(form.plan_keys()[door.pk])
    assert plan is not None
    assert plan.windows == (window,)


def test_the_window_closest_to_the_units_standard_times_is_preselected(door):
    # The unit checks in at 15:00 and out at 11:00: of "Guest 15:00-11:00" and "Daily 14:00".
    form, offer = form_with_offer(door, form_data(door))

    [choice] = offer.doors
    assert getattr(choice.plan(choice.preselected), "slot_name", None) == "Guest 15:00-11:00"
    assert form[f"plan_{door.pk}"].initial == choice.preselected
    unit = unit_of(door)
    unit.check_in_time, unit.check_out_time = time(14), time(14)
    unit.save()
    later = stay_offer(unit=unit, arrival=date(2030, 11, 1), departure=date(2030, 11, 5), now=NOW).doors[0]
    assert getattr(later.plan(later.preselected), "slot_name", None) == "Daily 14:00"


def test_a_tampered_window_is_refused_with_a_message(door):
    tampered = "0c7e9a52-3f1a-4c1e-9a57-1a2b3c4d5e01|2030-11-01T14:00:00-07:00|2030-11-05T11:00:00-08:00"
    form, _ = form_with_offer(door, form_data(door, window=tampered))

    assert not form.is_valid()
    assert "not offered for Room 101 and these dates" in form.errors[f"plan_{door.pk}"][0]


def test_a_window_offered_earlier_but_started_since_is_refused_by_the_service(door):
    early = datetime(2030, 9, 1, 15, 0, tzinfo=UTC)  # 08:00 in Los Angeles, before check-in
    window = offer_windows(door.time_slots, arrival=date(2030, 9, 1), departure=date(2030, 9, 3), now=early)[0]
    late = datetime(2030, 9, 1, 23, 0, tzinfo=UTC)  # 16:00 in Los Angeles, after the 15:00 check-in

    with pytest.raises(Refused, match="cannot get working codes on every door"):
        reservation_create(
            unit=unit_of(door),
            guest_name="Ana Souza",
            guest_email="ana@example.com",
            arrival=date(2030, 9, 1),
            departure=date(2030, 9, 3),
            plan_keys={door.pk: window.key},
            now=late,
        )
    assert not Reservation.objects.exists()


def test_an_empty_offer_says_why(door):
    arrival = NOW.date() - timedelta(days=3)

    offer = stay_offer(unit=unit_of(door), arrival=arrival, departure=arrival + timedelta(days=5), now=NOW)

    assert offer.doors[0].plans == []
    assert any("has already passed" in reason for reason in offer.doors[0].reasons)
    assert "Room 101: " in offer.refusals[0]


def test_a_door_that_cannot_take_offline_codes_is_explained(door):
    door.can_program_offline_access_codes = False
    door.save()

    offer = stay_offer(unit=unit_of(door), arrival=date(2030, 11, 1), departure=date(2030, 11, 5), now=NOW)

    assert offer.doors[0].plans == []
    assert "cannot take offline codes" in offer.doors[0].reasons[0]


def test_staff_cannot_book_a_unit_of_another_site(door):
    other_site = make_site("Harbour View", "Australia/Sydney")
    form = ReservationForm(form_data(door), user=make_staff("harbour", other_site))

    assert not form.is_valid()
    assert "site" in form.errors
    assert "unit" in form.errors
    assert form.stay_so_far() is None, "nothing is offered for a unit the person may not book"


def test_posting_the_form_saves_the_stay_and_a_pending_code_for_the_window(client, door):
    client.force_login(make_staff("demo", door.site))
    arrival, departure = date(2031, 3, 3), date(2031, 3, 6)
    window = offer_windows(door.time_slots, arrival=arrival, departure=departure)[0]

    response = client.post(
        reverse("reservation_create"),
        form_data(door, arrival=arrival.isoformat(), departure=departure.isoformat(), window=window.key),
    )

    assert response.status_code == 302
    reservation = Reservation.objects.get()
    code = AccessCode.objects.get()
    assert code.reservation == reservation
    assert code.status == AccessCode.Status.PENDING
    assert (code.starts_at, code.ends_at) == (window.starts_at, window.ends_at)
    assert code.max_time_rounding == window.max_time_rounding


def test_posting_a_tampered_window_saves_nothing(client, door):
    client.force_login(make_staff("demo", door.site))

    response = client.post(reverse("reservation_create"), form_data(door, window="forged|x|y"))

    assert response.status_code == 200
    assert b"not offered for Room 101 and these dates" in response.content
    assert not Reservation.objects.exists()
    assert not AccessCode.objects.exists()


def test_the_htmx_endpoint_returns_the_windows_for_the_chosen_door(client, door):
    client.force_login(make_staff("demo", door.site))

    response = client.get(
        reverse("reservation_form_choices"),
        form_data(door, arrival="2031-03-03", departure="2031-03-06"),
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert b'id="reservation-choices"' in response.content
    assert b"Guest 15:00-11:00" in response.content
    assert b"Daily 14:00" in response.content


def test_the_htmx_refresh_shows_no_errors_on_a_form_nobody_submitted(client, door):
    client.force_login(make_staff("demo", door.site))

    response = client.get(
        reverse("reservation_form_choices"),
        {"site": door.site_id, "unit": unit_of(door).pk, "arrival": "2031-03-03", "departure": "2031-03-06"},
        headers={"HX-Request": "true"},
    )

    assert b"Guest 15:00-11:00" in response.content
    assert b"Pick the code window" not in response.content
    assert b"is-invalid" not in response.content


def test_a_full_door_refuses_the_booking_with_a_message_and_saves_nothing(client, door):
    door.code_capacity = 1
    door.save()
    book(door, arrival=date(2030, 10, 1))  # its code holds the door's only place
    client.force_login(make_staff("demo", door.site))
    window = offer_windows(door.time_slots, arrival=date(2030, 11, 1), departure=date(2030, 11, 5))[0]

    response = client.post(reverse("reservation_create"), form_data(door, window=window.key))

    assert response.status_code == 200
    assert "Room 101 has no room for another code" in response.content.decode()
    assert Reservation.objects.count() == 1


def test_the_guests_language_is_saved_and_empty_means_the_sites(client, door):
    client.force_login(make_staff("demo", door.site))

    def dates(day: int) -> dict[str, str]:
        arrival, departure = date(2031, 3, day), date(2031, 3, day + 2)
        window = offer_windows(door.time_slots, arrival=arrival, departure=departure)[0]
        return {"arrival": arrival.isoformat(), "departure": departure.isoformat(), "window": window.key}

    client.post(reverse("reservation_create"), form_data(door, language="de", **dates(3)))
    client.post(reverse("reservation_create"), form_data(door, language="", guest_name="Bo Li", **dates(10)))
    response = client.post(reverse("reservation_create"), form_data(door, language="xx", **dates(20)))

    german, bo = Reservation.objects.order_by("pk")
    assert (german.language, german.guest_language) == ("de", "de")
    assert (bo.language, bo.guest_language) == ("", door.site.language) == ("", "en")
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert Reservation.objects.count() == 2
