"""The front desk: the reservation list's sorts and today's filters, who is in house, times in
each site's own zone, and correcting a guest's details."""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from codes.history import record
from codes.models import AccessCode, AccessCodeEvent, CodeEmail, StaffAlert
from codes.stays import ledger_acknowledge, reservation_cancel
from front.templatetags.front_tags import site_time
from properties.models import Reservation, Site
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff

pytestmark = pytest.mark.django_db

# 13:00 PDT on Mon 10 Mar 2031 in Los Angeles, and already 07:00 AEDT on Tue 11 Mar in Sydney:
# the two sites are on different dates, and UTC (the server's zone) is on Los Angeles' date.
NOW = datetime(2031, 3, 10, 20, 0, tzinfo=UTC)
LA_TODAY, SYDNEY_TODAY = date(2031, 3, 10), date(2031, 3, 11)


@pytest.fixture
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def two_zones(clock: None) -> tuple[Site, Site]:
    """Stays on both sides of the date line, named for where each stands today by its site."""
    ocean = make_site("Ocean Beach Vacations", "America/Los_Angeles")
    harbour = make_site("Harbour View", "Australia/Sydney")
    room, apartment = make_lock(ocean, "Room 101"), make_lock(harbour, "Apartment 7")
    make_reservation(room, arrival=LA_TODAY - timedelta(days=2), nights=3, guest_name="Ana InHouse")
    make_reservation(room, arrival=LA_TODAY - timedelta(days=3), nights=3, guest_name="Ben Departing")
    make_reservation(room, arrival=LA_TODAY, nights=2, guest_name="Cy Arriving")
    make_reservation(room, arrival=LA_TODAY + timedelta(days=1), nights=2, guest_name="Dee Tomorrow")
    make_reservation(
        room, arrival=LA_TODAY - timedelta(days=1), nights=3, guest_name="Gus Cancelled", cancelled_at=NOW
    )
    make_reservation(apartment, arrival=SYDNEY_TODAY, nights=3, guest_name="Eve SydneyArriving")
    make_reservation(apartment, arrival=SYDNEY_TODAY - timedelta(days=3), nights=3, guest_name="Fay SydneyLeft")
    return ocean, harbour


GUESTS = [
    *["Ana InHouse", "Ben Departing", "Cy Arriving", "Dee Tomorrow", "Gus Cancelled"],
    *["Eve SydneyArriving", "Fay SydneyLeft"],
]


def listed(client, **params: str) -> list[str]:
    """The guests the reservation list shows, in its order."""
    page = client.get(reverse("reservation_list"), params).content.decode()
    return re.findall(r'href="/reservations/\d+/">([^<]+)</a>', page)


# The list


def test_the_list_shows_the_newest_arrivals_first_by_default(client):
    lock = make_lock(make_site())
    for day, name in [(3, "Middle"), (1, "Earliest"), (9, "Latest")]:
        make_reservation(lock, arrival=date(2031, 1, day), guest_name=name)
    client.force_login(make_staff("demo", lock.site))

    assert listed(client) == ["Latest", "Middle", "Earliest"]


def test_each_sort_orders_the_list_its_own_way(client):
    lock = make_lock(make_site())
    ben = make_reservation(lock, arrival=date(2031, 1, 1), guest_name="ben lowercase")
    ana = make_reservation(lock, arrival=date(2031, 1, 5), guest_name="Ana Upper")
    cy = make_reservation(lock, arrival=date(2031, 1, 3), guest_name="Cy Upper")
    for reservation, booked in [(ana, 1), (cy, 2), (ben, 3)]:
        Reservation.objects.filter(pk=reservation.pk).update(created_at=datetime(2030, 1, booked, tzinfo=UTC))
    client.force_login(make_staff("demo", lock.site))

    assert listed(client, sort="arrival") == ["ben lowercase", "Cy Upper", "Ana Upper"]
    assert listed(client, sort="arrival_desc") == ["Ana Upper", "Cy Upper", "ben lowercase"]
    # By name as people read it, not by code point (where every capital comes before "b").
    assert listed(client, sort="guest") == ["Ana Upper", "ben lowercase", "Cy Upper"]
    assert listed(client, sort="booked") == ["ben lowercase", "Cy Upper", "Ana Upper"]


