"""A calendar feed in a real browser: staff open a unit, add its Airbnb calendar (served by a real
HTTP server), and watch the stays it lists get their codes, set by the worker and the simulator."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from codes.models import AccessCode
from properties.models import Reservation
from simulator import demo
from tests.e2e import test_browser_flow
from tests.e2e.test_browser_flow import DESKTOP, SET_TIMEOUT_MS, UNIT, log_in, screenshot

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

app_stack = test_browser_flow.app_stack

EVENT = """BEGIN:VEVENT
DTEND;VALUE=DATE:{departure:%Y%m%d}
DTSTART;VALUE=DATE:{arrival:%Y%m%d}
UID:1418fb94e984-{n}d63b2a7c9d0e4d1a8f1e2b3c4d5e6f7@airbnb.com
DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/d
 etails/HMBROWSER{n}\\nPhone Number (Last 4 Digits): 482{n}
SUMMARY:Reserved
END:VEVENT
"""


def airbnb_calendar(*stays: tuple[date, date]) -> str:
    """An Airbnb export as it looks, long lines folded at 75 characters as Airbnb folds them."""
    events = "".join(EVENT.format(arrival=a, departure=d, n=n) for n, (a, d) in enumerate(stays, 1))
    return (
        "BEGIN:VCALENDAR\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\n"
        f"CALSCALE:GREGORIAN\nVERSION:2.0\n{events}END:VCALENDAR\n"
    )


def test_staff_add_a_units_airbnb_feed_and_its_stays_get_codes(app_stack, live_server, calendar_server, chromium):
    today = timezone.now().astimezone(ZoneInfo(demo.OCEAN_BEACH.iana_timezone)).date()
    url = calendar_server.serve(
        "/calendar/ical/41234.ics",
        airbnb_calendar(
            (today + timedelta(days=5), today + timedelta(days=8)),
            (today + timedelta(days=12), today + timedelta(days=14)),
        ),
    )
    page = chromium.new_context(viewport=DESKTOP).new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, "demo")

    page.get_by_role("link", name="Units").click()
    page.get_by_role("link", name=UNIT).click()
    expect(page.get_by_role("heading", name=UNIT)).to_be_visible()
    page.get_by_label("Calendar export link (iCal)").fill(url)
    page.get_by_role("button", name="Add and sync").click()

    expect(page.get_by_role("alert").filter(has_text="Feed added: 2 booked")).to_be_visible()
    expect(page.get_by_test_id("feed-status")).to_contain_text("Synced")
    stays = Reservation.objects.filter(unit__name=UNIT).order_by("arrival")
    assert [stay.guest_name for stay in stays] == ["Airbnb guest HMBROWSER1", "Airbnb guest HMBROWSER2"]
    codes = AccessCode.objects.filter(reservation__in=stays).order_by("pk")
    assert codes.count() == 4, "two doors, two stays"
    for code in codes:
        page.locator(f'#code-{code.pk} [data-state="set"]').wait_for(timeout=SET_TIMEOUT_MS)
    screenshot(page, "10-unit-feed-stays-set.png")
    assert set(AccessCode.objects.filter(pk__in=codes).values_list("status", flat=True)) == {AccessCode.Status.SET}
