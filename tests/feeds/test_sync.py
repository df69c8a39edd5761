"""Calendar feeds against a real HTTP server and the Seam simulator: Airbnb, Vrbo and Booking.com
calendars as they really look; new, moved, removed, blocked, past and failing events; a feed
that suddenly empties; an unchanged feed that writes nothing; the same stay by feed and by API."""

import re
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from codes.errors import Refused
from codes.imports import reservation_import
from codes.models import AccessCode, StaffAlert
from feeds.models import CalendarFeed, FeedStay
from feeds.sync import feed_create, feed_removals_confirm, feed_sync
from properties.models import Reservation
from tests.codes import test_units
from tests.codes.test_units import FRONT_DOOR, ROOM_101, codes_by_door, settle
from tests.fixtures.calendars import DATA

pytestmark = pytest.mark.django_db

clock, client, doors, suite = test_units.clock, test_units.client, test_units.doors, test_units.suite

AIRBNB_STAYS = {
    "1418fb94e984-d63b2a7c9d0e4d1a8f1e2b3c4d5e6f70@airbnb.com": ("Airbnb guest HMQ4X2ZTNA", date(2030, 7, 1)),
    "1418fb94e984-5e1b7a3c0d9f4e2a8b6c1d0e9f7a5b32@airbnb.com": ("Airbnb guest HM8KD2PLXQ", date(2030, 7, 9)),
    "1418fb94e984-9c2d4e6f8a0b4c1d9e7f5a3b1c0d8e64@airbnb.com": ("Airbnb guest HMZZ71RT4B", date(2030, 7, 16)),
}
FIRST, SECOND, THIRD = AIRBNB_STAYS


def stays(feed: CalendarFeed) -> dict[str, Reservation]:
    return {stay.uid: stay.reservation for stay in FeedStay.objects.filter(feed=feed).select_related("reservation")}


def without_event(text: str, uid: str) -> str:
    return re.sub(rf"BEGIN:VEVENT\n(?:(?!END:VEVENT).)*UID:{re.escape(uid)}\n.*?END:VEVENT\n", "", text, flags=re.S)


@pytest.fixture
def airbnb(suite, calendar_server):
    url = calendar_server.serve_file("/airbnb/room-101.ics", "airbnb.ics")
    return feed_create(unit=suite, url=url, channel=CalendarFeed.Channel.AIRBNB)


def test_an_airbnb_calendar_books_its_future_stays_with_codes_on_every_door(airbnb, client, clock):
    result = feed_sync(feed=airbnb)
    settle(client, clock)

    assert not result.error
    assert result.booked == 3
    assert result.blocked == 1, "“Airbnb (Not available)” is not a stay"
    booked = stays(airbnb)
    assert {uid: (r.guest_name, r.arrival) for uid, r in booked.items()} == AIRBNB_STAYS, "the past stay is left out"
    for reservation in booked.values():
        assert reservation.source == Reservation.Source.FEED
        assert reservation.guest_email == ""
        codes = codes_by_door(reservation)
        assert set(codes) == {FRONT_DOOR, ROOM_101}
        assert all(code.status == AccessCode.Status.SET for door in codes.values() for code in door)
    airbnb.refresh_from_db()
    assert airbnb.last_success_at is not None
    assert airbnb.last_error == ""


def test_an_unchanged_feed_costs_a_conditional_get_and_writes_nothing(airbnb, calendar_server):
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()

    with CaptureQueriesContext(connection) as queries:
        result = feed_sync(feed=airbnb)

    assert result.unchanged
    assert calendar_server.hits["/airbnb/room-101.ics"] == [200, 304]
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []


def test_the_same_body_from_a_channel_without_etags_writes_nothing(airbnb, calendar_server):
    calendar_server.answers["/airbnb/room-101.ics"].etag = False
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()

    with CaptureQueriesContext(connection) as queries:
        result = feed_sync(feed=airbnb)

    assert result.unchanged
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_new_dates_in_the_feed_go_through_the_date_change_planner(airbnb, calendar_server, client, clock):
    feed_sync(feed=airbnb)
    settle(client, clock)
    airbnb.refresh_from_db()
    calendar_server.serve_file(
        "/airbnb/room-101.ics", "airbnb.ics", **{"DTEND;VALUE=DATE:20300704": "DTEND;VALUE=DATE:20300706"}
    )

    result = feed_sync(feed=airbnb)
    settle(client, clock)

    assert result.moved == 1
    moved = stays(airbnb)[FIRST]
    assert moved.departure == date(2030, 7, 6)
    for first, continuation in codes_by_door(moved).values():
        assert first.superseded_at is None, "the guest keeps the code; a continuation follows it"
        assert continuation.status == AccessCode.Status.SET
        assert continuation.starts_at < first.ends_at


def test_a_stay_the_feed_drops_is_cancelled_and_its_codes_go_to_the_ledger(airbnb, calendar_server, client, clock):
    feed_sync(feed=airbnb)
    settle(client, clock)
    airbnb.refresh_from_db()
    text = (calendar_server.answers["/airbnb/room-101.ics"].body.decode()).replace("\r\n", "\n")
    calendar_server.serve("/airbnb/room-101.ics", without_event(text, SECOND))

    result = feed_sync(feed=airbnb)

    assert result.cancelled == 1
    booked = stays(airbnb)
    assert booked[SECOND].is_cancelled
    assert not booked[FIRST].is_cancelled
    assert not booked[THIRD].is_cancelled
    ledger = AccessCode.objects.filter(reservation=booked[SECOND]).values_list("ledger_reason", flat=True)
    assert set(ledger) == {AccessCode.LedgerReason.CANCELLED}


def test_a_feed_that_suddenly_empties_cancels_nothing_until_staff_confirm(airbnb, calendar_server, client, clock):
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    calendar_server.serve("/airbnb/room-101.ics", "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nEND:VCALENDAR\n")

    result = feed_sync(feed=airbnb)
    feed_sync(feed=airbnb)  # the next sync holds them still, and alerts no more

    assert result.held == 3
    assert not Reservation.objects.filter(cancelled_at__isnull=False).exists()
    airbnb.refresh_from_db()
    assert sorted(airbnb.held_removals) == sorted(r.pk for r in stays(airbnb).values())
    assert StaffAlert.objects.filter(kind=StaffAlert.Kind.FEED_HELD, resolved_at__isnull=True).count() == 1

    cancelled = feed_removals_confirm(feed=airbnb, user=None)

    assert cancelled == 3
    assert all(r.is_cancelled for r in stays(airbnb).values())
    airbnb.refresh_from_db()
    assert airbnb.held_removals == []
    assert not StaffAlert.objects.filter(kind=StaffAlert.Kind.FEED_HELD, resolved_at__isnull=True).exists()


def test_held_removals_are_released_when_the_feed_lists_the_stays_again(airbnb, calendar_server):
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    full = calendar_server.answers["/airbnb/room-101.ics"].body
    text = full.decode().replace("\r\n", "\n")
    calendar_server.serve("/airbnb/room-101.ics", without_event(without_event(text, FIRST), SECOND))
    assert feed_sync(feed=airbnb).held == 2, "two of three gone at once is held"
    airbnb.refresh_from_db()

    calendar_server.serve("/airbnb/room-101.ics", full)
    result = feed_sync(feed=airbnb)

    assert result.held == 0
    assert result.cancelled == 0
    airbnb.refresh_from_db()
    assert airbnb.held_removals == []
    assert not Reservation.objects.filter(cancelled_at__isnull=False).exists()


def test_a_vrbo_calendar_gives_the_guests_name(suite, calendar_server):
    feed = feed_create(unit=suite, url=calendar_server.serve_file("/vrbo/ical/123.ics", "vrbo.ics"))

    result = feed_sync(feed=feed)

    assert result.booked == 1
    assert result.blocked == 1
    [reservation] = stays(feed).values()
    assert (reservation.guest_name, reservation.arrival, reservation.departure) == (
        "Jane Doe",
        date(2030, 7, 1),
        date(2030, 7, 5),
    )


