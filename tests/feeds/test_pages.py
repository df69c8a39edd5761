"""The unit pages: a unit's doors and feeds, adding a feed, syncing it now, confirming held
cancellations; the dashboard's word on feeds in trouble; other sites' units and feeds are 404."""

import pytest
from django.urls import reverse

from feeds.models import CalendarFeed
from feeds.sync import feed_create, feed_sync
from properties.models import Reservation
from tests.builders import make_site, make_staff
from tests.codes import test_units

pytestmark = pytest.mark.django_db

clock, suite = test_units.clock, test_units.suite


@pytest.fixture
def doors(seam_simulator, clock):
    """The simulator's doors (here ``client`` is Django's test client, not Seam's)."""
    return test_units.sync_doors(test_units.seam_client_of(seam_simulator))


EMPTY = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nEND:VCALENDAR\n"


@pytest.fixture
def staff(client, suite):
    user = make_staff("maria", suite.site)
    client.force_login(user)
    return user


def test_the_units_page_lists_each_unit_with_its_doors_in_walking_order(client, staff, suite):
    page = client.get(reverse("unit_list")).content.decode()

    assert "Room 101 suite" in page
    assert "Beach House Front Door → Room 101" in page
    assert reverse("unit_detail", args=[suite.pk]) in page


def test_adding_a_feed_syncs_it_and_its_stays_appear_on_the_unit_page(client, staff, suite, calendar_server):
    url = calendar_server.serve_file("/airbnb.ics", "airbnb.ics")

    response = client.post(reverse("unit_feed_add", args=[suite.pk]), {"url": url, "channel": ""}, follow=True)

    page = response.content.decode()
    assert "Feed added: 3 booked, 1 blocked periods ignored." in page
    assert 'data-testid="feed"' in page
    assert "Airbnb guest HMQ4X2ZTNA" in page
    assert CalendarFeed.objects.get().channel == CalendarFeed.Channel.OTHER, "a 127.0.0.1 link names no channel"


@pytest.mark.parametrize(
    ("url", "words"), [("ftp://example.com/x.ics", "starts with https://"), ("", "This field is required")]
)
def test_a_feed_address_that_cannot_be_used_is_a_form_error(client, staff, suite, url, words):
    response = client.post(reverse("unit_feed_add", args=[suite.pk]), {"url": url})

    assert response.status_code == 400
    assert words in response.content.decode()
    assert not CalendarFeed.objects.exists()


def test_the_same_feed_twice_is_a_form_error(client, staff, suite, calendar_server):
    url = calendar_server.serve_file("/airbnb.ics", "airbnb.ics")
    feed_create(unit=suite, url=url)

    response = client.post(reverse("unit_feed_add", args=[suite.pk]), {"url": url})

    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_a_failing_feed_says_so_on_the_unit_page_and_the_dashboard(client, staff, suite, calendar_server):
    feed = feed_create(unit=suite, url=calendar_server.url + "/missing.ics")

    response = client.post(reverse("feed_sync_now", args=[feed.pk]), follow=True)

    page = response.content.decode()
    assert "HTTP 404" in page
    assert 'data-testid="feed-error"' in page
    dashboard = client.get(reverse("home")).content.decode()
    assert 'data-testid="feed-alert"' in dashboard
    assert "failing: The channel answered HTTP 404" in dashboard


def test_held_cancellations_are_shown_and_applied_when_staff_confirm(client, staff, suite, calendar_server):
    feed = feed_create(unit=suite, url=calendar_server.serve_file("/airbnb.ics", "airbnb.ics"))
    feed_sync(feed=feed)
    calendar_server.serve("/airbnb.ics", EMPTY)
    client.post(reverse("feed_sync_now", args=[feed.pk]))

    page = client.get(reverse("unit_detail", args=[suite.pk])).content.decode()
    assert 'data-testid="feed-held"' in page
    assert "stopped listing 3 future stays at once" in page
    assert "Nothing was cancelled until you confirm" in client.get(reverse("home")).content.decode()
    assert not Reservation.objects.filter(cancelled_at__isnull=False).exists()

    response = client.post(reverse("feed_confirm_removals", args=[feed.pk]), follow=True)

    assert "3 stay(s) cancelled" in response.content.decode()
    assert Reservation.objects.filter(cancelled_at__isnull=False).count() == 3
    assert all(r.cancelled_by == staff for r in Reservation.objects.all())


def test_other_sites_units_and_feeds_are_404(client, suite, calendar_server):
    feed = feed_create(unit=suite, url=calendar_server.serve_file("/airbnb.ics", "airbnb.ics"))
    client.force_login(make_staff("ben", make_site("Harbour View")))

    assert client.get(reverse("unit_detail", args=[suite.pk])).status_code == 404
    assert client.post(reverse("unit_feed_add", args=[suite.pk]), {"url": feed.url + "2"}).status_code == 404
    assert client.post(reverse("feed_sync_now", args=[feed.pk])).status_code == 404
    assert client.post(reverse("feed_confirm_removals", args=[feed.pk])).status_code == 404
    assert "Room 101 suite" not in client.get(reverse("unit_list")).content.decode()
    assert calendar_server.hits == {}
    assert CalendarFeed.objects.count() == 1
