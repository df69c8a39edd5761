"""What staff write for a site's guests (``SiteMessage``) in the placeholder language of
:mod:`codes.placeholders`, and what each placeholder gives for a stay, in the guest's language.

Three texts per site and language: the code email's subject and body, and the guest page's
directions. An empty subject or body means the built-in email; empty directions show none. A
stored text is checked again each time it is used, so a text that stopped parsing (edited in
the database, or a placeholder withdrawn) is never half rendered: its caller falls back.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.functional import Promise
from django.utils.html import escape, format_html, linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy, gettext_noop, pgettext

from codes.localtime import describe_window, format_date, format_local
from codes.models import AccessCode
from codes.placeholders import Template, TemplateError, Value, check, normalise, parse, render_html, render_text
from codes.windows import check_in_at, check_out_at
from locks.models import Lock
from properties.models import Reservation, Site, SiteMessage, Unit

logger = logging.getLogger(__name__)

# What each placeholder gives, for the editor's list (staff-facing).
PLACEHOLDERS: dict[str, Promise] = {
    "guest_name": gettext_lazy("The guest's name, as on the reservation."),
    "site": gettext_lazy("The site's name."),
    "unit": gettext_lazy("The unit booked: the room, apartment or cabin."),
    "arrival": gettext_lazy("The arrival date, e.g. Tue 10 Sep."),
    "departure": gettext_lazy("The departure date."),
    "check_in": gettext_lazy("Check-in: the date and time the first code starts working, in the door's local time."),
    "check_out": gettext_lazy("Check-out: the date and time the last code stops working."),
    "doors": gettext_lazy(
        "Each door with its PIN(s) and the window each works in, or when a code follows. Email body only."
    ),
    "link": gettext_lazy("The link to the stay's guest page. Email body only."),
}

# Texts that could be shown where the guest is not the only reader get no PIN: lock screens show
# an email's subject, and the guest page lists the doors and their PINs itself.
_SUBJECT_REFUSED = {
    "doors": gettext_lazy("lock screens show subjects, so the PINs stay in the body."),
    "link": gettext_lazy("the link opens the PINs, and lock screens show subjects; put it in the body."),
}
_DIRECTIONS_REFUSED = {
    "doors": gettext_lazy("the guest page lists the doors and their PINs itself."),
    "link": gettext_lazy("the directions are on the guest page already."),
}


@dataclass(frozen=True)
class FieldRules:
    allowed: frozenset[str]
    refused: Mapping[str, Promise] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    one_line: bool = False


FIELDS: dict[str, FieldRules] = {
    "email_subject": FieldRules(
        allowed=frozenset(PLACEHOLDERS) - set(_SUBJECT_REFUSED), refused=_SUBJECT_REFUSED, one_line=True
    ),
    "email_body": FieldRules(allowed=frozenset(PLACEHOLDERS), required=("doors",)),
    "directions": FieldRules(allowed=frozenset(PLACEHOLDERS) - set(_DIRECTIONS_REFUSED), refused=_DIRECTIONS_REFUSED),
}


def message_errors(field_name: str, text: str) -> list[TemplateError]:
    """Every mistake in a text for ``field_name`` (a ``SiteMessage`` field), in words for staff,
    first first; [] when it can be used. An empty text is fine: it means the built-in one."""
    if not text.strip():
        return []
    rules = FIELDS[field_name]
    refused = {name: str(reason) for name, reason in rules.refused.items()}
    errors = check(text, allowed=rules.allowed, refused=refused)
    if rules.one_line:
        lines = [number for number, line in enumerate(normalise(text).split("\n"), start=1) if line.strip()]
        if len(lines) > 1:
            errors.append(
                TemplateError(
                    gettext("The subject must be one line: line %(line)s is a second one.") % {"line": lines[1]},
                    line=lines[1],
                    column=1,
                )
            )
    if not errors:
        names = parse(text, allowed=rules.allowed).names
        errors += [
            TemplateError(
                gettext("The text must contain {%(name)s}: without it the email carries no door code.")
                % {"name": name}
            )
            for name in rules.required
            if name not in names
        ]
    return errors


def _parsed(field_name: str, text: str) -> Template:
    """The stored text parsed by its field's rules; raises the first ``TemplateError``."""
    errors = message_errors(field_name, text)
    if errors:
        raise errors[0]
    return parse(text, allowed=FIELDS[field_name].allowed)


