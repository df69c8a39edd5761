"""A stay that arrived on its own and could not get its codes is in front of staff: on the
dashboard of its site (only), and on its page with the way out ("Create codes")."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from codes.imports import reservation_import
from properties.models import Reservation
from tests.builders import make_lock, make_site, make_staff, make_unit

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged() -> Reservation:
    site = make_site()
    street = make_lock(site, "Street Door", can_program_offline_access_codes=False)
    unit = make_unit(site, "Apartment 1A", street, make_lock(site, "Apartment 1A"))
    arrival = timezone.now().date() + timedelta(days=3)
    imported = reservation_import(
        unit=unit,
        guest_name="Airbnb guest HMQ4X2",
        guest_email="",
        arrival=arrival,
        departure=arrival + timedelta(days=2),
        external_id="f3a1c9@airbnb.com",
        source=Reservation.Source.FEED,
    )
    assert imported.needs_attention
    return imported.reservation


def test_the_dashboard_lists_the_stay_with_its_reasons_and_a_link(client, flagged):
    client.force_login(make_staff("maria", flagged.site))

    page = client.get(reverse("home")).content.decode()

    assert 'data-testid="needs-attention"' in page
    assert reverse("reservation_detail", args=[flagged.pk]) in page
    assert "Street Door: Seam says Street Door cannot take offline codes" in page
    assert "Calendar feed" in page
    assert 'data-kind="stay_needs_attention"' not in page, "the stay is listed once, not also as an alert"


def test_the_reservation_page_says_why_and_offers_to_create_the_codes(client, flagged):
    client.force_login(make_staff("maria", flagged.site))

    page = client.get(reverse("reservation_detail", args=[flagged.pk])).content.decode()

    assert "Needs attention." in page
    assert "from a calendar feed (id f3a1c9@airbnb.com)" in page
    assert reverse("reservation_codes_new", args=[flagged.pk]) in page
    assert "no email address" in page


def test_staff_of_another_site_see_none_of_it(client, flagged):
    client.force_login(make_staff("ben", make_site("Harbour View")))

    page = client.get(reverse("home")).content.decode()

    assert "Airbnb guest HMQ4X2" not in page
    assert client.get(reverse("reservation_detail", args=[flagged.pk])).status_code == 404


def test_a_cancelled_flagged_stay_leaves_the_dashboard(client, flagged):
    client.force_login(make_staff("maria", flagged.site))

    client.post(reverse("reservation_cancel", args=[flagged.pk]), {"confirm": "yes"})

    assert 'data-testid="needs-attention"' not in client.get(reverse("home")).content.decode()
