"""The whole path in a real browser, on a live server with a real Celery worker.

Staff log in, book a stay, pick an offered code window, watch the code reach ``set`` (the
simulator in quick mode, its webhooks signed and delivered to the live server, the beat's
sweep run by the test), reveal the PIN, email it, and the email arrives at a real SMTP
server. Staff of another site see none of it.

Screenshots of the dashboard are saved under ``screenshots/e2e/`` for people to look at.
"""

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from codes.models import AccessCode, AccessCodeEvent, CodeEmail
from locks.models import Lock
from locks.seam import SeamClient
from locks.services import locks_sync
from properties.models import Site
from simulator import demo
from tests.builders import book, make_unit, unit_of
from tests.fixtures.simulator import SIMULATOR_API_KEY

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots" / "e2e"
PASSWORD = "correct horse battery staple"
WEBHOOK_SECRET = "whsec_ZTJlLWJyb3dzZXItdGVzdC13ZWJob29rLXNlY3JldA=="
GUEST_NAME = "Marta Quintela"
GUEST_EMAIL = "marta.quintela@example.com"
SITE = demo.OCEAN_BEACH.name
DOOR = "Room 101"
FRONT_DOOR = "Beach House Front Door"
# A unit of two doors: the shared front door, then the room's own.
UNIT = "Room 101 suite"
OTHER_SITE = demo.HARBOUR_VIEW.name

SET_TIMEOUT_MS = 45_000
EMAIL_TIMEOUT_SECONDS = 20.0
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def make_user(username: str, site_name: str) -> None:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)
    user.sites.set([Site.objects.get(name=site_name)])


@pytest.fixture
def app_stack(
    settings, live_server, smtp_server, start_seam_simulator, start_celery_worker_thread, start_code_sweeper
):
    """The simulator, its doors imported, two staff, a worker and the beat, all pointed at each other."""
    sim = start_seam_simulator(
        mode="quick",
        setting_after=timedelta(seconds=1),
        set_after=timedelta(seconds=2),
        webhook_url=f"{live_server.url}/seam/webhook/",
        webhook_secret=WEBHOOK_SECRET,
    )
    # One settings object serves the live server's threads, the worker's and this one.
    settings.SEAM_API_KEY = SIMULATOR_API_KEY
    settings.SEAM_ENDPOINT = sim.url
    settings.SEAM_TIMEOUT_SECONDS = 5.0
    settings.SEAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.CODES_FIRST_CHECK_SECONDS = 1.0
    for name, value in smtp_server.django_settings().items():
        setattr(settings, name, value)

    locks_sync(client=SeamClient(api_key=SIMULATOR_API_KEY, endpoint=sim.url, timeout=5.0))
    for lock in Lock.objects.all():
        unit_of(lock)
    ocean = Lock.objects.filter(site__name=SITE)
    make_unit(ocean.get(name=DOOR).site, UNIT, ocean.get(name=FRONT_DOOR), ocean.get(name=DOOR))
    make_user("demo", SITE)
    make_user("harbour", OTHER_SITE)

    start_celery_worker_thread()
    start_code_sweeper(every=1.0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nScreenshots: {SCREENSHOTS}")  # noqa: T201 - tells people where to look
    return sim


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def wait_for_htmx(page: Page) -> None:
    """Until no htmx request is in flight (htmx marks the requesting element)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def screenshot(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / name, full_page=True)


def code_story(code: AccessCode) -> str:
    code.refresh_from_db()
    events = ", ".join(code.events.order_by("at", "pk").values_list("kind", flat=True))
    return (
        f"status {code.status!r}, Seam status {code.seam_status!r}, "
        f"last error {code.last_error_type!r} {code.last_error_message!r}, events: {events}"
    )


def wait_until(condition: Callable[[], Any], *, timeout: float, failure: Callable[[], str]) -> Any:
    """Poll ``condition()`` until it returns something truthy (returned); fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.2)
    return result


