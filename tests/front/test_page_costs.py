"""What the staff pages cost follows what they show, not what exists: the same queries for one
site as for ten, for a new database as for years of stays behind it; and the lists that would
otherwise show every row come a page at a time, their filters kept from page to page."""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from codes.models import AccessCode
from feeds.models import CalendarFeed
from front.views import DASHBOARD_ROWS
from properties.models import Reservation, Unit
from tests.builders import make_code, make_history, make_lock, make_reservation, make_site, make_staff, make_unit

pytestmark = pytest.mark.django_db

# 13:00 on Mon 10 Mar 2031 in Los Angeles, where the sites below are.
NOW = datetime(2031, 3, 10, 20, 0, tzinfo=UTC)
TODAY = date(2031, 3, 10)
HISTORY_ENDS = TODAY - timedelta(days=7)


@pytest.fixture
def clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def a_hotel(name: str) -> Unit:
    """A site with one room behind an entrance, and what its dashboard shows: a guest in house,
    one arriving today, one next week, each with a code on both doors, and a cancelled stay whose
    code is in the ledger."""
    site = make_site(name)
    unit = make_unit(site, "Room 1", make_lock(site, "Entrance"), make_lock(site, "Room 1"))
    for arrival, guest in [
        (TODAY - timedelta(days=1), "In house"),
        (TODAY, "Arriving"),
        (TODAY + timedelta(3), "Next"),
    ]:
        stay = make_reservation(unit, arrival=arrival, nights=2, guest_name=f"{guest} at {name}")
        for door in unit.unit_doors.all():
            make_code(
                stay,
                lock=door.lock,
                name=f"R{stay.pk} {door.lock.name}",
                seam_access_code_id=f"seam-{stay.pk}-{door.lock_id}",
            )
    cancelled = make_reservation(unit, arrival=TODAY + timedelta(days=5), guest_name=f"Cancelled at {name}")
    Reservation.objects.filter(pk=cancelled.pk).update(cancelled_at=NOW)
    make_code(cancelled, ledger_reason=AccessCode.LedgerReason.CANCELLED, ledger_at=NOW)
    return unit


