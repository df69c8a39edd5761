"""/api/docs/ in a real browser, under the site's Content-Security-Policy: a staff member logs
in, Swagger UI lists the operations and runs one with the session, and nothing is blocked."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.builders import make_lock, make_site, make_staff, make_unit

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(chromium) -> Iterator[tuple[Page, list[str]]]:
    """A browser page and what its console said about the Content-Security-Policy."""
    context = chromium.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(f"{page.url}: {message.text}")
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
        else None,
    )
    yield page, violations
    context.close()


def test_swagger_ui_shows_and_runs_the_operations_under_the_policy(page, live_server):
    browser, violations = page
    site = make_site()
    make_unit(site, "Room 101", make_lock(site, "Room 101"))
    make_staff("maria", site)

    browser.goto(f"{live_server.url}/api/docs/")
    browser.get_by_label("Username").fill("maria")
    browser.get_by_label("Password").fill("pw-for-tests-only")
    with browser.expect_response(lambda r: r.url.endswith("/api/docs/")) as docs:
        browser.get_by_role("button", name="Log in").click()
    assert "script-src 'self'" in docs.value.headers["content-security-policy"]

    expect(browser.get_by_role("heading", name="Oracode codes API")).to_be_visible()
    paths = browser.locator(".opblock-summary-path")
    expect(paths.filter(has_text="/api/v1/reservations/{id}/change-dates/")).to_be_visible()
    for path in ["/api/v1/units/", "/api/v1/units/{id}/windows/", "/api/v1/codes/{id}/reveal/"]:
        expect(paths.filter(has_text=path).first).to_be_visible()

    # Run "GET /api/v1/units/" with the session: the start-up script (a file, not inline) works.
    units = browser.locator("#operations-units-units_list")
    units.locator(".opblock-summary").click()
    units.get_by_role("button", name="Try it out").click()
    units.get_by_role("button", name="Execute").click()
    expect(units.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    expect(units.locator(".live-responses-table")).to_contain_text("Room 101")

    assert violations == []
