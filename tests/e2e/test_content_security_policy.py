"""Every staff page and the admin, in a real browser, under the Content-Security-Policy: nothing
is blocked (no inline script or style, no eval) and the pages still work (the booking form's
htmx refresh offers windows, the PIN reveal swaps in)."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from codes.models import AccessCode
from tests.builders import book, make_lock, make_site, unit_of

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def page(chromium, live_server) -> Iterator[tuple[Page, list[str]]]:
    """A logged-in superuser's page and the list of CSP violations the browser reported."""
    get_user_model().objects.create_superuser(username="boss", password=PASSWORD, email="boss@example.com")
    context = chromium.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(f"{page.url}: {message.text}")
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
        else None,
    )
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    yield page, violations
    context.close()


def test_the_staff_pages_and_the_admin_break_no_rule_of_the_policy(page, live_server):
    browser, violations = page
    site = make_site()
    lock = make_lock(site, "Room 101")
    code = book(lock, arrival=timezone.now().date() + timedelta(days=20))
    AccessCode.objects.filter(pk=code.pk).update(status=AccessCode.Status.SET, code="482913", seam_access_code_id="s1")
    base = live_server.url

    for path in ["/", "/reservations/", f"/reservations/{code.reservation_id}/", "/doors/", "/ledger/"]:
        response = browser.goto(base + path)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]

    # htmx at work under the policy: reveal the PIN on the reservation's page.
    browser.goto(f"{base}/reservations/{code.reservation_id}/")
    browser.get_by_role("button", name="Reveal PIN").first.click()
    expect(browser.get_by_test_id("pin")).to_have_text("482913")

    # The booking form asks for the door's windows when the door and dates are chosen.
    arrival = timezone.now().date() + timedelta(days=40)
    browser.goto(f"{base}/reservations/new/")
    browser.get_by_label("Arrival").fill(arrival.isoformat())
    browser.get_by_label("Departure").fill((arrival + timedelta(days=3)).isoformat())
    browser.get_by_label("Unit").select_option(str(unit_of(lock).pk))
    expect(browser.get_by_role("radio").first).to_be_visible()

    browser.goto(
        f"{base}/reservations/{code.reservation_id}/change/?arrival={arrival}&departure={arrival + timedelta(days=4)}"
    )
    expect(browser.get_by_test_id("door-plan").first).to_be_visible()
    admin_pages = [
        "/admin/",
        "/admin/properties/site/",
        f"/admin/properties/site/{site.pk}/change/",
        "/admin/properties/reservation/",
        f"/admin/properties/reservation/{code.reservation_id}/change/",
        "/admin/properties/reservation/add/",
        "/admin/properties/unit/",
        f"/admin/properties/unit/{unit_of(lock).pk}/change/",
        "/admin/locks/lock/",
        f"/admin/locks/lock/{lock.pk}/change/",
        "/admin/codes/accesscode/",
        f"/admin/codes/accesscode/{code.pk}/change/",
        "/admin/codes/codeemail/",
        "/admin/codes/accesscodeevent/",
        "/admin/codes/webhookdelivery/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
    ]
    for path in admin_pages:
        response = browser.goto(base + path)
        assert response is not None
        assert response.status == 200, path

    assert violations == []
