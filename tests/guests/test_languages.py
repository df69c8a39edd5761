"""Every shipped language: its catalogue is complete and compiled, and the guest's code email and
guest page render in it with no English sentence left over.

The rendering check: each situation a guest can meet (one code; several doors; a chain with a
code to follow; a code set only shortly before check-in; an earlier code still valid; the page
before the PIN time, during it with a code not set yet, after departure, cancelled) is rendered
in English and in the language. Every English sentence of a real text (two words or more,
the stay's own names left out) must be gone from the other language's rendering: a string
not marked for translation, or marked but not translated, stays English and fails here.
"""

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polib
import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from codes.emails import code_email_request
from codes.guestlinks import guest_link_for, guest_link_path
from codes.models import AccessCode
from properties.models import Reservation
from tests.builders import make_code, make_lock, make_reservation, make_site, make_unit

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _ in settings.LANGUAGES if code != "en"]
# Names a guest's stay brings, the same in every language (chosen to be no word of any of them).
STAY_WORDS = ("Zed Quux", "Casa Sol", "Porta Norte", "Q7", "America/Los_Angeles", "example.com", "stay.ics")
ARRIVAL = date(2030, 9, 10)
STARTS = datetime(2030, 9, 10, 22, tzinfo=UTC)  # Tue 10 Sep 15:00 PDT
ENDS = STARTS + timedelta(days=3)


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def formats(text: str) -> tuple[list[str], list[str]]:
    """What a translation must keep: the %(name)s of Python formats, the {name} placeholders."""
    return sorted(re.findall(r"%\(\w+\)s", text)), sorted(re.findall(r"\{\w+\}", text))


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_catalogue_is_translated_in_full_and_keeps_every_placeholder(language):
    po = catalogue(language)
    entries = [entry for entry in po if not entry.obsolete]

    assert entries, f"{language}: an empty catalogue"
    assert [e.msgid for e in entries if "fuzzy" in e.flags] == []
    assert [e.msgid for e in entries if not e.translated()] == []
    for entry in entries:
        if entry.msgid_plural:
            for translation in entry.msgstr_plural.values():
                assert formats(translation)[1] == formats(entry.msgid)[1], entry.msgid
        else:
            assert formats(entry.msgstr) == formats(entry.msgid), entry.msgid


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_compiled_catalogue_is_the_one_written(language):
    written = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in catalogue(language) if e.translated()}
    mo = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo"))
    compiled = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in mo if e.msgid}

    assert compiled == written, f"run `make messages` to compile locale/{language}"


# --- rendering -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def eager(settings: Any) -> Any:
    settings.CELERY_TASK_ALWAYS_EAGER = True
    return settings


def stay_in(language: str, *, doors: int = 1) -> Reservation:
    site = make_site("Casa Sol", dormakaba_site_name="")
    street, room = make_lock(site, "Porta Norte"), make_lock(site, "Q7")
    unit = make_unit(site, "Q7", *((street, room) if doors == 2 else (room,)))
    return make_reservation(
        unit, arrival=ARRIVAL, guest_name="Zed Quux", guest_email="zq@example.com", language=language
    )


def one_code(language: str) -> AccessCode:
    return make_code(stay_in(language), code="482913", starts_at=STARTS, ends_at=ENDS)


def named(reservation: Reservation, number: int) -> dict[str, str]:
    return {"name": f"R{reservation.pk} Zed Quux #{number}", "seam_access_code_id": f"seam-{reservation.pk}-{number}"}


def several_doors_set_late(language: str) -> AccessCode:
    reservation = stay_in(language, doors=2)
    street, room = (unit_door.lock for unit_door in reservation.unit.unit_doors.order_by("position"))
    late = STARTS - timedelta(hours=1)
    first = make_code(reservation, lock=street, code="482913", starts_at=STARTS, ends_at=ENDS, set_at=late)
    make_code(
        reservation, lock=room, code="593024", starts_at=STARTS, ends_at=ENDS, set_at=late, **named(reservation, 2)
    )
    return first


def chain_after_a_change(language: str) -> AccessCode:
    reservation = stay_in(language)
    middle = STARTS + timedelta(days=1)
    make_code(reservation, code="111222", starts_at=STARTS - timedelta(days=1), ends_at=ENDS, superseded_at=STARTS)
    first = make_code(reservation, code="482913", starts_at=STARTS, ends_at=middle, **named(reservation, 2))
    make_code(
        reservation,
        code="",
        status=AccessCode.Status.WAITING,
        starts_at=middle,
        ends_at=ENDS,
        **named(reservation, 3),
    )
    return first