def test_the_query_string_cannot_order_by_a_column_of_its_choosing(client):
    lock = make_lock(make_site())
    for day, name, email in [(1, "Ana", "z@example.com"), (2, "Ben", "a@example.com")]:
        make_reservation(lock, arrival=date(2031, 1, day), guest_name=name, guest_email=email)
    client.force_login(make_staff("demo", lock.site))

    response = client.get(reverse("reservation_list"), {"sort": "guest_email"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert listed(client, sort="guest_email") == ["Ben", "Ana"]
    assert listed(client, sort="-pk") == ["Ben", "Ana"]
    assert listed(client, sort="site__staff__password") == ["Ben", "Ana"]


def test_in_house_arriving_and_departing_are_each_sites_own_today(client, two_zones):
    client.force_login(make_staff("root", superuser=True))

    assert sorted(listed(client, stay="in_house")) == ["Ana InHouse", "Cy Arriving", "Eve SydneyArriving"]
    assert sorted(listed(client, stay="arriving")) == ["Cy Arriving", "Eve SydneyArriving"]
    assert sorted(listed(client, stay="departing")) == ["Ben Departing", "Fay SydneyLeft"]
    assert listed(client, stay="cancelled") == ["Gus Cancelled"]
    assert sorted(listed(client)) == sorted(GUESTS)


def test_today_s_filters_keep_to_the_persons_sites(client, two_zones):
    _, harbour = two_zones
    client.force_login(make_staff("harbour", harbour))

    assert listed(client, stay="in_house") == ["Eve SydneyArriving"]
    assert listed(client, stay="departing") == ["Fay SydneyLeft"]


def test_today_s_filters_combine_with_the_search_and_the_site(client, two_zones):
    ocean, _ = two_zones
    client.force_login(make_staff("root", superuser=True))

    assert listed(client, stay="in_house", site=str(ocean.pk), sort="guest") == ["Ana InHouse", "Cy Arriving"]
    assert listed(client, stay="in_house", q="eve") == ["Eve SydneyArriving"]


def test_the_pages_keep_the_sort_and_the_filters(client):
    lock = make_lock(make_site())
    for i in range(30):
        make_reservation(lock, arrival=date(2031, 1, 1) + timedelta(days=i), guest_name=f"Guest {i:02d}")
    client.force_login(make_staff("demo", lock.site))

    page = client.get(reverse("reservation_list"), {"q": "guest", "sort": "guest"}).content.decode()

    assert "Page 1 of 2" in page
    assert 'href="?q=guest&amp;sort=guest&page=2"' in page
    assert listed(client, q="guest", sort="guest", page="2") == [f"Guest {i}" for i in range(25, 30)]


def test_the_filtered_and_sorted_list_needs_a_bounded_number_of_queries(
    client, two_zones, django_assert_max_num_queries
):
    ocean, harbour = two_zones
    room = ocean.locks.get()
    for i in range(60):
        make_code(make_reservation(room, arrival=LA_TODAY - timedelta(days=i % 3), guest_name=f"G{i}"))
    client.force_login(make_staff("demo", ocean, harbour))

    with django_assert_max_num_queries(12):
        response = client.get(reverse("reservation_list"), {"stay": "in_house", "sort": "guest"})

    assert response.status_code == 200
    assert "Page 1 of 3" in response.content.decode()


# The dashboard


def section_part(page: str, site: Site, start: str, end: str) -> str:
    """The part of one site's dashboard section between two headings."""
    section = page[page.index(f'id="site-{site.pk}"') :]
    section = section[: section.index("</section>")]
    return section[section.index(start) : section.index(end)]


def test_the_dashboard_shows_who_is_in_house_at_each_site_above_the_arrivals(client, two_zones):
    ocean, harbour = two_zones
    client.force_login(make_staff("root", superuser=True))

    page = client.get(reverse("home")).content.decode()

    ocean_in_house = section_part(page, ocean, "In house now", "Today's arrivals")
    harbour_in_house = section_part(page, harbour, "In house now", "Today's arrivals")
    assert "Ana InHouse" in ocean_in_house
    assert "Cy Arriving" in ocean_in_house
    for elsewhere in ["Ben Departing", "Dee Tomorrow", "Gus Cancelled", "Eve SydneyArriving"]:
        assert elsewhere not in ocean_in_house
    assert "Eve SydneyArriving" in harbour_in_house
    assert "Fay SydneyLeft" not in harbour_in_house
    assert f"?site={harbour.pk}&amp;stay=in_house" in harbour_in_house


def test_the_next_two_weeks_on_the_dashboard_start_with_the_nearest(client, clock):
    lock = make_lock(make_site())
    for i in range(1, 15):
        make_reservation(lock, arrival=LA_TODAY + timedelta(days=i), nights=1, guest_name=f"Soon {i:02d}")
    client.force_login(make_staff("demo", lock.site))

    page = client.get(reverse("home")).content.decode()

    upcoming = section_part(page, lock.site, "Next two weeks", "All reservations at")
    assert "Soon 01" in upcoming
    assert "Soon 14" not in upcoming


# Times in the site's zone


@pytest.mark.parametrize(
    ("instant", "zone", "shown"),
    [
        (datetime(2026, 11, 30, 20, 3, tzinfo=UTC), "America/Los_Angeles", "Mon 30 Nov 2026 12:03 PST"),
        (datetime(2026, 6, 30, 19, 3, tzinfo=UTC), "America/Los_Angeles", "Tue 30 Jun 2026 12:03 PDT"),
        # The hour the clocks go back happens twice; only the abbreviation tells them apart.
        (datetime(2026, 11, 1, 8, 30, tzinfo=UTC), "America/Los_Angeles", "Sun 1 Nov 2026 01:30 PDT"),
        (datetime(2026, 11, 1, 9, 30, tzinfo=UTC), "America/Los_Angeles", "Sun 1 Nov 2026 01:30 PST"),
        (datetime(2030, 12, 1, 20, 3, tzinfo=UTC), "Australia/Sydney", "Mon 2 Dec 2030 07:03 AEDT"),
        # A zone whose abbreviation is only an offset, and a half-hour one.
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Asia/Kathmandu", "Mon 1 Jun 2026 17:45 UTC+05:45"),
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), "Asia/Kolkata", "Mon 1 Jun 2026 17:30 IST"),
    ],
)
def test_site_time_shows_an_instant_by_the_sites_clocks_with_the_zone(instant, zone, shown):
    assert site_time(instant, Site(timezone=zone)) == shown
    assert site_time(instant, zone) == shown