# What the placeholders give for a stay


def code_entries(stay_codes: Sequence[AccessCode]) -> list[dict[str, str]]:
    """Each code with its PIN (or when it follows) and window, in the active language: titled by
    its door, numbered where a door takes several codes one after the other ("Code 2" when the
    stay has one door)."""
    doors = {code.lock_id for code in stay_codes}
    entries = []
    for code in stay_codes:
        on_door = [c for c in stay_codes if c.lock_id == code.lock_id]
        number = on_door.index(code) + 1
        if len(on_door) == 1:
            title = code.lock.name
        elif len(doors) == 1:
            title = gettext("Code %(number)s") % {"number": number}
        else:
            title = gettext("%(door)s, code %(number)s") % {"door": code.lock.name, "number": number}
        has_pin = code.status == AccessCode.Status.SET and bool(code.code)
        entries.append(
            {
                "title": title,
                "door": code.lock.name,
                "pin": code.code if has_pin else "",
                # Read digit by digit by screen readers, not as one large number.
                "pin_spoken": " ".join(code.code) if has_pin else "",
                "window": describe_window(code.starts_at, code.ends_at, code.timezone),
                "follows_at": format_local(code.starts_at.astimezone(ZoneInfo(code.timezone))),
            }
        )
    return entries


def _stay_times(reservation: Reservation, stay_codes: Sequence[AccessCode]) -> tuple[datetime, datetime]:
    """Check-in and check-out on the door's clock: the stay's codes' first start and last end,
    or, before it has codes, the unit's standard times by the site's clock."""
    if stay_codes:
        first = min(stay_codes, key=lambda c: c.starts_at)
        last = max(stay_codes, key=lambda c: c.ends_at)
        return first.starts_at.astimezone(ZoneInfo(first.timezone)), last.ends_at.astimezone(ZoneInfo(last.timezone))
    return check_in_at(reservation), check_out_at(reservation)


def stay_values(
    reservation: Reservation, stay_codes: Sequence[AccessCode], *, link: str | None = None, doors: bool = True
) -> dict[str, Value]:
    """What each placeholder gives for the stay, in the active language. ``{doors}`` only with
    ``doors`` (it carries the PINs), ``{link}`` only with a ``link``."""
    check_in, check_out = _stay_times(reservation, stay_codes)
    crosses_year = reservation.arrival.year != reservation.departure.year
    values = {
        "guest_name": Value(reservation.guest_name),
        "site": Value(reservation.site.name),
        "unit": Value(reservation.unit.name),
        "arrival": Value(format_date(reservation.arrival, with_year=crosses_year)),
        "departure": Value(format_date(reservation.departure, with_year=crosses_year)),
        "check_in": Value(format_local(check_in, with_year=check_in.year != check_out.year)),
        "check_out": Value(format_local(check_out, with_year=check_in.year != check_out.year)),
    }
    if doors:
        entries = code_entries(stay_codes)
        values["doors"] = Value(
            render_to_string("codes/email/code_email_doors.txt", {"entries": entries}).strip(),
            html=mark_safe(render_to_string("codes/email/code_email_doors.html", {"entries": entries}).strip()),  # noqa: S308 - an autoescaped template
            block=True,
        )
    if link is not None:
        values["link"] = Value(link, html=format_html('<a href="{}">{}</a>', link, link))
    return values


# The email


# The email's paragraphs carry their style inline, as the built-in HTML email's do.
EMAIL_PARAGRAPH_STYLE = "margin: 0 0 16px;"


@dataclass(frozen=True)
class CustomEmail:
    """The site's own subject and body rendered for a stay; "" where the built-in one is used,
    and why a stored text could not be used (for the code's history)."""

    subject: str = ""
    text: str = ""
    html: SafeString = field(default_factory=lambda: mark_safe(""))
    problems: tuple[str, ...] = ()


