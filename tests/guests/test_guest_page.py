"""The guest page: its signed link (a tampered, made-up or revoked one is 404), the time rule on
a fake clock (no PIN before the moment, which the page names; PINs until departure; none after
departure or cancellation, nor for a code not set yet), the history of each view with PINs, a
fixed number of queries, no script, private headers and the guest's language."""

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from codes.guestlinks import guest_link_for, guest_link_path, guest_link_renew, guest_link_revoke, guest_link_token
from codes.models import AccessCode, AccessCodeEvent, GuestLink
from properties.models import Reservation, SiteMessage
from tests.builders import make_code, make_lock, make_reservation, make_site, make_unit

pytestmark = pytest.mark.django_db

# A stay at Ocean Beach (Los Angeles) from Tue 10 Sep 2030; its code opens 15:00 PDT that day
# (22:00 UTC) for three days. The site's default: PINs from check-in time three days before.
ARRIVAL_UTC = datetime(2030, 9, 10, 22, tzinfo=UTC)
PINS_FROM = datetime(2030, 9, 7, 22, tzinfo=UTC)  # Sat 7 Sep 15:00 PDT
DEPARTURE = ARRIVAL_UTC + timedelta(days=3)
PIN = "482913"
SHOWN = AccessCodeEvent.Kind.SHOWN_TO_GUEST


@pytest.fixture
def stay() -> Reservation:
    reservation = make_reservation(make_lock(make_site(), "Room 101"), guest_name="Ana Souza")
    make_code(reservation, code=PIN)
    return reservation


@pytest.fixture
def link(stay: Reservation) -> GuestLink:
    return guest_link_for(stay)


def at(moment: datetime) -> Any:
    return time_machine.travel(moment, tick=False)


def open_page(client: Any, link: GuestLink, moment: datetime = PINS_FROM + timedelta(hours=1)) -> Any:
    with at(moment):
        return client.get(guest_link_path(link))


def shown_events() -> list[AccessCodeEvent]:
    return list(AccessCodeEvent.objects.filter(kind=SHOWN))


# The link


def test_the_signed_link_opens_the_stays_page(client, link):
    response = open_page(client, link)

    assert response.status_code == 200
    assert link.public_id in guest_link_path(link)
    assert b"Ocean Beach Vacations" in response.content
    assert b"Room 101" in response.content
    assert PIN.encode() in response.content


def test_a_tampered_altered_made_up_or_revoked_link_is_the_same_plain_404(client, link, stay):
    token = guest_link_token(link)
    public_id, signature = token.rsplit(":", 1)
    other = guest_link_for(make_reservation(stay.unit, arrival=stay.departure, guest_name="Ben Carter"))
    wrong = {
        "tampered signature": f"{public_id}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        "altered id": f"{public_id[:-1]}{'A' if public_id[-1] != 'A' else 'B'}:{signature}",
        "another link's signature": f"{public_id}:{guest_link_token(other).rsplit(':', 1)[1]}",
        "made up": "x" * 32 + ":" + "y" * 27,
        "no signature": public_id,
    }
    answers = {}
    for name, bad in wrong.items():
        response = client.get(reverse("guest_page", args=[bad]))
        answers[name] = (response.status_code, response.content)
    guest_link_revoke(stay, user=None)
    revoked = client.get(reverse("guest_page", args=[token]))

    assert set(answers.values()) == {(404, b"Not found.")}, answers
    assert (revoked.status_code, revoked.content) == (404, b"Not found.")
    assert open_page(client, other).status_code == 200


def test_renewing_gives_a_new_working_link_and_the_old_one_is_404(client, link, stay):
    old_path = guest_link_path(link)

    new = guest_link_renew(stay, user=None)

    assert new.pk != link.pk
    assert guest_link_path(new) != old_path
    assert client.get(old_path).status_code == 404
    assert open_page(client, new).status_code == 200


def test_the_page_answers_get_only(client, link):
    path = guest_link_path(link)

    assert client.post(path).status_code == 405
    assert client.put(path).status_code == 405
    assert shown_events() == []


# The time rule


