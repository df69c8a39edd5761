"""The guest email and directions staff write (``SiteMessage``), in the guest's language: used
for that language only, the built-in email otherwise; a stored text that cannot be used falls
back to the built-in one and the code's history says so; every placeholder, escaping, the
notes the guest needs, the guest page link, and dates in the guest's language."""

import ast
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.core import mail
from django.urls import resolve
from django.utils.translation.template import templatize
from icalendar import Calendar

from codes.emails import code_email_request
from codes.guest_messages import (
    CALENDAR_NOTE,
    HELP_LINE,
    KEYPAD_STEPS,
    builtin_texts,
    guest_directions_html,
    message_errors,
)
from codes.guestlinks import guest_link_resolve, guest_link_revoke
from codes.models import AccessCode, AccessCodeEvent, CodeEmail
from properties.models import Reservation, SiteMessage
from tests.builders import make_code, make_lock, make_reservation, make_site, make_unit

pytestmark = pytest.mark.django_db

PIN = "804213"
# Tue 10 Sep 2030 15:00 PDT to Fri 13 Sep 11:00 PDT.
STARTS = datetime(2030, 9, 10, 22, tzinfo=UTC)
ENDS = datetime(2030, 9, 13, 18, tzinfo=UTC)
WINDOW = "Tue 10 Sep 15:00 → Fri 13 Sep 11:00 (America/Los_Angeles, PDT)"
BODY = "Dear {guest_name},\n\nWelcome to {unit} at {site}.\n\n{doors}\n\nEverything on one page: {link}\n\nSee you!"


@pytest.fixture(autouse=True)
def eager(settings: Any) -> Any:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


def stay(*, guest_name: str = "Ana Souza", language: str = "", site_language: str = "en", **code: Any) -> AccessCode:
    site = make_site(language=site_language)
    reservation = make_reservation(
        make_lock(site, "Room 101"), arrival=date(2030, 9, 10), guest_name=guest_name, language=language
    )
    return make_code(reservation, code=PIN, starts_at=STARTS, ends_at=ENDS, **code)


def send(code: AccessCode, capture: Callable[..., Any]) -> tuple[CodeEmail, Any]:
    with capture(execute=True):
        email = code_email_request(access_code=code)
    email.refresh_from_db()
    return email, mail.outbox[-1]


def html_of(message: Any) -> str:
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    return str(html)


def ics_of(message: Any) -> Any:
    filename, ics, _ = message.attachments[0]
    assert filename == "stay.ics"
    [event] = Calendar.from_ical(ics).walk("VEVENT")
    return ics, event


def history(code: AccessCode) -> list[str]:
    return list(code.events.filter(kind=AccessCodeEvent.Kind.EMAILED).values_list("message", flat=True))


def write(code: AccessCode, language: str = "en", **texts: str) -> SiteMessage:
    return SiteMessage.objects.create(site=code.reservation.site, language=language, **texts)


# Which text


