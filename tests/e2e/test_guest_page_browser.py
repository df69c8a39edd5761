"""The guest page on a phone, in Chromium with JavaScript off: before the PIN time it says when
the codes appear and shows none; once the site's moment has passed, the same link shows the PIN,
large, inside the screen's width (no sideways scrolling), styled under the Content-Security-Policy.

The moment is moved by data (the site's ``guest_page_days_before``), not by a fake clock: the
browser and the live server keep real time. Screenshots go to ``screenshots/e2e/``.
"""

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from codes.guestlinks import guest_link_for, guest_link_path
from properties.models import SiteMessage
from tests.builders import make_code, make_lock, make_reservation, make_site, make_unit

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
PIN = "482913"
DOOR = "Garden apartment with sea view and private terrace, building B, floor 3"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots" / "e2e"


def fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


def test_the_guest_page_on_a_phone_before_and_after_the_pin_time(chromium, live_server):
    site = make_site(guest_page_days_before=0)
    unit = make_unit(site, DOOR, make_lock(site, DOOR, seam_device_id="dev-garden"))
    zone = ZoneInfo(site.timezone)
    arrival = timezone.now().astimezone(zone).date() + timedelta(days=10)
    reservation = make_reservation(unit, arrival=arrival)
    make_code(reservation, code=PIN, starts_at=datetime.combine(arrival, time(15), tzinfo=zone))
    SiteMessage.objects.create(
        site=site, language="en", directions="Park on the street; the gate code is the same as the door's."
    )
    url = live_server.url + guest_link_path(guest_link_for(reservation))
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security" in message.text else None)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # Before: check-in time on the arrival date, ten days away.
    response = page.goto(url)
    assert response is not None
    assert response.status == 200
    expect(page.get_by_test_id("page-state")).to_contain_text("Your door codes will appear on this page from")
    expect(page.get_by_test_id("page-state")).to_contain_text(f"{arrival.day} ")
    expect(page.get_by_test_id("pin")).to_have_count(0)
    expect(page.get_by_role("heading", name=DOOR, level=2)).to_be_visible()
    expect(page.get_by_text("Park on the street")).to_be_visible()
    assert PIN not in page.content()
    fits_the_phone(page)
    page.screenshot(path=SCREENSHOTS / "guest-page-before.png", full_page=True)

    # After: the site shows the PINs from fifteen days before; the same link, reloaded.
    site.guest_page_days_before = 15
    site.save()
    page.goto(url)
    pin = page.get_by_role("img", name=f"Code for {DOOR}: {' '.join(PIN)}")
    expect(pin).to_have_text(PIN)
    expect(pin).to_be_in_viewport()
    box = pin.bounding_box()
    assert box is not None
    assert 0 <= box["x"] < box["x"] + box["width"] <= PHONE["width"]
    # Large, from the page's own stylesheet (an inline style would be blocked by the policy).
    assert float(pin.evaluate("el => parseFloat(getComputedStyle(el).fontSize)")) >= 32
    expect(page.get_by_test_id("page-state")).to_have_count(0)
    fits_the_phone(page)
    assert blocked == []
    assert page.locator("script").count() == 0
    page.screenshot(path=SCREENSHOTS / "guest-page-pins.png", full_page=True)
    context.close()