def test_before_the_moment_the_page_says_when_the_pins_appear_and_shows_none(client, link):
    response = open_page(client, link, PINS_FROM - timedelta(minutes=1))
    page = response.content.decode()

    assert PIN not in page
    assert 'data-state="before"' in page
    assert "Sat 7 Sep 2030 15:00 (America/Los_Angeles, PDT)" in page
    # The door and its window show already.
    assert "Room 101" in page
    assert "Tue 10 Sep 15:00 → Fri 13 Sep 15:00 (America/Los_Angeles, PDT)" in page


@pytest.mark.parametrize("moment", [PINS_FROM, DEPARTURE - timedelta(seconds=1)])
def test_from_the_moment_until_departure_the_page_shows_the_pin(client, link, moment):
    page = open_page(client, link, moment).content.decode()

    assert f">{PIN}<" in page
    assert 'aria-label="Code for Room 101: 4 8 2 9 1 3"' in page


def test_the_site_chooses_how_many_days_before_the_pins_show(client, link, stay):
    stay.site.guest_page_days_before = 0
    stay.site.save()

    assert PIN not in open_page(client, link, ARRIVAL_UTC - timedelta(minutes=1)).content.decode()
    assert PIN in open_page(client, link, ARRIVAL_UTC).content.decode()


def test_from_departure_the_page_shows_no_pin_and_says_why(client, link):
    page = open_page(client, link, DEPARTURE).content.decode()

    assert PIN not in page
    assert 'data-state="over"' in page
    assert "Your stay has ended" in page


def test_a_cancelled_stay_shows_no_pin_even_in_the_pin_period(client, link, stay):
    Reservation.objects.filter(pk=stay.pk).update(cancelled_at=PINS_FROM)

    page = open_page(client, link).content.decode()

    assert PIN not in page
    assert 'data-state="cancelled"' in page
    assert 'class="door"' not in page


def test_a_code_not_set_yet_says_it_will_appear_when_the_lock_system_has_it(client, link, stay):
    AccessCode.objects.filter(reservation=stay).update(status=AccessCode.Status.WAITING)

    page = open_page(client, link).content.decode()

    assert PIN not in page
    assert 'data-state="waiting"' in page
    assert "as soon as the lock system has it" in page
    assert shown_events() == []


def test_a_stay_without_a_working_code_says_when_they_should_appear_then_that_they_are_not_ready(client, link, stay):
    AccessCode.objects.filter(reservation=stay).update(status=AccessCode.Status.FAILED)

    before = open_page(client, link, PINS_FROM - timedelta(minutes=1)).content.decode()
    during = open_page(client, link).content.decode()

    assert 'data-state="before"' in before
    assert 'data-state="no_codes"' in during
    assert PIN not in before + during
    assert 'class="door"' not in during


def test_a_long_stays_chain_shows_each_code_with_its_window_and_no_pin_for_an_ended_one(client, link, stay):
    first = AccessCode.objects.get(reservation=stay)
    AccessCode.objects.filter(pk=first.pk).update(ends_at=ARRIVAL_UTC + timedelta(days=1, hours=1))
    second = make_code(
        stay,
        name="second",
        code="551204",
        seam_access_code_id="seam-second",
        starts_at=ARRIVAL_UTC + timedelta(days=1),
        ends_at=DEPARTURE,
    )

    during_first = open_page(client, link).content.decode()
    after_first = open_page(client, link, ARRIVAL_UTC + timedelta(days=2)).content.decode()

    assert PIN in during_first
    assert "551204" in during_first
    assert "Code 1" in during_first
    assert "Code 2" in during_first
    assert "Wed 11 Sep 15:00 → Fri 13 Sep 15:00" in during_first
    assert PIN not in after_first
    assert "551204" in after_first
    assert "This code has ended." in after_first
    assert [e.access_code_id for e in shown_events()] == [first.pk, second.pk, second.pk]


def test_each_door_shows_in_walking_order_with_the_sites_directions(client):
    site = make_site()
    street, flat = make_lock(site, "Street Door"), make_lock(site, "Apartment 1A")
    reservation = make_reservation(make_unit(site, "Apartment 1A", street, flat))
    # Made in the other order: the page lists them as the guest walks.
    make_code(reservation, lock=flat, name="flat", code="222222", seam_access_code_id="s-flat")
    make_code(reservation, lock=street, name="street", code="111111", seam_access_code_id="s-street")
    SiteMessage.objects.create(site=site, language="en", directions="Key safe <left> of the gate.\n\nRing twice.")

    page = open_page(client, guest_link_for(reservation)).content.decode()

    assert page.index("Street Door") < page.index("111111") < page.index("Apartment 1A</h2>") < page.index("222222")
    assert "<p>Key safe &lt;left&gt; of the gate.</p>" in page
    assert "<p>Ring twice.</p>" in page