def test_the_sites_own_subject_and_body_go_to_a_guest_of_that_language(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay()
    write(code, email_subject="Your stay at {site}, {guest_name}", email_body=BODY)

    email, message = send(code, django_capture_on_commit_callbacks)

    assert email.status == CodeEmail.Status.SENT
    assert message.subject == "Your stay at Ocean Beach Vacations, Ana Souza"
    assert message.body.startswith("Dear Ana Souza,\n\nWelcome to Room 101 at Ocean Beach Vacations.\n\n")
    assert f"Room 101: {PIN}\nWorks: {WINDOW}" in message.body
    assert "See you!" in message.body
    assert "How to open the door" not in message.body  # the staff's text replaces the built-in one
    html = html_of(message)
    assert '<p style="margin: 0 0 16px;">Dear Ana Souza,</p>' in html
    assert f'aria-label="Room 101: {" ".join(PIN)}"' in html  # the styled PIN of the built-in email
    assert 'role="article"' in html  # in the built-in email's frame
    assert history(code) == ["Emailed to ana@example.com"]


def test_a_guest_of_another_language_gets_the_built_in_email_in_theirs(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay(language="pt")
    write(code, "en", email_subject="English subject {site}", email_body=BODY)

    _, message = send(code, django_capture_on_commit_callbacks)

    assert message.subject == "O seu código da porta para Ocean Beach Vacations, Room 101"
    assert "English subject" not in message.subject
    assert "Dear Ana Souza" not in message.body
    # Portuguese dates (Django's own catalogue) in the body and the calendar.
    assert "Ter, 10 Set 15:00 → Sex, 13 Set 11:00 (America/Los_Angeles, PDT)" in message.body
    assert '<html lang="pt">' in html_of(message)
    _, event = ics_of(message)
    assert "Ter, 10 Set 15:00" in str(event["description"])


def test_the_reservation_language_wins_over_the_sites_and_the_sites_applies_without_one(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    site_language = stay(site_language="pt")
    write(site_language, "pt", email_subject="Olá {guest_name}", email_body="Olá {guest_name}!\n\n{doors}")
    write(site_language, "en", email_subject="Hello {guest_name}", email_body="Hello {guest_name}!\n\n{doors}")
    reservation = site_language.reservation
    english = make_code(
        make_reservation(reservation.unit, guest_name="Bo Lee", language="en"),
        code="111222",
        starts_at=STARTS,
        ends_at=ENDS,
        seam_access_code_id="english",
    )

    _, first = send(site_language, django_capture_on_commit_callbacks)
    _, second = send(english, django_capture_on_commit_callbacks)

    assert (first.subject, second.subject) == ("Olá Ana Souza", "Hello Bo Lee")
    assert "Ter, 10 Set 15:00" in first.body
    assert "Tue 10 Sep 15:00" in second.body


def test_an_empty_subject_or_body_means_the_built_in_one(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay()
    write(code, email_subject="", email_body="Hi {guest_name}\n{doors}", directions="Gate code is on the left.")

    _, message = send(code, django_capture_on_commit_callbacks)

    assert message.subject == "Your door code for Ocean Beach Vacations, Room 101"
    assert message.body.startswith("Hi Ana Souza\nRoom 101: 804213")


# Never a broken email


@pytest.mark.parametrize(
    ("texts", "mistake"),
    [
        ({"email_body": "Hi {gest_name}\n\n{doors}"}, "did you mean {guest_name}?"),
        ({"email_body": "Hi {guest_name, your code:\n{doors}"}, "A { on line 1, column 4 is never closed"),
        # Saved around the editor: no code at all in the email would be worse than the built-in one.
        ({"email_body": "Hi {guest_name}, welcome!"}, "must contain {doors}"),
        # Lock screens show subjects: never a PIN there, whoever stored it.
        ({"email_subject": "Your code {doors}", "email_body": "{doors}"}, "cannot be used here"),
        ({"email_subject": "Line one\nBcc: x@example.com", "email_body": "{doors}"}, "must be one line"),
    ],
)
def test_a_stored_text_that_cannot_be_used_falls_back_to_the_built_in_one_and_says_so(
    texts: dict[str, str], mistake: str, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    code = stay()
    write(code, **texts)

    email, message = send(code, django_capture_on_commit_callbacks)

    assert email.status == CodeEmail.Status.SENT
    assert PIN not in message.subject
    assert "\n" not in message.subject
    assert PIN in message.body
    if "email_subject" in texts:
        assert message.subject == "Your door code for Ocean Beach Vacations, Room 101"
    else:
        assert "How to open the door" in message.body  # the built-in body
    [problem, sent] = history(code)
    assert problem.startswith("The site's own email ")
    assert "(English) could not be used, so the built-in one was sent" in problem
    assert mistake in problem
    assert PIN not in problem
    assert sent == "Emailed to ana@example.com"


def test_a_guests_broken_text_falls_back_to_the_built_in_email_in_the_guests_language(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay(language="pt")
    write(code, "en", email_body="Fine English text\n{doors}")
    write(code, "pt", email_body="Olá {nome}\n{doors}")

    _, message = send(code, django_capture_on_commit_callbacks)

    assert "Fine English text" not in message.body
    assert "Olá {nome}" not in message.body
    assert "Como abrir a porta" in message.body  # the built-in body, in Portuguese
    assert "Ter, 10 Set 15:00" in message.body
    [problem, _] = history(code)
    assert "The site's own email body (Português) could not be used" in problem
    assert "Unknown placeholder {nome} on line 1, column 5" in problem


def test_a_broken_body_keeps_a_good_subject(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    code = stay()
    write(code, email_subject="Welcome, {guest_name}", email_body="{doors} {nope}")

    _, message = send(code, django_capture_on_commit_callbacks)

    assert message.subject == "Welcome, Ana Souza"
    assert "How to open the door" in message.body  # the built-in body
    assert "{nope}" not in message.body


# What the placeholders give


def test_every_placeholder_gives_the_stays_own_value(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    code = stay()
    write(
        code,
        email_subject="{guest_name}|{site}|{unit}|{arrival}|{departure}|{check_in}|{check_out}",
        email_body="{guest_name}|{site}|{unit}|{arrival}|{departure}|{check_in}|{check_out}\n{doors}\n{link}",
    )

    _, message = send(code, django_capture_on_commit_callbacks)

    values = "Ana Souza|Ocean Beach Vacations|Room 101|Tue 10 Sep|Fri 13 Sep|Tue 10 Sep 15:00|Fri 13 Sep 11:00"
    assert message.subject == values
    first, doors, works, link = message.body.splitlines()[:4]
    assert first == values
    assert (doors, works) == (f"Room 101: {PIN}", f"Works: {WINDOW}")
    assert link.startswith("http://127.0.0.1:8000/stay/")
    assert f'<a href="{link}">{link}</a>' in html_of(message)


def test_doors_lists_each_door_in_walking_order_and_a_code_that_follows(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    site = make_site()
    street, apartment = make_lock(site, "Street Door"), make_lock(site, "Apartment 1A")
    reservation = make_reservation(make_unit(site, "Apartment 1A", street, apartment), arrival=date(2030, 9, 10))
    first = make_code(reservation, lock=apartment, code="222222", starts_at=STARTS, ends_at=ENDS, name="a")
    make_code(
        reservation,
        lock=street,
        code="",
        status=AccessCode.Status.WAITING,
        seam_access_code_id="",
        starts_at=STARTS,
        ends_at=ENDS,
        name="s",
    )
    SiteMessage.objects.create(site=site, language="en", email_body="Your doors:\n\n{doors}")

    _, message = send(first, django_capture_on_commit_callbacks)

    assert message.body.startswith(
        "Your doors:\n\nStreet Door: we will send it to you before Tue 10 Sep 15:00\n"
        f"Works: {WINDOW}\n\nApartment 1A: 222222\nWorks: {WINDOW}\n"
    )


def test_a_hostile_guest_name_is_shown_as_typed_never_read(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay(guest_name="<b>{doors}</b> {link} &amp;")
    write(code, email_subject="For {guest_name}", email_body="Dear {guest_name},\n\n{doors}")

    _, message = send(code, django_capture_on_commit_callbacks)

    assert message.subject == "For <b>{doors}</b> {link} &amp;"
    assert message.body.startswith("Dear <b>{doors}</b> {link} &amp;,\n\nRoom 101")
    assert message.body.count(PIN) == 1
    html = html_of(message)
    assert "Dear &lt;b&gt;{doors}&lt;/b&gt; {link} &amp;amp;,</p>" in html
    assert html.count(f">{PIN}<") == 1
    assert "<b>" not in html


def test_a_line_break_in_a_value_never_reaches_the_subject_header(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay(guest_name="Ana\nBcc: everyone@example.com")
    write(code, email_subject="For {guest_name}", email_body="{doors}")

    email, message = send(code, django_capture_on_commit_callbacks)

    assert email.status == CodeEmail.Status.SENT
    assert message.subject == "For Ana Bcc: everyone@example.com"
    assert message.to == ["ana@example.com"]
    assert not message.bcc


def test_the_notes_the_guest_needs_follow_the_staffs_text(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay(set_at=STARTS - timedelta(minutes=50))
    make_code(
        code.reservation,
        code="999000",
        starts_at=STARTS - timedelta(days=20),
        ends_at=ENDS + timedelta(days=30),
        superseded_at=STARTS - timedelta(days=30),
        name="older",
        seam_access_code_id="older",
    )
    write(code, email_body="Hi!\n\n{doors}\n\nBye.")

    _, message = send(code, django_capture_on_commit_callbacks)

    body = message.body
    assert body.index("Bye.") < body.index("programs door codes only shortly before check-in")
    assert "The code we sent you before your dates changed still opens the door" in body
    assert "999000" not in body
    html = html_of(message)
    assert html.index("Bye.") < html.index("programs door codes only shortly before check-in")


def test_no_pin_in_the_subject_the_calendar_or_the_logs(
    django_capture_on_commit_callbacks: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = stay()
    write(code, email_subject="Stay {check_in}", email_body="{doors} {broken")

    _, message = send(code, django_capture_on_commit_callbacks)

    ics, event = ics_of(message)
    assert PIN in message.body
    assert PIN not in message.subject
    assert PIN.encode() not in (ics if isinstance(ics, bytes) else ics.encode())
    assert "Stay at Ocean Beach Vacations, Room 101" in str(event["summary"])
    assert caplog.records
    assert PIN not in caplog.text


# The guest page link


def test_the_built_in_email_carries_the_guest_page_link_which_opens_the_stays_page(
    client: Any, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    code = stay()

    _, message = send(code, django_capture_on_commit_callbacks)

    [line] = [line for line in message.body.splitlines() if "/stay/" in line]
    url = line.rsplit(" ", 1)[1]
    assert line.startswith("Your stay's page, with your door codes and directions: http://127.0.0.1:8000/stay/")
    assert f'<a href="{url}">{url}</a>' in html_of(message)
    path = urlparse(url).path
    match = resolve(path)
    assert match.url_name == "guest_page"
    link = guest_link_resolve(match.kwargs["token"])
    assert link is not None
    assert link.reservation_id == code.reservation_id
    assert client.get(path).status_code == 200


def test_a_resend_after_the_link_was_revoked_carries_a_new_live_link(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    code = stay()
    _, first = send(code, django_capture_on_commit_callbacks)
    guest_link_revoke(code.reservation, user=None)

    with django_capture_on_commit_callbacks(execute=True):
        code_email_request(access_code=code, resend=True)

    old, new = (next(w for w in m.body.split() if "/stay/" in w) for m in (first, mail.outbox[-1]))
    assert old != new
    assert guest_link_resolve(urlparse(old).path.split("/")[2]) is None
    assert guest_link_resolve(urlparse(new).path.split("/")[2]) is not None


# The built-in text in the placeholder language


@pytest.mark.parametrize("language", ["en", "pt", "es", "fr", "de"])
def test_the_built_in_text_in_each_language_is_valid_and_sends_the_codes_and_link(
    language: str, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    texts = builtin_texts(language)
    code = stay(language=language)
    for name, text in texts.items():
        assert message_errors(name, text) == []
    write(code, language, **texts)

    _, message = send(code, django_capture_on_commit_callbacks)

    assert history(code) == ["Emailed to ana@example.com"]  # used, not fallen back from
    assert PIN in message.body
    assert "/stay/" in message.body
    assert PIN not in message.subject


def test_the_built_in_texts_sentences_are_the_built_in_emails_own_msgids() -> None:
    """One translation serves both: a sentence reworded in a template but not here (or the other
    way round) would leave one of them untranslated."""
    extracted = {
        ast.literal_eval(literal)
        for name in ("code_email.txt", "code_email.html", "code_email_subject.txt")
        for literal in re.findall(
            r"gettext\((u'[^']*'|u\"[^\"]*\")\)",
            templatize((settings.BASE_DIR / "templates/codes/email" / name).read_text()),
        )
    }
    shared = {
        "Hello %(guest_name)s,",
        "Your stay's page, with your door codes and directions: %(link)s",
        "How to open the door",
        "Your door code for %(site_name)s, %(door_name)s",
        *KEYPAD_STEPS,
        CALENDAR_NOTE,
        HELP_LINE,
    }
    assert len(extracted) > 15
    assert shared - extracted == set()


# Directions on the guest page


def directions_for(reservation: Reservation, text: str, language: str = "en") -> str:
    SiteMessage.objects.update_or_create(site=reservation.site, language=language, defaults={"directions": text})
    return str(guest_directions_html(reservation))


def test_directions_render_placeholders_escaped_in_the_guests_language() -> None:
    code = stay(guest_name="Zoë <i>")
    reservation = code.reservation

    html = directions_for(reservation, "Welcome {guest_name} & co.\nCheck-in {check_in}.\n\nParking <behind>.")

    assert html == (
        "<p>Welcome Zoë &lt;i&gt; &amp; co.<br>\nCheck-in Tue 10 Sep 15:00.</p>\n<p>Parking &lt;behind&gt;.</p>"
    )
    Reservation.objects.filter(pk=reservation.pk).update(language="de")
    reservation.refresh_from_db()
    assert "Check-in Di, 10. Sep 15:00." in directions_for(reservation, "Check-in {check_in}.", "de")


def test_directions_never_show_pins_and_stored_mistakes_show_the_text_as_written() -> None:
    reservation = stay().reservation

    html = directions_for(reservation, "Door: {doors} <b>")

    assert PIN not in html
    assert html == "<p>Door: {doors} &lt;b&gt;</p>"
    assert directions_for(reservation, "   ") == ""