EMAILS: dict[str, Callable[[str], AccessCode]] = {
    "one code": one_code,
    "several doors, set late": several_doors_set_late,
    "a chain after a change": chain_after_a_change,
}


def email_texts(build: Callable[[str], AccessCode], language: str, capture: Any) -> list[str]:
    code = build(language)
    mail.outbox.clear()
    with time_machine.travel(STARTS - timedelta(minutes=30), tick=False), capture(execute=True):
        code_email_request(access_code=code)
    [message] = mail.outbox
    assert isinstance(message, EmailMultiAlternatives)
    (body_html, _), (_, ics, _) = message.alternatives[0], message.attachments[0]
    assert isinstance(ics, str | bytes)
    ics_text = ics if isinstance(ics, str) else ics.decode()
    # iCalendar folds long lines and escapes commas: read the event's words as written.
    ics_text = ics_text.replace("\r\n ", "").replace("\\,", ",").replace("\\;", ";")
    return [str(message.subject), str(message.body), str(body_html), ics_text]


PAGES: dict[str, tuple[Callable[[str], Reservation], datetime]] = {
    "before the PIN time": (lambda language: one_code(language).reservation, STARTS - timedelta(days=5)),
    "PINs, one still to be set": (
        lambda language: chain_after_a_change(language).reservation,
        STARTS + timedelta(hours=1),
    ),
    "after departure": (lambda language: one_code(language).reservation, ENDS + timedelta(hours=1)),
    "cancelled": (lambda language: _cancelled(one_code(language).reservation), STARTS),
}


def _cancelled(reservation: Reservation) -> Reservation:
    Reservation.objects.filter(pk=reservation.pk).update(cancelled_at=STARTS - timedelta(days=9))
    return reservation


def page_texts(name: str, language: str, client: Any) -> list[str]:
    build, moment = PAGES[name]
    link = guest_link_for(build(language))
    with time_machine.travel(moment, tick=False):
        response = client.get(guest_link_path(link))
    assert response.status_code == 200
    return [response.content.decode()]


def sentences(texts: list[str]) -> Iterator[str]:
    """The pieces of running text: tags, entities and the stay's own names taken out, split at
    line ends and punctuation; only pieces of two words or more."""
    for text in texts:
        text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
        text = re.sub(r"(?m)^[A-Z-]+[;:].*$", "", text)  # iCalendar property names
        for name in STAY_WORDS:
            text = text.replace(name, "\n")
        for piece in re.split(r"[\n.,:;!?()→“”\"]+", text):
            words = re.findall(r"[^\W\d_]{2,}", piece)
            if len(words) >= 2:
                yield " ".join(piece.split())


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_email_and_the_guest_page_leave_no_english_sentence(language, client, django_capture_on_commit_callbacks):
    left: dict[str, list[str]] = {}
    for name, build in EMAILS.items():
        english = set(sentences(email_texts(build, "en", django_capture_on_commit_callbacks)))
        texts = email_texts(build, language, django_capture_on_commit_callbacks)
        theirs = " ".join(" ".join(t.split()) for t in texts)
        assert len(english) > 5, f"the English {name} email gave too little text to compare: {english}"
        left[f"email, {name}"] = sorted(s for s in english if s in theirs)
    for name in PAGES:
        english = set(sentences(page_texts(name, "en", client)))
        theirs = " ".join(" ".join(t.split()) for t in page_texts(name, language, client))
        assert english, f"the English page {name} gave no text to compare"
        left[f"page, {name}"] = sorted(s for s in english if s in theirs)

    assert {where: found for where, found in left.items() if found} == {}


@pytest.mark.parametrize("language", TRANSLATED)
def test_dates_and_weekdays_are_in_the_guests_language(language, django_capture_on_commit_callbacks):
    english = email_texts(one_code, "en", django_capture_on_commit_callbacks)[1]
    theirs = email_texts(one_code, language, django_capture_on_commit_callbacks)[1]

    assert "Tue 10 Sep 15:00" in english
    assert "Tue 10 Sep" not in theirs
    assert "15:00" in theirs