# What a view records


def test_a_view_with_pins_is_recorded_in_each_codes_history_without_the_pin(client, link, stay, caplog):
    caplog.set_level(logging.DEBUG)
    moment = PINS_FROM + timedelta(hours=1)

    open_page(client, link, moment)

    code = AccessCode.objects.get(reservation=stay)
    event = AccessCodeEvent.objects.get(access_code=code, kind=SHOWN)
    assert event.message == "Shown to guest on the guest page"
    assert event.user is None
    assert PIN not in event.message
    link.refresh_from_db()
    assert link.last_viewed_at == moment
    assert PIN not in caplog.text
    assert guest_link_token(link) not in caplog.text


def test_views_without_a_pin_record_nothing(client, link, stay):
    open_page(client, link, PINS_FROM - timedelta(minutes=1))
    open_page(client, link, DEPARTURE)
    Reservation.objects.filter(pk=stay.pk).update(cancelled_at=PINS_FROM)
    open_page(client, link)

    assert shown_events() == []
    link.refresh_from_db()
    assert link.last_viewed_at is None


def test_the_page_reads_as_many_rows_for_a_long_stay_on_two_doors_as_for_one_code(
    client, django_assert_max_num_queries
):
    site = make_site()
    street, flat = make_lock(site, "Street Door"), make_lock(site, "Apartment 1A")
    small = make_reservation(make_unit(site, "Room", make_lock(site, "Room 1")))
    make_code(small)
    big = make_reservation(make_unit(site, "Apartment 1A", street, flat), nights=9)
    for lock in (street, flat):
        for n in range(3):
            start = ARRIVAL_UTC + timedelta(days=3 * n)
            make_code(
                big,
                lock=lock,
                name=f"{lock.name} {n}",
                seam_access_code_id=f"s-{lock.pk}-{n}",
                starts_at=start,
                ends_at=start + timedelta(days=3, hours=1),
            )
    small_link, big_link = guest_link_for(small), guest_link_for(big)

    with CaptureQueriesContext(connection) as one_code, django_assert_max_num_queries(8):
        assert open_page(client, small_link).status_code == 200
    with CaptureQueriesContext(connection) as six_codes:
        assert open_page(client, big_link).content.decode().count('data-testid="pin"') == 6

    assert len(six_codes) == len(one_code)
    assert AccessCodeEvent.objects.filter(kind=SHOWN, access_code__reservation=big).count() == 6


# The page itself


def test_the_page_has_no_script_and_private_headers(client, link):
    response = open_page(client, link)
    page = response.content.decode()

    assert "<script" not in page.lower()
    assert re.search(r"\son\w+=", page) is None, "no inline event handler"
    assert "style=" not in page
    assert '<link rel="stylesheet" href="/static/guests/stay.css">' in page
    assert '<meta name="robots" content="noindex, nofollow">' in page
    cache = response["Cache-Control"]
    assert "no-store" in cache
    assert "private" in cache
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "sessionid" not in response.cookies
    assert "csrftoken" not in response.cookies


def test_a_404_carries_the_private_headers_too(client):
    response = client.get(reverse("guest_page", args=["made:up"]))

    assert response.status_code == 404
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_page_is_in_the_guests_language(client, link, stay):
    Reservation.objects.filter(pk=stay.pk).update(language="pt")

    response = open_page(client, link, PINS_FROM - timedelta(minutes=1))
    page = response.content.decode()

    assert '<html lang="pt">' in page
    assert response["Content-Language"] == "pt"
    # Dates through Django's own Portuguese names: "Sáb, 7 Set 2030".
    assert "Sáb, 7 Set 2030 15:00" in page


def test_the_site_language_is_the_default(client, link, stay):
    stay.site.language = "de"
    stay.site.save()

    page = open_page(client, link).content.decode()

    assert '<html lang="de">' in page