def queries(client: Client, url: str, params: dict[str, str] | None = None) -> int:
    """How many queries one request for the page takes."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


def guests(page: str) -> list[str]:
    return re.findall(r'href="/reservations/\d+/">([^<]+)</a>', page)


# The dashboard


def test_the_dashboard_takes_as_many_queries_for_ten_sites_with_years_of_stays_as_for_one(client, clock):
    first = a_hotel("Hotel 0")
    staff = make_staff("demo", first.site)
    client.force_login(staff)
    one = queries(client, reverse("home"))

    make_history(first, 300, before=HISTORY_ENDS)
    for n in range(1, 10):
        unit = a_hotel(f"Hotel {n}")
        staff.sites.add(unit.site)
        make_history(unit, 30, before=HISTORY_ENDS)

    assert queries(client, reverse("home")) == one
    page = client.get(reverse("home")).content.decode()
    for n in range(10):
        assert f"In house at Hotel {n}" in page
        assert f"Arriving at Hotel {n}" in page
        assert f"Next at Hotel {n}" in page
    assert "Past guest" not in page
    assert page.count("1</strong> live code of cancelled or changed stays") == 10


def test_each_site_of_the_dashboard_lists_its_own_first_arrivals(client, clock):
    busy, quiet = a_hotel("Busy Hotel"), a_hotel("Quiet Hotel")
    for n in range(DASHBOARD_ROWS + 2):
        make_reservation(busy, arrival=TODAY, guest_name=f"Group guest {n:02d}")
    client.force_login(make_staff("demo", busy.site, quiet.site))

    page = client.get(reverse("home")).content.decode()

    busy_section = page[page.index(f'id="site-{busy.site.pk}"') : page.index(f'id="site-{quiet.site.pk}"')]
    arrivals = busy_section[busy_section.index("Today's arrivals") : busy_section.index("Next two weeks")]
    # "Arriving at Busy Hotel" sorts first by name, then the first nine of the group.
    assert guests(arrivals) == ["Arriving at Busy Hotel", *[f"Group guest {n:02d}" for n in range(9)]]
    assert "Arriving at Quiet Hotel" in page[page.index(f'id="site-{quiet.site.pk}"') :]


# The reservation list


def test_the_reservation_list_takes_as_many_queries_with_years_of_stays_behind_it(client, clock):
    unit = a_hotel("Hotel 0")
    client.force_login(make_staff("demo", unit.site))
    one = queries(client, reverse("reservation_list"))
    sorted_one = queries(client, reverse("reservation_list"), {"sort": "guest", "state": "set"})

    make_history(unit, 1200, before=HISTORY_ENDS)

    assert queries(client, reverse("reservation_list")) == one
    assert queries(client, reverse("reservation_list"), {"sort": "guest", "state": "set"}) == sorted_one


def test_the_reservation_list_counts_only_as_far_as_the_pages_asked_for(client, clock):
    unit = a_hotel("Hotel 0")
    make_history(unit, 1026, before=HISTORY_ENDS)  # 1,030 stays in all
    client.force_login(make_staff("demo", unit.site))

    first = client.get(reverse("reservation_list"), {"site": str(unit.site.pk)}).content.decode()
    later = client.get(reverse("reservation_list"), {"site": str(unit.site.pk), "page": "41"}).content.decode()

    assert "Page 1 of more than 40 · more than 1000 reservations" in first
    assert f'href="?site={unit.site.pk}&page=2">Next' in first
    # Past the first thousand, the count goes on to the next thousand: here, the end.
    assert "Page 41 of 42 · 1030 reservations" in later
    assert f'href="?site={unit.site.pk}&page=42">Next' in later
    assert len(guests(later)) == 25


# Doors, units and the ledger, a page at a time


def test_the_doors_come_a_page_at_a_time_and_keep_the_site_filter(client, clock):
    ocean, harbour = make_site("Ocean Beach Vacations"), make_site("Harbour View")
    for n in range(30):
        make_lock(ocean, f"Room {n:02d}")
    make_lock(harbour, "Street Door")
    client.force_login(make_staff("demo", ocean, harbour))

    everything = client.get(reverse("door_list")).content.decode()
    first = client.get(reverse("door_list"), {"site": str(ocean.pk)}).content.decode()
    second = client.get(reverse("door_list"), {"site": str(ocean.pk), "page": "2"}).content.decode()

    assert "Page 1 of 2 · 31 doors" in everything
    assert "Page 1 of 2 · 30 doors" in first
    assert f'href="?site={ocean.pk}&page=2"' in first
    assert "Room 24" in first
    assert "Room 25" not in first
    assert "Room 25" in second
    assert "Room 29" in second
    assert "Street Door" not in second
    assert queries(client, reverse("door_list"), {"site": str(ocean.pk), "page": "2"}) == queries(
        client, reverse("door_list"), {"site": str(ocean.pk)}
    )


def test_the_units_come_a_page_at_a_time_with_their_own_feeds(client, clock):
    ocean, harbour = make_site("Ocean Beach Vacations"), make_site("Harbour View")
    for n in range(55):
        unit = make_unit(ocean, f"Room {n:02d}", make_lock(ocean, f"Room {n:02d}"))
        CalendarFeed.objects.create(unit=unit, url=f"https://calendar.example.com/{n}.ics")
    make_unit(harbour, "Apartment 1A", make_lock(harbour, "Apartment 1A"))
    client.force_login(make_staff("demo", ocean, harbour))

    first = client.get(reverse("unit_list"), {"site": str(ocean.pk)}).content.decode()
    second = client.get(reverse("unit_list"), {"site": str(ocean.pk), "page": "2"}).content.decode()
    harbours = client.get(reverse("unit_list"), {"site": str(harbour.pk)}).content.decode()

    assert "Page 1 of 2 · 55 units" in first
    assert f'href="?site={ocean.pk}&page=2"' in first
    assert "Room 49" in first
    assert "Room 50" not in first
    assert "Room 54" in second
    assert "Apartment 1A" not in second
    assert "Apartment 1A" in harbours
    assert "Room 00" not in harbours
    assert 'aria-label="Pages"' not in harbours, "one page: no page links"
    assert queries(client, reverse("unit_list"), {"page": "2"}) == queries(client, reverse("unit_list"))


def test_the_ledger_takes_as_many_queries_with_years_of_acknowledged_codes_behind_it(client, clock):
    unit = a_hotel("Hotel 0")
    client.force_login(make_staff("demo", unit.site))
    one = queries(client, reverse("ledger"))

    make_history(unit, 500, before=HISTORY_ENDS, cancelled_every=2)

    assert queries(client, reverse("ledger")) == one
    page = client.get(reverse("ledger")).content.decode()
    assert "Cancelled at Hotel 0" in page
    assert "Past guest" not in page, "acknowledged and expired: off the ledger"


def test_the_ledger_comes_a_page_at_a_time_and_acknowledging_returns_to_the_same_page(client, clock):
    site = make_site("Ocean Beach Vacations")
    lock = make_lock(site, "Room 101")
    codes = [
        make_code(
            make_reservation(lock, arrival=TODAY + timedelta(days=n), guest_name=f"Guest {n:02d}"),
            ledger_reason=AccessCode.LedgerReason.CANCELLED,
            ledger_at=NOW,
        )
        for n in range(55)
    ]
    client.force_login(make_staff("demo", site))

    first = client.get(reverse("ledger"), {"site": str(site.pk)}).content.decode()
    second = client.get(reverse("ledger"), {"site": str(site.pk), "page": "2"}).content.decode()
    response = client.post(f"{reverse('ledger_acknowledge', args=[codes[52].pk])}?site={site.pk}&page=2")

    assert "Page 1 of 2 · 55 codes" in first
    assert "Guest 49" in first
    assert "Guest 50" not in first
    assert "Guest 54" in second
    assert "Guest 49" not in second
    assert f'action="{reverse("ledger_acknowledge", args=[codes[52].pk])}?site={site.pk}&amp;page=2"' in second
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('ledger')}?site={site.pk}&page=2"
    assert AccessCode.objects.get(pk=codes[52].pk).acknowledged_at is not None
