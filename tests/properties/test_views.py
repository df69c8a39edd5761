import pytest
from django.urls import reverse

from tests.builders import make_lock, make_site, make_staff

pytestmark = pytest.mark.django_db


def test_the_home_page_asks_for_a_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert b"Staff login" in response.content


def test_staff_see_their_own_sites_and_doors_only(client):
    ocean = make_site("Ocean Beach Vacations")
    harbour = make_site("Harbour View", "Australia/Sydney")
    make_lock(ocean, "Room 101")
    make_lock(harbour, "Apartment 7")
    client.force_login(make_staff("demo", ocean))

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert b"Room 101" in response.content
    assert b"Harbour View" not in response.content
    assert b"Apartment 7" not in response.content


def test_a_superuser_sees_every_site(client):
    make_site("Ocean Beach Vacations")
    make_site("Harbour View", "Australia/Sydney")
    client.force_login(make_staff("root", superuser=True))

    response = client.get(reverse("home"))

    assert b"Ocean Beach Vacations" in response.content
    assert b"Harbour View" in response.content