def _problem(message: SiteMessage, what: str, error: TemplateError) -> str:
    return gettext(
        "The site's own %(what)s (%(language)s) could not be used, so the built-in one was sent: %(error)s"
    ) % {"what": what, "language": message.get_language_display(), "error": error.message}


def custom_email(message: SiteMessage | None, values: Mapping[str, Value]) -> CustomEmail:
    """The subject and body ``message`` holds, rendered with ``values``; each left "" when it is
    empty or cannot be used (a mistake, a placeholder without a value), with the reason in
    ``problems``. Never raises for a stored text."""
    if message is None:
        return CustomEmail()
    subject, text, html, problems = "", "", mark_safe(""), []
    if message.email_subject.strip():
        try:
            rendered = render_text(_parsed("email_subject", message.email_subject), values)
            # Mail headers are one line; a value can never add a line to it.
            subject = " ".join(rendered.split())
        except TemplateError as error:
            problems.append(_problem(message, gettext("email subject"), error))
    if message.email_body.strip():
        try:
            template = _parsed("email_body", message.email_body)
            text = render_text(template, values).strip()
            html = render_html(template, values, paragraph_style=EMAIL_PARAGRAPH_STYLE)
        except TemplateError as error:
            text, html = "", mark_safe("")
            problems.append(_problem(message, gettext("email body"), error))
    return CustomEmail(subject=subject, text=text, html=html, problems=tuple(problems))


# The guest page


def site_message(reservation: Reservation) -> SiteMessage | None:
    """The site's message in the guest's language, if staff wrote one."""
    return SiteMessage.objects.filter(site_id=reservation.site_id, language=reservation.guest_language).first()


def directions_html(text: str, reservation: Reservation, stay_codes: Sequence[AccessCode]) -> SafeString:
    """Directions as HTML paragraphs for the stay, in the active language; raises
    ``TemplateError`` when the text cannot be used. No inline style: the page's
    Content-Security-Policy forbids it."""
    return render_html(_parsed("directions", text), stay_values(reservation, stay_codes, doors=False))


def guest_directions_html(reservation: Reservation, *, stay_codes: Sequence[AccessCode] | None = None) -> SafeString:
    """The site's directions for the guest page as HTML paragraphs, in the guest's language;
    "" when there are none. ``stay_codes`` (the stay's current codes) give ``{check_in}`` and
    ``{check_out}``; without them they are read only when the directions use them.

    Directions that no longer parse are shown as the text staff wrote, escaped: how to find the
    door matters more than a placeholder.
    """
    message = site_message(reservation)
    if message is None or not message.directions.strip():
        return mark_safe("")
    with translation.override(reservation.guest_language):
        try:
            template = _parsed("directions", message.directions)
            if stay_codes is None:
                stay_codes = []
                if template.names & {"check_in", "check_out"}:
                    stay_codes = list(AccessCode.objects.current().filter(reservation=reservation))
            return render_html(template, stay_values(reservation, stay_codes, doors=False))
        except TemplateError as error:
            logger.warning("Directions of site %s (%s) cannot be used: %s", message.site_id, message.language, error)
            return mark_safe(linebreaks(escape(message.directions)))  # noqa: S308 - escaped


# The built-in texts, in the placeholder language, for staff to start from. The sentences the
# built-in email has too are the same msgids as in templates/codes/email/code_email.*: one
# translation for both.
KEYPAD_STEPS = (
    gettext_noop("Touch the keypad to wake it, then enter the whole code, every digit, in one go."),
    gettext_noop("Wait for the lock to accept it (usually a green light) before you turn the handle."),
    gettext_noop("If it does not open, wait a few seconds and enter the whole code again, slowly."),
    gettext_noop("The code works only inside the window above: not before check-in, not after check-out."),
    gettext_noop("The code cannot be changed, so keep this email and do not share the code."),
)
CALENDAR_NOTE = gettext_noop(
    "The attached calendar event (stay.ics) holds your check-in and check-out times; it does not contain "
    "the code, which is only in this email."
)
HELP_LINE = gettext_noop("If the door does not open, reply to this email and we will help.")


