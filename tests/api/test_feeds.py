"""Calendar feeds through the API: listed with where each stands, added to a unit, synced now
from a real HTTP server on loopback."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from feeds.models import CalendarFeed
from properties.models import Reservation
from tests.builders import make_lock, make_site, make_unit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_addresses")]

VRBO = (Path(__file__).resolve().parents[1] / "feeds" / "data" / "vrbo.ics").read_bytes()
FEEDS = "/api/v1/feeds/"


@pytest.fixture
def private_addresses() -> Iterator[None]:
    # The channel below is on loopback, which a production server refuses to fetch.
    with override_settings(FEEDS_ALLOW_PRIVATE_ADDRESSES=True):
        yield


@pytest.fixture
def channel() -> Iterator[dict[str, Any]]:
    """A channel's iCal export on loopback: set ``status`` and ``body`` to change its answer."""
    answer: dict[str, Any] = {"status": 200, "body": VRBO}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["status"])
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(answer["body"])))
            self.end_headers()
            self.wfile.write(answer["body"])

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # Polling for shutdown every 0.05 s, not 0.5 s: the fixture's teardown waits for it.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}/ical/4711.ics"
    yield answer
    server.shutdown()
    server.server_close()


def add_feed(api, unit, url, **fields):
    return api.post(FEEDS, {"unit": unit.pk, "url": url, **fields}, format="json")


def test_a_feed_is_added_to_a_unit(api, apartment, channel):
    response = add_feed(api, apartment, channel["url"], channel="vrbo")

    assert response.status_code == 201
    body = response.json()
    assert (body["unit"], body["channel"], body["url"]) == (
        {"id": apartment.pk, "name": "Apartment 1A"},
        "vrbo",
        channel["url"],
    )
    assert (body["active"], body["last_success_at"], body["failing"], body["held_removals"]) == (True, None, False, 0)
    assert CalendarFeed.objects.get(pk=body["id"]).unit == apartment


def test_the_channel_is_guessed_from_the_address(api, apartment):
    body = add_feed(api, apartment, "https://www.airbnb.com/calendar/ical/4711.ics?s=abc").json()

    assert body["channel"] == "airbnb"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ftp://example.com/cal.ics"}, "url"),
        ({"url": "file:///etc/passwd"}, "url"),
        ({"url": "not a link"}, "url"),
        ({"url": "https://example.com/" + "x" * 3000}, "url"),
        ({"url": ""}, "url"),
        ({"url": ["https://example.com"]}, "url"),
        ({"channel": "myspace"}, "channel"),
        ({"unit": "abc"}, "unit"),
    ],
)
def test_a_feed_nobody_can_sync_is_a_400(api, apartment, fields, field):
    response = api.post(FEEDS, {"unit": apartment.pk, "url": "https://example.com/a.ics", **fields}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not CalendarFeed.objects.exists()


def test_the_same_feed_twice_on_a_unit_is_a_400(api, apartment, channel):
    add_feed(api, apartment, channel["url"])

    response = add_feed(api, apartment, channel["url"])

    assert response.status_code == 400
    assert "url" in response.json()


def test_a_feed_cannot_be_added_to_another_sites_unit(api, elsewhere):
    response = add_feed(api, elsewhere["unit"], "https://example.com/a.ics")

    assert response.status_code == 400
    assert "unit" in response.json()


def test_syncing_now_books_the_feeds_stays_and_says_so(api, apartment, channel):
    feed = add_feed(api, apartment, channel["url"], channel="vrbo").json()

    response = api.post(f"{FEEDS}{feed['id']}/sync/")

    assert response.status_code == 200
    body = response.json()
    assert (body["result"]["booked"], body["result"]["blocked"], body["result"]["error"]) == (1, 1, "")
    assert body["feed"]["last_success_at"] is not None
    assert body["feed"]["failing"] is False
    stay = Reservation.objects.get(unit=apartment)
    assert (stay.source, stay.guest_name, stay.external_id) == (
        Reservation.Source.FEED,
        "Jane Doe",
        "2a4c6e8f-0b1d-4f3a-9c5e-7a9b1c3d5e7f",
    )
    assert api.post(f"{FEEDS}{feed['id']}/sync/").json()["result"]["unchanged"] is True


def test_a_channel_that_fails_is_kept_on_the_feed_and_changes_nothing(api, apartment, channel):
    feed = add_feed(api, apartment, channel["url"]).json()
    channel["status"], channel["body"] = 503, b"down for maintenance"

    response = api.post(f"{FEEDS}{feed['id']}/sync/")

    assert response.status_code == 200
    body = response.json()
    assert "503" in body["result"]["error"]
    assert body["feed"]["failing"] is True
    assert "503" in body["feed"]["last_error"]
    assert not Reservation.objects.exists()
    listed = api.get(FEEDS).json()["results"]
    assert [(f["id"], f["failing"]) for f in listed] == [(feed["id"], True)]


def test_the_list_holds_the_callers_units_feeds_only(api, apartment, site, elsewhere):
    mine = CalendarFeed.objects.create(unit=apartment, url="https://example.com/1.ics")
    studio = make_unit(site, "Studio", make_lock(site, "Studio"))
    other = CalendarFeed.objects.create(unit=studio, url="https://example.com/2.ics", active=False)
    CalendarFeed.objects.create(unit=elsewhere["unit"], url="https://example.com/3.ics")

    body = api.get(FEEDS).json()

    assert [(f["id"], f["unit"]["name"], f["active"]) for f in body["results"]] == [
        (mine.pk, "Apartment 1A", True),
        (other.pk, "Studio", False),
    ]


def test_another_sites_feed_cannot_be_synced(api):
    site = make_site("Lakeside Cabins")
    feed = CalendarFeed.objects.create(
        unit=make_unit(site, "Cabin 7", make_lock(site, "Cabin 7")), url="https://x.test/a"
    )

    assert api.post(f"{FEEDS}{feed.pk}/sync/").status_code == 404


def test_a_feed_switched_off_is_not_synced(api, apartment, channel):
    feed = CalendarFeed.objects.create(unit=apartment, url=channel["url"], active=False)

    response = api.post(f"{FEEDS}{feed.pk}/sync/")

    assert response.status_code == 409
    assert "switched off" in response.json()["detail"]
    assert CalendarFeed.objects.get(pk=feed.pk).last_success_at is None