def test_staff_book_a_stay_and_email_its_code_and_other_sites_see_nothing(
    app_stack, live_server, smtp_server, chromium
):
    started = time.monotonic()
    base = live_server.url
    context = chromium.new_context(viewport=DESKTOP)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.set_default_timeout(15_000)

    log_in(page, base, "demo")

    # Book a stay five days ahead, in the site's own calendar.
    page.get_by_role("link", name="New reservation").click()
    expect(page.get_by_role("heading", name="New reservation")).to_be_visible()
    zone = ZoneInfo(demo.OCEAN_BEACH.iana_timezone)
    arrival = timezone.now().astimezone(zone).date() + timedelta(days=5)
    departure = arrival + timedelta(days=3)
    page.get_by_label("Guest name").fill(GUEST_NAME)
    page.get_by_label("Guest email").fill(GUEST_EMAIL)
    page.get_by_label("Arrival").fill(arrival.isoformat())
    wait_for_htmx(page)
    page.get_by_label("Departure").fill(departure.isoformat())
    wait_for_htmx(page)
    page.get_by_label("Unit").select_option(label=UNIT)
    wait_for_htmx(page)

    # A choice per door, in walking order, each preselected closest to the unit's 15:00/11:00.
    doors = page.get_by_test_id("door-choices")
    expect(doors).to_have_count(2)
    expect(doors.first).to_contain_text(FRONT_DOOR)
    window = doors.nth(1).get_by_role("radio", checked=True)
    window_label = window.evaluate("radio => radio.labels[0].textContent.trim()")
    abbreviation = datetime.combine(arrival, wall_time(12), tzinfo=zone).tzname()
    assert f"({demo.OCEAN_BEACH.iana_timezone}, {abbreviation}" in window_label, window_label
    assert "Guest 15:00-11:00" in window_label
    page.get_by_role("button", name="Save reservation and create codes").click()
    submitted = time.monotonic()

    # The booking opens its reservation's page.
    expect(page.get_by_role("alert").filter(has_text=f"Reservation for {GUEST_NAME} saved")).to_be_visible()
    expect(page.get_by_role("heading", name=GUEST_NAME, exact=True)).to_be_visible()
    front, code = AccessCode.objects.filter(reservation__guest_email=GUEST_EMAIL).order_by("pk")
    assert (front.lock.name, code.lock.name) == (FRONT_DOOR, DOOR)
    cell = page.locator(f"#code-{code.pk}")
    expect(cell).to_be_visible()

    # Each cell polls every 3 s; the worker creates the codes, the webhook or the sweep sees them set.
    for each in (front, code):
        try:
            page.locator(f'#code-{each.pk} [data-state="set"]').wait_for(timeout=SET_TIMEOUT_MS)
        except PlaywrightTimeoutError:
            screenshot(page, "failed-code-not-set.png")
            pytest.fail(f"the page did not show the code set within {SET_TIMEOUT_MS / 1000:.0f} s: {code_story(each)}")
    seconds_to_set = time.monotonic() - submitted
    screenshot(page, "01-both-doors-set.png")

    code.refresh_from_db()
    assert code.status == AccessCode.Status.SET
    assert re.fullmatch(r"\d{6}", code.code), "the simulator gives six-digit PINs"
    wait_until(
        code.events.filter(kind=AccessCodeEvent.Kind.WEBHOOK).exists,
        timeout=10,
        failure=lambda: f"no signed webhook from the simulator was accepted: {code_story(code)}",
    )
    assert code.code not in cell.inner_text(), "hidden until revealed"

    cell.get_by_role("button", name="Reveal PIN").click()
    pin = cell.get_by_test_id("pin")
    expect(pin).to_have_text(re.compile(r"^\s*\d{6}\s*$"))
    assert pin.inner_text().strip() == code.code
    revealed = code.events.get(kind=AccessCodeEvent.Kind.REVEALED)
    assert revealed.user is not None
    assert revealed.user.username == "demo"

    cell.get_by_role("button", name="Copy").click()
    expect(cell.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == code.code
    screenshot(page, "02-pin-revealed.png")

    # One email for the stay, from its first code (the front door's), with both PINs.
    front_cell = page.locator(f"#code-{front.pk}")
    expect(cell.get_by_role("button", name="Email code")).to_have_count(0)
    front_cell.get_by_role("button", name="Email code to guest").click()
    expect(front_cell.get_by_role("status")).to_have_text(f"Email to {GUEST_EMAIL} queued.")

    def email_to_guest() -> Any:
        return next((m for m in list(smtp_server.messages) if m["To"] == GUEST_EMAIL), None)

    message = wait_until(
        email_to_guest,
        timeout=EMAIL_TIMEOUT_SECONDS,
        failure=lambda: f"no email to {GUEST_EMAIL} arrived: {list(CodeEmail.objects.values_list('status', 'error'))}",
    )
    assert message["Subject"] == f"Your door codes for {SITE}, {UNIT}"
    assert code.code not in message["Subject"]
    assert message["To"] == GUEST_EMAIL
    body = message.get_body(preferencelist=("plain",)).get_content()
    front.refresh_from_db()
    assert f"{FRONT_DOOR}: {front.code}" in body
    assert f"{DOOR}: {code.code}" in body
    assert body.index(FRONT_DOOR) < body.index(f"{DOOR}:"), "in walking order"
    assert GUEST_NAME in body

    assert [to for _, recipients in smtp_server.envelopes for to in recipients] == [GUEST_EMAIL], "one email"
    wait_until(
        CodeEmail.objects.filter(access_code=front, status=CodeEmail.Status.SENT).exists,
        timeout=10,
        failure=lambda: f"the email went out but is not recorded sent: {list(front.emails.values())}",
    )
    page.reload()
    expect(page.locator(f"#code-{front.pk}").get_by_test_id("email-state")).to_have_text("Email sent")
    screenshot(page, "03-email-sent.png")

    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, storage_state=context.storage_state())
    phone_page = phone.new_page()
    phone_page.goto(base)
    expect(phone_page.locator(f'#code-{code.pk} [data-state="set"]')).to_be_visible()
    screenshot(phone_page, "05-dashboard-phone.png")
    phone.close()
    context.close()

    # Staff of another site: the stay, the guest and the PIN are nowhere to be seen.
    other = chromium.new_context(viewport=DESKTOP)
    other_page = other.new_page()
    other_page.set_default_timeout(15_000)
    log_in(other_page, base, "harbour")
    expect(other_page.get_by_role("heading", name=OTHER_SITE)).to_be_visible()
    expect(other_page.get_by_role("heading", name=SITE)).to_have_count(0)
    dashboard = other_page.content()
    assert GUEST_NAME not in dashboard
    assert code.code not in dashboard
    screenshot(other_page, "04-other-site-staff.png")

    other_page.goto(f"{base}/reservations/?q={GUEST_NAME.split()[0]}")
    expect(other_page.get_by_text("No reservation matches these filters.")).to_be_visible()
    listing = other_page.content()
    assert GUEST_NAME not in listing
    assert code.code not in listing

    response = other_page.goto(f"{base}/codes/{code.pk}/")
    assert response is not None
    assert response.status == 404
    other.close()

    print(  # noqa: T201 - timings for people watching the run
        f"Code shown set {seconds_to_set:.1f} s after the booking; browser path {time.monotonic() - started:.1f} s."
    )


