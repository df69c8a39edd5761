"""What the API tests share: a site with a two-door unit (a street door, then the apartment's
own door, which has two levels), a staff member of that site calling with a token, and a
stay with a set code on another site, which that token must never reach."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from locks.models import Lock
from properties.models import Site, Unit
from tests.api.helpers import ARRIVAL, LATE_SLOT, PIN, token_client
from tests.builders import LA_SLOTS, make_code, make_lock, make_reservation, make_site, make_staff, make_unit


@pytest.fixture
def site() -> Site:
    return make_site("Harbour View Apartments")


@pytest.fixture
def street_door(site: Site) -> Lock:
    return make_lock(site, "Street Door")


@pytest.fixture
def apartment_door(site: Site) -> Lock:
    return make_lock(site, "Apartment 1A", time_slots=[*LA_SLOTS, LATE_SLOT])


@pytest.fixture
def apartment(site: Site, street_door: Lock, apartment_door: Lock) -> Unit:
    """Apartment 1A: the street door first, then its own door."""
    return make_unit(site, "Apartment 1A", street_door, apartment_door)


@pytest.fixture
def maria(site: Site) -> User:
    return make_staff("maria", site)


@pytest.fixture
def api(maria: User) -> APIClient:
    """Maria's PMS, calling with her token."""
    return token_client(maria)


@pytest.fixture
def elsewhere() -> dict[str, Any]:
    """Another site's unit, stay, and set code with a PIN."""
    site = make_site("Lakeside Cabins")
    lock = make_lock(site, "Cabin 7")
    unit = make_unit(site, "Cabin 7", lock)
    reservation = make_reservation(unit, arrival=ARRIVAL, guest_name="Someone Else", external_id="PMS-1")
    code = make_code(reservation, code=PIN)
    return {"site": site, "unit": unit, "reservation": reservation, "code": code}