def _builtin(msgid: str, **names: str) -> str:
    """A built-in email's sentence translated (the very msgid its template uses), its braces
    written as literal braces and its variables as placeholders."""
    placeholders = {key: "{" + name + "}" for key, name in names.items()}
    try:
        return gettext(msgid).replace("{", "{{").replace("}", "}}") % placeholders
    except (KeyError, ValueError, TypeError):
        # A translation that lost or mistyped a variable: the English sentence, not an error page.
        return msgid.replace("{", "{{").replace("}", "}}") % placeholders


def builtin_texts(language: str) -> dict[str, str]:
    """The built-in subject and body in ``language``, written in the placeholder language: a
    site that saves them gets the built-in email, and can change it from there."""
    with translation.override(language):
        lines = [
            _builtin(gettext_noop("Hello %(guest_name)s,"), guest_name="guest_name"),
            "",
            _builtin(
                gettext_noop(
                    "Here is how to get in at %(site_name)s, %(door_name)s. Each code works only in its own window, "
                    "in the door's local time."
                ),
                site_name="site",
                door_name="unit",
            ),
            "",
            "{doors}",
            "",
            _builtin(gettext_noop("Your stay's page, with your door codes and directions: %(link)s"), link="link"),
            "",
            _builtin(gettext_noop("How to open the door")),
            *(f"- {_builtin(step)}" for step in KEYPAD_STEPS),
            "",
            _builtin(CALENDAR_NOTE),
            "",
            _builtin(HELP_LINE),
        ]
        return {
            "email_subject": _builtin(
                gettext_noop("Your door code for %(site_name)s, %(door_name)s"), site_name="site", door_name="unit"
            ),
            "email_body": "\n".join(lines),
            "directions": "",
        }


# Saving, and a sample stay for the editor's preview


def site_message_save(
    *, site: Site, language: str, email_subject: str, email_body: str, directions: str, user: User
) -> SiteMessage:
    """Store the site's texts for ``language`` (each checked by ``message_errors`` first: the
    editor's form does) and who saved them; returns the row."""
    message, _ = SiteMessage.objects.update_or_create(
        site=site,
        language=language,
        defaults={
            "email_subject": normalise(email_subject).strip(),
            "email_body": normalise(email_body).strip(),
            "directions": normalise(directions).strip(),
            "updated_by": user,
        },
    )
    return message


# Made-up PINs for the preview: never a real one, and obviously so.
SAMPLE_PINS = ("1234567", "2345678", "3456789", "4567890")


def sample_stay(site: Site, language: str, *, today: date) -> tuple[Reservation, list[AccessCode]]:
    """A made-up stay at ``site`` for the editor's preview, in memory only (nothing is saved):
    a sample guest in the site's first unit, arriving in two weeks for three nights, a code with
    a sample PIN on each of the unit's doors in walking order."""
    unit = site.units.order_by("name", "pk").first() or Unit(site=site, name=pgettext("sample unit", "Room 101"))
    locks: list[Lock] = []
    if unit.pk is not None:
        locks = [unit_door.lock for unit_door in unit.unit_doors.select_related("lock").order_by("position", "pk")]
    if not locks:
        locks = [Lock(site=site, name=pgettext("sample door", "Front door"), timezone=site.timezone)]
    arrival = today + timedelta(days=14)
    reservation = Reservation(
        site=site,
        unit=unit,
        guest_name=pgettext("sample guest", "Alex Sample"),
        guest_email="guest@example.com",
        language=language,
        arrival=arrival,
        departure=arrival + timedelta(days=3),
    )
    codes = []
    for number, lock in enumerate(locks):
        zone_name = lock.timezone or site.timezone
        zone = ZoneInfo(zone_name)
        codes.append(
            AccessCode(
                reservation=reservation,
                lock=lock,
                starts_at=datetime.combine(reservation.arrival, unit.check_in_time, tzinfo=zone),
                ends_at=datetime.combine(reservation.departure, unit.check_out_time, tzinfo=zone),
                timezone=zone_name,
                status=AccessCode.Status.SET,
                code=SAMPLE_PINS[number % len(SAMPLE_PINS)],
            )
        )
    return reservation, codes
