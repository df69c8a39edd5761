"""The guest message editor in a real browser, under the Content-Security-Policy: the preview's
email shows in its sandboxed frame with the email's own styles, runs no script typed into it,
and nothing on the page is blocked."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.translation import pgettext
from playwright.sync_api import Page, expect

from codes.guest_messages import SAMPLE_PINS
from properties.models import SiteMessage
from tests.builders import make_lock, make_site, make_unit

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[tuple[Page, list[str]]]:
    """A logged-in member of the site's staff, and every CSP violation or script dialog seen."""
    site = make_site()
    make_unit(site, "Room 101", make_lock(site, "Room 101"))
    user = get_user_model().objects.create_user(username="front", password=PASSWORD)
    user.sites.add(site)
    context = chromium.new_context()
    browser = context.new_page()
    seen: list[str] = []
    browser.on(
        "console",
        lambda message: seen.append(message.text) if "Content Security Policy" in message.text else None,
    )

    def on_dialog(dialog: Any) -> None:
        seen.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    browser.on("dialog", on_dialog)
    browser.goto(f"{live_server.url}/login/")
    browser.get_by_label("Username").fill("front")
    browser.get_by_label("Password").fill(PASSWORD)
    browser.get_by_role("button", name="Log in").click()
    expect(browser.get_by_role("heading", name="Dashboard")).to_be_visible()
    browser.get_by_role("link", name="Guest messages").click()
    browser.get_by_role("link", name="Português").click()
    yield browser, seen
    context.close()


def test_the_preview_shows_the_styled_email_in_its_frame_and_runs_nothing_typed(page: Any) -> None:
    browser, seen = page
    browser.get_by_label("Email subject").fill("Olá {guest_name}")
    browser.get_by_label("Email body").fill("Olá <script>alert(1)</script>{guest_name}!\n\n{doors}")
    browser.get_by_role("button", name="Preview").click()

    frame = browser.frame_locator("iframe[title='The email as HTML']")
    pin = frame.get_by_text(SAMPLE_PINS[0], exact=True)
    expect(pin).to_be_visible()
    assert "monospace" in pin.evaluate("element => getComputedStyle(element).fontFamily").lower()
    with translation.override("pt"):
        sample_guest = pgettext("sample guest", "Alex Sample")  # the preview's guest, in Portuguese
    assert sample_guest != "Alex Sample"
    expect(frame.get_by_text(f"Olá <script>alert(1)</script>{sample_guest}!")).to_be_visible()
    expect(browser.get_by_test_id("preview-subject")).to_have_text(f"Olá {sample_guest}")
    assert not SiteMessage.objects.exists()
    assert seen == []
