"""The editor of a site's guest texts: staff of the site only; saving checks every text and
shows each mistake beside its field with its line; the preview renders a made-up stay with
sample PINs, saves nothing, shows no real PIN and escapes whatever was typed."""

from html.parser import HTMLParser
from typing import Any

import pytest
from django.urls import reverse

from codes.guest_messages import SAMPLE_PINS, builtin_texts
from locks.models import Lock
from properties.models import Site, SiteMessage
from tests.builders import make_code, make_lock, make_reservation, make_site, make_staff, make_unit

pytestmark = pytest.mark.django_db

REAL_PIN = "9081726"
HOSTILE = '"><script>alert(1)</script><b>{guest_name}</b>'


@pytest.fixture
def site() -> Site:
    site = make_site()
    street, apartment = make_lock(site, "Street Door"), make_lock(site, "Apartment 1A door")
    unit = make_unit(site, "Apartment 1A", street, apartment)
    # A real stay with a real PIN at the site: the preview must never show it.
    make_code(make_reservation(unit), lock=apartment, code=REAL_PIN)
    return site


@pytest.fixture
def staff(client: Any, site: Site) -> Any:
    user = make_staff("front", site)
    client.force_login(user)
    return user


def url(site: Site, language: str = "en") -> str:
    return reverse("site_messages_edit", args=[site.pk, language])


def post(client: Any, site: Site, action: str, language: str = "en", **texts: str) -> Any:
    data = {"email_subject": "", "email_body": "", "directions": "", "action": action, **texts}
    return client.post(url(site, language), data)