def test_site_time_of_nothing_is_nothing():
    assert site_time(None, Site(timezone="Europe/Paris")) == ""


@pytest.fixture
def sydney_stay() -> Iterator[tuple[Site, AccessCode]]:
    """A Sydney stay whose code was revealed, emailed and then the stay cancelled, all at
    20:03 UTC on 1 Dec 2030: 07:03 the next morning in Sydney."""
    at = datetime(2030, 12, 1, 20, 3, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        harbour = make_site("Harbour View", "Australia/Sydney")
        staff = make_staff("harbour", harbour)
        reservation = make_reservation(make_lock(harbour, "Apartment 7"), arrival=date(2030, 12, 20))
        code = make_code(reservation, timezone="Australia/Sydney")
        make_code(reservation, name=f"R{reservation.pk} old", seam_access_code_id="seam-old", superseded_at=at)
        record(code, AccessCodeEvent.Kind.REVEALED, "PIN revealed to harbour.", user=staff)
        CodeEmail.objects.create(access_code=code, to_address="ana@example.com", status=CodeEmail.Status.SENT)
        reservation_cancel(reservation=reservation, user=staff)
        code.refresh_from_db()
        ledger_acknowledge(access_code=code, user=staff)
        yield harbour, code


def test_the_reservation_page_shows_every_time_by_the_sites_clocks(client, sydney_stay):
    harbour, code = sydney_stay
    client.force_login(make_staff("other", harbour))

    page = client.get(reverse("reservation_detail", args=[code.reservation_id])).content.decode()

    history = page[page.index('data-testid="code-history"') :]
    emails = page[page.index('data-testid="code-emails"') :]
    assert "Cancelled Mon 2 Dec 2030 07:03 AEDT by harbour" in page
    assert "Superseded Mon 2 Dec 2030 07:03 AEDT" in page
    assert "<li>Mon 2 Dec 2030 07:03 AEDT · ana@example.com · Sent</li>" in emails
    assert "Mon 2 Dec 2030 07:03 AEDT</span> · <strong>PIN revealed" in history
    assert "UTC" not in page


def test_the_code_cell_alone_shows_its_times_by_the_sites_clocks(client, sydney_stay):
    harbour, code = sydney_stay
    client.force_login(make_staff("other", harbour))

    cell = client.get(reverse("code_cell", args=[code.pk]), {"detail": "1"}).content.decode()

    assert "Mon 2 Dec 2030 07:03 AEDT</span> · <strong>PIN revealed" in cell
    assert "UTC" not in cell


def test_the_ledger_shows_when_a_code_was_acknowledged_by_the_sites_clocks(client, sydney_stay):
    harbour, _ = sydney_stay
    client.force_login(make_staff("other", harbour))

    page = client.get(reverse("ledger")).content.decode()

    assert "Mon 2 Dec 2030 07:03 AEDT by harbour" in page
    assert "UTC" not in page


def test_the_dashboards_alerts_and_the_doors_last_sync_show_the_sites_clocks(client, sydney_stay):
    harbour, code = sydney_stay
    with time_machine.travel(datetime(2030, 12, 1, 20, 3, tzinfo=UTC), tick=False):
        StaffAlert.objects.create(
            site=harbour, lock=code.lock, kind=StaffAlert.Kind.DOOR_DISCONNECTED, message="Gone.", key="door:1"
        )
        code.lock.last_synced_at = datetime(2030, 12, 1, 20, 3, tzinfo=UTC)
        code.lock.save()
        client.force_login(make_staff("other", harbour))

        dashboard = client.get(reverse("home")).content.decode()
        doors = client.get(reverse("door_list")).content.decode()

    alert = dashboard[dashboard.index('data-testid="staff-alert"') :]
    assert "Mon 2 Dec 2030 07:03 AEDT" in alert[: alert.index("</div>")]
    assert "last sync Mon 2 Dec 2030 07:03 AEDT" in doors
    assert "UTC" not in dashboard
    assert "UTC" not in doors


# Correcting the guest's details


@pytest.fixture
def emailed_stay() -> AccessCode:
    """A stay whose code email went to the address typed at booking."""
    reservation = make_reservation(
        make_lock(make_site()), arrival=date(2030, 9, 10), guest_name="Ana Souza", guest_email="old@example.com"
    )
    code = make_code(reservation)
    CodeEmail.objects.create(access_code=code, to_address="old@example.com", status=CodeEmail.Status.SENT)
    return code


def test_the_reservation_page_links_to_the_correction(client, emailed_stay):
    client.force_login(make_staff("demo", emailed_stay.reservation.site))

    page = client.get(reverse("reservation_detail", args=[emailed_stay.reservation_id])).content.decode()

    assert f'href="{reverse("reservation_guest", args=[emailed_stay.reservation_id])}"' in page
    assert "Correct guest details" in page


def test_the_form_starts_from_the_details_as_they_are(client, emailed_stay):
    client.force_login(make_staff("demo", emailed_stay.reservation.site))

    page = client.get(reverse("reservation_guest", args=[emailed_stay.reservation_id])).content.decode()

    assert 'value="Ana Souza"' in page
    assert 'value="old@example.com"' in page


def test_a_new_address_is_saved_and_the_notice_points_to_the_resend_button(client, emailed_stay):
    client.force_login(make_staff("demo", emailed_stay.reservation.site))
    url = reverse("reservation_guest", args=[emailed_stay.reservation_id])

    response = client.post(url, {"guest_name": "Ana Sousa", "guest_email": "new@example.com"}, follow=True)

    page = response.content.decode()
    assert response.redirect_chain == [(reverse("reservation_detail", args=[emailed_stay.reservation_id]), 302)]
    assert "Guest details corrected: name Ana Souza → Ana Sousa; email old@example.com → new@example.com." in page
    assert (
        "The code email went to old@example.com; it is not sent again on its own. To send it to new@example.com, "
        "use “Resend email” on the stay&#x27;s first code below." in page
    )
    assert 'data-testid="email-elsewhere"' in page
    assert "“Resend email” sends it there" in page
    assert CodeEmail.objects.count() == 1
    assert AccessCodeEvent.objects.filter(access_code=emailed_stay, kind=AccessCodeEvent.Kind.GUEST_CHANGED).exists()
    emailed_stay.refresh_from_db()
    assert emailed_stay.name.endswith("Ana Souza")


def test_a_corrected_name_alone_says_nothing_about_the_email(client, emailed_stay):
    client.force_login(make_staff("demo", emailed_stay.reservation.site))
    url = reverse("reservation_guest", args=[emailed_stay.reservation_id])

    page = client.post(url, {"guest_name": "Ana Sousa", "guest_email": "old@example.com"}, follow=True)

    text = page.content.decode()
    assert "Guest details corrected: name Ana Souza → Ana Sousa." in text
    assert "not sent again" not in text
    assert 'data-testid="email-elsewhere"' not in text


def test_a_wrong_address_is_shown_on_the_form_and_nothing_changes(client, emailed_stay):
    client.force_login(make_staff("demo", emailed_stay.reservation.site))
    url = reverse("reservation_guest", args=[emailed_stay.reservation_id])

    response = client.post(url, {"guest_name": "Ana Sousa", "guest_email": "not-an-address"})

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert Reservation.objects.get(pk=emailed_stay.reservation_id).guest_name == "Ana Souza"


def test_a_cancelled_stays_guest_cannot_be_corrected(client, emailed_stay):
    Reservation.objects.filter(pk=emailed_stay.reservation_id).update(cancelled_at=datetime(2030, 1, 1, tzinfo=UTC))
    client.force_login(make_staff("demo", emailed_stay.reservation.site))
    url = reverse("reservation_guest", args=[emailed_stay.reservation_id])

    response = client.post(url, {"guest_name": "Someone", "guest_email": "else@example.com"}, follow=True)

    assert "its guest details cannot change" in response.content.decode()
    assert Reservation.objects.get(pk=emailed_stay.reservation_id).guest_email == "old@example.com"


def test_another_sites_stay_answers_404(client, emailed_stay):
    client.force_login(make_staff("elsewhere", make_site("Harbour View", "Australia/Sydney")))
    url = reverse("reservation_guest", args=[emailed_stay.reservation_id])

    assert client.get(url).status_code == 404
    assert client.post(url, {"guest_name": "X", "guest_email": "x@example.com"}).status_code == 404
    assert Reservation.objects.get(pk=emailed_stay.reservation_id).guest_name == "Ana Souza"
