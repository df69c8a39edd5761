"""What a stay's guest page shows at a moment, and the record of each view that shows a PIN.

The PINs show from ``pins_shown_from`` (the site's "days before" moment) until the stay's
departure, the end of its last current code; never for a cancelled stay, and only codes set on
the lock system with their PIN. Before that moment the page says when they will appear; after
departure, or once cancelled, it shows none. A chain's code that has ended shows no PIN either:
it no longer opens the door.

Reads a fixed number of rows whatever the stay (the link with its stay, site and unit; the
codes with their doors; the unit's doors; the site's directions), and on a view with PINs writes
two more (the codes' history in one insert, the link's ``last_viewed_at``).
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import translation
from django.utils.safestring import SafeString

from codes.guest_messages import guest_directions_html
from codes.guestlinks import pins_shown_from
from codes.history import record_each
from codes.localtime import describe_window, format_date, format_local, zone_abbreviation
from codes.models import AccessCode, AccessCodeEvent, GuestLink, walking_order
from codes.windows import check_out_at
from properties.models import Reservation

SHOWN_MESSAGE = "Shown to guest on the guest page"


class PageState:
    """Where the stay stands for its guest page."""

    BEFORE = "before"  # the PINs appear later: the page says when
    PINS = "pins"  # the PIN period: each set code shows its PIN
    OVER = "over"  # departure has passed
    CANCELLED = "cancelled"
    NO_CODES = "no_codes"  # the stay stands but has no working code (yet)


class CodeState:
    """Why one code shows its PIN, or not."""

    PIN = "pin"
    WAITING = "waiting"  # in the PIN period, not set on the lock system yet
    ENDED = "ended"  # a chain's code whose window is over
    LATER = "later"  # before the PIN period


@dataclass(frozen=True)
class GuestCode:
    access_code: AccessCode
    state: str
    window: str

    @property
    def pin(self) -> str:
        return self.access_code.code if self.state == CodeState.PIN else ""

    @property
    def pin_spoken(self) -> str:
        """The PIN digit by digit (``4 8 2 9``), for screen readers: not one large number."""
        return " ".join(self.pin)


@dataclass(frozen=True)
class GuestDoor:
    name: str
    window: str
    codes: tuple[GuestCode, ...]


@dataclass(frozen=True)
class GuestPage:
    """A stay's guest page at ``now``, its texts (dates, windows) in the guest's ``language``."""

    reservation: Reservation
    language: str
    state: str
    now: datetime
    pins_from: datetime
    pins_from_text: str
    departure_at: datetime
    arrival_text: str
    departure_text: str
    doors: tuple[GuestDoor, ...]
    directions: SafeString

    @property
    def codes_shown(self) -> list[AccessCode]:
        """The codes whose PIN this page shows."""
        return [code.access_code for door in self.doors for code in door.codes if code.state == CodeState.PIN]


def _site_text(instant: datetime, zone_name: str) -> str:
    local = instant.astimezone(ZoneInfo(zone_name))
    return f"{format_local(local, with_year=True)} ({zone_name}, {zone_abbreviation(local)})"


def _code_state(code: AccessCode, *, pins: bool, now: datetime) -> str:
    if not pins:
        return CodeState.LATER
    if code.ends_at <= now:
        return CodeState.ENDED
    if code.status == AccessCode.Status.SET and code.code:
        return CodeState.PIN
    return CodeState.WAITING


def _doors(codes: list[AccessCode], *, pins: bool, now: datetime) -> tuple[GuestDoor, ...]:
    """The codes door by door, doors in walking order (``codes`` already are), each door's first first."""
    by_door: dict[int, list[AccessCode]] = {}
    for code in codes:
        by_door.setdefault(code.lock_id, []).append(code)
    doors = []
    for door_codes in by_door.values():
        first, last = door_codes[0], door_codes[-1]
        doors.append(
            GuestDoor(
                name=first.lock.name,
                window=describe_window(first.starts_at, max(c.ends_at for c in door_codes), last.timezone),
                codes=tuple(
                    GuestCode(
                        access_code=code,
                        state=_code_state(code, pins=pins, now=now),
                        window=describe_window(code.starts_at, code.ends_at, code.timezone),
                    )
                    for code in door_codes
                ),
            )
        )
    return tuple(doors)


def guest_page(*, link: GuestLink, now: datetime) -> GuestPage:
    """What the link's stay's guest page shows at ``now``, in the guest's language (see the
    module for the time rule). Reads only; ``guest_page_open`` records a view."""
    reservation = link.reservation
    site = reservation.site
    language = reservation.guest_language
    with translation.override(language):
        pins_from = pins_shown_from(reservation)
        codes: list[AccessCode] = []
        if reservation.cancelled_at is None:
            current = AccessCode.objects.current().filter(reservation=reservation).select_related("lock")
            codes = walking_order(current, reservation.unit)
        departure_at = max((c.ends_at for c in codes), default=None) or check_out_at(reservation)
        if reservation.cancelled_at is not None:
            state = PageState.CANCELLED
        elif now >= departure_at:
            state = PageState.OVER
        elif now < pins_from:
            state = PageState.BEFORE
        elif not codes:
            state = PageState.NO_CODES
        else:
            state = PageState.PINS
        # After departure or cancellation: a line why, and nothing of the doors.
        ahead = state in (PageState.BEFORE, PageState.PINS, PageState.NO_CODES)
        return GuestPage(
            reservation=reservation,
            language=language,
            state=state,
            now=now,
            pins_from=pins_from,
            pins_from_text=_site_text(pins_from, site.timezone),
            departure_at=departure_at,
            arrival_text=format_date(reservation.arrival),
            departure_text=format_date(reservation.departure),
            doors=_doors(codes if ahead else [], pins=state == PageState.PINS, now=now),
            directions=guest_directions_html(reservation, stay_codes=codes) if ahead else SafeString(""),
        )


def guest_page_open(*, link: GuestLink, now: datetime) -> GuestPage:
    """The guest page for one view (``guest_page``). A view that shows PINs is recorded: in
    each shown code's history ("shown to guest", no PIN in it) and as the link's
    ``last_viewed_at``; a view without PINs writes nothing."""
    page = guest_page(link=link, now=now)
    shown = page.codes_shown
    if shown:
        with transaction.atomic():
            record_each(shown, AccessCodeEvent.Kind.SHOWN_TO_GUEST, SHOWN_MESSAGE)
            GuestLink.objects.filter(pk=link.pk).update(last_viewed_at=now)
    return page