def test_a_tentative_vrbo_request_waits_until_it_is_confirmed(suite, calendar_server):
    tentative = (
        (DATA / "vrbo.ics")
        .read_text()
        .replace("SUMMARY:Reserved - Jane Doe", "SUMMARY:Reserved - Jane Doe\nSTATUS:TENTATIVE")
    )
    feed = feed_create(unit=suite, url=calendar_server.serve("/vrbo.ics", tentative))

    assert feed_sync(feed=feed).booked == 0
    calendar_server.serve_file("/vrbo.ics", "vrbo.ics")
    assert feed_sync(feed=feed).booked == 1


def test_a_stay_cancelled_by_its_feed_is_not_revived_when_listed_again(airbnb, calendar_server):
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    full = calendar_server.answers["/airbnb/room-101.ics"].body
    calendar_server.serve("/airbnb/room-101.ics", without_event(full.decode().replace("\r\n", "\n"), SECOND))
    assert feed_sync(feed=airbnb).cancelled == 1
    airbnb.refresh_from_db()
    calendar_server.serve("/airbnb/room-101.ics", full)

    result = feed_sync(feed=airbnb)

    assert stays(airbnb)[SECOND].is_cancelled
    assert any("listed again but was cancelled here" in skipped for skipped in result.skipped)
    assert Reservation.objects.count() == 3


def test_a_booking_com_calendar_is_all_closed_dates_and_books_nothing(suite, calendar_server):
    feed = feed_create(unit=suite, url=calendar_server.serve_file("/booking/export.ics", "booking.ics"))

    result = feed_sync(feed=feed)

    assert not result.error
    assert result.booked == 0
    assert result.blocked == 2
    assert not Reservation.objects.exists()


def test_the_channel_is_known_by_the_feed_address(suite):
    assert feed_create(unit=suite, url="https://www.airbnb.com/calendar/ical/1.ics?s=x").channel == "airbnb"
    assert feed_create(unit=suite, url="http://www.vrbo.com/icalendar/abc.ics").channel == "vrbo"
    assert feed_create(unit=suite, url="https://admin.booking.com/hotel/hoteladmin/ical.html?t=1").channel == "booking"


@pytest.mark.parametrize("url", ["ftp://example.com/cal.ics", "file:///etc/passwd", "javascript:alert(1)", "nothing"])
def test_only_http_and_https_feed_addresses_are_taken(suite, url):
    with pytest.raises(Refused) as refused:
        feed_create(unit=suite, url=url)

    assert refused.value.field == "url"
    assert not CalendarFeed.objects.exists()


def test_a_stay_sent_by_the_api_and_listed_by_the_feed_is_one_stay(airbnb):
    by_api = reservation_import(
        unit=airbnb.unit,
        guest_name="Ana Souza",
        guest_email="ana@example.com",
        arrival=date(2030, 7, 1),
        departure=date(2030, 7, 4),
        external_id=FIRST,
        source=Reservation.Source.API,
    ).reservation

    result = feed_sync(feed=airbnb)

    assert result.booked == 2
    assert stays(airbnb)[FIRST].pk == by_api.pk
    assert Reservation.objects.filter(external_id=FIRST).count() == 1
    assert AccessCode.objects.filter(reservation=by_api).count() == 2, "no second code on either door"


