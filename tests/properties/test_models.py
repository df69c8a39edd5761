from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests.builders import make_lock, make_reservation, make_site

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_departure_on_or_before_arrival():
    lock = make_lock(make_site())

    with pytest.raises(IntegrityError):
        make_reservation(lock, arrival=date(2030, 9, 10), nights=0)


def test_clean_explains_a_door_from_another_site():
    lock = make_lock(make_site())
    other = make_site("Harbour View", "Australia/Sydney")
    reservation = make_reservation(lock)
    reservation.site = other

    with pytest.raises(ValidationError) as excinfo:
        reservation.clean()

    assert "another site" in str(excinfo.value)


def test_a_site_time_zone_must_be_an_iana_name():
    site = make_site()
    site.timezone = "PST"

    with pytest.raises(ValidationError) as excinfo:
        site.full_clean()

    assert "IANA" in str(excinfo.value)


def test_two_sites_cannot_claim_the_same_dormakaba_site():
    make_site("A", dormakaba_site_name="Ocean Beach Vacations")

    with pytest.raises(IntegrityError):
        make_site("B", dormakaba_site_name="Ocean Beach Vacations")


def test_a_lock_notices_slots_in_another_zone_than_its_own():
    site = make_site()
    lock = make_lock(site, timezone="America/New_York")
    assert lock.timezone_problem
    lock.timezone = "America/Los_Angeles"
    assert not lock.timezone_problem