def test_staff_extend_a_stay_then_cancel_it_and_the_live_codes_wait_in_the_ledger(
    app_stack, live_server, smtp_server, chromium
):
    base = live_server.url
    lock = Lock.objects.get(name=DOOR, site__name=SITE)
    arrival = timezone.now().astimezone(ZoneInfo(lock.site.timezone)).date() + timedelta(days=5)
    first = book(lock, arrival=arrival, guest_name=GUEST_NAME, guest_email=GUEST_EMAIL)
    stay = first.reservation
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, base, "demo")
    page.goto(f"{base}/reservations/{stay.pk}/")
    page.locator(f'#code-{first.pk} [data-state="set"]').wait_for(timeout=SET_TIMEOUT_MS)

    # Two more nights: the form shows what happens to the codes before anything is created.
    page.get_by_role("link", name="Change dates").click()
    page.get_by_label("Departure").fill((arrival + timedelta(days=5)).isoformat())
    page.get_by_role("button", name="Show what happens to the codes").click()
    choice = page.get_by_test_id("door-plan").filter(has_text="Guest 15:00-11:00").first
    expect(choice).to_contain_text("Keep the guest's code and add 1 continuation code")
    expect(choice).to_contain_text("so access never has a gap")
    expect(choice.get_by_role("radio")).to_be_checked()  # it keeps the door's level: preselected
    screenshot(page, "06-change-dates.png")
    page.get_by_role("button", name="Change the dates").click()
    expect(page.get_by_role("alert").filter(has_text="Dates changed.")).to_be_visible()

    codes = list(AccessCode.objects.filter(reservation=stay).order_by("starts_at"))
    assert codes[0].pk == first.pk, "the guest keeps the first code"
    assert len(codes) == 2
    continuation = codes[1]
    page.locator(f'#code-{continuation.pk} [data-state="set"]').wait_for(timeout=SET_TIMEOUT_MS)
    screenshot(page, "07-extended-two-codes.png")

    # One email for the stay, from its first code, listing both: the continuation has no button of its own.
    expect(page.locator(f"#code-{continuation.pk}").get_by_role("button", name="Email code")).to_have_count(0)
    page.locator(f"#code-{first.pk}").get_by_role("button", name="Email code to guest").click()
    message = wait_until(
        lambda: next((m for m in list(smtp_server.messages) if m["To"] == GUEST_EMAIL), None),
        timeout=EMAIL_TIMEOUT_SECONDS,
        failure=lambda: f"no email: {list(CodeEmail.objects.values_list('status', 'error'))}",
    )
    body = message.get_body(preferencelist=("plain",)).get_content()
    first.refresh_from_db()
    continuation.refresh_from_db()
    assert f"Code 1: {first.code}" in body
    assert f"Code 2: {continuation.code}" in body

    # Cancelled: neither code can be revoked, so both wait in the ledger.
    page.reload()
    page.get_by_label("Confirm").check()
    page.get_by_role("button", name="Cancel reservation").click()
    expect(page.get_by_role("alert").filter(has_text="Reservation cancelled. 2 live codes")).to_be_visible()
    page.get_by_role("link", name="Ledger", exact=True).click()
    rows = page.locator("[data-ledger-code]")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("alert").filter(has_text="acknowledged")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(1)
    screenshot(page, "08-ledger.png")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_test_id("ledger-alert")).to_contain_text("1 not acknowledged yet")
    screenshot(page, "09-dashboard-ledger.png")
    context.close()