FAILURES = {
    "server error": ({"status": 500}, "HTTP 500"),
    "not found": ({"status": 404}, "HTTP 404"),
    "not ical": (
        {"body": b"<html><body>Sign in</body></html>", "content_type": "text/html"},
        "not answer with an iCal",
    ),
    "broken ical": ({"body": b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nnot a line\r\n"}, "could not be read"),
    "too big": ({"body": b"BEGIN:VCALENDAR\r\n" + b"X" * 3000}, "size limit"),
    "too slow": ({"body": b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "delay": 1.5}, "did not answer in time"),
    "redirect away": ({"status": 302, "location": "http://localhost:9/elsewhere.ics"}, "another host"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_a_failing_feed_changes_nothing_and_keeps_its_error(case, airbnb, calendar_server, settings):
    settings.FEEDS_MAX_BYTES = 2000
    settings.FEEDS_READ_TIMEOUT_SECONDS = 0.5
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    good = airbnb.last_success_at
    before = sorted(Reservation.objects.values_list("pk", "arrival", "departure", "cancelled_at"))
    answer, words = FAILURES[case]
    calendar_server.serve("/airbnb/room-101.ics", **answer)

    result = feed_sync(feed=airbnb)

    assert words in result.error
    airbnb.refresh_from_db()
    assert words in airbnb.last_error
    assert airbnb.is_failing
    assert airbnb.last_success_at == good
    assert sorted(Reservation.objects.values_list("pk", "arrival", "departure", "cancelled_at")) == before


def test_a_channel_trickling_its_calendar_is_cut_off_at_the_read_timeout(airbnb, calendar_server, settings):
    settings.FEEDS_READ_TIMEOUT_SECONDS = 0.5
    body = (DATA / "airbnb.ics").read_bytes()
    calendar_server.serve("/airbnb/room-101.ics", body, trickle=0.2)  # each read is quick, the whole is not

    result = feed_sync(feed=airbnb)

    assert "did not answer in time" in result.error
    assert not Reservation.objects.exists()


def test_a_feed_that_answers_again_as_before_is_no_longer_failing(airbnb, calendar_server):
    good = calendar_server.answers["/airbnb/room-101.ics"]
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    calendar_server.serve("/airbnb/room-101.ics", status=500)
    feed_sync(feed=airbnb)
    airbnb.refresh_from_db()
    assert airbnb.is_failing
    calendar_server.answers["/airbnb/room-101.ics"] = good

    result = feed_sync(feed=airbnb)

    assert result.unchanged
    assert calendar_server.hits["/airbnb/room-101.ics"] == [200, 500, 304]
    airbnb.refresh_from_db()
    assert not airbnb.is_failing
    assert airbnb.last_error == ""


def test_a_redirect_on_the_same_host_is_followed(suite, calendar_server):
    calendar_server.serve_file("/new/airbnb.ics", "airbnb.ics")
    url = calendar_server.serve("/old/airbnb.ics", status=301, location="/new/airbnb.ics")

    result = feed_sync(feed=feed_create(unit=suite, url=url))

    assert result.booked == 3


def test_a_private_address_is_refused_unless_the_setting_allows_it(airbnb, settings):
    settings.FEEDS_ALLOW_PRIVATE_ADDRESSES = False

    result = feed_sync(feed=airbnb)

    assert "private or local address" in result.error
    assert not Reservation.objects.exists()


def test_the_command_syncs_every_active_feed_and_says_what_each_did(airbnb, suite, calendar_server, capsys):
    broken = feed_create(unit=suite, url=calendar_server.url + "/gone.ics")
    CalendarFeed.objects.create(unit=suite, url=calendar_server.url + "/off.ics", active=False)

    call_command("feeds_sync")

    out = capsys.readouterr().out
    assert f"{airbnb.pk} " in out
    assert "3 booked" in out
    assert f"{broken.pk} " in out
    assert "HTTP 404" in out
    assert "/off.ics" not in calendar_server.hits
    assert "1 feed(s) failed" in out


def test_a_feed_event_too_long_to_be_a_stay_is_skipped_with_its_reason(suite, calendar_server):
    text = (DATA / "airbnb.ics").read_text().replace("DTEND;VALUE=DATE:20300704", "DTEND;VALUE=DATE:20330704")
    feed = feed_create(unit=suite, url=calendar_server.serve("/long.ics", text))

    result = feed_sync(feed=feed)

    assert result.booked == 2
    assert any("at most" in skipped for skipped in result.skipped)
    assert not result.error
    assert FIRST not in stays(feed)


def test_a_stay_under_way_by_the_sites_date_is_not_past(suite, calendar_server):
    # The clock: 2030-06-01 12:00 UTC, 05:00 on 1 June in Los Angeles. A stay leaving on 1 June
    # is over by the site's date; one leaving on 2 June is not.
    text = (DATA / "vrbo.ics").read_text()
    text = text.replace("20300701", "20300529").replace("20300705", "20300602")
    text = text.replace("20300801", "20300528").replace("20300805", "20300601").replace("Blocked", "Reserved - Past")
    feed = feed_create(unit=suite, url=calendar_server.serve("/now.ics", text))

    feed_sync(feed=feed)

    assert [(r.guest_name, r.departure) for r in stays(feed).values()] == [("Jane Doe", date(2030, 6, 2))]
