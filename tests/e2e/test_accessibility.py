"""What a new user hit, in a real browser: a phone, a screen reader, a low-contrast control, a
page that did not follow the action just taken."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from codes.models import AccessCode
from tests.builders import book, make_lock, make_site

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
LONG_NAME = "Guest" + "x" * 190


def set_code(code: AccessCode, pin: str) -> None:
    AccessCode.objects.filter(pk=code.pk).update(
        status=AccessCode.Status.SET, code=pin, seam_access_code_id=f"seam-{code.pk}", seam_status="set"
    )


@pytest.fixture
def stays():
    """Two stays on one door, each with a set code."""
    site = make_site()
    lock = make_lock(site, "Room 101")
    user = get_user_model().objects.create_user(username="front", password=PASSWORD)
    user.sites.add(site)
    soon = timezone.now().date() + timedelta(days=3)
    ana = book(lock, arrival=soon)
    ben = book(lock, arrival=soon + timedelta(days=4))
    ben.reservation.guest_name = "Ben Carter"
    ben.reservation.save()
    set_code(ana, "482913")
    set_code(ben, "551204")
    return lock, ana, ben


def page_for(chromium, live_server, **context):
    page = chromium.new_context(**context).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("front")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


@pytest.fixture
def desktop(chromium, live_server, stays) -> Iterator[Page]:
    page = page_for(chromium, live_server)
    yield page
    page.context.close()


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_a_long_unbroken_guest_name_does_not_widen_the_page_on_a_phone(chromium, live_server, stays):
    _, ana, _ = stays
    ana.reservation.guest_name = LONG_NAME
    ana.reservation.save()
    page = page_for(chromium, live_server, viewport=PHONE)

    for path in ["/", "/reservations/", f"/reservations/{ana.reservation_id}/"]:
        page.goto(live_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px phone"
    page.context.close()


def test_radio_and_checkbox_borders_stand_out_three_to_one(desktop, live_server, stays):
    _, ana, _ = stays
    desktop.goto(f"{live_server.url}/reservations/{ana.reservation_id}/")
    checkbox = desktop.get_by_label("Confirm")
    border = checkbox.evaluate("el => getComputedStyle(el).borderTopColor")
    background = desktop.evaluate("getComputedStyle(document.body).backgroundColor")

    assert contrast(border, background) >= 3.0, f"{border} on {background}"


def test_repeated_buttons_name_the_guest_they_act_for(desktop):
    # Two stays on the dashboard, each with its own "Reveal PIN" and "Email code to guest".
    expect(desktop.get_by_role("button", name="Reveal PIN for Ana Souza")).to_have_count(1)
    expect(desktop.get_by_role("button", name="Reveal PIN for Ben Carter")).to_have_count(1)
    expect(desktop.get_by_role("button", name="Email code to guest: Ben Carter")).to_have_count(1)


def test_a_code_state_change_is_announced_to_screen_readers(desktop, live_server, stays):
    lock, _, _ = stays
    waiting = book(lock, arrival=timezone.now().date() + timedelta(days=9))
    AccessCode.objects.filter(pk=waiting.pk).update(status=AccessCode.Status.WAITING, seam_access_code_id="seam-w")
    desktop.goto(f"{live_server.url}/reservations/{waiting.reservation_id}/")
    expect(desktop.locator(f'#code-{waiting.pk} [data-state="waiting"]')).to_be_visible()

    set_code(waiting, "774411")

    # The cell polls every 3 s; the page's live region, which is never replaced, says the change.
    announcer = desktop.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_have_text("Code for Ana Souza, Room 101: Set", timeout=10_000)


def test_the_email_log_and_history_follow_the_action_without_a_reload(celery_queue, desktop, live_server, stays):
    # celery_queue: the email asked for goes to a queue of the test's own, which nobody works.
    _, ana, _ = stays
    desktop.goto(f"{live_server.url}/reservations/{ana.reservation_id}/")
    cell = desktop.locator(f"#code-{ana.pk}")
    expect(cell.get_by_test_id("code-emails")).to_contain_text("None sent yet.")

    cell.get_by_role("button", name="Reveal PIN").click()
    expect(cell.get_by_test_id("code-history")).to_contain_text("PIN revealed to front")
    cell.get_by_role("button", name="Email code to guest").click()

    expect(cell.get_by_test_id("code-emails")).to_contain_text("ana@example.com · Queued")