class Attributes(HTMLParser):
    """Every element's attributes, as a browser reads them (entities decoded once)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def srcdoc(self) -> str:
        [value] = [attrs["srcdoc"] for tag, attrs in self.found if tag == "iframe" and "srcdoc" in attrs]
        assert value is not None
        return value


# Who may


def test_it_needs_a_login(client: Any, site: Site) -> None:
    response = client.get(url(site))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_another_sites_staff_get_404_and_change_nothing(client: Any, site: Site) -> None:
    other = make_site(name="Lakeside Cabins")
    client.force_login(make_staff("lakeside", other))

    assert client.get(url(site)).status_code == 404
    assert post(client, site, "save", email_body="{doors}").status_code == 404
    assert post(client, site, "preview", email_body="{doors}").status_code == 404
    assert not SiteMessage.objects.exists()
    index = client.get(reverse("site_messages")).content.decode()
    assert "Lakeside Cabins" in index
    assert site.name not in index


def test_a_language_the_site_does_not_offer_is_404(client: Any, site: Site, staff: Any) -> None:
    assert client.get(url(site, "xx")).status_code == 404


def test_the_navigation_and_the_index_lead_to_each_sites_languages(client: Any, site: Site, staff: Any) -> None:
    SiteMessage.objects.create(site=site, language="pt", email_body="Olá\n{doors}")

    page = client.get(reverse("home")).content.decode()
    index = client.get(reverse("site_messages")).content.decode()

    assert f'href="{reverse("site_messages")}"' in page
    assert f'href="{url(site, "pt")}"' in index
    assert "The site's own texts" in index


# Saving


def test_save_stores_the_texts_and_who_saved_them(client: Any, site: Site, staff: Any) -> None:
    response = post(
        client,
        site,
        "save",
        "pt",
        email_subject="Olá {guest_name}",
        email_body="Olá {guest_name}!\r\n\r\n{doors}\r\n\r\n{link}",
        directions="Portão à esquerda.",
    )

    assert response.status_code == 302
    message = SiteMessage.objects.get(site=site, language="pt")
    assert message.email_subject == "Olá {guest_name}"
    assert message.email_body == "Olá {guest_name}!\n\n{doors}\n\n{link}"
    assert message.directions == "Portão à esquerda."
    assert message.updated_by == staff
    page = client.get(response["Location"]).content.decode()
    assert "Saved the guest texts of Ocean Beach Vacations in Português." in page
    assert "Olá {guest_name}!" in page
    assert "Last saved by front" in page


def test_a_mistake_is_shown_beside_its_field_with_its_line_and_nothing_is_saved(
    client: Any, site: Site, staff: Any
) -> None:
    response = post(
        client,
        site,
        "save",
        email_subject="Your code {doors}",
        email_body="Hello,\n\nDear {gest_name},\nwelcome",
        directions="Gate {",
    )

    assert response.status_code == 200
    assert not SiteMessage.objects.exists()
    page = response.content.decode()
    errors = {
        attrs["data-testid"]: attrs.get("id")
        for tag, attrs in Attributes(page).found
        if tag == "ul" and (attrs.get("data-testid") or "").startswith("errors-")
    }
    assert set(errors) == {"errors-email_subject", "errors-email_body", "errors-directions"}
    assert "{doors} on line 1, column 11 cannot be used here: lock screens show subjects" in page
    assert "Unknown placeholder {gest_name} on line 3, column 6 – did you mean {guest_name}?" in page
    assert "The text must contain {doors}" not in page  # one thing at a time: the mistake first
    assert "A { on line 1, column 6 is never closed – write {{ for a brace." in page
    # What was typed stays in the form, to be corrected.
    assert "Dear {gest_name},\nwelcome</textarea>" in page


def test_a_body_without_doors_and_a_subject_on_two_lines_are_refused(client: Any, site: Site, staff: Any) -> None:
    response = post(client, site, "save", email_subject="One\nTwo", email_body="Welcome {guest_name}!")

    page = response.content.decode()
    assert "The subject must be one line: line 2 is a second one." in page
    assert "The text must contain {doors}: without it the email carries no door code." in page
    assert not SiteMessage.objects.exists()


def test_hostile_input_that_does_not_parse_is_shown_escaped(client: Any, site: Site, staff: Any) -> None:
    response = post(client, site, "save", email_body='{<script>alert("x")</script>}')

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in page
    assert "{&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;}" in page


def test_empty_fields_mean_the_built_in_text_shown_as_the_fields_placeholder(
    client: Any, site: Site, staff: Any
) -> None:
    page = client.get(url(site, "de")).content.decode()

    body = next(attrs for tag, attrs in Attributes(page).found if tag == "textarea" and attrs["name"] == "email_body")
    assert body["placeholder"] == builtin_texts("de")["email_body"]
    assert "{doors}" in (body["placeholder"] or "")


def test_start_from_the_built_in_text_fills_the_form_and_saves_nothing(client: Any, site: Site, staff: Any) -> None:
    response = post(client, site, "builtin", directions="Keep me")

    page = response.content.decode()
    assert not SiteMessage.objects.exists()
    assert 'value="Your door code for {site}, {unit}"' in page
    assert "Hello {guest_name}," in page
    assert "Keep me</textarea>" in page
    assert "Nothing is saved until you save." in page


# Preview


def test_the_preview_renders_a_sample_stay_with_the_sites_doors_and_never_saves(
    client: Any, site: Site, staff: Any
) -> None:
    SiteMessage.objects.create(site=site, language="en", email_body="Saved body\n{doors}")

    response = post(
        client,
        site,
        "preview",
        email_subject="Welcome to {unit}, {guest_name}",
        email_body="Dear {guest_name},\n\n{doors}\n\n{link}",
        directions="Arrive from {check_in}.",
    )

    assert response.status_code == 200
    assert SiteMessage.objects.get().email_body == "Saved body\n{doors}"  # unchanged
    page = response.content.decode()
    assert "Welcome to Apartment 1A, Alex Sample" in page
    srcdoc = Attributes(page).srcdoc()
    for sample_pin, door in zip(SAMPLE_PINS, ["Street Door", "Apartment 1A door"], strict=False):
        assert f"{door}: {sample_pin}" in page  # the text part
        assert f">{sample_pin}</span>" in srcdoc  # the HTML part, styled
    assert srcdoc.startswith("<!DOCTYPE html>")
    assert srcdoc.rstrip().endswith("</html>")
    assert REAL_PIN not in page
    assert "/stay/" in srcdoc
    assert "Arrive from " in page


def test_the_preview_of_empty_fields_is_the_built_in_email_in_that_language(
    client: Any, site: Site, staff: Any
) -> None:
    response = post(client, site, "preview", "fr")

    page = response.content.decode()
    srcdoc = Attributes(page).srcdoc()
    assert '<html lang="fr">' in srcdoc
    assert "Comment ouvrir la porte" in srcdoc  # the built-in body, in French
    assert "How to open the door" not in srcdoc
    assert REAL_PIN not in page
    assert not SiteMessage.objects.exists()


def test_the_preview_escapes_what_was_typed_and_keeps_the_email_inside_its_frame(
    client: Any, site: Site, staff: Any
) -> None:
    response = post(
        client,
        site,
        "preview",
        email_subject=HOSTILE,
        email_body=f"{HOSTILE}\n{{doors}}",
        directions=HOSTILE,
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>" not in page
    assert "<b>Alex Sample</b>" not in page
    tags = [tag for tag, _ in Attributes(page).found]
    assert "b" not in tags
    srcdoc = Attributes(page).srcdoc()
    # Inside the frame, once the browser has read the attribute: the text, escaped, never markup.
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Alex Sample&lt;/b&gt;" in srcdoc
    assert "<script>" not in srcdoc
    assert [tag for tag, _ in Attributes(srcdoc).found if tag in ("script", "b")] == []
    iframe = next(attrs for tag, attrs in Attributes(page).found if tag == "iframe")
    # Sandboxed with no exception: no script, no same-origin access, whatever it holds.
    assert "sandbox" in iframe
    assert iframe["sandbox"] is None


def test_the_preview_page_allows_the_emails_inline_styles_and_nothing_else_inline(
    client: Any, site: Site, staff: Any
) -> None:
    response = post(client, site, "preview", email_body="{doors}")

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["style-src-attr"] == "'unsafe-inline'"


def test_a_site_without_units_previews_with_a_made_up_door(client: Any, staff: Any) -> None:
    bare = make_site(name="Empty House")
    staff.sites.add(bare)

    page = post(client, bare, "preview", email_body="{doors}").content.decode()

    assert f"Front door: {SAMPLE_PINS[0]}" in page
    assert not Lock.objects.filter(site=bare).exists()
